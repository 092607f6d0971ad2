"""Chapter 8, "Beyond the paper": the designer's parts and the benchmark, as tables and figures.

Reads the ``designer`` step's provenance (:mod:`invdes.study.designer_models`) and the
``benchmark`` step's files (:mod:`invdes.study.benchmark`); computes nothing expensive.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from invdes import artifacts
from invdes.book.plots import figure_grid
from invdes.book.tables import format_seconds, frame
from invdes.config import DATASETS, Profile
from invdes.study import designer_models

#: Display names and plot order of the benchmark's methods.
LABELS: dict[str, str] = {
    "lookup": "look-up", "random-latent": "random latent", "gan-mdn": "GAN-MDN",
    "flow": "conditional flow", "adjoint": "neural adjoint", "designer": "composed designer",
    "bo": "BO",
}
COLORS: dict[str, str] = {
    "lookup": "0.5", "random-latent": "tab:gray", "gan-mdn": "tab:blue", "flow": "tab:purple",
    "adjoint": "tab:orange", "designer": "tab:red", "bo": "tab:green",
}


def designer_provenance(profile: Profile) -> dict[str, dict]:
    """{data set: provenance of its designer folder}."""
    return {name: artifacts.read_provenance(designer_models.designer_dir(profile.name, name))
            or {} for name in DATASETS}


def surrogate_table(provenance: Mapping[str, dict], ranking: str = "z") -> pd.DataFrame:
    """Test RMSE (against the RCWA, on held-out rows) of every surrogate kind per data set;
    ``ranks``: the kind the designer ranks with (``DesignerConfig.ranking``)."""
    rows = []
    for name, prov in provenance.items():
        kinds = prov.get("test_rmse", {})
        ranker = designer_models.ranking_kind(ranking, kinds, prov.get("chosen_surrogate"))
        for kind, rmse in kinds.items():
            rows.append({"data set": name, "inputs": kind, "test RMSE": rmse,
                         "RMSE / std(y)": rmse / prov["y_std_test"],
                         "lowest RMSE": kind == prov.get("chosen_surrogate"),
                         "ranks": kind == ranker,
                         "training": prov.get("training_s", {}).get(kind, np.nan)})
    return frame(rows, index=["data set", "inputs"],
                 caption="Table 8.1. Forward surrogates (ensembles), scored on held-out rows",
                 formats={"test RMSE": ".4f", "RMSE / std(y)": ".2f",
                          "training": format_seconds})


def nll_table(provenance: Mapping[str, dict]) -> pd.DataFrame:
    """Validation NLL (nats, lower is better) of p(z | y): flow, GAN-MDN, uniform box."""
    rows = [{"data set": name, **{k: v for k, v in prov.get("nll_nats", {}).items()}}
            for name, prov in provenance.items()]
    return frame(rows, index=["data set"], formats={"flow": ".2f", "gan-mdn": ".2f",
                                                    "uniform": ".2f"},
                 caption="Table 8.2. Validation NLL of p(z | y) in nats (lower is better)")


def novelty_table(table: pd.DataFrame) -> pd.DataFrame:
    """The novelty-constrained comparison: per data set, target and method, how many of the
    returned designs are new and their REP."""
    df = table.copy()
    df["method"] = df["method"].map(lambda m: LABELS.get(m, m))
    cols = ["dataset", "target", "method", "n", "n_new", "mean_rep_pct", "max_rep_pct",
            "mean_rep_new_pct", "min_pairwise", "simulations", "wall_s"]
    df = df[cols].rename(columns={
        "dataset": "data set", "n_new": "new", "mean_rep_pct": "mean REP (%)",
        "max_rep_pct": "max REP (%)", "mean_rep_new_pct": "mean REP of new (%)",
        "min_pairwise": "min pairwise", "simulations": "simulations", "wall_s": "time"})
    out = frame(df.to_dict("records"), index=["data set", "target", "method"],
                caption="Table 8.3. Designs per target: how many are new (distance >= delta to "
                        "every training image) and how close they come",
                formats={"mean REP (%)": ".3f", "max REP (%)": ".3f",
                         "mean REP of new (%)": ".3f", "min pairwise": ".3f", "new": ".0f",
                         "n": ".0f", "simulations": ",.0f", "time": format_seconds},
                index_formats={"target": ".2f"})
    return out


def plot_rt(curves: Mapping[tuple, np.ndarray], dataset: str, targets, *, t_max: int = 1000):
    """r_T: expected best REP (%) against RCWA simulations T, per target, log axes; the
    look-up (no simulation) as a dashed line at its best REP."""
    fig, axes = figure_grid(1, len(targets), (3.0 * len(targets), 3.0), sharey=True)
    for ax, target in zip(axes[0], targets, strict=True):
        for method in LABELS:
            keys = sorted(k for k in curves if k[0] == dataset and k[1] == method
                          and abs(k[2] - target) < 1e-9)
            for j, key in enumerate(keys):
                r = 100 * np.maximum(np.asarray(curves[key])[:t_max], 1e-6)
                ax.loglog(np.arange(1, len(r) + 1), r, color=COLORS[method], lw=1.2,
                          alpha=1.0 if j == 0 else 0.5,
                          label=LABELS[method] if j == 0 else None)
        ax.set_title(f"{dataset}, target {target:.2f}", fontsize=9)
        ax.set_xlabel("RCWA simulations T")
        ax.grid(True, which="both", alpha=0.2)
    axes[0][0].set_ylabel("best REP after T simulations (%)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    return fig


def add_lookup_lines(fig, table: pd.DataFrame, dataset: str, targets) -> None:
    """The look-up's best REP (it simulates nothing) as a dashed line in each panel."""
    for ax, target in zip(fig.axes, targets, strict=False):
        row = table[(table.dataset == dataset) & (table.method == "lookup")
                    & (np.abs(table.target - target) < 1e-9)]
        if len(row):
            ax.axhline(max(float(row["mean_rep_pct"].iloc[0]), 1e-6), color=COLORS["lookup"],
                       ls="--", lw=1, label="look-up (mean of 30)")


