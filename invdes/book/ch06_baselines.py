"""Tables and figures of chapter 6 (the baselines): Bayesian optimization runs and PCA-MDN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from invdes.book.plots import figure_grid
from invdes.book.tables import format_seconds, frame, no_convergence, target_key
from invdes.study.evaluate import PAPER_TABLE1


def bo_rows(results: Mapping[float, Any], config, dataset: str, targets: Iterable[float], *,
            paper: Mapping = PAPER_TABLE1, threshold_pct: float = 1.0) -> list[dict]:
    """One dict per target: our BO run (``results``: {target: BOResult}, absent = not run)
    against the budget ``config.n_initial + config.n_iterations`` and the paper's entry.

    Keys: ``target``, ``run`` (bool), ``n_evaluations``, ``budget``, ``partial`` (fewer
    evaluations than the budget), ``best_rep_pct``, ``best_at`` (1-based evaluation of the best
    point), ``first_below`` (evaluations until the best REP first fell to ``threshold_pct``,
    None if never), ``wall_time_s``, ``simulation_s``, ``paper_min_rep_pct`` (None: no
    convergence or not reported), ``paper_time_s``.
    """
    budget = int(config.n_initial) + int(config.n_iterations)
    lookup = {target_key(t): r for t, r in results.items()}
    p = paper.get(dataset, {}).get("bo", {})
    p = {target_key(t): v for t, v in p.items()}
    out = []
    for t in targets:
        r = lookup.get(target_key(t))
        pe = p.get(target_key(t))
        row = {"target": float(t), "run": r is not None, "budget": budget,
               "paper_min_rep_pct": None if pe is None else pe.get("min_rep_pct"),
               "paper_time_s": None if pe is None else 3600.0 * pe["time_h"],
               "paper_reported": pe is not None}
        if r is None:
            row.update(n_evaluations=0, partial=True, best_rep_pct=None, best_at=None,
                       first_below=None, wall_time_s=None, simulation_s=None)
        else:
            reps = np.asarray(r.rep_history, dtype=np.float64)
            row.update(n_evaluations=int(r.n_evaluations), partial=int(r.n_evaluations) < budget,
                       best_rep_pct=100.0 * float(r.rep_best), best_at=int(np.argmin(reps)) + 1,
                       first_below=r.first_below(threshold_pct / 100.0),
                       wall_time_s=float(r.wall_time_s), simulation_s=float(r.simulation_s))
        out.append(row)
    return out


def bo_table(by_dataset: Mapping[str, list[dict]], caption: str = "") -> pd.DataFrame:
    """:func:`bo_rows` results ``{dataset: rows}`` as a DataFrame indexed by data set and
    target; grouped columns "ours" (evaluations, budget, status, best REP %, best at, REP <= 1 %
    at, wall time and simulation time in seconds) and "paper" (min REP %: +inf for "no
    convergence", NaN where not reported; time in seconds). Counts are nullable integers."""
    records = []
    for d, rs in by_dataset.items():
        for r in rs:
            status = ("not run" if not r["run"] else
                      "partial" if r["partial"] else "finished")
            pmin = math.nan
            if r["paper_reported"]:
                pmin = math.inf if r["paper_min_rep_pct"] is None else r["paper_min_rep_pct"]
            records.append([d, r["target"], r["n_evaluations"], r["budget"], status,
                            r["best_rep_pct"], r["best_at"], r["first_below"],
                            r["wall_time_s"], r["simulation_s"], pmin, r["paper_time_s"]])
    columns = pd.MultiIndex.from_tuples(
        [("", "data set"), ("", "target")]
        + [("ours", c) for c in ("evaluations", "budget", "status", "best REP %", "best at",
                                 "REP <= 1 % at", "wall time", "simulation")]
        + [("paper", "min REP %"), ("paper", "time")])
    df = frame(records, columns, caption=caption, index_formats={"target": ".2f"}, formats={
        ("ours", "best REP %"): ".2g", ("paper", "min REP %"): no_convergence(),
        "wall time": format_seconds, "simulation": format_seconds, "time": format_seconds})
    for c in ("evaluations", "budget", "best at", "REP <= 1 % at"):
        df[("ours", c)] = df[("ours", c)].astype("Int64")
    df = df.set_index([("", "data set"), ("", "target")])
    df.index.names = ["data set", "target"]
    return df


def bo_status_markdown(by_dataset: Mapping[str, list[dict]], config,
                       paper: Mapping = PAPER_TABLE1) -> str:
    """Markdown on the state of the BO runs of :func:`bo_rows`: partial and missing runs named,
    our wall times next to the range of the paper's."""
    partial = [f"{d} at target {r['target']:.2f} ({r['n_evaluations']} of {r['budget']} "
               "evaluations)" for d, rs in by_dataset.items() for r in rs
               if r["run"] and r["partial"]]
    missing = [f"{d} at target {r['target']:.2f}" for d, rs in by_dataset.items() for r in rs
               if not r["run"]]
    runs = [r for rs in by_dataset.values() for r in rs if r["run"]]
    paper_h = [v["time_h"] for d in by_dataset for v in paper.get(d, {}).get("bo", {}).values()]
    text = []
    if partial:
        text.append(f"**Partial runs.** These runs stopped before their budget of "
                    f"{config.n_initial} initial points plus {config.n_iterations} iterations "
                    "and are shown as they are: " + "; ".join(partial) + ". Their best REP is "
                    "an upper bound on what the full run would reach.")
    if missing:
        text.append("**Not run:** " + "; ".join(missing) + ".")
    if runs:
        secs = [r["wall_time_s"] for r in runs]
        per_eval = float(np.mean([r["wall_time_s"] / r["n_evaluations"] for r in runs]))
        sentence = (f"Our runs took {format_seconds(min(secs))} to "
                    f"{format_seconds(max(secs))} of wall time per target "
                    f"({format_seconds(sum(secs))} in all, {format_seconds(per_eval)} per "
                    "evaluation on average)")
        if paper_h:
            sentence += (f", against {min(paper_h):.1f} to {max(paper_h):.1f} h per target in "
                         "the paper")
        text.append(sentence + ".")
    if not partial and not missing:
        text.append("Every run used its full budget.")
    return "\n\n".join(text)


def plot_explained_variance(ratios: Mapping[str, Any]):
    """Explained-variance ratio per principal component and cumulatively (percent), one panel
    per ``{name: ratios (d,)}``. Returns a Figure."""
    fig, axes = figure_grid(1, len(ratios), (5.5 * len(ratios), 3.3))
    for ax, (name, r) in zip(axes[0], ratios.items(), strict=True):
        r = np.asarray(r, dtype=np.float64)
        idx = np.arange(1, r.size + 1)
        ax.bar(idx, 100 * r, label="per component")
        ax.plot(idx, 100 * np.cumsum(r), "o-", color="C1", label="cumulative")
        ax.set(title=f"{name}: {r.size} components", xlabel="principal component",
               ylabel="explained variance (%)", xticks=idx)
        ax.legend(fontsize=8)
    return fig


def pca_reconstruction(pca_mdn, images) -> dict:
    """Project binary ``images`` (n, h, w) onto a fitted PCA-MDN's components and back:
    ``grey`` (n, h, w) reconstructions, ``binary`` (Otsu), ``pixel_agreement`` (mean share of
    pixels equal to the original), ``all_zero_agreement`` (the same for an all-phase-0 image)
    and ``vf_error`` (mean absolute volume-fraction error)."""
    from invdes.inverse.baselines import binarize_otsu, check_binary_images

    x = check_binary_images(images)
    flat = x.reshape(len(x), -1)
    grey = pca_mdn.reconstruct(pca_mdn.pca_.transform(flat.astype(np.float64)))
    binary = binarize_otsu(grey)
    bflat = binary.reshape(len(x), -1)
    return {"grey": grey, "binary": binary,
            "pixel_agreement": float((bflat == flat).mean()),
            "all_zero_agreement": float(1.0 - flat.mean()),
            "vf_error": float(np.abs(bflat.mean(axis=1) - flat.mean(axis=1)).mean())}


__all__ = [
    "bo_rows", "bo_status_markdown", "bo_table", "pca_reconstruction",
    "plot_explained_variance"
]


def round_trip_table(trips: Mapping[str, Mapping[str, Any]],
                     pca_mean_rep_pct: Mapping[str, float], caption: str = "") -> pd.DataFrame:
    """Per data set: the PCA round trip (:func:`invdes.study.diagnostics.pca_round_trip`) -
    images, kept components and variance, pixels flipped, REP of the round trip (median,
    mean, 90th percentile) - beside the PCA-MDN's mean REP over draws and targets."""
    rows = [[name, len(t["y"]), int(t["n_components"]), 100 * float(t["explained_variance"]),
             100 * float(np.mean(t["pixel_change"])), float(np.median(t["rep_pct"])),
             float(np.mean(t["rep_pct"])), float(np.percentile(t["rep_pct"], 90)),
             pca_mean_rep_pct.get(name, math.nan)] for name, t in trips.items()]
    return frame(rows, ["data set", "images", "components", "variance kept (%)",
                        "pixels flipped (%)", "round-trip REP median (%)", "mean (%)",
                        "90th pct (%)", "PCA-MDN mean REP (%)"], index=["data set"],
                 caption=caption, formats={"variance kept (%)": ".1f",
                                           "pixels flipped (%)": ".1f",
                                           "round-trip REP median (%)": ".2f", "mean (%)": ".2f",
                                           "90th pct (%)": ".2f", "PCA-MDN mean REP (%)": ".2f"})


def plot_round_trip(trips: Mapping[str, Mapping[str, Any]]):
    """Simulated absorption of each PCA round trip against the image's own (one panel per data
    set; the diagonal is a perfect round trip)."""
    fig, axes = figure_grid(1, len(trips), size=(3.6 * len(trips), 3.4))
    for ax, (name, t) in zip(np.ravel(axes), trips.items(), strict=False):
        y0, y1 = np.asarray(t["y"]), np.asarray(t["y_round_trip"])
        lo, hi = float(min(y0.min(), y1.min())), float(max(y0.max(), y1.max()))
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1)
        ax.scatter(y0, y1, s=8, alpha=0.6)
        ax.set(xlabel="y of the data-set image", ylabel="y after the PCA round trip",
               title=f"{name}: median REP {np.median(t['rep_pct']):.1f} %")
    return fig
