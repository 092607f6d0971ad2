"""Display tables and small summaries for the book chapters 4 to 7 (no pandas needed).

A :class:`Table` holds headers and rows of strings; it shows itself as HTML in a notebook and
renders to Markdown or plain text. The builders below turn results into tables:

- :func:`table1_comparison`  our Table 1 next to the paper's (:data:`invdes.evaluate.PAPER_TABLE1`)
- :func:`null_baselines`, :func:`null_baseline_table`  what trivial answers score on our data
- :func:`dataset_info`, :func:`dataset_table`  size, y statistics, generation time per data set
- :func:`bo_rows`, :func:`bo_table`  Bayesian-optimization runs, partial runs flagged
- :func:`results_table`, :func:`diversity_novelty_table`, :func:`best_of_n_table`  our rows
- :func:`method_mean`, :func:`paper_method_mean`  averages over the targets
- :func:`keras_layer_table`  a Keras model, layer by layer
- :func:`compare_with_paper`, :func:`discussion_markdown`  facts and text for the discussion
- ``plot_*``, :func:`mixture_summaries`, :func:`pca_reconstruction`, :func:`bo_status_markdown`,
  :func:`table1_averages`  figures and summaries that keep the notebook cells short

Missing values (a method the paper did not run, a run we have not made yet) show as
:data:`MISSING` ("-"). REP values in rows are percent (as in the Table 1 CSV), times seconds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from invdes.evaluate import METHOD_LABELS, PAPER_TABLE1, best_of_n_curve, read_table1_csv

#: How a missing value is shown.
MISSING = "-"
#: How the paper's "no convergence" (Bayesian optimization) is shown.
NO_CONVERGENCE = "no conv."
#: Method order in tables: the proposed method, the paper's baselines, then our null baselines.
METHOD_ORDER: tuple[str, ...] = ("gan-mdn", "pca-mdn", "direct-mdn", "bo", "random-latent",
                                 "lookup")
MDN_METHODS: tuple[str, ...] = ("gan-mdn", "pca-mdn", "direct-mdn")


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def is_missing(value) -> bool:
    """True for None, NaN and infinities (values a table shows as :data:`MISSING`)."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt(value, spec: str = ".2f", missing: str = MISSING) -> str:
    """``format(value, spec)``, or ``missing`` for None / NaN / inf; strings pass through."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return missing
    if spec and spec[-1] in "eEfFgG%":
        value = float(value)
    elif spec and spec[-1] in "dbcoxXn":
        value = int(value)
    return format(value, spec)


def format_seconds(seconds, missing: str = MISSING) -> str:
    """A duration for people: "0.12 ms", "9.75 s", "12.5 min", "3.6 h" (input in seconds)."""
    if is_missing(seconds):
        return missing
    s = float(seconds)
    if s < 0:
        raise ValueError(f"a duration must be >= 0 s; got {s}")
    if s < 0.1:
        return f"{1000 * s:.3g} ms"
    if s < 120:
        return f"{s:.2f} s"
    if s < 2 * 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def builtin(value):
    """numpy scalars and 0-d arrays as Python numbers (what myst-nb's glue can format); None
    becomes NaN so that ``{glue:text}`key:.2f``` still renders."""
    if value is None:
        return math.nan
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def glue_values(values: Mapping[str, Any], prefix: str = "") -> None:
    """Glue every ``{name: value}`` with myst-nb (``display=False``), numbers as Python floats
    or ints, so markdown can use ``{glue:text}`prefix+name:.2f```. Returns None, so a notebook
    cell may end with it without printing anything."""
    from myst_nb import glue

    for name, value in values.items():
        glue(prefix + name, builtin(value), display=False)


@dataclass
class Table:
    """A display table: ``headers`` (k strings), ``rows`` (lists of k strings), optional
    ``caption``, per-column ``align`` ("l", "r" or "c"; default: first column left, the rest
    right) and header ``groups``: ``[(label, span), ...]`` with spans summing to k, shown as a
    header row above ``headers`` (an empty label leaves its columns ungrouped). Shows as a
    compact HTML table in a notebook; :meth:`to_markdown` and :meth:`to_text` flatten the
    groups into the column names (:attr:`flat_headers`, e.g. "min REP %: ours")."""

    headers: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    align: Sequence[str] | None = None
    groups: Sequence[tuple[str, int]] | None = None

    def __post_init__(self) -> None:
        self.headers = [str(h) for h in self.headers]
        k = len(self.headers)
        if k == 0:
            raise ValueError("a table needs at least one column header")
        self.rows = [[str(c) for c in row] for row in self.rows]
        for i, row in enumerate(self.rows):
            if len(row) != k:
                raise ValueError(f"row {i} has {len(row)} cells; the table has {k} columns")
        if self.align is None:
            self.align = ["l"] + ["r"] * (k - 1)
        self.align = list(self.align)
        if len(self.align) != k or any(a not in ("l", "r", "c") for a in self.align):
            raise ValueError(f"align needs {k} entries out of 'l', 'r', 'c'; got {self.align}")
        if self.groups is not None:
            self.groups = [(str(label), int(span)) for label, span in self.groups]
            if any(span < 1 for _, span in self.groups) or sum(
                    span for _, span in self.groups) != k:
                raise ValueError(f"group spans must be >= 1 and sum to the {k} columns; got "
                                 f"{self.groups}")

    @property
    def flat_headers(self) -> list[str]:
        """Column names with their group label in front ("group: name") where grouped."""
        if not self.groups:
            return list(self.headers)
        labels = [label for label, span in self.groups for _ in range(span)]
        return [f"{g}: {h}" if g else h for g, h in zip(labels, self.headers, strict=True)]

    def column(self, header: str) -> list[str]:
        """The cells of the column named ``header`` (a flat or a plain header)."""
        for names in (self.flat_headers, self.headers):
            if header in names:
                j = names.index(header)
                return [row[j] for row in self.rows]
        raise ValueError(f"no column {header!r}; columns are {self.flat_headers}")

    def to_markdown(self) -> str:
        """A GitHub/MyST pipe table (``|`` in cells escaped); the caption as a line above."""
        def cell(s: str) -> str:
            return s.replace("|", "\\|")

        marks = {"l": ":--", "r": "--:", "c": ":-:"}
        lines = [f"**{self.caption}**", ""] if self.caption else []
        lines.append("| " + " | ".join(cell(h) for h in self.flat_headers) + " |")
        lines.append("|" + "|".join(marks[a] for a in self.align) + "|")
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def to_html(self) -> str:
        """A compact HTML table (cells escaped, small font, no wrapping inside numbers), the
        caption as ``<caption>``, the groups as a first header row."""
        css = {"l": "left", "r": "right", "c": "center"}
        td = "padding:0.15em 0.35em;white-space:nowrap"
        out = ['<div style="overflow-x:auto">',
               '<table class="invdes-table" style="font-size:0.82em;border-collapse:collapse">']
        if self.caption:
            out.append(f'<caption style="caption-side:top;text-align:left;font-weight:bold">'
                       f"{html.escape(self.caption)}</caption>")
        out.append("<thead>")
        if self.groups:
            out.append("<tr>" + "".join(
                f'<th colspan="{span}" style="text-align:center;{td};'
                f'border-bottom:{"1px solid #999" if label else "none"}">'
                f"{html.escape(label)}</th>" for label, span in self.groups) + "</tr>")
        out.append("<tr>" + "".join(
            f'<th style="text-align:{css[a]};{td}">{html.escape(h)}</th>'
            for h, a in zip(self.headers, self.align, strict=True)) + "</tr>")
        out.append("</thead><tbody>")
        for row in self.rows:
            out.append("<tr>" + "".join(
                f'<td style="text-align:{css[a]};{td}">{html.escape(c)}</td>'
                for c, a in zip(row, self.align, strict=True)) + "</tr>")
        out.append("</tbody></table></div>")
        return "\n".join(out)

    def to_text(self) -> str:
        """Fixed-width plain text (columns padded to their widest cell)."""
        heads = self.flat_headers
        widths = [max(len(h), *(len(r[j]) for r in self.rows)) if self.rows else len(h)
                  for j, h in enumerate(heads)]

        def line(cells) -> str:
            parts = [c.ljust(w) if a == "l" else c.rjust(w) if a == "r" else c.center(w)
                     for c, w, a in zip(cells, widths, self.align, strict=True)]
            return "  ".join(parts).rstrip()

        out = [self.caption] if self.caption else []
        out += [line(heads), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return self.to_html()


#: Short method names for wide tables.
SHORT_LABELS: dict[str, str] = {
    "gan-mdn": "GAN-MDN", "pca-mdn": "PCA-MDN", "direct-mdn": "direct MDN", "bo": "BO",
    "random-latent": "random latent", "lookup": "look-up",
}


def method_label(method: str, short: bool = False) -> str:
    """Display name of a method key (``short``: :data:`SHORT_LABELS`; the key when unknown)."""
    return (SHORT_LABELS if short else METHOD_LABELS).get(method, method)


# --------------------------------------------------------------------------------------------
# Table 1: ours next to the paper's
# --------------------------------------------------------------------------------------------


def load_table1(profile_name: str, datasets: Iterable[str] = ("data-i", "data-ii")
                ) -> dict[str, list[dict]]:
    """{dataset: rows} from ``<artifacts>/<profile>/evaluate/table1_<dataset>.csv``."""
    from invdes.pipeline import evaluate_dir

    folder = evaluate_dir(profile_name)
    return {d: read_table1_csv(folder / f"table1_{d}.csv") for d in datasets}


def _key(target) -> float:
    return round(float(target), 6)


def table1_records(rows: Iterable[Mapping[str, Any]], dataset: str, *,
                   paper: Mapping = PAPER_TABLE1, methods: Sequence[str] | None = None
                   ) -> list[dict]:
    """Our Table 1 rows of ``dataset`` merged with the paper's, one dict per (method, target)
    present in either: ``method``, ``target``, ``ours`` (our row or None), ``paper`` (the
    paper's entry or None). Paper entries have ``min_rep_pct``, ``mean_rep_pct``,
    ``std_rep_pct`` and ``time_s`` (BO: ``min_rep_pct`` None for "no convergence", ``time_s``
    from the paper's hours). Sorted by method (``methods`` or :data:`METHOD_ORDER`, unknown
    methods last) and target."""
    ours = {(r["method"], _key(r["target"])): r for r in rows if r.get("dataset") == dataset}
    theirs = {}
    for method, by_target in paper.get(dataset, {}).items():
        for t, v in by_target.items():
            entry = dict(v)
            if "time_h" in entry:
                entry["time_s"] = 3600.0 * entry.pop("time_h")
                entry.setdefault("mean_rep_pct", None)
                entry.setdefault("std_rep_pct", None)
            theirs[(method, _key(t))] = entry
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
                            caption: str = "") -> Table:
    """One row per method, per data set the target-averaged diversity and novelty (methods
    without any value, such as Bayesian optimization's single design, are left out)."""
    recs = diversity_novelty(rows_by_dataset)
    datasets = list(rows_by_dataset)
    shown = {r["method"] for r in recs
             if r["diversity"] is not None or r["novelty"] is not None}
    methods = [m for m in METHOD_ORDER if m in shown] + sorted(shown - set(METHOD_ORDER))
    lookup = {(r["dataset"], r["method"]): r for r in recs}
    headers = ["method"] + [f"{d} {k}" for d in datasets for k in ("diversity", "novelty")]
    rows = []
    for m in methods:
        row = [method_label(m)]
        for d in datasets:
            r = lookup.get((d, m), {})
            row += [fmt(r.get("diversity"), ".3f"), fmt(r.get("novelty"), ".3f")]
        rows.append(row)
    return Table(headers, rows, caption=caption)


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


def best_of_n_table(curves: Mapping[tuple, Sequence[float]], ns: Sequence[int],
                    caption: str = "") -> Table:
    """Expected best REP (percent) at each N of ``ns`` from best-of-N curves
    ``{(dataset, method, target): curve (fractions)}``; N beyond a curve's pool shows as
    :data:`MISSING`."""
    headers = ["data set", "method", "target"] + [f"N = {n}" for n in ns]
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    rows = []
    for (d, m, t), c in sorted(curves.items(),
                               key=lambda kv: (kv[0][0], rank.get(kv[0][1], 99), kv[0][2])):
        c = np.asarray(c, dtype=np.float64)
        rows.append([d, method_label(m), f"{float(t):.2f}"]
                    + [fmt(100 * c[n - 1]) if 1 <= n <= c.size else MISSING for n in ns])
    return Table(headers, rows, caption=caption)


# --------------------------------------------------------------------------------------------
# Null baselines on a data set
# --------------------------------------------------------------------------------------------


def null_baselines(y, targets: Iterable[float], n: int = 30) -> list[dict]:
    """What trivial designers score for each target on a data set with labels ``y`` (n_data,).

    Per target t (REP in percent): ``median_rep_pct`` = REP of the data set's median structure
    (always proposing it); ``random_mean_rep_pct`` / ``random_std_rep_pct`` = mean / std of
    the REP of a random data-set sample; ``random_best_of_n_pct`` = expected minimum REP of
    ``n_used`` = min(n, n_data) random data-set samples drawn without replacement (the null
    for a "min REP over n"); ``within_1pct`` / ``within_5pct`` = share of the data set with
    REP <= 1 % / 5 %.
    """
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    if yy.size == 0 or not np.all(np.isfinite(yy)):
        raise ValueError("y must be a non-empty array of finite values")
    if isinstance(n, bool) or int(n) < 1:
        raise ValueError(f"n must be an integer >= 1; got {n!r}")
    m = int(min(int(n), yy.size))
    med = float(np.median(yy))
    out = []
    for t in targets:
        t = float(t)
        if not t > 0:
            raise ValueError(f"targets must be > 0 (REP divides by them); got {t}")
        r = 100.0 * np.abs(yy - t) / t
        out.append({
            "target": t, "median_rep_pct": 100.0 * abs(med - t) / t,
            "random_mean_rep_pct": float(r.mean()), "random_std_rep_pct": float(r.std()),
            "random_best_of_n_pct": float(best_of_n_curve(r, n_max=m)[-1]), "n_used": m,
            "within_1pct": float(np.mean(r <= 1.0)), "within_5pct": float(np.mean(r <= 5.0)),
        })
    return out


def null_forward(y) -> dict:
    """Data-set-level nulls of REFERENCE.md (percent): ``median_predictor_rep_pct`` = mean over
    samples of |median - y_i| / y_i (always predicting the median y); ``random_pair_rep_pct``
    = mean over ordered pairs i != j of |y_j - y_i| / y_i (a random other sample)."""
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    if yy.size < 2 or not np.all(np.isfinite(yy)) or np.any(yy <= 0):
        raise ValueError("y must hold at least two finite positive values")
    med = float(np.median(yy))
    n = yy.size
    total = 0.0
    for a in range(0, n, 1024):  # row blocks: memory O(1024 n), not O(n^2)
        block = yy[a : a + 1024, None]
        total += float((np.abs(yy[None, :] - block) / block).sum())
    return {"median_predictor_rep_pct": float(100.0 * np.mean(np.abs(med - yy) / yy)),
            "random_pair_rep_pct": float(100.0 * total / (n * (n - 1)))}


def null_baseline_table(by_dataset: Mapping[str, list[dict]], caption: str = "") -> Table:
    """A table of :func:`null_baselines` results, ``{dataset: rows}``."""
    headers = ["data set", "target", "median design", "random: mean", "random: std",
               "best of n random", "n", "1 %", "5 %"]
    groups = [("", 2), ("REP % of data-set designs", 4), ("", 1), ("share of set within", 2)]
    rows = [[d, f"{r['target']:.2f}", fmt(r["median_rep_pct"]), fmt(r["random_mean_rep_pct"]),
             fmt(r["random_std_rep_pct"]), fmt(r["random_best_of_n_pct"]), str(r["n_used"]),
             fmt(100 * r["within_1pct"], ".1f") + " %", fmt(100 * r["within_5pct"], ".1f") + " %"]
            for d, rs in by_dataset.items() for r in rs]
    return Table(headers, rows, caption=caption, groups=groups)


# --------------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------------


def dataset_info(ds) -> dict:
    """:func:`invdes.data.dataset_summary` of a loaded data set plus what its recorded metadata
    says: ``wall_time_s`` (generation: generator plus simulation), ``created``, ``cpu_count``
    of the machine, ``n_chunks`` (None where not recorded)."""
    from invdes.data import dataset_summary

    info = dataset_summary(ds)
    prov = (ds.attrs or {}).get("provenance") or {}
    info.update(wall_time_s=prov.get("wall_time_s"), created=prov.get("created"),
                cpu_count=(prov.get("machine") or {}).get("cpu_count"),
                n_chunks=prov.get("n_chunks"))
    return info


def target_coverage_markdown(infos: Iterable[Mapping[str, Any]], targets: Sequence[float]
                             ) -> str:
    """A Markdown list, one item per data set (from :func:`dataset_info`): the 5th-95th
    percentile range of y, the targets outside it and the targets outside the whole range."""
    def names(ts) -> str:
        return ", ".join(f"{t:.2f}" for t in ts) or "none"

    lines = []
    for i in infos:
        lo, hi = i["y_p5"], i["y_p95"]
        outside = [t for t in targets if not lo <= t <= hi]
        beyond = [t for t in targets if not i["y_min"] <= t <= i["y_max"]]
        lines.append(f"- **{i['name']}**: the middle 90 % of y lies in [{lo:.3f}, {hi:.3f}]; "
                     f"targets outside it: {names(outside)}; targets outside the whole range "
                     f"[{i['y_min']:.3f}, {i['y_max']:.3f}] of the set: {names(beyond)}.")
    return "\n".join(lines)


def dataset_table(infos: Iterable[Mapping[str, Any]], caption: str = "") -> Table:
    """One column per data set (from :func:`dataset_info`), one row per statistic."""
    infos = list(infos)
    spec = [
        ("samples", "n", "d"), ("image (px)", "image_side", "d"), ("latent dim", "latent_dim", "d"),
        ("y mean", "y_mean", ".4f"), ("y std", "y_std", ".4f"), ("y min", "y_min", ".4f"),
        ("y 5th pct", "y_p5", ".4f"), ("y median", "y_p50", ".4f"), ("y 95th pct", "y_p95", ".4f"),
        ("y max", "y_max", ".4f"), ("volume fraction mean", "vf_mean", ".3f"),
        ("volume fraction std", "vf_std", ".3f"), ("r(vf, y)", "corr_vf_y", ".2f"),
        ("R^2(vf, y)", "r2_vf_y", ".2f"),
    ]
    rows = [[label] + [fmt(i.get(key), f) for i in infos] for label, key, f in spec]
    rows.append(["generation wall time"] + [format_seconds(i.get("wall_time_s")) for i in infos])
    rows.append(["per sample"] + [
        format_seconds(i["wall_time_s"] / i["n"]) if not is_missing(i.get("wall_time_s"))
        and i.get("n") else MISSING for i in infos])
    rows.append(["CPU cores"] + [fmt(i.get("cpu_count"), "d") for i in infos])
    return Table(["statistic"] + [str(i.get("name", "?")) for i in infos], rows, caption=caption)


# --------------------------------------------------------------------------------------------
# Bayesian optimization
# --------------------------------------------------------------------------------------------


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
    lookup = {_key(t): r for t, r in results.items()}
    p = paper.get(dataset, {}).get("bo", {})
    p = {_key(t): v for t, v in p.items()}
    out = []
    for t in targets:
        r = lookup.get(_key(t))
        pe = p.get(_key(t))
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


def bo_table(by_dataset: Mapping[str, list[dict]], caption: str = "") -> Table:
    """A table of :func:`bo_rows`, ``{dataset: rows}``."""
    headers = ["data set", "target", "evaluations", "status", "best REP %", "best at",
               "REP <= 1 % at", "wall time", "simulation", "min REP %", "time"]
    groups = [("", 2), ("ours", 7), ("paper", 2)]
    rows = []
    for d, rs in by_dataset.items():
        for r in rs:
            status = ("not run" if not r["run"] else
                      "partial" if r["partial"] else "finished")
            if r["paper_reported"]:
                pmin = (NO_CONVERGENCE if r["paper_min_rep_pct"] is None
                        else fmt(r["paper_min_rep_pct"]))
            else:
                pmin = MISSING
            rows.append([d, f"{r['target']:.2f}", f"{r['n_evaluations']} / {r['budget']}", status,
                         fmt(r["best_rep_pct"], ".2g"), fmt(r["best_at"], "d"),
                         fmt(r["first_below"], "d") if r["run"] else MISSING,
                         format_seconds(r["wall_time_s"]), format_seconds(r["simulation_s"]),
                         pmin, format_seconds(r["paper_time_s"])])
    return Table(headers, rows, caption=caption, groups=groups)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def keras_layer_table(model, caption: str = "") -> Table:
    """Layers of a Keras model: name, type, output shape, parameters; a total row last."""
    rows = []
    total = 0
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        n = int(layer.count_params()) if layer.built else 0
        total += n
        shape_s = MISSING if shape is None else "(" + ", ".join(
            "batch" if s is None else str(s) for s in shape) + ")"
        rows.append([layer.name, type(layer).__name__, shape_s, f"{n:,}"])
    rows.append(["total", "", "", f"{total:,}"])
    return Table(["layer", "type", "output shape", "parameters"], rows, caption=caption,
                 align=["l", "l", "l", "r"])


def clip_stats(z, *, already_clipped: bool = False, bound: float = 1.0) -> dict:
    """How many latents (n, d) leave the box [-bound, bound]^d: ``vectors`` = share of rows with
    at least one coordinate outside, ``coordinates`` = share of coordinates outside. For latents
    that were already clipped (``already_clipped``), a coordinate counts when it sits exactly on
    the bound (where clipping put it)."""
    zz = np.asarray(z, dtype=np.float64)
    if zz.ndim != 2 or zz.size == 0:
        raise ValueError(f"z must have shape (n, d) with n, d >= 1; got {zz.shape}")
    out = np.abs(zz) >= bound if already_clipped else np.abs(zz) > bound
    return {"vectors": float(out.any(axis=1).mean()), "coordinates": float(out.mean()),
            "n": int(zz.shape[0])}


# --------------------------------------------------------------------------------------------
# Agreement with the paper (chapter 7)
# --------------------------------------------------------------------------------------------


def _by(rows: Iterable[Mapping[str, Any]]) -> dict:
    return {(r["dataset"], r["method"], _key(r["target"])): r for r in rows}


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
            v = {_key(k): e for k, e in v.items()}.get(t)
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
            s.append(f"GAN-MDN has the lowest mean REP of the three MDN methods for {go} of "
                     f"{n} targets, as in the paper.")
        elif go > gp:
            s.append(f"GAN-MDN has the lowest mean REP of the three MDN methods for {go} of "
                     f"{n} targets, more often than in the paper ({gp} of {n}).")
        else:
            s.append(f"GAN-MDN has the lowest mean REP of the three MDN methods for only {go} of "
                     f"{n} targets, against {gp} of {n} in the paper.")
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
        s.append(f"The direct MDN has a higher mean REP than GAN-MDN at {dw} of {n} targets "
                 f"(paper: {dwp} of {n}).")
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
        by = {(r["method"], _key(r["target"])): r for r in rows if r.get("dataset") == d}
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


def goal_table(checks: Sequence[Mapping[str, Any]], caption: str = "") -> Table:
    """Per goal and data set: how many targets meet it, and the misses with their numbers."""
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
        rows.append([goal, d, f"{len(cs) - len(misses)} of {len(cs)}", detail or "-"])
    return Table(["goal (GAN-MDN)", "data set", "targets met", "misses: ours vs bound"], rows,
                 caption=caption)


def load_cell(profile_name: str, dataset: str, method: str, target: float) -> dict:
    """The evaluate step's cached cell (``images``, ``y_hat``, ``generation_s``,
    ``simulation_s`` and, for latent methods, ``z``) as numpy arrays."""
    from invdes.pipeline import _cell_path

    path = Path(_cell_path(profile_name, dataset, method, target))
    if not path.is_file():
        raise FileNotFoundError(
            f"evaluate cell {path} is missing; run: invdes reproduce --profile {profile_name} "
            "--steps evaluate")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# --------------------------------------------------------------------------------------------
# Figures and summaries that keep the notebook cells short
# --------------------------------------------------------------------------------------------


def _figure(nrows: int, ncols: int, size: tuple[float, float], **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def plot_generation_steps(generator, z, y: float | None = None):
    """One latent (d,) or (1, d) through the generator: the s x s latent map, the tanh output,
    its grey-level histogram with Otsu's threshold, and the binary image (titled with ``y``).
    ``generator`` needs ``generate_continuous`` and ``generate``. Returns a Figure."""
    from invdes.gan_numpy import otsu_threshold

    zz = np.asarray(z, dtype=np.float32).reshape(1, -1)
    side = int(round(math.sqrt(zz.shape[1])))
    if side * side != zz.shape[1]:
        raise ValueError(f"the latent must have s*s entries; got {zz.shape[1]}")
    grey = np.asarray(generator.generate_continuous(zz))[0]
    binary = np.asarray(generator.generate(zz))[0]
    level = otsu_threshold(grey)
    fig, axes = _figure(1, 4, (13, 3.1))
    axes = axes[0]
    im = axes[0].imshow(zz.reshape(side, side), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    axes[0].set_title(f"latent z ({side} x {side})")
    axes[1].imshow(grey, cmap="gray_r", vmin=-1, vmax=1)
    axes[1].set_title("generator output (tanh)")
    axes[2].hist(grey.ravel(), bins=60, color="0.6")
    axes[2].axvline(level, color="C3", label=f"Otsu threshold {level:.2f}")
    axes[2].set(xlabel="grey level", ylabel="pixels")
    axes[2].legend(fontsize=8)
    axes[3].imshow(binary, cmap="gray_r", interpolation="nearest", vmin=0, vmax=1)
    axes[3].set_title("binary image" + ("" if y is None else f", y = {float(y):.4f}"))
    for ax in axes[[0, 1, 3]]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_training_history(mdns: Mapping[str, Any]):
    """Training and validation NLL per epoch of fitted MDNs ``{name: MDN}``, the kept epoch
    (dashed) and the prior's d ln 2 (dotted, the NLL of independent uniform latents on
    [-1, 1]). Returns a Figure."""
    fig, axes = _figure(1, len(mdns), (5.5 * len(mdns), 3.4))
    for ax, (name, m) in zip(axes[0], mdns.items(), strict=True):
        h = m.history_
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="training")
        if h.get("val_loss"):
            ax.plot(epochs, h["val_loss"], label="validation")
        ax.axvline(m.best_epoch_ + 1, color="0.5", ls="--",
                   label=f"kept epoch {m.best_epoch_ + 1}")
        ax.axhline(m.dim_ * math.log(2), color="k", ls=":", label="prior, d ln 2")
        ax.set(title=f"{name}: {m.n_epochs_} epochs ({m.stop_reason_})", xlabel="epoch",
               ylabel="mean NLL (nats)")
        ax.legend(fontsize=8)
    return fig


def mixture_summaries(mdns: Mapping[str, Any], targets: Sequence[float]) -> list[dict]:
    """Per MDN and target: mixture ``weights`` (K,), ``effective`` number of components
    1 / sum(pi^2), ``top3`` (0-based indices), ``top3_weight`` and ``mean_sigma`` (the
    weight-averaged mean standard deviation)."""
    out = []
    for name, m in mdns.items():
        w, _, sigma = m.mixture_params(np.asarray(targets, dtype=np.float64))
        for c, t in enumerate(targets):
            top = np.argsort(w[c])[::-1][:3]
            out.append({"dataset": name, "target": float(t), "weights": w[c],
                        "effective": float(1.0 / np.sum(w[c] ** 2)), "top3": top.tolist(),
                        "top3_weight": float(w[c][top].sum()),
                        "mean_sigma": float(np.average(sigma[c].mean(axis=1), weights=w[c]))})
    return out


def plot_mixture_weights(summaries: Sequence[Mapping[str, Any]]):
    """Bar charts of the mixture weights from :func:`mixture_summaries`: one row per data set,
    one panel per target. Returns a Figure."""
    names = list(dict.fromkeys(s["dataset"] for s in summaries))
    targets = list(dict.fromkeys(s["target"] for s in summaries))
    fig, axes = _figure(len(names), len(targets), (2.7 * len(targets), 2.4 * len(names)),
                        sharey="row")
    for s in summaries:
        r, c = names.index(s["dataset"]), targets.index(s["target"])
        w = np.asarray(s["weights"])
        axes[r, c].bar(np.arange(1, w.size + 1), w, color=f"C{r}")
        axes[r, c].set_title(f"{s['dataset']}, target {s['target']:.2f}", fontsize=9)
        axes[r, c].set_xlabel("component")
    for r in range(len(names)):
        axes[r, 0].set_ylabel("mixture weight")
    return fig


def mixture_table(summaries: Sequence[Mapping[str, Any]], caption: str = "") -> Table:
    """A table of :func:`mixture_summaries` (components numbered from 1)."""
    rows = [[s["dataset"], f"{s['target']:.2f}", f"{s['effective']:.1f}",
             f"{100 * s['top3_weight']:.0f} %", ", ".join(str(i + 1) for i in s["top3"]),
             f"{s['mean_sigma']:.3f}"] for s in summaries]
    return Table(["data set", "target", "effective components", "weight of top 3", "top 3",
                  "mean sigma"], rows, caption=caption)


def plot_latent_marginals(z, targets: Sequence[float], box: float = 1.0):
    """Histograms per latent coordinate of sampled latents ``z`` (m targets, n, d), one line
    per target; the box [-box, box] shaded. Returns a Figure."""
    zz = np.asarray(z, dtype=np.float64)
    if zz.ndim != 3 or zz.shape[0] != len(targets):
        raise ValueError(f"z must have shape (len(targets), n, d); got {zz.shape}")
    d = zz.shape[2]
    edge = max(1.5 * box, float(np.abs(zz).max()))
    bins = np.linspace(-edge, edge, 61)
    fig, axes = _figure(1, d, (2.9 * d, 2.9), sharey=True)
    for j, ax in enumerate(axes[0]):
        ax.axvspan(-box, box, color="0.92", zorder=0)
        for c, t in enumerate(targets):
            ax.hist(zz[c, :, j], bins=bins, histtype="step", density=True, label=f"{t:.2f}")
        ax.set(title=f"z[{j}]", xlabel="value")
    axes[0, 0].set_ylabel("density")
    axes[0, -1].legend(title="target", fontsize=7)
    return fig


def plot_candidate_absorption(y_hat: Mapping[tuple[str, float], Any],
                              y_ranges: Mapping[str, tuple[float, float]], seed: int = 0):
    """Simulated absorption of candidates ``{(dataset, target): y_hat}`` against their target
    (dots spread sideways), one panel per data set, the data set's y range ``{dataset: (lo,
    hi)}`` shaded. Returns a Figure."""
    names = list(dict.fromkeys(d for d, _ in y_hat))
    fig, axes = _figure(1, len(names), (5.5 * len(names), 3.8), sharey=True)
    rng = np.random.default_rng(seed)
    for ax, name in zip(axes[0], names, strict=True):
        if name in y_ranges:
            lo, hi = y_ranges[name]
            ax.axhspan(lo, hi, color="0.9", label="range of the data set")
        ts = sorted(t for d, t in y_hat if d == name)
        for t in ts:
            y = np.asarray(y_hat[(name, t)], dtype=np.float64)
            ax.plot(t + rng.uniform(-0.01, 0.01, y.size), y, ".", alpha=0.7)
        ax.plot(ts, ts, "k_", ms=20, mew=2, label="target")
        ax.set(title=name, xlabel="target y", ylabel="simulated y of the candidates")
        ax.legend(fontsize=8)
    return fig


def plot_explained_variance(ratios: Mapping[str, Any]):
    """Explained-variance ratio per principal component and cumulatively (percent), one panel
    per ``{name: ratios (d,)}``. Returns a Figure."""
    fig, axes = _figure(1, len(ratios), (5.5 * len(ratios), 3.3))
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
    from invdes.baselines import binarize_otsu, check_binary_images

    x = check_binary_images(images)
    flat = x.reshape(len(x), -1)
    grey = pca_mdn.reconstruct(pca_mdn.pca_.transform(flat.astype(np.float64)))
    binary = binarize_otsu(grey)
    bflat = binary.reshape(len(x), -1)
    return {"grey": grey, "binary": binary,
            "pixel_agreement": float((bflat == flat).mean()),
            "all_zero_agreement": float(1.0 - flat.mean()),
            "vf_error": float(np.abs(bflat.mean(axis=1) - flat.mean(axis=1)).mean())}


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


__all__ = [
    "MISSING", "NO_CONVERGENCE", "SHORT_LABELS", "Table", "best_methods", "best_of_n_table",
    "bo_rows", "bo_status_markdown", "bo_table", "builtin", "clip_stats", "compare_with_paper",
    "dataset_info", "dataset_table", "discussion_markdown", "diversity_novelty",
    "diversity_novelty_table", "fmt", "format_seconds", "glue_values", "is_missing",
    "keras_layer_table", "load_cell", "load_table1", "method_label", "method_mean",
    "mixture_summaries", "mixture_table", "null_baseline_table", "null_baselines",
    "null_forward", "paper_method_mean", "paper_rows", "pca_reconstruction",
    "plot_candidate_absorption", "plot_explained_variance", "plot_generation_steps",
    "plot_latent_marginals", "plot_mixture_weights", "plot_training_history", "results_table",
    "table1_averages", "table1_comparison", "table1_records", "target_coverage_markdown",
]
