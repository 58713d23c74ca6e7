"""Threshold ↔ FMR: the shipped table, its arithmetic, and calibrating from a folder of identities."""
from __future__ import annotations

import numpy as np
import pytest

from idmatch.calibration import all_pair_scores, build_calibration, cross_pair_scores, min_impostors_for, PopulationScores
from idmatch.errors import CalibrationError, CalibrationInsufficientDataError
from idmatch.evaluation.conditions import CONDITIONS, condition_pairs
from idmatch.match import OPERATING_FMRS, Calibration, OperatingPoint, shipped_calibration, table_from_scores


def _pooled_impostors(cal: Calibration) -> dict[str, int]:
    pooled: dict[str, int] = {}
    for d in {**cal.populations, **cal.cells}.values():
        pooled[d["population"]] = pooled.get(d["population"], 0) + d["n_impostor"]
    return pooled


def test_shipped_calibration_loads_and_is_monotonic():
    cal = shipped_calibration()
    assert cal.name.endswith("-v2")  # v2: every population x capture-condition pair (issue 17)
    ths = [cal.threshold_for(f) for f in OPERATING_FMRS]
    assert ths == sorted(ths) and ths[0] < ths[-1]
    assert cal.n_impostor >= 5_000_000  # all cross-identity LFW comparisons, not the pairs list
    assert {"lfw", "casia_facev5"} <= set(cal.populations)
    # every (portrait, live) condition pair of every population was measured
    for pop in ("lfw", "casia_facev5"):
        assert {f"{pop}:{a}x{b}" for a, b in condition_pairs() if (a, b) != ("full", "full")} <= set(cal.cells)
    assert set(cal.manifest["conditions"]) == set(CONDITIONS)
    assert cal.manifest["populations"]["lfw"]["images"] == 3811
    # only resolvable points are shipped: 10/FMR impostor comparisons in each deciding population
    pooled = _pooled_impostors(cal)
    for p in cal.points:
        assert pooled["lfw"] >= min_impostors_for(p.fmr) and pooled["casia_facev5"] >= min_impostors_for(p.fmr)


def test_unresolvable_fmr_is_refused():
    cal = shipped_calibration()
    assert 1e-5 < cal.points[-1].fmr <= 1e-4  # 1e-4 is shipped, 1e-5 is not
    with pytest.raises(CalibrationInsufficientDataError) as ei:
        cal.threshold_for(1e-5)
    assert ei.value.code == "calibration_insufficient_data" and ei.value.http_status == 422
    assert ei.value.details["lowest_supported_fmr"] == pytest.approx(cal.points[-1].fmr)
    assert cal.threshold_for(1e-4) > cal.threshold_for(1e-3)


def test_condition_cells_pool_for_resolvability():
    rng = np.random.default_rng(5)
    # one population seen under two condition pairs: 60,000 + 60,000 impostor comparisons
    cells = [PopulationScores(f"p:{a}x{b}", rng.normal(0.7, 0.1, 300), rng.normal(mu, 0.1, 60_000), 500, 100, 0, "p", (a, b))
             for (a, b), mu in ((("full", "full"), 0.0), (("tight", "full"), 0.1))]
    cal = build_calibration(cells, model="m", required_fmr=1e-4)  # 120,000 >= 100,000 pooled
    assert cal.threshold_for(1e-4) >= build_calibration(cells[1:], model="m").threshold_for(10 ** -3.5)
    assert "p:tightxfull" in cal.cells and "0.001" in cal.cells["p:tightxfull"]["decides"]
    with pytest.raises(CalibrationInsufficientDataError):
        cal.threshold_for(1e-5)
    with pytest.raises(CalibrationError) as ei:
        build_calibration(cells, model="m", required_fmr=1e-5)
    assert ei.value.code == "calibration_insufficient_data"


def test_cross_pair_scores_never_compare_a_photo_with_itself():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(12, 8)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    labels = np.repeat(np.arange(4), 3)
    g, i = cross_pair_scores(t, labels, t, labels, block=5)
    assert len(g) == 4 * 3 * 2 and len(i) == 12 * 12 - 4 * 9
    assert not np.isclose(g, 1.0).any()  # the diagonal (a photo against itself) is left out


def test_threshold_for_interpolates_and_refuses_outside_range():
    cal = Calibration(model="m", points=[OperatingPoint(1e-2, 0.3), OperatingPoint(1e-3, 0.4), OperatingPoint(1e-4, 0.5)])
    assert cal.threshold_for(1e-3) == pytest.approx(0.4)
    assert cal.threshold_for(10 ** -3.5) == pytest.approx(0.45)
    assert cal.fmr_at(0.45) == pytest.approx(10 ** -3.5)
    assert cal.threshold_for(0.5) == pytest.approx(0.3)
    with pytest.raises(CalibrationError):
        cal.threshold_for(1e-6)
    with pytest.raises(CalibrationError):
        Calibration(model="m", points=[OperatingPoint(1e-2, 0.5), OperatingPoint(1e-3, 0.4)])