def above_bo(own: np.ndarray, bo_curves: list[np.ndarray]) -> np.ndarray:
    """The simulation counts T (1-based) where the designer's r_T ``own`` lies above BO's, up to
    the longest BO record. BO's r_T at T is the mean over the seeds whose record reaches T; a
    designer run that ended before (its budget spent, or nothing left to step) keeps its last
    best."""
    horizon = max(len(c) for c in bo_curves)
    padded = np.full((len(bo_curves), horizon), np.nan)
    for row, c in zip(padded, bo_curves, strict=True):
        row[: len(c)] = c
    bo = np.nanmean(padded, axis=0)
    mine = np.concatenate([own, np.full(max(horizon - len(own), 0), own[-1])])[:horizon]
    return np.flatnonzero(mine > bo + 1e-12) + 1


def goals(table: pd.DataFrame, curves: Mapping[tuple, np.ndarray], y_ranges: Mapping[str, tuple],
          n_designs: int, time_limit_s: float = 60.0, max_rep_pct: float = 0.5) -> pd.DataFrame:
    """Each goal of the designer per data set and target inside the data range: met or not,
    with the measured value."""
    rows = []
    for (name, target), part in table.groupby(["dataset", "target"]):
        lo, hi = y_ranges[name]
        if not lo <= target <= hi:
            continue
        d = part[part.method == "designer"]
        look = part[part.method == "lookup"]
        if d.empty:
            continue
        d, look = d.iloc[0], look.iloc[0]
        bo_keys = [k for k in curves if k[0] == name and k[1] == "bo" and abs(k[2] - target) < 1e-9]
        own = curves.get((name, "designer", round(float(target), 2), 0))
        below_bo, above_at = np.nan, ""
        if bo_keys and own is not None:
            above = above_bo(np.asarray(own), [np.asarray(curves[k]) for k in bo_keys])
            below_bo = len(above) == 0
            if len(above):  # the simulations T where the designer's best is above BO's
                above_at = f"{above[0]}-{above[-1]}"
        rows.append({
            "data set": name, "target": float(target),
            "designs": int(d["n"]), "all new": int(d["n_new"]) == int(d["n"]),
            "mean REP (%)": float(d["mean_rep_pct"]),
            "look-up mean REP (%)": float(look["mean_rep_pct"]),
            "<= look-up": float(d["mean_rep_pct"]) <= float(look["mean_rep_pct"]),
            "max REP (%)": float(d["max_rep_pct"]),
            "max <= 0.5 %": float(d["max_rep_pct"]) <= max_rep_pct,
            "time": float(d["wall_s"]), "<= 60 s": float(d["wall_s"]) <= time_limit_s,
            "r_T <= BO": below_bo, "r_T > BO at T": above_at,
            "30 designs": int(d["n"]) >= n_designs,
        })
    columns = ["data set", "target", "designs", "all new", "mean REP (%)",
               "look-up mean REP (%)", "<= look-up", "max REP (%)", "max <= 0.5 %", "time",
               "<= 60 s", "r_T <= BO", "r_T > BO at T", "30 designs"]
    return frame(rows, columns, index=["data set", "target"],
                 caption="Table 8.4. The designer's goals at every target inside the data range",
                 formats={"mean REP (%)": ".3f", "look-up mean REP (%)": ".3f",
                          "max REP (%)": ".3f", "time": format_seconds},
                 index_formats={"target": ".2f"})


