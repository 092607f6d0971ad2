"""Tables, figures and prose of chapter 7 (results): Table 1 against the paper, Figures 2 and 3.

- :func:`diversity_novelty_table`, :func:`best_of_n_table`, :func:`table1_averages`  our numbers
- :func:`compare_with_paper`, :func:`discussion_markdown`  facts and text for the discussion
- :func:`goal_checks`, :func:`goal_table`  the inverse-model goals, met or missed
- :func:`plot_figure2`, :func:`plot_best_of_n_grid`, :func:`write_figures`  the evaluation's
  figures (``invdes reproduce`` writes them after the evaluate step)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invdes.artifacts import atomic_path
from invdes.book.table1 import method_mean, paper_method_mean
from invdes.book.tables import (
    MDN_METHODS,
    METHOD_ORDER,
    MISSING,
    format_seconds,
    frame,
    is_missing,
    method_label,
    target_key,
)
from invdes.config import DATASETS, Profile, get_profile
from invdes.study import pipeline
from invdes.study.evaluate import PAPER_TABLE1, plot_bo_history, rep


def diversity_novelty(rows_by_dataset: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[dict]:
    """Per data set and method, diversity and novelty averaged over the targets (fractions of
    the pixels; None where no target has a value): dicts with ``dataset``, ``method``,
    ``diversity``, ``novelty``, ``n_targets``."""
    out = []
    for d, rows in rows_by_dataset.items():
        by_method: dict[str, list] = {}
        for r in rows:
            by_method.setdefault(r["method"], []).append(r)
        for m in [m for m in METHOD_ORDER if m in by_method] + sorted(
                set(by_method) - set(METHOD_ORDER)):
            rs = by_method[m]

            def mean(key, _rs=rs):
                vals = [float(r[key]) for r in _rs if not is_missing(r.get(key))]
                return float(np.mean(vals)) if vals else None

            out.append({"dataset": d, "method": m, "diversity": mean("diversity"),
                        "novelty": mean("novelty"), "n_targets": len(rs)})
    return out


def diversity_novelty_table(rows_by_dataset: Mapping[str, Iterable[Mapping[str, Any]]],
                            caption: str = "") -> pd.DataFrame:
    """Per method (the index) and data set (column groups) the target-averaged diversity and
    novelty (fractions of the pixels); methods without any value, such as Bayesian
    optimization's single design, are left out."""
    recs = diversity_novelty(rows_by_dataset)
    datasets = list(rows_by_dataset)
    shown = {r["method"] for r in recs
             if r["diversity"] is not None or r["novelty"] is not None}
    methods = [m for m in METHOD_ORDER if m in shown] + sorted(shown - set(METHOD_ORDER))
    lookup = {(r["dataset"], r["method"]): r for r in recs}
    records = [[method_label(m)] + [lookup.get((d, m), {}).get(k) for d in datasets
                                     for k in ("diversity", "novelty")] for m in methods]
    columns = pd.MultiIndex.from_tuples([("", "method")] + [
        (d, k) for d in datasets for k in ("diversity", "novelty")])
    df = frame(records, columns, caption=caption, formats={"diversity": ".3f", "novelty": ".3f"})
    df = df.set_index(("", "method"))
    df.index.name = "method"
    return df.astype("float64")


def best_of_n_table(curves: Mapping[tuple, Sequence[float]], ns: Sequence[int],
                    caption: str = "") -> pd.DataFrame:
    """Expected best REP (percent) at each N of ``ns`` (columns under "expected best REP % of
    N candidates") from best-of-N curves ``{(dataset, method, target): curve (fractions)}``,
    indexed by data set, method and target; N beyond a curve's pool is NaN."""
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    records = []
    for (d, m, t), c in sorted(curves.items(),
                               key=lambda kv: (kv[0][0], rank.get(kv[0][1], 99), kv[0][2])):
        c = np.asarray(c, dtype=np.float64)
        records.append([d, method_label(m), float(t)]
                       + [100 * c[n - 1] if 1 <= n <= c.size else math.nan for n in ns])
    group = "expected best REP % of N candidates"
    columns = pd.MultiIndex.from_tuples([("", "data set"), ("", "method"), ("", "target")]
                                        + [(group, f"N = {n}") for n in ns])
    df = frame(records, columns, caption=caption, index_formats={"target": ".2f"})
    df = df.set_index([("", "data set"), ("", "method"), ("", "target")])
    df.index.names = ["data set", "method", "target"]
    return df


