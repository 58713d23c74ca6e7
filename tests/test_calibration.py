"""Threshold ↔ FMR: the shipped table, its arithmetic, and calibrating from a folder of identities."""
from __future__ import annotations

import numpy as np
import pytest

from idmatch.calibration import all_pair_scores, build_calibration, PopulationScores
from idmatch.errors import CalibrationError
from idmatch.match import OPERATING_FMRS, Calibration, OperatingPoint, shipped_calibration, table_from_scores


def test_shipped_calibration_loads_and_is_monotonic():
    cal = shipped_calibration()
    ths = [cal.threshold_for(f) for f in OPERATING_FMRS]
    assert ths == sorted(ths) and ths[0] < ths[-1]
    assert cal.n_impostor >= 5_000_000  # all cross-identity LFW comparisons, not the pairs list
    assert {"lfw", "casia_facev5"} <= set(cal.populations)
    for p in cal.points:
        assert p.fmr * cal.populations["lfw"]["n_impostor"] >= 1 or p.fmr >= 1e-5


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