def budget_table(table: pd.DataFrame, y_ranges: Mapping[str, tuple]) -> pd.DataFrame:
    """What a longer budget buys: the designer's 30 designs with the default budget and with
    its r_T run's (as many simulations as one BO run), against the look-up's mean REP, at every
    target inside the data range."""
    rows = []
    for (name, target), part in table.groupby(["dataset", "target"]):
        lo, hi = y_ranges[name]
        d = part[part.method == "designer"]
        look = part[part.method == "lookup"]
        if not lo <= target <= hi or d.empty or "long_simulations" not in d:
            continue
        d, look_mean = d.iloc[0], float(look["mean_rep_pct"].iloc[0])
        if not np.isfinite(d["long_simulations"]):
            continue
        rows.append({"data set": name, "target": float(target),
                     "look-up mean REP (%)": look_mean,
                     "simulations": int(d["simulations"]),
                     "mean REP (%)": float(d["mean_rep_pct"]),
                     "max REP (%)": float(d["max_rep_pct"]),
                     "long run": int(d["long_simulations"]),
                     "its mean REP (%)": float(d["long_mean_rep_pct"]),
                     "its max REP (%)": float(d["long_max_rep_pct"]),
                     "its mean <= look-up": float(d["long_mean_rep_pct"]) <= look_mean,
                     "its max <= 0.5 %": float(d["long_max_rep_pct"]) <= 0.5})
    columns = ["data set", "target", "look-up mean REP (%)", "simulations", "mean REP (%)",
               "max REP (%)", "long run", "its mean REP (%)", "its max REP (%)",
               "its mean <= look-up", "its max <= 0.5 %"]
    pct = {c: ".3f" for c in columns if c.endswith("(%)")}
    return frame(rows, columns, index=["data set", "target"], index_formats={"target": ".2f"},
                 caption="Table 8.5. The designer's 30 designs with its default budget and "
                         "with its r_T run's longer one",
                 formats={**pct, "simulations": ",.0f", "long run": ",.0f"})


def timing_table(designer_timings: Mapping[str, dict]) -> pd.DataFrame:
    """Wall time of the composed designer per target, split into its phases."""
    rows = []
    for key, t in designer_timings.items():
        name, target = key.split("|")
        rows.append({"data set": name, "target": float(target),
                     "proposal": t["proposal_s"], "surrogate": t["surrogate_s"],
                     "simulation": t["simulation_s"], "refinement": t["refinement_s"],
                     "total": t["wall_s"], "r_T run": t.get("curve_wall_s", np.nan)})
    return frame(rows, index=["data set", "target"], index_formats={"target": ".2f"},
                 caption="Table 8.6. Where the designer's time goes (this machine); r_T run: "
                         "the whole second run with BO's number of simulations",
                 formats={c: format_seconds for c in ("proposal", "surrogate", "simulation",
                                                      "refinement", "total", "r_T run")})


__all__ = ["LABELS", "COLORS", "add_lookup_lines", "budget_table", "designer_provenance", "goals",
           "nll_table", "novelty_table", "plot_rt", "surrogate_table", "timing_table"]