def _by(rows: Iterable[Mapping[str, Any]]) -> dict:
    return {(r["dataset"], r["method"], target_key(r["target"])): r for r in rows}


def best_methods(rows: Iterable[Mapping[str, Any]], key: str = "mean_rep_pct",
                 methods: Sequence[str] = MDN_METHODS) -> dict:
    """{(dataset, target): method with the lowest ``key``} among ``methods`` (rows missing the
    value are skipped; a (dataset, target) with no value is absent)."""
    best: dict = {}
    for (d, m, t), r in _by(rows).items():
        v = r.get(key)
        if m not in methods or is_missing(v):
            continue
        if (d, t) not in best or float(v) < best[(d, t)][1]:
            best[(d, t)] = (m, float(v))
    return {k: m for k, (m, _) in best.items()}


def paper_rows(paper: Mapping = PAPER_TABLE1) -> list[dict]:
    """The paper's MDN-type entries as rows with ``dataset``, ``method``, ``target`` and the
    REP columns (percent)."""
    return [{"dataset": d, "method": m, "target": t, **v}
            for d, methods in paper.items() for m, by_t in methods.items() if m != "bo"
            for t, v in by_t.items()]


def compare_with_paper(rows: Iterable[Mapping[str, Any]], *, paper: Mapping = PAPER_TABLE1,
                       datasets: Sequence[str] = ("data-i", "data-ii"),
                       null_method: str = "lookup") -> dict:
    """Facts for the discussion, per data set (REP in percent):

    ``targets``; ``ours_best`` / ``paper_best``: {target: MDN method with the lowest mean
    REP}; ``same_winner``: targets where both pick the same method; ``gan_wins_ours`` /
    ``gan_wins_paper``: number of targets GAN-MDN wins; ``gan_mean_ours`` /
    ``gan_mean_paper``: GAN-MDN mean REP averaged over targets; ``gan_min_ours`` /
    ``gan_min_paper``: median over targets of GAN-MDN's min REP; ``beats_null``: targets where
    GAN-MDN's mean REP is below the ``null_method``'s; ``null_mean``: the null's mean REP
    averaged over targets (None when absent); ``beats_random`` / ``random_mean``: the same
    against the random-latent designer; ``direct_worse_ours`` / ``direct_worse_paper``:
    targets where the direct MDN's mean REP exceeds GAN-MDN's.
    """
    rows = list(rows)
    ours_best, theirs_best = best_methods(rows), best_methods(paper_rows(paper))
    ours = _by(rows)
    facts = {}
    for d in datasets:
        targets = sorted({t for (dd, m, t) in ours if dd == d and m in MDN_METHODS})

        def val(method, t, key, _d=d):
            r = ours.get((_d, method, t))
            return None if r is None or is_missing(r.get(key)) else float(r[key])

        def pval(method, t, key, _d=d):
            v = paper.get(_d, {}).get(method, {})
            v = {target_key(k): e for k, e in v.items()}.get(t)
            return None if v is None or v.get(key) is None else float(v[key])

        ob = {t: ours_best.get((d, t)) for t in targets}
        pb = {t: theirs_best.get((d, t)) for t in targets}
        gm_o = [val("gan-mdn", t, "mean_rep_pct") for t in targets]
        gm_p = [pval("gan-mdn", t, "mean_rep_pct") for t in targets]
        gmin_o = [val("gan-mdn", t, "min_rep_pct") for t in targets]
        gmin_p = [pval("gan-mdn", t, "min_rep_pct") for t in targets]
        nulls = [val(null_method, t, "mean_rep_pct") for t in targets]
        randoms = [val("random-latent", t, "mean_rep_pct") for t in targets]

        def avg(xs):
            xs = [x for x in xs if x is not None]
            return float(np.mean(xs)) if xs else None

        def med(xs):
            xs = [x for x in xs if x is not None]
            return float(np.median(xs)) if xs else None

        facts[d] = {
            "targets": targets, "ours_best": ob, "paper_best": pb,
            "same_winner": [t for t in targets if ob[t] is not None and ob[t] == pb[t]],
            "gan_wins_ours": sum(ob[t] == "gan-mdn" for t in targets),
            "gan_wins_paper": sum(pb[t] == "gan-mdn" for t in targets),
            "gan_mean_ours": avg(gm_o), "gan_mean_paper": avg(gm_p),
            "gan_min_ours": med(gmin_o), "gan_min_paper": med(gmin_p),
            "beats_null": [t for t, g, n in zip(targets, gm_o, nulls, strict=True)
                           if g is not None and n is not None and g < n],
            "null_mean": avg(nulls),
            "beats_random": [t for t, g, r in zip(targets, gm_o, randoms, strict=True)
                             if g is not None and r is not None and g < r],
            "random_mean": avg(randoms),
            "direct_targets": [t for t in targets
                               if val("direct-mdn", t, "mean_rep_pct") is not None],
            "direct_worse_ours": [t for t in targets
                                  if None not in (val("direct-mdn", t, "mean_rep_pct"),
                                                  val("gan-mdn", t, "mean_rep_pct"))
                                  and val("direct-mdn", t, "mean_rep_pct")
                                  > val("gan-mdn", t, "mean_rep_pct")],
            "direct_worse_paper": [t for t in targets
                                   if None not in (pval("direct-mdn", t, "mean_rep_pct"),
                                                   pval("gan-mdn", t, "mean_rep_pct"))
                                   and pval("direct-mdn", t, "mean_rep_pct")
                                   > pval("gan-mdn", t, "mean_rep_pct")],
        }
    return facts


