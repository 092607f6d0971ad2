"""Tests of invdes.study.evaluate: REP, candidate evaluation (fake simulator), best-of-N,
Table 1."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from invdes.inverse.baselines import BOResult
from invdes.study.evaluate import (
    PAPER_TABLE1,
    TABLE1_COLUMNS,
    best_of_n_curve,
    bo_table1_row,
    difference_interval,
    diversity,
    draw_columns,
    evaluate_candidates,
    format_percent,
    mean_interval,
    nearest_distances,
    paper_table1_rows,
    plot_best_of_n,
    plot_bo_history,
    read_table1_csv,
    rep,
    rep_percent,
    single_draw_interval,
    table1_rows,
    write_table1_csv,
)


def fake_simulate(images):
    """A stand-in 'simulator': y = 0.4 + volume fraction of phase 1."""
    return 0.4 + np.asarray(images, dtype=np.float64).mean(axis=(1, 2))


def images_with_fractions(fractions, side: int = 10) -> np.ndarray:
    """Images whose first round(f * side^2) pixels (row-major) are 1."""
    out = np.zeros((len(fractions), side * side), dtype=np.uint8)
    for i, f in enumerate(fractions):
        out[i, : int(round(f * side * side))] = 1
    return out.reshape(-1, side, side)


# ---------------------------------------------------------------------------------- REP


def test_rep_is_a_fraction_and_rep_percent_is_percent():
    np.testing.assert_allclose(rep([0.66, 0.54, 0.6], 0.6), [0.1, 0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(rep_percent([0.66], 0.6), [10.0])
    assert format_percent(0.01234) == "1.23 %" and format_percent(None) == "n/a"


@pytest.mark.parametrize("target", [0.0, -0.5, math.nan, math.inf, "x"])
def test_rep_rejects_bad_targets(target):
    with pytest.raises(ValueError, match="target"):
        rep([0.5], target)


def test_rep_rejects_non_finite_predictions():
    with pytest.raises(ValueError, match="non-finite"):
        rep([0.5, np.nan], 0.6)


# ---------------------------------------------------------------------------------- candidates


def test_evaluation_reproduces_the_rep_of_known_candidates():
    imgs = images_with_fractions([0.25, 0.20, 0.30])  # y = 0.65, 0.60, 0.70
    train = images_with_fractions([0.25, 0.5])
    ev = evaluate_candidates(imgs, 0.6, fake_simulate, train_images=train)
    np.testing.assert_allclose(ev["y_hat"], [0.65, 0.60, 0.70])
    expected = np.array([0.05, 0.0, 0.1]) / 0.6
    np.testing.assert_allclose(ev["rep"], expected, atol=1e-12)
    assert ev["rep_min"] == pytest.approx(0.0, abs=1e-12) and ev["best_index"] == 1
    assert ev["rep_mean"] == pytest.approx(expected.mean())
    assert ev["rep_std"] == pytest.approx(expected.std())
    assert ev["n"] == 3 and ev["simulation_s"] >= 0
    # nested prefixes of 1s: Hamming distance = difference of the counts
    assert ev["diversity"] == pytest.approx(np.mean([0.05, 0.05, 0.10]))
    np.testing.assert_allclose(nearest_distances(imgs, train), [0.0, 0.05, 0.05])
    assert ev["novelty"] == pytest.approx(0.1 / 3)
    assert evaluate_candidates(imgs, 0.6, fake_simulate)["novelty"] is None


def test_diversity_of_identical_and_complementary_images():
    a = np.random.default_rng(0).integers(0, 2, size=(1, 8, 8), dtype=np.uint8)
    assert diversity(np.concatenate([a, a, a])) == 0.0
    assert diversity(np.concatenate([a, 1 - a])) == 1.0
    assert math.isnan(diversity(a))
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 2, size=(5, 6, 6), dtype=np.uint8)
    brute = np.mean([np.mean(imgs[i] != imgs[j]) for i, j in combinations(range(5), 2)])
    assert diversity(imgs) == pytest.approx(brute)


def test_evaluation_rejects_bad_inputs():
    imgs = images_with_fractions([0.2, 0.3])
    with pytest.raises(ValueError, match="target"):
        evaluate_candidates(imgs, 0.0, fake_simulate)
    with pytest.raises(ValueError, match="binary"):
        evaluate_candidates(imgs * 0.5, 0.6, fake_simulate)
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        evaluate_candidates(imgs[0], 0.6, fake_simulate)
    with pytest.raises(ValueError, match="one each"):
        evaluate_candidates(imgs, 0.6, lambda x: np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        evaluate_candidates(imgs, 0.6, lambda x: np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="training images"):
        evaluate_candidates(imgs, 0.6, fake_simulate, train_images=np.zeros((2, 4, 4)))


# ---------------------------------------------------------------------------------- best of N


def test_best_of_n_curve_exact_and_monte_carlo():
    reps = np.random.default_rng(3).exponential(0.05, size=40)
    exact = best_of_n_curve(reps, n_max=40)
    assert exact.shape == (40,)
    assert np.all(np.diff(exact) <= 0)
    assert exact[0] == pytest.approx(reps.mean())
    assert exact[-1] == pytest.approx(reps.min())
    # N = 2 by enumeration of all pairs
    assert exact[1] == pytest.approx(np.mean([min(a, b) for a, b in combinations(reps, 2)]))
    mc = best_of_n_curve(reps, n_max=20, n_repeats=4000, seed=1)
    assert np.all(np.diff(mc) <= 0)
    np.testing.assert_allclose(mc, exact[:20], rtol=0.05, atol=2e-3)


@pytest.mark.parametrize("kwargs", [dict(n_max=0), dict(n_max=11), dict(n_repeats=0)])
def test_best_of_n_curve_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        best_of_n_curve(np.linspace(0, 0.1, 10), **kwargs)


# ---------------------------------------------------------------------------------- Table 1


def test_paper_table1_transcription():
    assert set(PAPER_TABLE1) == {"data-i", "data-ii"}
    for methods in PAPER_TABLE1.values():
        assert set(methods) == {"gan-mdn", "pca-mdn", "direct-mdn", "bo"}
        for targets in methods.values():
            assert sorted(targets) == [0.55, 0.60, 0.65, 0.70, 0.75]
    assert PAPER_TABLE1["data-i"]["gan-mdn"][0.70]["min_rep_pct"] == 0.13
    assert PAPER_TABLE1["data-ii"]["pca-mdn"][0.60]["mean_rep_pct"] == 2.69
    assert PAPER_TABLE1["data-i"]["direct-mdn"][0.60]["time_s"] == 187.86
    assert PAPER_TABLE1["data-i"]["bo"][0.55]["min_rep_pct"] is None
    assert PAPER_TABLE1["data-ii"]["bo"][0.55] == {"min_rep_pct": 15.51, "time_h": 5.8}
    rows = paper_table1_rows()
    assert len(rows) == 40 and all(tuple(r) == TABLE1_COLUMNS for r in rows)


def test_table1_csv_round_trip(tmp_path):
    imgs = images_with_fractions([0.25, 0.2])
    evs = {t: evaluate_candidates(imgs, t, fake_simulate) for t in (0.6, 0.65)}
    rows = table1_rows("data-ii", "gan-mdn", evs, generation_s={0.6: 1.5, 0.65: 2.0})
    assert rows[0]["min_rep_pct"] == pytest.approx(0.0, abs=1e-9)
    assert rows[1]["mean_rep_pct"] == pytest.approx(100 * np.mean([0.0, 0.05]) / 0.65)
    bo = BOResult(target=0.7, z_best=np.zeros(4), y_best=0.71, rep_best=0.01 / 0.7,
                  z_history=np.zeros((3, 4)), y_history=np.full(3, 0.71),
                  rep_history=np.full(3, 0.01 / 0.7), best_history=np.full(3, 0.01 / 0.7),
                  n_initial=2, n_evaluations=3, wall_time_s=12.0, simulation_s=10.0,
                  finished=True)
    rows.append(bo_table1_row("data-ii", bo))
    path = write_table1_csv(rows, tmp_path / "table1.csv")
    back = read_table1_csv(path)
    assert [r["method"] for r in back] == ["gan-mdn", "gan-mdn", "bo"]
    assert back[2]["mean_rep_pct"] is None and back[2]["n"] == 1
    assert back[1]["generation_s"] == 2.0
    assert back[0]["mean_rep_pct"] == pytest.approx(rows[0]["mean_rep_pct"])
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ValueError, match="lacks"):
        write_table1_csv([{"dataset": "data-i"}], tmp_path / "bad.csv")


# ---------------------------------------------------------------------------------- figures


def test_figures_have_one_panel_per_dataset_and_target():
    rng = np.random.default_rng(0)
    hist = {"rep_history": rng.exponential(0.05, 30), "n_initial": 10}
    results = {"data-i": {t: hist for t in (0.55, 0.6, 0.65)},
               "data-ii": {t: hist for t in (0.55, 0.6)}}
    fig = plot_bo_history(results)
    assert len(fig.axes) == 6
    fig2 = plot_best_of_n({"a": best_of_n_curve(hist["rep_history"])})
    assert len(fig2.axes) == 1


# ---------------------------------------------------------------------------- error bars


def test_mean_interval_is_the_student_t_interval():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0, 4.0])
    # t(0.975, 3) = 3.182446; sd = 1.290994; half width = t sd / 2
    assert m == 2.5 and hi - m == pytest.approx(3.182446 * 1.290994 / 2, rel=1e-5)
    assert m - lo == pytest.approx(hi - m)
    assert mean_interval([2.0]) == (2.0, 2.0, 2.0)
    wide = mean_interval([1.0, 2.0, 3.0, 4.0], confidence=0.99)
    assert wide[1] < lo and wide[2] > hi
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, np.nan])


def test_difference_interval_is_welch_and_covers_zero_only_for_equal_means():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0]
    diff, lo, hi = difference_interval(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    dof = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)  # Welch-Satterthwaite, by hand
    from scipy import stats

    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    assert diff == pytest.approx(-1.5) and hi - diff == pytest.approx(half, rel=1e-9)
    assert lo < 0 < hi  # 2.5 vs 4.0 with these spreads: not resolved
    far = difference_interval([10.0, 10.5, 11.0], [1.0, 1.5, 2.0])
    assert far[1] > 0  # clearly higher
    # a deterministic baseline (one value) adds no variance
    one = difference_interval([1.0, 2.0, 3.0], [5.0])
    assert one[0] == -3.0 and one[2] - one[0] == pytest.approx(mean_interval([1, 2, 3])[2] - 2)
    assert all(math.isnan(v) for v in difference_interval([1.0], [2.0])[1:])
    with pytest.raises(ValueError, match="finite"):
        difference_interval([1.0, np.inf], [1.0, 2.0])


def test_single_draw_interval_is_wider_than_the_mean_interval():
    values = [1.0, 2.0, 3.0, 4.0]
    lo, hi = single_draw_interval(values)
    _, mlo, mhi = mean_interval(values)
    # prediction half-width = sqrt(1 + R) times the mean's for R draws
    assert (hi - lo) == pytest.approx((mhi - mlo) * math.sqrt(5), rel=1e-9)
    with pytest.raises(ValueError, match="two"):
        single_draw_interval([1.0])


def test_draw_columns_summarize_each_draws_mean_and_minimum():
    target = 0.5
    draws = [np.array([0.5, 0.55]), np.array([0.45, 0.6]), np.array([0.5, 0.5])]
    cols = draw_columns(draws, target)
    assert cols["draws"] == 3
    means = [5.0, 15.0, 0.0]  # percent
    assert cols["mean_rep_pct_mean"] == pytest.approx(np.mean(means))
    assert cols["min_rep_pct_mean"] == pytest.approx(np.mean([0.0, 10.0, 0.0]))
    assert cols["mean_rep_pct_lo"] < cols["mean_rep_pct_mean"] < cols["mean_rep_pct_hi"]
    assert set(cols) == {"draws"} | {f"{k}_{s}" for k in ("mean_rep_pct", "min_rep_pct")
                                     for s in ("mean", "lo", "hi")}


def test_table1_csv_with_pandas_keeps_values_and_extra_columns(tmp_path):
    from invdes.study.evaluate import read_table1_frame, table1_frame

    base = {c: None for c in TABLE1_COLUMNS}
    rows = [dict(base, dataset="data-i", method="gan-mdn", target=0.55, min_rep_pct=0.1,
                 mean_rep_pct=1 / 3, generation_s=7200.0, n=30, draws=10, pool=200),
            dict(base, dataset="data-i", method="bo", target=0.6, min_rep_pct=2.5e-05, n=1,
                 pool=None)]
    path = write_table1_csv(rows, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(TABLE1_COLUMNS) + ",pool"  # extra columns after the known
    empty_draw_columns = "," * 6
    assert lines[1] == ("data-i,gan-mdn,0.55,0.1,0.3333333333333333,,7200.0,,,,30,10"
                        + empty_draw_columns + ",200.0")
    assert lines[2] == "data-i,bo,0.6,2.5e-05,,,,,,,1," + empty_draw_columns + ","
    df = read_table1_frame(path)
    assert df.shape == (2, len(TABLE1_COLUMNS) + 1) and str(df["n"].dtype) == "Int64"
    assert df["mean_rep_pct"].iloc[0] == 1 / 3 and df["mean_rep_pct"].isna().iloc[1]
    write_table1_csv(df, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()
    # a file written before a column existed reads with that column missing
    (tmp_path / "old.csv").write_text("dataset,method,target,n\ndata-ii,lookup,0.7,30\n")
    old = read_table1_frame(tmp_path / "old.csv")
    assert list(old.columns) == list(TABLE1_COLUMNS) and old["novelty"].isna().all()
    assert read_table1_csv(tmp_path / "old.csv")[0]["novelty"] is None
    with pytest.raises(ValueError, match="lacks"):
        table1_frame(pd.DataFrame({"dataset": ["data-i"]}))


def test_bo_curve_is_the_expectation_over_the_random_start_then_the_run():
    """BO's first evaluations are exchangeable uniform draws: their r_T is the order-statistics
    expectation, which a lucky early draw cannot lower; from the last initial point on, the
    curve is the run's own running best."""
    from invdes.study.benchmark import bo_curve, running_best

    rng = np.random.default_rng(3)
    reps = np.r_[0.001, rng.uniform(0.01, 0.2, 9), rng.uniform(0.0001, 0.01, 5)]
    curve = bo_curve(reps, n_initial=10)
    assert curve.shape == reps.shape and np.all(np.diff(curve) <= 1e-15)
    np.testing.assert_allclose(curve[:10], best_of_n_curve(reps[:10]))
    assert curve[0] == pytest.approx(reps[:10].mean())  # not the lucky first draw
    np.testing.assert_allclose(curve[9:], running_best(reps)[9:])  # they meet at T = 10
    np.testing.assert_allclose(bo_curve(reps[:4], n_initial=10), best_of_n_curve(reps[:4]))
