"""Table 1 for the book: our rows from the evaluate step beside the paper's numbers.

- :func:`load_table1`        our rows per data set (the evaluate step's CSV files)
- :func:`table1_records`     our rows merged with :data:`invdes.study.evaluate.PAPER_TABLE1`
- :func:`table1_comparison`  Table 1 of one data set, ours beside the paper's (a DataFrame)
- :func:`results_table`      our rows only, any methods, every CSV column (a DataFrame)
- :func:`method_mean`, :func:`paper_method_mean`  averages over the targets
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from invdes.book.tables import (
    METHOD_ORDER,
    Format,
    format_seconds,
    is_missing,
    method_label,
    no_convergence,
    target_key,
)
from invdes.study.evaluate import PAPER_TABLE1, TABLE1_INTEGER, read_table1_csv, table1_frame


def load_table1(profile_name: str, datasets: Iterable[str] = ("data-i", "data-ii")
                ) -> dict[str, list[dict]]:
    """{dataset: rows} from ``<artifacts>/<profile>/evaluate/table1_<dataset>.csv``."""
    from invdes.study.pipeline import evaluate_dir

    folder = evaluate_dir(profile_name)
    return {d: read_table1_csv(folder / f"table1_{d}.csv") for d in datasets}


def table1_records(rows: Iterable[Mapping[str, Any]], dataset: str, *,
                   paper: Mapping = PAPER_TABLE1, methods: Sequence[str] | None = None
                   ) -> list[dict]:
    """Our Table 1 rows of ``dataset`` merged with the paper's, one dict per (method, target)
    present in either: ``method``, ``target``, ``ours`` (our row or None), ``paper`` (the
    paper's entry or None). Paper entries have ``min_rep_pct``, ``mean_rep_pct``,
    ``std_rep_pct`` and ``time_s`` (BO: ``min_rep_pct`` None for "no convergence", ``time_s``
    from the paper's hours). Sorted by method (``methods`` or :data:`METHOD_ORDER`, unknown
    methods last) and target."""
    ours = {(r["method"], target_key(r["target"])): r for r in rows if r.get("dataset") == dataset}
    theirs = {}
    for method, by_target in paper.get(dataset, {}).items():
        for t, v in by_target.items():
            entry = dict(v)
            if "time_h" in entry:
                entry["time_s"] = 3600.0 * entry.pop("time_h")
                entry.setdefault("mean_rep_pct", None)
                entry.setdefault("std_rep_pct", None)
            theirs[(method, target_key(t))] = entry
    order = list(methods) if methods is not None else list(METHOD_ORDER)
    keys = set(ours) | set(theirs)
    if methods is not None:
        keys = {k for k in keys if k[0] in order}
    extra = sorted({m for m, _ in keys if m not in order})
    rank = {m: i for i, m in enumerate(order + extra)}
    return [{"method": m, "target": t, "ours": ours.get((m, t)), "paper": theirs.get((m, t))}
            for m, t in sorted(keys, key=lambda k: (rank[k[0]], k[1]))]


#: Display label and format of each Table 1 CSV column (:data:`invdes.study.evaluate.
#: TABLE1_COLUMNS`); a column not listed here shows under its CSV name, formatted by
#: :func:`column_format`.
COLUMN_LABELS: dict[str, str] = {
    "dataset": "data set", "method": "method", "target": "target",
    "min_rep_pct": "min REP %", "mean_rep_pct": "mean REP %", "std_rep_pct": "std REP %",
    "generation_s": "generation", "simulation_s": "simulation", "diversity": "diversity",
    "novelty": "novelty", "n": "N", "draws": "draws",
    "mean_rep_pct_mean": "mean REP %, mean of draws", "mean_rep_pct_lo": "mean REP %, 95 % lo",
    "mean_rep_pct_hi": "mean REP %, 95 % hi", "min_rep_pct_mean": "min REP %, mean of draws",
    "min_rep_pct_lo": "min REP %, 95 % lo", "min_rep_pct_hi": "min REP %, 95 % hi",
}


def column_label(column: str) -> str:
    """The display label of a Table 1 CSV column (its name when :data:`COLUMN_LABELS` lacks
    it)."""
    return COLUMN_LABELS.get(column, column)


def column_format(column: str) -> Format:
    """The format of a Table 1 CSV column, from its name: times (``*_s``) as durations,
    counts (:data:`invdes.study.evaluate.TABLE1_INTEGER`) as integers, REP in percent
    (``*_pct*``) with 2 decimals, other numbers (fractions of pixels) with 3."""
    if column.endswith("_s"):
        return format_seconds
    if column in TABLE1_INTEGER:
        return "d"
    if "_pct" in column:
        return ".2f"
    return ".3f"


def _paper_value(rec: dict, key: str) -> float:
    """The paper's ``key`` (NaN where absent; +inf for BO's "no convergence")."""
    p = rec["paper"]
    if p is None:
        return math.nan
    v = p.get(key)
    if v is None:
        return math.inf if rec["method"] == "bo" and key == "min_rep_pct" else math.nan
    return float(v)


def _ours(rec: dict, key: str) -> float:
    o = rec["ours"]
    v = None if o is None else o.get(key)
    return math.nan if is_missing(v) else float(v)


#: The Table 1 comparison's groups: (group label, CSV column); each group shows ours beside
#: the paper's.
COMPARED: tuple[tuple[str, str], ...] = (
    ("min REP %", "min_rep_pct"), ("mean REP %", "mean_rep_pct"), ("std REP %", "std_rep_pct"),
)


#: The error-bar columns chapter 7 shows beside Table 1 (``extra`` of :func:`table1_comparison`).
INTERVAL_COLUMNS: tuple[str, ...] = ("mean_rep_pct_mean", "mean_rep_pct_lo", "mean_rep_pct_hi",
                                     "min_rep_pct_mean", "min_rep_pct_lo", "min_rep_pct_hi")


def table1_comparison(rows: Iterable[Mapping[str, Any]], dataset: str, *,
                      paper: Mapping = PAPER_TABLE1, methods: Sequence[str] | None = None,
                      caption: str | None = None, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Table 1 of ``dataset`` as a DataFrame: one row per (method, target) present in our
    rows or the paper's (the row index; methods by their short label), columns grouped
    (MultiIndex): per REP column of :data:`COMPARED` "ours" and "paper" (percent), then
    "time": our generation ("gen."; BO: the whole run) and simulation ("sim.") time and the
    paper's running time (seconds); ``extra`` Table 1 CSV columns (e.g. ``["diversity",
    "novelty", "n"]``) follow under "ours". Missing entries are NaN; the paper's
    non-converged BO runs +inf (shown as :data:`NO_CONVERGENCE`). :func:`invdes.book.tables.
    style` renders it."""
    columns = [(group, side) for group, _ in COMPARED for side in ("ours", "paper")]
    columns += [("time", "gen."), ("time", "sim."), ("time", "paper")]
    columns += [("ours", column_label(c)) for c in extra]
    records = []
    for rec in table1_records(rows, dataset, paper=paper, methods=methods):
        values = [method_label(rec["method"], short=True), rec["target"]]
        for _, key in COMPARED:
            values += [_ours(rec, key), _paper_value(rec, key)]
        values += [_ours(rec, "generation_s"), _ours(rec, "simulation_s"),
                   _paper_value(rec, "time_s")]
        values += [_ours(rec, c) for c in extra]
        records.append(values)
    df = pd.DataFrame(records, columns=pd.MultiIndex.from_tuples(
        [("", "method"), ("", "target")] + columns))
    df = df.set_index([("", "method"), ("", "target")])
    df.index.names = ["method", "target"]
    cap = caption if caption is not None else (
        f"Table 1, {dataset}: REP in percent; times per target (ours: this machine, paper: "
        "Titan X GPU)")
    formats: dict[Any, Format] = {("min REP %", "paper"): no_convergence(), "time": format_seconds}
    formats.update({("ours", column_label(c)): column_format(c) for c in extra})
    df.attrs.update(caption=cap, formats=formats, index_formats={"target": ".2f"})
    return df