def _targets(ts) -> str:
    return ", ".join(f"{t:.2f}" for t in ts) if ts else "none"


def discussion_markdown(facts: Mapping[str, Mapping[str, Any]], null_label: str = "look-up"
                        ) -> str:
    """A plain-language comparison with the paper built from :func:`compare_with_paper`: one
    paragraph per data set, each sentence chosen by the numbers."""
    paras = []
    for d, f in facts.items():
        n = len(f["targets"])
        if n == 0:
            paras.append(f"**{d}:** no results yet, nothing to compare.")
            continue
        s = [f"**{d}.**"]
        go, gp = f["gan_wins_ours"], f["gan_wins_paper"]
        if go == gp:
            s.append(f"GAN-MDN has the lowest mean REP of the MDN methods in the table for {go} of "
                     f"{n} targets, as in the paper.")
        elif go > gp:
            s.append(f"GAN-MDN has the lowest mean REP of the MDN methods in the table for {go} of "
                     f"{n} targets, more often than in the paper ({gp} of {n}).")
        else:
            s.append(f"GAN-MDN has the lowest mean REP of the MDN methods in the table for only "
                     f"{go} of {n} targets, against {gp} of {n} in the paper.")
        s.append(f"The winning method agrees with the paper's for {len(f['same_winner'])} of "
                 f"{n} targets ({_targets(f['same_winner'])}).")
        mo, mp = f["gan_mean_ours"], f["gan_mean_paper"]
        if mo is not None and mp is not None:
            ratio = mo / mp if mp else math.inf
            if 0.5 <= ratio <= 2.0:
                word = "close to"
            elif ratio < 0.5:
                word = "well below"
            else:
                word = "well above"
            s.append(f"Averaged over the targets, GAN-MDN's mean REP is {mo:.2f} %, {word} the "
                     f"paper's {mp:.2f} %.")
        if f["null_mean"] is not None:
            b = len(f["beats_null"])
            if b == n:
                s.append(f"It beats the {null_label} null baseline (mean REP {f['null_mean']:.2f}"
                         f" %) at every target.")
            elif b == 0:
                s.append(f"It does not beat the {null_label} null baseline (mean REP "
                         f"{f['null_mean']:.2f} %) at any target: on these data, picking the "
                         "training structures nearest the target does at least as well.")
            else:
                s.append(f"It beats the {null_label} null baseline (mean REP "
                         f"{f['null_mean']:.2f} %) at {b} of {n} targets "
                         f"({_targets(f['beats_null'])}).")
        if f.get("random_mean") is not None:
            b = len(f["beats_random"])
            if b == n:
                s.append("Its candidates are closer to the target than random latents through "
                         f"the same generator (mean REP {f['random_mean']:.2f} %) at every "
                         "target.")
            elif b == 0:
                s.append("Its candidates are not closer to the target than random latents "
                         f"through the same generator (mean REP {f['random_mean']:.2f} %) at "
                         "any target: the MDN has not learnt to aim on these data.")
            else:
                s.append(f"Its candidates are closer to the target than random latents (mean "
                         f"REP {f['random_mean']:.2f} %) at {b} of {n} targets "
                         f"({_targets(f['beats_random'])}).")
        dw, dwp = len(f["direct_worse_ours"]), len(f.get("direct_worse_paper", []))
        if f.get("direct_targets", f["targets"]):
            s.append(f"The direct MDN has a higher mean REP than GAN-MDN at {dw} of "
                     f"{len(f.get('direct_targets', f['targets']))} targets (paper: {dwp} of {n}).")
        else:
            s.append("The direct MDN is not in this table yet (still training).")
        if f["gan_min_ours"] is not None and f["gan_min_paper"] is not None:
            s.append(f"The best of the candidates (min REP, median over targets) is "
                     f"{f['gan_min_ours']:.2f} % for GAN-MDN against the paper's "
                     f"{f['gan_min_paper']:.2f} %.")
        paras.append(" ".join(s))
    return "\n\n".join(paras)