def test_table_from_scores_holds_its_fmr():
    rng = np.random.default_rng(7)
    imp = rng.normal(0, 0.1, 200_000)
    gen = rng.normal(0.6, 0.1, 2_000)
    for p in table_from_scores(imp, gen, [1e-2, 1e-3, 1e-4]):
        measured = (imp >= p.threshold).mean()
        assert measured <= p.fmr and measured >= p.fmr * 0.9
        assert p.fnmr == pytest.approx((gen < p.threshold).mean())
    # 200,000 impostors cannot support FMR 1e-6
    assert [p.fmr for p in table_from_scores(imp, gen, [1e-6])] == []


def test_all_pair_scores_counts_every_pair():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(30, 8)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    labels = np.repeat(np.arange(10), 3)
    g, i = all_pair_scores(t, labels, block=7)
    assert len(g) == 10 * 3 and len(i) == 30 * 29 // 2 - 30
    full = t @ t.T
    assert np.isclose(sorted(g)[-1], max(full[a, b] for a in range(30) for b in range(a + 1, 30) if labels[a] == labels[b]))


def test_strictest_population_decides():
    rng = np.random.default_rng(3)
    loose = PopulationScores("a", rng.normal(0.7, 0.1, 500), rng.normal(0.0, 0.1, 300_000), 800, 100, 0)
    strict = PopulationScores("b", rng.normal(0.7, 0.1, 500), rng.normal(0.1, 0.1, 300_000), 800, 100, 0)
    cal = build_calibration([loose, strict], model="m")
    t_strict = build_calibration([strict], model="m").threshold_for(1e-3)
    assert cal.threshold_for(1e-3) == pytest.approx(t_strict)
    assert cal.populations["b"]["fmr_at"]["0.001"] <= 1e-3
    assert "0.001" in cal.populations["b"]["decides"]


def test_too_few_impostor_comparisons_are_refused():
    rng = np.random.default_rng(3)
    small = PopulationScores("tiny", rng.normal(0.7, 0.1, 20), rng.normal(0.0, 0.1, 5_000), 100, 20, 0)
    with pytest.raises(CalibrationError) as ei:
        build_calibration([small], model="m", required_fmr=1e-4)
    assert ei.value.code == "calibration_insufficient_data"
    assert "100,000" in ei.value.message


def test_calibration_round_trips_through_json(tmp_path):
    cal = shipped_calibration()
    cal.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again.threshold_for(1e-4) == pytest.approx(cal.threshold_for(1e-4))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CalibrationError):
        Calibration.load(tmp_path / "bad.json")


def test_class_pair_tables_never_exceed_the_one_for_all_threshold():
    rng = np.random.default_rng(9)
    cells = [PopulationScores(f"p:{a}x{b}", rng.normal(0.7, 0.1, 300), rng.normal(mu, 0.1, 80_000), 500, 100, 0, "p", (a, b))
             for (a, b), mu in ((("full", "full"), 0.0), (("tight", "tight"), 0.15))]
    by_class = [PopulationScores(f"p:{a}|{b}", c.genuine, c.impostor, 0, 100, 0, "p", (a, b))
                for c, (a, b) in zip(cells, (("normal", "normal"), ("close", "close")))]
    cal = build_calibration(cells, model="m", by_class=by_class)
    assert set(cal.class_points) == {"normal|normal", "close|close"}
    t_all = cal.threshold_for(1e-3)
    assert cal.threshold_for(1e-3, ("close", "close")) == pytest.approx(t_all)
    assert cal.threshold_for(1e-3, ("normal", "normal")) < t_all - 0.05
    assert cal.threshold_for(1e-3, ("grey", "normal")) == pytest.approx(t_all)  # no table: the one for all
    # a stored template of unknown class: the strictest pair the other side can make (here some pairs
    # have no table, so the one for all); on the shipped table, against a normal capture, below the one for all
    assert cal.threshold_for(1e-3, (None, "normal")) == pytest.approx(t_all)
    shipped = shipped_calibration()
    t_normal = shipped.threshold_for(1e-3, (None, "normal"))
    assert shipped.threshold_for(1e-3, ("normal", "normal")) <= t_normal < shipped.threshold_for(1e-3)
    assert t_normal == pytest.approx(max(shipped.threshold_for(1e-3, (c, "normal")) for c in ("normal", "close", "lowres", "grey")))
    assert cal.threshold_for(1e-3, (None, None)) == pytest.approx(t_all)
    again = Calibration.from_dict(cal.to_dict())
    assert again.threshold_for(1e-3, ("normal", "normal")) == pytest.approx(cal.threshold_for(1e-3, ("normal", "normal")))
    with pytest.raises(CalibrationInsufficientDataError):
        cal.threshold_for(1e-5, ("normal", "normal"))
