"""Display tables for the book: DataFrames with display hints, and their pandas ``Styler``.

The chapter modules (``invdes.book.ch0*``, :mod:`invdes.book.table1`) return their tables as
:class:`pandas.DataFrame` built by :func:`frame`: numbers stay numbers (REP in percent as in the
Table 1 CSV, times in seconds, missing values NaN), grouped headers are MultiIndex columns, and
``DataFrame.attrs`` carries the caption and the number formats. :func:`style` turns such a
table into the :class:`~pandas.io.formats.style.Styler` the book shows. Missing values (a method
the paper did not run, a run we have not made yet) show as :data:`MISSING` ("-").
"""

from __future__ import annotations

import hashlib
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

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
    if value is None or value is pd.NA:
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


#: The look of every book table (a compact table; numbers right, labels left; group headers
#: centred over their columns with a rule below; the caption above, left-aligned).
TABLE_STYLES: tuple[dict[str, str], ...] = (
    {"selector": "", "props": "font-size: 0.82em; border-collapse: collapse"},
    {"selector": "caption",
     "props": "caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3em"},
    {"selector": "th, td", "props": "padding: 0.15em 0.45em; white-space: nowrap"},
    {"selector": "td", "props": "text-align: right"},
    {"selector": "th.row_heading, th.index_name", "props": "text-align: left; vertical-align: top"},
    {"selector": "th.row_heading:not(.level0)", "props": "font-weight: normal"},
    {"selector": "th.col_heading", "props": "text-align: center"},
    {"selector": "thead tr:last-child th", "props": "border-bottom: 1px solid #999"},
)

#: Added for grouped headers (MultiIndex columns): a rule below each group label.
GROUP_STYLE: dict[str, str] = {"selector": "th.col_heading.level0",
                               "props": "border-bottom: 1px solid #999"}

#: A cell format: a ``format`` spec (".2f", "d", ...) or a callable value -> text.
Format = str | Callable[[Any], str]