def results_table(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] | None = None,
                  caption: str = "") -> pd.DataFrame:
    """Our rows only (any data sets) as a DataFrame indexed by data set, method (short label)
    and target, one column per further Table 1 CSV column (label :func:`column_label`, format
    :func:`column_format`: a column added to the CSV shows up here without a change);
    optionally only ``methods``, in their order."""
    df = table1_frame(list(rows))
    order = list(methods) if methods is not None else list(METHOD_ORDER)
    rank = {m: i for i, m in enumerate(order)}
    if methods is not None:
        df = df[df["method"].isin(order)]
    df = df.assign(_rank=df["method"].map(lambda m: rank.get(m, len(rank))))
    df = df.sort_values(["dataset", "_rank", "method", "target"], kind="stable")
    df = df.drop(columns="_rank").assign(method=lambda d: d["method"].map(
        lambda m: method_label(m, short=True)))
    keys = ["dataset", "method", "target"]
    value_columns = [c for c in df.columns if c not in keys]
    out = df.set_index(keys)[value_columns]
    out.index.names = [column_label(k) for k in keys]
    out.columns = [column_label(c) for c in value_columns]
    out.attrs.update(caption=caption,
                     formats={column_label(c): column_format(c) for c in value_columns},
                     index_formats={"target": ".2f"})
    return out


def method_mean(rows: Iterable[Mapping[str, Any]], method: str, key: str) -> float | None:
    """Mean over targets of column ``key`` for ``method`` (None when no row has a value)."""
    vals = [float(r[key]) for r in rows if r["method"] == method and not is_missing(r.get(key))]
    return float(np.mean(vals)) if vals else None


def paper_method_mean(dataset: str, method: str, key: str,
                      paper: Mapping = PAPER_TABLE1) -> float | None:
    """Mean over targets of the paper's ``key`` for ``method`` (BO ``time_h`` / ``time_s``
    convert; None entries such as "no convergence" are skipped; None when nothing is left)."""
    vals = []
    for v in paper.get(dataset, {}).get(method, {}).values():
        x = v.get(key)
        if x is None and key == "time_s" and "time_h" in v:
            x = 3600.0 * v["time_h"]
        if x is not None:
            vals.append(float(x))
    return float(np.mean(vals)) if vals else None


__all__ = [
    "column_format", "column_label", "COLUMN_LABELS", "COMPARED", "load_table1", "method_mean",
    "paper_method_mean", "results_table", "table1_comparison", "table1_records"
]
