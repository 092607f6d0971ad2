"""Display helpers of the book (invdes.book): formatting, Table 1 against the paper, nulls."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from invdes.book import ch04_datasets as ch4
from invdes.book import ch05_gan_mdn as ch5
from invdes.book import ch06_baselines as ch6
from invdes.book import ch07_results as ch7
from invdes.book import table1, tables
from invdes.config import BOConfig
from invdes.study.evaluate import PAPER_TABLE1, TABLE1_COLUMNS, best_of_n_curve, write_table1_csv


def row(dataset="data-i", method="gan-mdn", target=0.55, **kw) -> dict:
    base = {c: None for c in TABLE1_COLUMNS}
    base.update(dataset=dataset, method=method, target=target, min_rep_pct=1.0, mean_rep_pct=5.0,
                std_rep_pct=2.0, generation_s=0.5, simulation_s=3.0, diversity=0.2, novelty=0.1,
                n=30)
    base.update(kw)
    return base


# ------------------------------------------------------------------------------ formatting


@pytest.mark.parametrize("value", [None, math.nan, math.inf, np.float64("nan")])
def test_fmt_missing_is_dash(value):
    assert tables.fmt(value) == tables.MISSING == "-"


def test_fmt_numbers_and_ints():
    assert tables.fmt(np.float64(1.23456)) == "1.23"
    assert tables.fmt(3.0, "d") == "3"
    assert tables.fmt(0.12345, ".3f") == "0.123"
    assert tables.fmt("already text") == "already text"


@pytest.mark.parametrize("seconds, text", [(0.00012, "0.12 ms"), (9.75, "9.75 s"),
                                           (600, "10.0 min"), (4.4 * 3600, "4.4 h"),
                                           (None, "-")])
def test_format_seconds(seconds, text):
    assert tables.format_seconds(seconds) == text


def test_format_seconds_rejects_negative():
    with pytest.raises(ValueError, match=">= 0"):
        tables.format_seconds(-1.0)


def test_builtin_makes_glue_friendly_values():
    v = tables.builtin(np.float64(0.25))
    assert type(v) is float and v == 0.25
    assert type(tables.builtin(np.int64(3))) is int
    assert type(tables.builtin(np.array(2.5))) is float
    assert math.isnan(tables.builtin(None))
    # myst-nb formats the text/plain repr: a numpy scalar's repr would not parse
    assert repr(tables.builtin(np.float64(0.25))) == "0.25"


def test_frame_keeps_numbers_and_style_formats_them():
    df = tables.frame([["a", 0.5, 3, None], ["b", 12.345, 1200, 2.0]],
                      ["name", "rep", "count", "time"], index=["name"], caption="Cap & more",
                      formats={"time": tables.format_seconds})
    assert df.index.name == "name" and df["rep"].dtype == np.float64
    assert df.loc["b", "count"] == 1200 and df.attrs["caption"] == "Cap & more"
    html = tables.style(df).to_html()
    assert "<caption>Cap &amp; more</caption>" in html
    assert ">12.35<" in html and ">1,200<" in html and ">2.00 s<" in html
    assert f">{tables.MISSING}<" in html  # None: a dash, not "nan" or "None"
    assert html == tables.style(df).to_html()  # deterministic: no random uuid
    assert "row0_col0" not in html  # no per-cell ids
    assert "<th" in html and ">a<" in html
    assert ">a<" not in tables.style(df, hide_index=True).to_html()


def test_style_groups_headers_and_marks_failed_checks():
    cols = pd.MultiIndex.from_tuples([("", "method"), ("REP %", "ours"), ("REP %", "paper"),
                                      ("", "ok")])
    df = tables.frame([["x", 1.0, math.inf, True], ["y", 2.0, 3.0, False]], cols,
                      index=[("", "method")], formats={("REP %", "paper"):
                                                      tables.no_convergence()})
    assert df.index.name == "method" and df[("REP %", "ours")].sum() == 3.0
    html = tables.style(df).to_html()
    assert 'colspan="2">REP %</th>' in html
    assert f">{tables.NO_CONVERGENCE}<" in html and ">3.00<" in html
    assert ">yes<" in html and ">no<" in html and "font-weight: bold" in html
    assert tables.GROUP_STYLE["selector"] in html


# ------------------------------------------------------------------------------ Table 1


def test_table1_comparison_aligns_paper_numbers():
    rows = [row(target=0.55, min_rep_pct=0.5, mean_rep_pct=7.25, std_rep_pct=3.5),
            row(method="bo", target=0.60, min_rep_pct=2.0, mean_rep_pct=None, std_rep_pct=None,
                generation_s=7200.0, diversity=None, novelty=None, n=1)]
    t = table1.table1_comparison(rows, "data-i")
    assert list(t.index.names) == ["method", "target"]
    assert list(t.columns.get_level_values(0).unique()) == [
        "min REP %", "mean REP %", "std REP %", "time"]
    gan = t.loc[("GAN-MDN", 0.55)]
    assert gan[("min REP %", "ours")] == 0.5 and gan[("min REP %", "paper")] == 0.65
    assert gan[("mean REP %", "paper")] == 15.68 and gan[("std REP %", "paper")] == 8.40
    assert gan[("time", "paper")] == 9.75
    bo = t.loc[("BO", 0.60)]
    assert bo[("min REP %", "paper")] == 1.08
    assert bo[("time", "paper")] == pytest.approx(3.6 * 3600)
    assert bo[("time", "gen.")] == 7200.0 and math.isnan(bo[("mean REP %", "ours")])
    html = tables.style(t).to_html()
    assert ">3.6 h<" in html and ">2.0 h<" in html and ">9.75 s<" in html and ">0.55<" in html


def test_table1_comparison_missing_rows_are_nan():
    rows = [row(method="lookup", target=0.55)]
    t = table1.table1_comparison(rows, "data-i", extra=["diversity", "novelty", "n"])
    assert t.shape == (4 * 5 + 1, 12)  # 4 methods x 5 targets of the paper, plus our look-up
    assert table1.table1_comparison(rows, "data-i").shape[1] == 9
    assert list(t["ours"].columns) == ["diversity", "novelty", "N"]
    lk = t.loc[(tables.method_label("lookup", short=True), 0.55)]
    paper = [c for c in t.columns if c[1] == "paper"]
    assert len(paper) == 4 and all(math.isnan(lk[c]) for c in paper)  # the paper has no look-up
    pca = t.loc[("PCA-MDN", 0.75)]
    assert pca[("mean REP %", "paper")] == 18.34
    assert all(math.isnan(pca[c]) for c in t.columns if c[1] != "paper")  # not run by us
    bo = t.loc[("BO", 0.55)]
    assert bo[("min REP %", "paper")] == math.inf  # the paper's "no convergence"
    html = tables.style(t).to_html()
    assert f">{tables.NO_CONVERGENCE}<" in html and ">0.200<" in html and ">30<" in html


def test_table1_records_ignore_other_dataset_and_order_methods():
    rows = [row(method="lookup"), row(dataset="data-ii", mean_rep_pct=99.0), row()]
    recs = table1.table1_records(rows, "data-i")
    methods = [r["method"] for r in recs]
    assert methods.index("gan-mdn") < methods.index("bo") < methods.index("lookup")
    gan = next(r for r in recs if r["method"] == "gan-mdn" and r["target"] == 0.55)
    assert gan["ours"]["mean_rep_pct"] == 5.0
    assert gan["paper"]["mean_rep_pct"] == PAPER_TABLE1["data-i"]["gan-mdn"][0.55]["mean_rep_pct"]


def test_table1_roundtrip_through_csv(tmp_path):
    from invdes.study.evaluate import read_table1_csv

    path = write_table1_csv([row(), row(method="bo", mean_rep_pct=None, std_rep_pct=None)],
                            tmp_path / "t.csv")
    t = table1.table1_comparison(read_table1_csv(path), "data-i", methods=["gan-mdn", "bo"])
    assert set(t.index.get_level_values("method")) == {"GAN-MDN", "BO"}
    assert len(t) == 10


def test_results_and_diversity_tables():
    rows = [row(method="gan-mdn", target=0.55, diversity=0.2), row(target=0.6, diversity=0.4),
            row(method="bo", diversity=None, novelty=None)]
    t = table1.results_table(rows, methods=["gan-mdn"])
    assert len(t) == 2 and t.index[0] == ("data-i", "GAN-MDN", 0.55)
    assert list(t.columns) == ["min REP %", "mean REP %", "std REP %", "generation",
                               "simulation", "diversity", "novelty", "N", "draws",
                               "mean REP %, mean of draws", "mean REP %, 95 % lo",
                               "mean REP %, 95 % hi", "min REP %, mean of draws",
                               "min REP %, 95 % lo", "min REP %, 95 % hi"]
    assert t["diversity"].tolist() == [0.2, 0.4]
    d = ch7.diversity_novelty_table({"data-i": rows})
    assert list(d.index) == ["GAN-MDN (proposed)"]  # BO has no diversity: left out
    assert d.loc["GAN-MDN (proposed)", ("data-i", "diversity")] == pytest.approx(0.3)
    assert ">0.300<" in tables.style(d).to_html()


def test_results_table_is_column_driven():
    """A column added to the Table 1 rows shows up, labelled and formatted by its name."""
    rows = [row(spread_pct=4.5, pool=200), row(target=0.6, spread_pct=None, pool=100)]
    t = table1.results_table(rows)
    assert list(t.columns[-2:]) == ["spread_pct", "pool"]
    assert t["spread_pct"].tolist()[0] == 4.5 and math.isnan(t["spread_pct"].iloc[1])
    html = tables.style(t).to_html()
    assert ">4.50<" in html and ">200.000<" in html  # not in TABLE1_INTEGER: a float
    assert table1.column_format("draws_s") is tables.format_seconds


# ------------------------------------------------------------------------------ nulls


def test_null_baselines_known_values():
    y = np.array([0.5, 0.6, 0.7])
    (r,) = ch4.null_baselines(y, [0.6], n=2)
    assert r["median_rep_pct"] == pytest.approx(0.0)
    assert r["random_mean_rep_pct"] == pytest.approx(100 * (0.1 + 0 + 0.1) / 3 / 0.6)
    # best of 2 of 3 draws: the exact sample (REP 0) is among them with probability 2/3
    assert r["random_best_of_n_pct"] == pytest.approx(100 * (1 / 3) * 0.1 / 0.6)
    assert r["n_used"] == 2
    assert r["within_1pct"] == pytest.approx(1 / 3)


def test_null_baselines_cap_n_and_validate():
    y = np.linspace(0.5, 0.8, 10)
    (r,) = ch4.null_baselines(y, [0.65], n=30)
    assert r["n_used"] == 10
    assert r["random_best_of_n_pct"] == pytest.approx(best_of_n_curve(
        100 * np.abs(y - 0.65) / 0.65)[-1])
    with pytest.raises(ValueError, match="> 0"):
        ch4.null_baselines(y, [0.0])
    with pytest.raises(ValueError, match="finite"):
        ch4.null_baselines([np.nan], [0.6])


def test_null_forward_known_values():
    y = np.array([1.0, 2.0])
    f = ch4.null_forward(y)
    # median 1.5: |1.5-1|/1 = 0.5, |1.5-2|/2 = 0.25
    assert f["median_predictor_rep_pct"] == pytest.approx(100 * 0.375)
    # pairs: |2-1|/1 = 1, |1-2|/2 = 0.5
    assert f["random_pair_rep_pct"] == pytest.approx(100 * 0.75)
    table = ch4.null_baseline_table({"d": ch4.null_baselines(y, [1.5])})
    assert table.index[0] == ("d", 1.5) and table.shape == (1, 7)
    assert table.loc[("d", 1.5), ("REP % of data-set designs", "median design")] == 0.0
    assert table.loc[("d", 1.5), ("share of set within (%)", "5 %")] == 0.0
    assert ">0.0<" in tables.style(table).to_html()


# ------------------------------------------------------------------------------ BO, models


def bo_result(target, n, n_initial=2, best=0.02):
    reps = np.linspace(0.2, best, n)
    return SimpleNamespace(target=target, n_evaluations=n, rep_best=float(reps.min()),
                           rep_history=reps, wall_time_s=7200.0, simulation_s=3600.0,
                           first_below=lambda r: (int(np.flatnonzero(reps <= r)[0]) + 1
                                                  if np.any(reps <= r) else None))


def test_bo_rows_flag_partial_and_missing_runs():
    cfg = BOConfig(n_initial=2, n_iterations=3)
    rows = ch6.bo_rows({0.55: bo_result(0.55, 5), 0.60: bo_result(0.60, 3)}, cfg, "data-i",
                     [0.55, 0.60, 0.65])
    full, part, absent = rows
    assert full["budget"] == 5 and not full["partial"] and full["best_at"] == 5
    assert part["partial"] and part["n_evaluations"] == 3
    assert not absent["run"] and absent["best_rep_pct"] is None
    assert full["paper_min_rep_pct"] is None  # "no convergence" in the paper
    assert part["paper_min_rep_pct"] == 1.08
    assert full["paper_time_s"] == pytest.approx(4.4 * 3600)
    t = ch6.bo_table({"data-i": rows})
    assert t[("ours", "status")].tolist() == ["finished", "partial", "not run"]
    assert t[("ours", "evaluations")].tolist() == [5, 3, 0]
    assert t[("ours", "budget")].tolist() == [5, 5, 5]
    assert t[("paper", "min REP %")].tolist()[:2] == [math.inf, 1.08]
    assert t[("ours", "best at")].isna().tolist() == [False, False, True]
    html = tables.style(t).to_html()
    assert f">{tables.NO_CONVERGENCE}<" in html and ">2.0 h<" in html and ">4.4 h<" in html


def test_clip_stats():
    z = np.array([[0.5, 1.5], [0.1, 0.2], [-2.0, -3.0], [1.0, 0.0]])
    s = ch5.clip_stats(z)
    assert s["vectors"] == pytest.approx(0.5) and s["coordinates"] == pytest.approx(3 / 8)
    s = ch5.clip_stats(np.clip(z, -1, 1), already_clipped=True)
    assert s["vectors"] == pytest.approx(0.75)  # the row sitting exactly on 1.0 counts too
    with pytest.raises(ValueError, match="shape"):
        ch5.clip_stats(np.zeros(3))


def test_keras_layer_table_counts_parameters():
    from invdes.inverse.mdn import build_network, n_outputs

    model = build_network(4, n_components=5, hidden_units=3, n_blocks=2)
    t = ch5.keras_layer_table(model)
    assert t["layer"].iloc[-1] == "total"
    assert t["parameters"].iloc[-1] == model.count_params() == t["parameters"].iloc[:-1].sum()
    head = t.set_index("layer").loc["mixture_head"]
    assert head["output shape"] == f"(batch, {n_outputs(5, 4)})"


# ------------------------------------------------------------------------------ discussion


def test_compare_with_paper_and_discussion_follow_the_numbers():
    ts = (0.55, 0.60, 0.65, 0.70, 0.75)
    good = ([row(target=t, mean_rep_pct=1.0) for t in ts]
            + [row(method="pca-mdn", target=t, mean_rep_pct=2.0) for t in ts]
            + [row(method="direct-mdn", target=t, mean_rep_pct=3.0) for t in ts]
            + [row(method="lookup", target=t, mean_rep_pct=4.0) for t in ts]
            + [row(method="random-latent", target=t, mean_rep_pct=9.5 if t < 0.6 else 5.0)
               for t in ts])
    f = ch7.compare_with_paper(good, datasets=("data-i",))["data-i"]
    assert f["gan_wins_ours"] == 5 and f["gan_wins_paper"] == 4  # the paper: direct at 0.55
    assert f["same_winner"] == [0.60, 0.65, 0.70, 0.75]
    assert f["beats_null"] == list(ts) and f["null_mean"] == pytest.approx(4.0)
    assert f["direct_worse_ours"] == list(ts) and len(f["direct_worse_paper"]) == 4
    text = ch7.discussion_markdown({"data-i": f})
    assert "5 of 5 targets, more often than in the paper (4 of 5)" in text
    assert "beats the look-up null baseline" in text and "at every target" in text
    assert f["beats_random"] == list(ts) and "than random latents" in text

    bad = [dict(r, mean_rep_pct=9.0) if r["method"] == "gan-mdn" else r for r in good]
    f = ch7.compare_with_paper(bad, datasets=("data-i",))["data-i"]
    assert f["gan_wins_ours"] == 0 and f["beats_null"] == []
    text = ch7.discussion_markdown({"data-i": f})
    assert "for only 0 of 5 targets" in text and "does not beat" in text
    assert f["beats_random"] == [0.55] and "at 1 of 5 targets (0.55)" in text
    assert "no results yet" in ch7.discussion_markdown(
        ch7.compare_with_paper([], datasets=("data-ii",)))


def test_glue_values_casts_numpy(monkeypatch):
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.update({name: v}))
    assert tables.glue_values({"a": np.float64(1.5), "b": None}, prefix="p_") is None
    assert seen["p_a"] == 1.5 and type(seen["p_a"]) is float and math.isnan(seen["p_b"])


def test_method_means_and_paper_means():
    rows = [row(target=0.55, mean_rep_pct=2.0), row(target=0.6, mean_rep_pct=4.0),
            row(method="bo", mean_rep_pct=None)]
    assert table1.method_mean(rows, "gan-mdn", "mean_rep_pct") == pytest.approx(3.0)
    assert table1.method_mean(rows, "bo", "mean_rep_pct") is None
    assert table1.paper_method_mean("data-i", "gan-mdn", "mean_rep_pct") == pytest.approx(
        (15.68 + 9.15 + 5.80 + 5.29 + 7.83) / 5)
    # BO: "no convergence" entries are skipped, hours become seconds
    assert table1.paper_method_mean("data-i", "bo", "min_rep_pct") == pytest.approx(
        (1.08 + 3.38) / 2)
    assert table1.paper_method_mean("data-ii", "bo", "time_s") == pytest.approx(
        3600 * (5.8 + 12.1 + 4.2 + 18.8 + 3.2) / 5)
    assert table1.paper_method_mean("data-i", "lookup", "mean_rep_pct") is None


def test_best_of_n_table_marks_n_beyond_pool():
    curves = {("data-i", "pca-mdn", 0.55): np.array([0.1, 0.05]),
              ("data-i", "gan-mdn", 0.55): np.array([0.2, 0.1, 0.01])}
    t = ch7.best_of_n_table(curves, [1, 3])
    assert t.index.get_level_values("method").tolist() == ["GAN-MDN (proposed)", "PCA-MDN"]
    assert t.iloc[0].tolist() == pytest.approx([20.0, 1.0])
    assert t.iloc[1, 0] == pytest.approx(10.0) and math.isnan(t.iloc[1, 1])
    assert list(t.columns.get_level_values(1)) == ["N = 1", "N = 3"]


# ------------------------------------------------------------------------------ figures


class _FakeMDN:
    """Just enough of a fitted MDN for the plotting helpers."""

    def __init__(self, k=3, d=2):
        self.n_components, self.dim_ = k, d
        self.history_ = {"loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.5, 2.6]}
        self.best_epoch_, self.n_epochs_, self.stop_reason_ = 1, 3, "early stopping"

    def mixture_params(self, y):
        y = np.atleast_1d(y)
        w = np.tile(np.array([0.7, 0.2, 0.1]), (y.size, 1))
        return w, np.zeros((y.size, 3, self.dim_)), np.full((y.size, 3, self.dim_), 0.5)


def test_mixture_summaries_and_plots():
    s = ch5.mixture_summaries({"a": _FakeMDN(), "b": _FakeMDN()}, [0.55, 0.6])
    assert len(s) == 4 and s[0]["top3"] == [0, 1, 2]
    assert s[0]["effective"] == pytest.approx(1 / (0.49 + 0.04 + 0.01))
    assert s[0]["mean_sigma"] == pytest.approx(0.5)
    m = ch5.mixture_table(s)
    assert m.loc[("a", 0.55), "top 3"] == "1, 2, 3" and m.shape == (4, 4)
    assert m.loc[("a", 0.55), "weight of top 3 (%)"] == pytest.approx(100.0)
    assert len(ch5.plot_mixture_weights(s).axes) == 4
    assert len(ch5.plot_training_history({"a": _FakeMDN()}).axes) == 1
    z = np.random.default_rng(0).normal(size=(2, 50, 3))
    assert len(ch5.plot_latent_marginals(z, [0.55, 0.6]).axes) == 3
    with pytest.raises(ValueError, match="shape"):
        ch5.plot_latent_marginals(z, [0.55])
    fig = ch5.plot_candidate_absorption({("a", 0.55): [0.5, 0.56], ("a", 0.6): [0.61]},
                                      {"a": (0.4, 0.7)})
    assert len(fig.axes) == 1
    assert len(ch6.plot_explained_variance({"a": [0.5, 0.2]}).axes) == 1


def test_plot_generation_steps_uses_the_generator():
    class Gen:
        def generate_continuous(self, z):
            return np.tile(np.linspace(-1, 1, 64), (1, 64, 1))

        def generate(self, z):
            return (self.generate_continuous(z) > 0).astype(np.uint8)

    fig = ch4.plot_generation_steps(Gen(), np.zeros(4), y=0.6)
    titles = [ax.get_title() for ax in fig.axes]
    assert "binary image, y = 0.6000" in titles and "latent z (2 x 2)" in titles
    with pytest.raises(ValueError, match="s\\*s"):
        ch4.plot_generation_steps(Gen(), np.zeros(3))


def test_pca_reconstruction_of_a_fitted_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = (rng.random((20, 8, 8)) < 0.3).astype(np.uint8)
    pca = PCA(n_components=19).fit(x.reshape(20, -1).astype(float))
    model = SimpleNamespace(pca_=pca, reconstruct=lambda s: pca.inverse_transform(s).reshape(
        len(s), 8, 8))
    r = ch6.pca_reconstruction(model, x)
    assert r["grey"].shape == x.shape and set(np.unique(r["binary"])) <= {0, 1}
    assert r["pixel_agreement"] > 0.95  # 19 components of 20 images: nearly exact
    assert r["all_zero_agreement"] == pytest.approx(1 - x.mean())


def test_bo_status_markdown_names_partial_and_missing():
    cfg = BOConfig(n_initial=2, n_iterations=3)
    rows = {"data-i": ch6.bo_rows({0.55: bo_result(0.55, 5), 0.60: bo_result(0.60, 3)}, cfg,
                                "data-i", [0.55, 0.60, 0.65])}
    text = ch6.bo_status_markdown(rows, cfg)
    assert "data-i at target 0.60 (3 of 5 evaluations)" in text
    assert "**Not run:** data-i at target 0.65" in text
    assert "3.6 to 10.6 h per target in the paper" in text
    full = {"data-i": ch6.bo_rows({0.55: bo_result(0.55, 5)}, cfg, "data-i", [0.55])}
    assert "Every run used its full budget." in ch6.bo_status_markdown(full, cfg)


def test_table1_averages_keys_and_values():
    rows = {"data-i": [row(target=0.55, mean_rep_pct=2.0), row(target=0.6, mean_rep_pct=4.0),
                       row(method="bo", generation_s=7200.0)],
            "data-ii": []}
    v = ch7.table1_averages(rows)
    assert v["gan_mdn_mean_i"] == pytest.approx(3.0)
    assert v["paper_gan_mdn_mean_i"] == pytest.approx((15.68 + 9.15 + 5.80 + 5.29 + 7.83) / 5)
    assert v["bo_time_i"] == "2.0 h" and v["bo_time_ii"] == "-"
    assert v["gan_mdn_mean_ii"] is None and v["paper_direct_mdn_time_ii"] == pytest.approx(
        (23.21 + 24.05 + 24.14 + 23.90 + 23.34) / 5)


def test_target_coverage_markdown():
    info = {"name": "d", "y_p5": 0.58, "y_p95": 0.72, "y_min": 0.56, "y_max": 0.74}
    text = ch4.target_coverage_markdown([info], [0.55, 0.60, 0.75])
    assert "targets outside it: 0.55, 0.75;" in text
    assert "of the set: 0.55, 0.75." in text and text.startswith("- **d**")
    info.update(y_p5=0.5, y_p95=0.8, y_min=0.4, y_max=0.9)
    assert "outside it: none; " in ch4.target_coverage_markdown([info], [0.6])


def test_goal_checks_flag_each_miss_and_name_the_out_of_range_target():
    def row(method, t, mean, mn, gen=0.05):
        return {"dataset": "data-ii", "method": method, "target": t, "mean_rep_pct": mean,
                "min_rep_pct": mn, "generation_s": gen}

    rows = [row("gan-mdn", 0.65, 2.7, 0.07), row("random-latent", 0.65, 2.3, 0.06),
            row("gan-mdn", 0.75, 5.4, 3.6, gen=1.5), row("random-latent", 0.75, 14.7, 7.1)]
    checks = ch7.goal_checks({"data-ii": rows}, {"data-ii": (0.49, 0.72)})
    by = {(c["goal"], c["target"]): c for c in checks}
    assert not by[("mean REP below random latents", 0.65)]["met"]
    assert by[("mean REP below random latents", 0.75)]["met"]
    paper_065 = PAPER_TABLE1["data-ii"]["gan-mdn"][0.65]["mean_rep_pct"]
    assert by[("mean REP at most the paper's", 0.65)]["bound"] == paper_065
    assert ("mean REP at most the paper's", 0.75) not in by  # not a middle target
    miss = by[("min REP below 0.5 %", 0.75)]
    assert not miss["met"] and "outside the data's y range 0.490-0.720" in miss["note"]
    assert by[("min REP below 0.5 %", 0.65)]["met"] and by[("min REP below 0.5 %", 0.65)][
        "note"] == ""
    assert not by[("generation under 1 s", 0.75)]["met"]
    table = ch7.goal_table(checks)
    met = table.loc[("mean REP below random latents", "data-ii")]
    assert met["targets met"] == 1 and met["of"] == 2
    assert "0.65: 2.7 vs 2.3" in met["misses: ours vs bound"]


# ---------------------------------------------------------------- chapter 7: noise of the draws


def _draws_frame():
    import pandas as pd

    rows = []
    rng = np.random.default_rng(0)
    for r in range(10):
        for method, level in (("gan-mdn", 2.0), ("pca-mdn", 6.0), ("random-latent", 2.05)):
            for t in (0.55, 0.65):
                rows.append({"dataset": "data-i", "method": method, "target": t, "draw": r,
                             "mean_rep_pct": level + 0.3 * rng.standard_normal(),
                             "min_rep_pct": 0.1 + 0.02 * rng.standard_normal()})
    return pd.DataFrame.from_records(rows)


def test_gan_vs_baselines_verdicts_follow_the_intervals(tmp_path):
    from invdes.book import ch07_noise as nz

    csv = tmp_path / "draws_data-i.csv"
    _draws_frame().to_csv(csv, index=False)
    look = [{"dataset": "data-i", "method": "lookup", "target": 0.55, "mean_rep_pct": 0.01,
             "min_rep_pct": 0.0}]
    draws = nz.read_draws([csv], look)
    recs = nz.gan_vs_baselines(draws)
    verdict = {(r["target"], r["baseline"]): r["verdict"] for r in recs}
    assert verdict[(0.55, "pca-mdn")] == nz.LOWER  # 2 vs 6: resolved
    assert verdict[(0.55, "random-latent")] == nz.NOISE  # 2 vs 2.05 with sd 0.3: not
    assert verdict[(0.55, "lookup")] == nz.HIGHER  # the deterministic look-up at 0.01
    assert (0.65, "lookup") not in verdict and (0.55, "direct-mdn") not in verdict
    for r in recs:
        assert r["diff_lo"] <= r["diff"] <= r["diff_hi"]
    text = nz.noise_markdown(recs, [])
    assert "Against PCA-MDN, GAN-MDN's mean REP is lower at 0.55, 0.65." in text
    table = nz.comparison_table(recs, caption="c")
    assert len(table) == len(recs) and table.attrs["caption"] == "c"


def test_paper_differences_flag_numbers_outside_a_single_draws_range():
    from invdes.book import ch07_noise as nz

    draws = _draws_frame()
    paper = {"data-i": {"gan-mdn": {0.55: {"mean_rep_pct": 2.1, "min_rep_pct": 0.65},
                                    0.65: {"mean_rep_pct": 0.5}},
                        "bo": {0.55: {"min_rep_pct": 1e-4}}}}
    recs = nz.paper_differences(draws, paper)
    got = {(r["target"], r["metric"]): r["verdict"] for r in recs}
    assert got == {(0.55, "mean_rep_pct"): nz.INSIDE, (0.55, "min_rep_pct"): nz.PAPER_HIGHER,
                   (0.65, "mean_rep_pct"): nz.PAPER_LOWER}  # BO: no draws of ours, left out
    text = nz.noise_markdown([], recs)
    assert "2 of the paper's 3 numbers lie outside" in text
    assert "GAN-MDN min REP: paper higher at 0.55" in text


# ------------------------------------------------------------------------------ chapter 8
def test_designer_goals_say_where_the_designer_is_above_bo():
    from invdes.book import ch08_beyond as ch8

    def bench_row(method, mean, mx, wall=50.0, n_new=30):
        return {"dataset": "data-i", "target": 0.65, "method": method, "n": 30,
                "n_new": n_new, "mean_rep_pct": mean, "max_rep_pct": mx, "wall_s": wall}

    table = pd.DataFrame([bench_row("lookup", 0.02, 0.04, 0.0, 0),
                          bench_row("designer", 0.05, 0.3, 61.0)])
    own = np.r_[np.full(20, 0.01), np.full(30, 0.001)]  # (50,) the designer's running best
    bo_a = np.r_[np.full(10, 0.02), np.full(40, 0.005)]  # above the designer's at T = 11..20
    bo_b = np.full(60, 0.02)
    curves = {("data-i", "designer", 0.65, 0): own, ("data-i", "bo", 0.65, 0): bo_a,
              ("data-i", "bo", 0.65, 1): bo_b}
    goals = ch8.goals(table, curves, {"data-i": (0.5, 0.8)}, 30)
    row_ = goals.iloc[0]
    # mean BO curve: 0.02 up to T = 10, then 0.0125: the designer's 0.01 is below it everywhere
    assert bool(row_["r_T <= BO"]) and row_["r_T > BO at T"] == ""
    curves[("data-i", "bo", 0.65, 1)] = np.r_[np.full(10, 0.02), np.full(50, 0.001)]
    goals = ch8.goals(table, curves, {"data-i": (0.5, 0.8)}, 30)
    row_ = goals.iloc[0]
    assert not bool(row_["r_T <= BO"]) and row_["r_T > BO at T"] == "11-20"  # 0.01 > 0.003
    assert not bool(row_["<= look-up"]) and not bool(row_["<= 60 s"])
    assert bool(row_["max <= 0.5 %"]) and bool(row_["all new"])
    # past its budget (50) the designer keeps its best: a longer BO record that gets below it
    # counts against it there
    curves[("data-i", "bo", 0.65, 1)] = np.r_[np.full(60, 0.02), np.full(20, 1e-4)]
    assert ch8.goals(table, curves, {"data-i": (0.5, 0.8)}, 30).iloc[0]["r_T > BO at T"] \
        == "61-80"
    out_of_range = ch8.goals(table, curves, {"data-i": (0.70, 0.8)}, 30)
    assert len(out_of_range) == 0


def test_budget_table_compares_both_budgets_with_the_lookup():
    from invdes.book import ch08_beyond as ch8

    rows = [{"dataset": "data-i", "target": t, "method": "lookup", "mean_rep_pct": 0.02}
            for t in (0.55, 0.65)]
    rows += [{"dataset": "data-i", "target": 0.65, "method": "designer", "simulations": 200,
              "mean_rep_pct": 0.05, "max_rep_pct": 0.7, "long_simulations": 650,
              "long_mean_rep_pct": 0.015, "long_max_rep_pct": 0.2},
             {"dataset": "data-i", "target": 0.55, "method": "designer", "simulations": 200,
              "mean_rep_pct": 0.01, "max_rep_pct": 0.1, "long_simulations": np.nan,
              "long_mean_rep_pct": np.nan, "long_max_rep_pct": np.nan}]
    out = ch8.budget_table(pd.DataFrame(rows), {"data-i": (0.5, 0.8)})
    assert list(out.index) == [("data-i", 0.65)]  # a row without an r_T run is left out
    row = out.iloc[0]
    assert row["long run"] == 650 and bool(row["its mean <= look-up"])
    assert bool(row["its max <= 0.5 %"]) and row["mean REP (%)"] == 0.05
    assert len(ch8.budget_table(pd.DataFrame(rows), {"data-i": (0.7, 0.8)})) == 0
    assert len(ch8.budget_table(pd.DataFrame(rows[:2]), {"data-i": (0.5, 0.8)})) == 0