#: The paper-profile goals of the inverse-model work, checked by :func:`goal_checks`.
MIDDLE_TARGETS = (0.60, 0.65, 0.70)


MIN_REP_GOAL_PCT = 0.5


GENERATION_GOAL_S = 1.0


def goal_checks(rows_by_dataset: Mapping[str, Iterable[Mapping[str, Any]]],
                y_ranges: Mapping[str, tuple[float, float]] | None = None, *,
                paper: Mapping = PAPER_TABLE1) -> list[dict]:
    """One record per (goal, data set, target): ``goal``, ``dataset``, ``target``, ``ours``,
    ``bound`` (what it is compared with), ``met`` and ``note`` (a target outside the data
    set's absorption range ``y_ranges[dataset]`` is named as the likely reason of a miss).

    Goals: GAN-MDN mean REP below the random-latent designer's at every target; at most the
    paper's GAN-MDN mean REP at the middle targets; GAN-MDN min REP below 0.5 % at every
    target; 30 candidates generated in under 1 s."""
    out = []
    for d, rows in rows_by_dataset.items():
        by = {(r["method"], target_key(r["target"])): r for r in rows if r.get("dataset") == d}
        lo, hi = (y_ranges or {}).get(d, (-math.inf, math.inf))
        for t in sorted({k[1] for k in by if k[0] == "gan-mdn"}):
            g = by[("gan-mdn", t)]
            note = ("" if lo <= t <= hi
                    else f"target outside the data's y range {lo:.3f}-{hi:.3f}")

            def add(goal, ours, bound, met, _d=d, _t=t, _note=note):
                out.append({"goal": goal, "dataset": _d, "target": _t, "ours": ours,
                            "bound": bound, "met": met, "note": "" if met else _note})

            rand = by.get(("random-latent", t))
            if rand is not None:
                add("mean REP below random latents", g["mean_rep_pct"], rand["mean_rep_pct"],
                    g["mean_rep_pct"] < rand["mean_rep_pct"])
            pap = paper.get(d, {}).get("gan-mdn", {}).get(t)
            if pap is not None and any(abs(t - m) < 1e-9 for m in MIDDLE_TARGETS):
                add("mean REP at most the paper's", g["mean_rep_pct"], pap["mean_rep_pct"],
                    g["mean_rep_pct"] <= pap["mean_rep_pct"])
            add(f"min REP below {MIN_REP_GOAL_PCT} %", g["min_rep_pct"], MIN_REP_GOAL_PCT,
                g["min_rep_pct"] < MIN_REP_GOAL_PCT)
            add(f"generation under {GENERATION_GOAL_S:g} s", g["generation_s"],
                GENERATION_GOAL_S, g["generation_s"] < GENERATION_GOAL_S)
    return out


