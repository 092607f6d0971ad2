"""Display tables for the book (no pandas needed): :class:`Table` and the formatting rules.

A :class:`Table` holds headers and rows of strings; it shows itself as HTML in a notebook and
renders to Markdown or plain text. Missing values (a method the paper did not run, a run we
have not made yet) show as :data:`MISSING` ("-"); REP values in rows are percent (as in the
Table 1 CSV), times seconds. The chapter modules (``invdes.book.ch0*``) build their tables with
these helpers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from invdes.study.evaluate import METHOD_LABELS

#: How a missing value is shown.
MISSING = "-"


#: How the paper's "no convergence" (Bayesian optimization) is shown.
NO_CONVERGENCE = "no conv."


#: Method order in tables: the proposed method, the paper's baselines, then our null baselines.
METHOD_ORDER: tuple[str, ...] = ("gan-mdn", "pca-mdn", "direct-mdn", "bo", "random-latent",
                                 "lookup")


MDN_METHODS: tuple[str, ...] = ("gan-mdn", "pca-mdn", "direct-mdn")


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


def target_key(target) -> float:
    """A target as a dict key (rounded to 6 decimals: 0.6 and 0.60000001 match)."""
    return round(float(target), 6)


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


__all__ = [
    "builtin", "fmt", "format_seconds", "glue_values", "is_missing", "MDN_METHODS",
    "method_label", "METHOD_ORDER", "MISSING", "NO_CONVERGENCE", "SHORT_LABELS", "Table",
    "target_key"
]
