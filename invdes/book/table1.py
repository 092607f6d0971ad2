"""Table 1 for the book: our rows from the evaluate step beside the paper's numbers.

- :func:`load_table1`        our rows per data set (the evaluate step's CSV files)
- :func:`table1_records`     our rows merged with :data:`invdes.study.evaluate.PAPER_TABLE1`
- :func:`table1_comparison`  Table 1 of one data set, ours beside the paper's
- :func:`results_table`      our rows only, any methods
- :func:`method_mean`, :func:`paper_method_mean`  averages over the targets
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from invdes.book.tables import (
    METHOD_ORDER,
    MISSING,
    NO_CONVERGENCE,
    Table,
    fmt,
    format_seconds,
    is_missing,
    method_label,
    target_key,
)
from invdes.study.evaluate import PAPER_TABLE1, read_table1_csv


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


def _get(row: Mapping | None, key: str):
    return None if row is None else row.get(key)


def _paper_rep(rec: dict, key: str) -> str:
    p = rec["paper"]
    if p is None:
        return MISSING
    if rec["method"] == "bo" and key == "min_rep_pct" and p.get(key) is None:
        return NO_CONVERGENCE
    return fmt(p.get(key))


def table1_comparison(rows: Iterable[Mapping[str, Any]], dataset: str, *,
                      paper: Mapping = PAPER_TABLE1, methods: Sequence[str] | None = None,
                      caption: str | None = None, extra_columns: bool = False) -> Table:
    """Table 1 of ``dataset``: per method and target our min / mean / std REP (percent) beside
    the paper's, and our generation ("gen."; BO: the whole run) and simulation ("sim.") time
    beside the paper's running time; with ``extra_columns`` also our diversity and novelty
    (fractions of pixels) and N. Entries missing on either side show as :data:`MISSING`; the
    paper's non-converged BO runs as :data:`NO_CONVERGENCE`. Columns are grouped ("min REP %":
    "ours", "paper"; ...)."""
    headers = ["method", "target", "ours", "paper", "ours", "paper", "ours", "paper",
               "gen.", "sim.", "paper"]
    groups = [("", 2), ("min REP %", 2), ("mean REP %", 2), ("std REP %", 2), ("time", 3)]
    if extra_columns:
        headers += ["diversity", "novelty", "N"]
        groups.append(("ours", 3))
    out = []
    for rec in table1_records(rows, dataset, paper=paper, methods=methods):
        o = rec["ours"]
        row = [
            method_label(rec["method"], short=True), f"{rec['target']:.2f}",
            fmt(_get(o, "min_rep_pct")), _paper_rep(rec, "min_rep_pct"),
            fmt(_get(o, "mean_rep_pct")), _paper_rep(rec, "mean_rep_pct"),
            fmt(_get(o, "std_rep_pct")), _paper_rep(rec, "std_rep_pct"),
            format_seconds(_get(o, "generation_s")), format_seconds(_get(o, "simulation_s")),
            format_seconds(_get(rec["paper"], "time_s")),
        ]
        if extra_columns:
            row += [fmt(_get(o, "diversity"), ".3f"), fmt(_get(o, "novelty"), ".3f"),
                    fmt(_get(o, "n"), "d")]
        out.append(row)
    cap = caption if caption is not None else (
        f"Table 1, {dataset}: REP in percent; times per target (ours: this machine, paper: "
        "Titan X GPU)")
    return Table(headers, out, caption=cap, groups=groups)


def results_table(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] | None = None,
                  caption: str = "") -> Table:
    """Our rows only (any data sets): data set, method, target, min / mean / std REP (percent),
    generation and simulation time, diversity, novelty, N; optionally only ``methods``."""
    order = list(methods) if methods is not None else list(METHOD_ORDER)
    rank = {m: i for i, m in enumerate(order)}
    sel = [r for r in rows if methods is None or r["method"] in rank]
    sel.sort(key=lambda r: (r["dataset"], rank.get(r["method"], len(rank)), r["method"],
                            float(r["target"])))
    headers = ["data set", "method", "target", "min REP %", "mean REP %", "std REP %",
               "generation", "simulation", "diversity", "novelty", "N"]
    out = [[r["dataset"], method_label(r["method"], short=True), f"{float(r['target']):.2f}",
            fmt(r.get("min_rep_pct")), fmt(r.get("mean_rep_pct")), fmt(r.get("std_rep_pct")),
            format_seconds(r.get("generation_s")), format_seconds(r.get("simulation_s")),
            fmt(r.get("diversity"), ".3f"), fmt(r.get("novelty"), ".3f"), fmt(r.get("n"), "d")]
           for r in sel]
    return Table(headers, out, caption=caption)


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
    "load_table1", "method_mean", "paper_method_mean", "results_table", "table1_comparison",
    "table1_records"
]