def goal_table(checks: Sequence[Mapping[str, Any]], caption: str = "") -> pd.DataFrame:
    """Per goal and data set (the index): how many targets meet it, of how many, and the misses
    with their numbers (text)."""
    groups: dict[tuple[str, str], list] = {}
    for c in checks:
        groups.setdefault((c["goal"], c["dataset"]), []).append(c)
    order = ["mean REP below random latents", "mean REP at most the paper's",
             f"min REP below {MIN_REP_GOAL_PCT} %", f"generation under {GENERATION_GOAL_S:g} s"]
    rows = []
    for (goal, d), cs in sorted(groups.items(), key=lambda kv: (
            order.index(kv[0][0]) if kv[0][0] in order else len(order), kv[0][1])):
        misses = [c for c in cs if not c["met"]]
        detail = "; ".join(f"{c['target']:.2f}: {c['ours']:.3g} vs {c['bound']:.3g}"
                           + (f" ({c['note']})" if c["note"] else "") for c in misses)
        rows.append([goal, d, len(cs) - len(misses), len(cs), detail or MISSING])
    return frame(rows, ["goal (GAN-MDN)", "data set", "targets met", "of", "misses: ours vs bound"],
                 index=["goal (GAN-MDN)", "data set"], caption=caption)


def table1_averages(rows_by_dataset: Mapping[str, Iterable[Mapping[str, Any]]],
                    paper: Mapping = PAPER_TABLE1) -> dict:
    """Target-averaged numbers for the prose of chapter 7, keyed ``<what>_<i|ii>`` (data set
    suffix from its position: first "i", second "ii"): per method key (dashes as
    underscores) ``<m>_mean``, ``<m>_min``, ``<m>_gen`` (ours) and ``paper_<m>_mean``,
    ``paper_<m>_min``, ``paper_<m>_time``; ``bo_min``; ``bo_time`` and ``paper_bo_time`` as
    formatted durations. Missing values are None."""
    out: dict[str, Any] = {}
    for suffix, (name, rows) in zip(("i", "ii", "iii"), rows_by_dataset.items(), strict=False):
        rows = list(rows)
        for method in ("gan-mdn", "pca-mdn", "direct-mdn", "lookup", "random-latent"):
            key = method.replace("-", "_")
            out[f"{key}_mean_{suffix}"] = method_mean(rows, method, "mean_rep_pct")
            out[f"{key}_min_{suffix}"] = method_mean(rows, method, "min_rep_pct")
            out[f"{key}_gen_{suffix}"] = method_mean(rows, method, "generation_s")
            out[f"paper_{key}_mean_{suffix}"] = paper_method_mean(name, method, "mean_rep_pct",
                                                                  paper)
            out[f"paper_{key}_min_{suffix}"] = paper_method_mean(name, method, "min_rep_pct",
                                                                 paper)
            out[f"paper_{key}_time_{suffix}"] = paper_method_mean(name, method, "time_s", paper)
        out[f"bo_min_{suffix}"] = method_mean(rows, "bo", "min_rep_pct")
        out[f"bo_time_{suffix}"] = format_seconds(method_mean(rows, "bo", "generation_s"))
        out[f"paper_bo_time_{suffix}"] = format_seconds(paper_method_mean(name, "bo", "time_s",
                                                                          paper))
    return out


# --------------------------------------------------------------------------------------------
# The evaluation's figures (Figures 2 and 3, best-of-N), drawn from the evaluate artifacts
# --------------------------------------------------------------------------------------------