def _is_na(value) -> bool:
    """None, NaN or pd.NA (not infinity: a formatter may give it a meaning)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _formatter(spec: Format, missing: str) -> Callable[[Any], str]:
    if callable(spec):
        return lambda v: missing if _is_na(v) else spec(v)
    return lambda v: fmt(v, spec, missing)


def yes_no(value) -> str:
    """A check for a table cell: "yes" or "no" (:func:`style` shows a failed check in bold)."""
    return "yes" if bool(value) else "no"


def no_convergence(spec: str = ".2f") -> Callable[[Any], str]:
    """A formatter for a REP column where +inf means the paper's "no convergence"
    (:data:`NO_CONVERGENCE`)."""
    return lambda v: NO_CONVERGENCE if float(v) == math.inf else fmt(v, spec)


def frame(records: Iterable[Mapping[str, Any]] | Sequence[Sequence[Any]], columns=None, *,
          index: Sequence[str] | None = None, caption: str = "",
          formats: Mapping[Any, Format] | None = None,
          index_formats: Mapping[str, Format] | None = None) -> pd.DataFrame:
    """A book table as a DataFrame: ``records`` (dicts, or rows with ``columns``; a
    :class:`pandas.MultiIndex` for grouped headers), ``index`` (columns moved into the row
    index, e.g. ``["data set", "target"]`` or ``[("", "target")]``, named by their last
    label), and the display hints :func:`style` reads from
    ``DataFrame.attrs``: ``caption``, ``formats`` ({column label, group label or full column
    key: format}) and ``index_formats`` ({index level name: format}). Values stay numbers, so
    a JupyterLab user can sort, filter and plot the table."""
    records = list(records)
    if records and isinstance(records[0], Mapping):
        df = pd.DataFrame.from_records(records, columns=columns)
    else:
        df = pd.DataFrame(records, columns=columns)
    if index:
        df = df.set_index(list(index))
        # a grouped column moved into the index keeps only its own label ("target")
        df.index.names = [n[-1] if isinstance(n, tuple) else n for n in df.index.names]
    df.attrs.update(caption=caption, formats=dict(formats or {}),
                    index_formats=dict(index_formats or {}))
    return df


def _matches(key, column) -> bool:
    if key == column:
        return True
    return isinstance(column, tuple) and not isinstance(key, tuple) and key in column


def _default_format(series: pd.Series) -> Format:
    if pd.api.types.is_bool_dtype(series):
        return yes_no
    if pd.api.types.is_integer_dtype(series):
        return ",d"
    if pd.api.types.is_float_dtype(series):
        return ".2f"
    return str


def style(df: pd.DataFrame, caption: str | None = None, *,
          formats: Mapping[Any, Format] | None = None, hide_index: bool = False,
          missing: str = MISSING) -> Styler:
    """The book's rendering of a table from :func:`frame`: a :class:`pandas.io.formats.style.
    Styler` with the caption (``caption`` or ``df.attrs["caption"]``), grouped column headers
    (MultiIndex columns), number formats (``df.attrs["formats"]`` updated by ``formats``;
    otherwise floats ".2f", integers with thousands separators, booleans yes / **no**, missing
    values :data:`MISSING`), the index levels formatted by ``df.attrs["index_formats"]`` and
    :data:`TABLE_STYLES`. ``hide_index`` hides the row index (for a plain list of rows).

    The HTML is deterministic (the CSS id comes from the caption and the columns, not a random
    uuid; no per-cell ids), so a re-executed notebook shows the same output as long as the
    numbers do (what ``pytest --nbval`` checks)."""
    attrs = df.attrs
    caption = attrs.get("caption", "") if caption is None else caption
    specs = {**attrs.get("formats", {}), **(formats or {})}
    key = hashlib.sha1(repr((caption, list(df.columns), df.shape)).encode()).hexdigest()[:10]
    st = Styler(df, uuid=f"invdes{key}", cell_ids=False,
                caption=html.escape(caption) if caption else None)
    for column in df.columns:
        spec = next((s for k, s in reversed(specs.items()) if _matches(k, column)), None)
        spec = _default_format(df[column]) if spec is None else spec
        st.format(_formatter(spec, missing), subset=[column], escape="html")
        if pd.api.types.is_bool_dtype(df[column]):
            st.map(lambda v: "" if v else "font-weight: bold", subset=[column])
    st.format_index(escape="html", axis="columns", level=list(range(df.columns.nlevels)))
    st.format_index(escape="html", axis="index", level=list(range(df.index.nlevels)))
    for level, spec in attrs.get("index_formats", {}).items():
        if level in (df.index.names or []):
            st.format_index(_formatter(spec, missing), axis="index", escape="html",
                            level=list(df.index.names).index(level))
    grouped = isinstance(df.columns, pd.MultiIndex)
    st.set_table_styles(list(TABLE_STYLES) + ([GROUP_STYLE] if grouped else []))
    st.set_table_attributes('class="invdes-table"')
    if hide_index:
        st.hide(axis="index")
    return st


#: Short method names for wide tables.
SHORT_LABELS: dict[str, str] = {
    "gan-mdn": "GAN-MDN", "pca-mdn": "PCA-MDN", "direct-mdn": "direct MDN", "bo": "BO",
    "random-latent": "random latent", "lookup": "look-up",
}


def method_label(method: str, short: bool = False) -> str:
    """Display name of a method key (``short``: :data:`SHORT_LABELS`; the key when unknown)."""
    return (SHORT_LABELS if short else METHOD_LABELS).get(method, method)


__all__ = [
    "builtin", "fmt", "Format", "format_seconds", "frame", "glue_values", "is_missing",
    "MDN_METHODS", "method_label", "METHOD_ORDER", "MISSING", "no_convergence",
    "NO_CONVERGENCE", "SHORT_LABELS", "GROUP_STYLE", "style", "TABLE_STYLES", "target_key", "yes_no"
]
