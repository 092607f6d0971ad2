"""Judges and the convergence analysis: Richardson weights, the exponent fit, the reference and
the choice of the certified judge, on synthetic convergence curves with a known limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from invdes.physics import judges
from invdes.study import judge_convergence as jc


def synthetic(a_inf, c, p, ms, noise=0.0, seed=0):
    n = 2 * np.asarray(ms, float) + 1
    return a_inf + c * n**-p + noise * np.random.default_rng(seed).standard_normal(len(ms))


@pytest.mark.parametrize("p", [0.7, 1.0, 2.0])
def test_richardson_weights_recover_the_limit_exactly(p):
    w_lo, w_hi = judges.richardson_weights(6, 8, p)
    a = synthetic(0.61, 0.9, p, [6, 8])
    assert w_lo + w_hi == pytest.approx(1.0)
    assert w_lo * a[0] + w_hi * a[1] == pytest.approx(0.61, abs=1e-12)


def test_fit_exponent_recovers_a_shared_exponent():
    ms = np.array([6, 8, 10, 12, 14])
    curves = [(ms, synthetic(a, c, 1.5, ms)) for a, c in [(0.6, 2.0), (0.55, -1.0), (0.7, 3.0)]]
    p, rms, p_lo, p_hi = jc.fit_exponent(curves)
    assert p == pytest.approx(1.5, abs=0.05) and rms < 1e-4
    assert p_lo <= p <= p_hi and p_hi - p_lo < 0.2  # exact curves pin the exponent


def test_fit_exponent_interval_widens_with_noise():
    ms = np.array([6, 8, 10, 12])
    exact = [(ms, synthetic(0.6, c, 1.5, ms)) for c in (1.0, 2.0, -1.5)]
    noisy = [(ms, synthetic(0.6, c, 1.5, ms, noise=2e-3, seed=k))
             for k, c in enumerate((1.0, 2.0, -1.5))]
    _, _, lo_exact, hi_exact = jc.fit_exponent(exact)
    _, _, lo_noisy, hi_noisy = jc.fit_exponent(noisy)
    assert hi_noisy - lo_noisy > hi_exact - lo_exact


def frame_of(curves: dict, seconds=lambda m: 0.01 * m**3) -> pd.DataFrame:
    rows = [("data-x", r, int(m), float(a), seconds(m)) for r, (ms, vals) in curves.items()
            for m, a in zip(ms, vals, strict=True)]
    return pd.DataFrame(rows, columns=list(jc.COLUMNS))


def test_reference_lies_within_its_uncertainty_of_the_truth():
    rng = np.random.default_rng(3)
    truth, curves = {}, {}
    for r in range(12):
        a_inf, c = rng.uniform(0.5, 0.7), rng.uniform(0.5, 3.0)
        ms = [4, 6, 8, 10, 12, 14] if r < 4 else [4, 6, 8, 10]
        truth[r] = a_inf
        curves[r] = (ms, synthetic(a_inf, c, 1.2, ms, noise=5e-4, seed=r))
    ref, fits = jc.reference(frame_of(curves))
    err = ref["absorption"].to_numpy() - np.array([truth[r] for r in ref["row"]])
    assert fits["data-x"]["exponent"] == pytest.approx(1.2, abs=0.3)
    assert np.all(np.abs(err) <= 3 * ref["uncertainty"].to_numpy() + 1e-3)
    assert np.abs(err).max() < 0.02


def test_reference_needs_images_beyond_the_stop():
    curves = {r: ([4, 6, 8, 10], synthetic(0.6, 1.0, 1.0, [4, 6, 8, 10])) for r in range(3)}
    with pytest.raises(ValueError, match="beyond m = 10"):
        jc.reference(frame_of(curves))


def summary(rows):
    return pd.DataFrame(rows, columns=["dataset", "judge", "images", "mean", "std", "u95",
                                       "seconds"])


def test_choose_certified_takes_the_cheapest_within_the_bound():
    cands = jc.candidate_judges(1.0)
    table = summary([("d", "m = 4", 60, 0.04, 0.02, 0.08, 0.2),
                     ("d", "m = 6", 60, 0.02, 0.01, 0.03, 1.2),
                     ("d", "m = 4, 6 extrapolated", 60, 0.0, 0.004, 0.009, 1.4),
                     ("d", "m = 8", 60, 0.0, 0.003, 0.006, 5.0)])
    judge, met = jc.choose_certified(table, cands, bound=0.01, max_seconds=8)
    assert met and judge.harmonics == (4, 6) and judge.name == "certified"
    assert judge.uncertainty == pytest.approx(0.009)


def test_choose_certified_falls_back_to_the_most_accurate_affordable():
    cands = jc.candidate_judges(1.0)
    table = summary([("d", "m = 4", 60, 0.04, 0.02, 0.08, 0.2),
                     ("d", "m = 8", 60, 0.0, 0.01, 0.02, 5.0),
                     ("d", "m = 10", 60, 0.0, 0.01, 0.015, 15.0)])
    judge, met = jc.choose_certified(table, cands, bound=0.01, max_seconds=8)
    assert not met and judge.harmonics == (8,) and judge.uncertainty == pytest.approx(0.02)


def test_judge_combines_its_truncations(monkeypatch):
    from invdes.config import get_profile
    from invdes.physics import optics

    stack = get_profile("smoke").optics_for("data-ii")
    image = (np.indices((8, 8)).sum(axis=0) % 3 == 0).astype(np.uint8)
    a2, a3 = (float(optics.absorption(image, jc.dataclasses.replace(stack, harmonics=(m, m)),
                                      n_jobs=1)[0]) for m in (2, 3))
    judge = judges.Judge("certified", (2, 3), (-0.5, 1.5), uncertainty=0.01)
    assert judge.absorption(image, stack, n_jobs=1)[0] == pytest.approx(-0.5 * a2 + 1.5 * a3)
    assert "m = 2 and 3, extrapolated" in judge.label
    assert judges.Judge.from_dict(judge.to_dict()) == judge


@pytest.mark.parametrize("bad", [0, 21, -3, 2.5, True, "4"])
def test_harmonics_outside_1_to_20_are_refused(bad):
    with pytest.raises(ValueError, match="from 1 to 20"):
        judges.check_harmonics(bad)
