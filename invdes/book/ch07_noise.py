"""Chapter 7's comparisons with their noise: GAN-MDN against each baseline, target by target,
and our numbers against the paper's, from the independent draws of the evaluation.

- :func:`read_draws`  the per-draw REPs (``draws_<dataset>.csv``), the look-up added as one
  deterministic draw
- :func:`gan_vs_baselines`  the difference of means over draws with its Welch 95 % interval
- :func:`paper_differences`  each paper number against the spread of our single draws (the
  paper reports one draw per cell)
- :func:`noise_markdown`  the verdicts in sentences
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from invdes.book.tables import frame, method_label, target_key
from invdes.study.evaluate import (
    PAPER_TABLE1,
    difference_interval,
    single_draw_interval,
)

#: The methods GAN-MDN is compared with (BO has one run per target; chapter 6 shows its spread).
BASELINES: tuple[str, ...] = ("pca-mdn", "direct-mdn", "random-latent", "lookup")
LOWER, HIGHER, NOISE, ONE_DRAW = "GAN-MDN lower", "GAN-MDN higher", "within noise", "one draw"
INSIDE, PAPER_LOWER, PAPER_HIGHER = "inside our spread", "paper lower", "paper higher"
METRIC_LABELS = {"mean_rep_pct": "mean REP", "min_rep_pct": "min REP"}


def read_draws(draws_csvs: Iterable, table1_rows: Iterable[Mapping] = ()) -> pd.DataFrame:
    """The rows of the ``draws_<dataset>.csv`` files (columns dataset, method, target, draw,
    mean_rep_pct, min_rep_pct), plus the look-up rows of ``table1_rows`` as draw 0 (it is
    deterministic: one draw is all there is)."""
    parts = [pd.read_csv(p) for p in draws_csvs]
    look = [{"dataset": r["dataset"], "method": "lookup", "target": float(r["target"]),
             "draw": 0, "mean_rep_pct": float(r["mean_rep_pct"]),
             "min_rep_pct": float(r["min_rep_pct"])}
            for r in table1_rows if r.get("method") == "lookup"]
    if look:
        parts.append(pd.DataFrame.from_records(look))
    if not parts:
        return pd.DataFrame(columns=["dataset", "method", "target", "draw", "mean_rep_pct",
                                     "min_rep_pct"])
    df = pd.concat(parts, ignore_index=True)
    df["target"] = df["target"].map(target_key)
    return df


def _values(draws: pd.DataFrame, dataset: str, method: str, target: float, metric: str):
    sel = draws[(draws["dataset"] == dataset) & (draws["method"] == method)
                & (draws["target"] == target_key(target))]
    return sel[metric].to_numpy(dtype=float)


def _verdict(lo: float, hi: float) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return ONE_DRAW
    return LOWER if hi < 0 else HIGHER if lo > 0 else NOISE


def gan_vs_baselines(draws: pd.DataFrame, metric: str = "mean_rep_pct",
                     baselines: Sequence[str] = BASELINES) -> list[dict]:
    """One record per (data set, target, baseline present): GAN-MDN's and the baseline's mean of
    ``metric`` over draws, the difference GAN-MDN - baseline with its 95 % interval
    (:func:`invdes.study.evaluate.difference_interval`) and the verdict: GAN-MDN lower or
    higher when the interval excludes 0, else within noise."""
    out = []
    for (d, t), _ in draws[draws["method"] == "gan-mdn"].groupby(["dataset", "target"]):
        gan = _values(draws, d, "gan-mdn", t, metric)
        for b in baselines:
            other = _values(draws, d, b, t, metric)
            if len(other) == 0:
                continue
            diff, lo, hi = difference_interval(gan, other)
            out.append({"dataset": d, "target": float(t), "baseline": b,
                        "gan": float(gan.mean()), "baseline_value": float(other.mean()),
                        "draws": (len(gan), len(other)), "diff": diff, "diff_lo": lo,
                        "diff_hi": hi, "verdict": _verdict(lo, hi)})
    return out


def paper_differences(draws: pd.DataFrame, paper: Mapping = PAPER_TABLE1,
                      metrics: Sequence[str] = ("mean_rep_pct", "min_rep_pct")) -> list[dict]:
    """One record per (data set, method, target, metric) that the paper reports and we drew at
    least twice: our mean over draws, the 95 % interval of a single draw
    (:func:`invdes.study.evaluate.single_draw_interval`), the paper's value and whether it lies
    inside that interval (else: the paper lower or higher than our noise allows)."""
    out = []
    for d, methods in paper.items():
        for m, by_t in methods.items():
            for t, values in by_t.items():
                for metric in metrics:
                    ours = _values(draws, d, m, t, metric)
                    p = values.get(metric)
                    if len(ours) < 2 or p is None:
                        continue
                    lo, hi = single_draw_interval(ours)
                    verdict = INSIDE if lo <= p <= hi else PAPER_LOWER if p < lo else PAPER_HIGHER
                    out.append({"dataset": d, "method": m, "target": float(t), "metric": metric,
                                "ours": float(ours.mean()), "single_lo": lo, "single_hi": hi,
                                "paper": float(p), "verdict": verdict})
    return out


def comparison_table(records: Sequence[Mapping], caption: str = "") -> pd.DataFrame:
    """:func:`gan_vs_baselines` as a book table (REP in %), one row per (data set, target,
    baseline)."""
    rows = [[r["dataset"], r["target"], method_label(r["baseline"], short=True), r["gan"],
             r["baseline_value"], r["diff"], r["diff_lo"], r["diff_hi"], r["verdict"]]
            for r in records]
    return frame(rows, ["data set", "target", "baseline", "GAN-MDN %", "baseline %",
                        "difference %", "95 % lo", "95 % hi", "verdict"],
                 index=["data set", "target", "baseline"], caption=caption,
                 formats={c: ".2f" for c in ("GAN-MDN %", "baseline %", "difference %",
                                             "95 % lo", "95 % hi")},
                 index_formats={"target": ".2f"})


def paper_table(records: Sequence[Mapping], caption: str = "") -> pd.DataFrame:
    """:func:`paper_differences` as a book table (REP in %)."""
    rows = [[r["dataset"], method_label(r["method"], short=True), r["target"],
             METRIC_LABELS.get(r["metric"], r["metric"]), r["paper"], r["ours"], r["single_lo"],
             r["single_hi"], r["verdict"]] for r in records]
    return frame(rows, ["data set", "method", "target", "metric", "paper %", "ours (mean) %",
                        "one draw, 95 % lo", "one draw, 95 % hi", "verdict"],
                 index=["data set", "method", "target", "metric"], caption=caption,
                 formats={c: ".2f" for c in ("paper %", "ours (mean) %", "one draw, 95 % lo",
                                             "one draw, 95 % hi")},
                 index_formats={"target": ".2f"})


def _ts(ts) -> str:
    return ", ".join(f"{t:.2f}" for t in ts)


def noise_markdown(comparison: Sequence[Mapping], differences: Sequence[Mapping]) -> str:
    """One paragraph per data set: where GAN-MDN's mean REP is lower, higher or within the
    noise of each baseline's, and which paper numbers lie outside our draw-to-draw spread."""
    paras = []
    for d in sorted({r["dataset"] for r in comparison} | {r["dataset"] for r in differences}):
        s = [f"**{d}.**"]
        for b in BASELINES:
            rs = [r for r in comparison if r["dataset"] == d and r["baseline"] == b]
            if not rs:
                continue
            by = {v: [r["target"] for r in rs if r["verdict"] == v]
                  for v in (LOWER, HIGHER, NOISE, ONE_DRAW)}
            parts = [f"{label} at {_ts(by[v])}" for v, label in
                     ((LOWER, "lower"), (HIGHER, "higher"), (NOISE, "within the noise"),
                      (ONE_DRAW, "untested (one draw each)")) if by[v]]
            s.append(f"Against {method_label(b, short=True)}, GAN-MDN's mean REP is "
                     + "; ".join(parts) + ".")
        ds = [r for r in differences if r["dataset"] == d]
        off = [r for r in ds if r["verdict"] != INSIDE]
        if ds:
            groups: dict[tuple[str, str], dict[str, list[float]]] = {}
            for r in off:
                groups.setdefault((r["method"], r["metric"]), {}).setdefault(
                    r["verdict"], []).append(r["target"])
            detail = "; ".join(
                f"{method_label(m, short=True)} {METRIC_LABELS.get(k, k)}: "
                + ", ".join(f"{v} at {_ts(ts)}" for v, ts in by.items())
                for (m, k), by in groups.items())
            s.append(f"{len(off)} of the paper's {len(ds)} numbers lie outside the 95 % range "
                     "of a single draw of ours (Table 7.6)" + (f": {detail}." if off else "."))
        paras.append(" ".join(s))
    return "\n\n".join(paras)