def plot_figure2(random_images: dict, best_designs: dict, targets):
    """Figure 2: rows (a, b) random data-set images, rows (c, d) the min-REP GAN-MDN design
    per target (Data-I, Data-II)."""
    from matplotlib.figure import Figure

    names = list(DATASETS)
    fig = Figure(figsize=(1.8 * len(targets), 1.9 * 4))
    axes = fig.subplots(4, len(targets))
    for r, name in enumerate(names):
        for c in range(len(targets)):
            ax = axes[r, c]
            ax.imshow(random_images[name][c], cmap="gray_r", interpolation="nearest")
            ax.set_title(f"{name} sample", fontsize=7)
    for r, name in enumerate(names):
        for c, t in enumerate(targets):
            ax = axes[2 + r, c]
            if (name, t) in best_designs:
                img, y = best_designs[(name, t)]
                ax.imshow(img, cmap="gray_r", interpolation="nearest")
                ax.set_title(f"{name} target {t:.2f}\ny = {y:.4f}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for r, label in enumerate("abcd"):
        axes[r, 0].set_ylabel(f"({label})")
    fig.tight_layout()
    return fig


def plot_best_of_n_grid(curves: dict, targets):
    """Best-of-N: expected min REP (%) against N, one panel per target, per data set/method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0 * len(targets), 2.8))
    axes = fig.subplots(1, len(targets), sharey=True)
    for ax, t in zip(np.atleast_1d(axes), targets, strict=True):
        for (d, m, tt), c in sorted(curves.items()):
            if abs(tt - t) < 1e-9:
                ax.plot(np.arange(1, len(c) + 1), 100 * np.asarray(c), label=f"{d} {m}")
        ax.set(xscale="log", yscale="log", xlabel="candidates N", title=f"target {t:.2f}")
        ax.axvline(30, color="gray", lw=0.6)
    np.atleast_1d(axes)[0].set_ylabel("expected best REP (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=6)
    fig.tight_layout()
    return fig


#: Random data-set images per data set in Figure 2's rows (a) and (b).
FIGURE2_SAMPLES = 5


def figure2_data(profile: Profile | str) -> tuple[dict, dict]:
    """Figure 2's images from the evaluate step's cells and the data sets:
    ``({dataset: FIGURE2_SAMPLES random images}, {(dataset, target): (min-REP GAN-MDN image,
    its simulated y)})`` (the min REP among the Table 1 candidates)."""
    from invdes.data import load_dataset

    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    ev = profile.evaluation
    random_images, best_designs = {}, {}
    for name in DATASETS:
        ds = load_dataset(name, profile, verify=0)
        pick = np.random.default_rng(ev.seed).choice(len(ds), FIGURE2_SAMPLES, replace=False)
        random_images[name] = ds.x[pick]
        for target in ev.targets:
            cell = pipeline.load_cell(profile.name, name, "gan-mdn", target)
            y = cell["y_hat"][: ev.n_candidates]
            i = int(np.argmin(rep(y, target)))
            best_designs[(name, target)] = (cell["images"][i], float(y[i]))
    return random_images, best_designs


def write_figures(profile: Profile | str) -> list[Path]:
    """Draw Figure 2, the best-of-N grid and (when any BO run exists) Figure 3 from the evaluate
    step's artifacts and write them as PNG into its folder (``figure2.png``,
    ``best_of_n.png``, ``figure3.png``); returns the paths written."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    targets = profile.evaluation.targets
    out = pipeline.evaluate_dir(profile.name)
    figures = {"figure2.png": plot_figure2(*figure2_data(profile), targets),
               "best_of_n.png": plot_best_of_n_grid(pipeline.load_curves(profile.name), targets)}
    bo_results = {name: pipeline.load_bo_results(profile, name) for name in DATASETS}
    if any(bo_results.values()):
        figures["figure3.png"] = plot_bo_history({k: v for k, v in bo_results.items() if v})
    written = []
    for name, fig in figures.items():
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        written.append(out / name)
    return written


__all__ = [
    "FIGURE2_SAMPLES", "figure2_data", "plot_best_of_n_grid", "plot_figure2", "write_figures",
    "best_methods", "best_of_n_table", "compare_with_paper", "discussion_markdown",
    "diversity_novelty", "diversity_novelty_table", "GENERATION_GOAL_S", "goal_checks",
    "goal_table", "MIDDLE_TARGETS", "MIN_REP_GOAL_PCT", "paper_rows", "table1_averages"
]
