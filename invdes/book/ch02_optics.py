"""Chapter 2's tables of the stack search (:mod:`invdes.study.stack_search`).

The search ran once, for the paper profile, and its arrays are committed under
``artifacts/paper/stack-search/``; the chapter reads them in every profile (they are what chose
the paper stacks of :data:`invdes.config.PAPER_STACKS`).
"""

from __future__ import annotations

import numpy as np

from invdes.config import DATASETS, PAPER_STACKS, TARGETS
from invdes.study import stack_search as ss

#: Columns of the search tables, in the order shown.
SEARCH_COLUMNS = ("period_nm", "band_nm", "thickness_nm", "substrate", "mean", "std", "r2_vf",
                  *(f"near_{t:.2f}" for t in TARGETS), "goals_met")


def stage_results(n_rows: int = 3):
    """The best ``n_rows`` stacks of every stage and data set, as one DataFrame (data set,
    stage, images, then :data:`SEARCH_COLUMNS`)."""
    import pandas as pd

    parts = []
    for name, side in DATASETS.items():
        for stage in ss.STAGES:
            table = ss.stage_table(stage, side).head(n_rows)[list(SEARCH_COLUMNS)]
            table.insert(0, "images", stage.n_images)
            table.insert(0, "stage", stage.name)
            table.insert(0, "data set", name)
            parts.append(table)
    return pd.concat(parts, ignore_index=True)


def chosen_stacks():
    """The chosen stack of each data set on the final stage's 300 new images (one row each)."""
    import pandas as pd

    rows = []
    for name, side in DATASETS.items():
        final = ss.STAGES[-1]
        table = ss.stage_table(final, side)
        chosen = PAPER_STACKS[name]
        row = table[np.isclose(table.thickness_nm, chosen.thickness_nm)].iloc[0]
        rows.append({"data set": name, "images": final.n_images,
                     **{c: row[c] for c in SEARCH_COLUMNS}})
    return pd.DataFrame(rows)


def style_search(table, caption: str):
    """The book's Styler (:func:`invdes.book.tables.style`) of a search table: caption,
    formats, index hidden."""
    from invdes.book.tables import style

    near = [c for c in table.columns if c.startswith("near_")]
    formats = {"mean": ".3f", "std": ".3f", "r2_vf": ".2f", "thickness_nm": ".0f",
               "period_nm": ".0f", **dict.fromkeys(near, ".0f")}
    return style(table, caption, formats={k: v for k, v in formats.items()
                                          if k in table.columns}, hide_index=True)
