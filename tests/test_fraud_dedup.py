"""Duplicate-face rule on real LFW photos, on every gallery backend, plus the 1:N threshold arithmetic."""
from __future__ import annotations

import math
import uuid

import numpy as np
import pytest

from idmatch.fraud import (
    ExactIndex, USearchIndex, check_duplicate, dedup_policy, dedup_threshold, enrolment_template, fmr_for_fpir, fpir_at,
)
from idmatch.fraud.threshold import fit_tail, tail_points, z_of

LFW = "verification/lfw_deepfunneled/images"
ENROLLED = "Gerry_Adams"        # registration 1: photos 1 and 2 (as ID portrait + live)
OTHER = "Pete_Sampras"          # a different person, never enrolled




@pytest.fixture(scope="session")
def faces(shared_data, engine):
    """Templates of the people the tests use plus 15 distractor registrations, embedded once."""
    base = shared_data / LFW
    people = sorted(p.name for p in base.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)
    distractors = [p for p in people if p not in (ENROLLED, OTHER)][:15]
    emb = lambda name, i: engine.analyze(sorted((base / name).glob("*.jpg"))[i]).template  # noqa: E731
    return {
        "enrolled": [emb(ENROLLED, 0), emb(ENROLLED, 1)],             # the 1st and 2nd photo
        "same_face_new_photos": [emb(ENROLLED, 2), emb(ENROLLED, 3)],  # the 3rd and 4th
        "other": [emb(OTHER, 0), emb(OTHER, 1)],
        "distractors": {d: [emb(d, 0), emb(d, 1)] for d in distractors},
    }


@pytest.fixture(params=["exact", "usearch", pytest.param("pgvector", marks=pytest.mark.postgres)])
def gallery(request, faces):
    if request.param == "exact":
        idx = ExactIndex()
    elif request.param == "usearch":
        idx = USearchIndex()
    else:
        import sqlalchemy as sa

        from idmatch.fraud.pgvector_index import PgVectorIndex

        eng = sa.create_engine(request.getfixturevalue("postgres_url"))
        request.addfinalizer(eng.dispose)
        idx = PgVectorIndex(eng, table=f"gallery_{uuid.uuid4().hex[:12]}")
    idx.add("reg-enrolled", "idkey-adams", enrolment_template(faces["enrolled"]))
    for n, (name, tpl) in enumerate(faces["distractors"].items()):
        idx.add(f"reg-d{n}", f"idkey-{name}", enrolment_template(tpl))
    return idx


POLICY = dedup_policy(gallery_size=1_000_000)   # the default: FPIR <= 1 % at a million enrolled


def test_same_face_under_another_identity_is_sent_to_review_with_the_right_reference(gallery, faces):
    res = check_duplicate(gallery, faces["same_face_new_photos"], "idkey-someone-else", POLICY)
    assert res.decision == "review"
    assert res.best_ref == "reg-enrolled" and [m.ref_id for m in res.matches] == ["reg-enrolled"]
    assert res.matches[0].score >= POLICY.threshold
    out = res.to_dict()
    assert set(out) == {"decision", "threshold", "matches"} and set(out["matches"][0]) == {"ref_id", "score"}


def test_a_different_person_is_clear(gallery, faces):
    res = check_duplicate(gallery, faces["other"], "idkey-sampras", POLICY)
    assert res.decision == "clear" and res.matches == []


def test_the_same_identity_taking_another_line_is_not_a_duplicate(gallery, faces):
    res = check_duplicate(gallery, faces["same_face_new_photos"], "idkey-adams", POLICY)
    assert res.decision == "clear"


def test_an_erased_registration_is_no_longer_found(gallery, faces):
    assert gallery.remove("reg-enrolled")
    res = check_duplicate(gallery, faces["same_face_new_photos"], "idkey-someone-else", POLICY)
    assert res.decision == "clear"
    assert all(h.ref_id != "reg-enrolled" for h in gallery.search(enrolment_template(faces["enrolled"]), 20))


def test_fpir_arithmetic():
    assert fmr_for_fpir(0.01, 1_000_000) == pytest.approx(1.005e-8, rel=1e-3)   # ≈ FPIR / N
    assert fpir_at(fmr_for_fpir(0.01, 12345), 12345) == pytest.approx(0.01, rel=1e-9)
    assert fpir_at(1e-6, 1_000_000) == pytest.approx(1 - math.exp(-1), rel=1e-4)  # N·FMR = 1 is not FPIR 100 %


def test_threshold_rises_with_gallery_size_and_says_when_extrapolated():
    from idmatch.match import shipped_calibration

    cal = shipped_calibration()
    small, big, huge = (dedup_threshold(cal, n) for n in (100, 1_000_000, 100_000_000))
    assert not small.extrapolated and big.extrapolated and huge.extrapolated
    assert small.threshold <= big.threshold < huge.threshold < 1
    assert big.threshold >= cal.threshold_for(cal.points[-1].fmr)
    f_small, f_big = dedup_policy(10_000).threshold, dedup_policy(10_000_000).threshold
    assert f_small < f_big


def test_gaussian_tail_reproduces_the_measured_lfw_thresholds():
    from idmatch.match import shipped_calibration

    cal = shipped_calibration()
    pts = tail_points(cal)
    model = fit_tail(pts)
    for fmr, thr in pts["lfw"]:
        assert model.offsets["lfw"] + model.slope * z_of(fmr) == pytest.approx(thr, abs=0.01)


def test_enrolment_template_is_the_normalised_mean():
    a, b = np.eye(128, dtype=np.float32)[0], np.eye(128, dtype=np.float32)[1]
    m = enrolment_template([a, 2 * b])
    assert np.linalg.norm(m) == pytest.approx(1) and m[0] == pytest.approx(m[1])
