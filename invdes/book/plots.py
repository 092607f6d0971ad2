"""Small matplotlib helpers shared by the notebooks.

Each function returns the :class:`matplotlib.figure.Figure` (or draws on a given ``ax``) and
never calls ``plt.show()``; in a notebook, assign the result (``fig = image_grid(...)``) so the
figure is shown once.

- :func:`image_grid`      a grid of images (binary microstructures or real-valued fields)
- :func:`plot_s2`         radially averaged two-point correlation with S2(0) and the vf^2 limit
- :func:`plot_chords`     chord-length histograms of one or more phases
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Phase 1 (the minority phase, pixel value 1) is drawn black, phase 0 white.
BINARY_CMAP = "gray_r"


def _as_image_list(images) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            return [images]
        if images.ndim == 3:
            return list(images)
        raise ValueError(f"images must have shape (n, h, w) or (h, w); got {images.shape}")
    out = [np.asarray(im) for im in images]
    for im in out:
        if im.ndim != 2:
            raise ValueError(f"every image must be 2-D; got shape {im.shape}")
    return out


def image_grid(
    images,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    *,
    cmap: str | Sequence[str] = BINARY_CMAP,
    panel_size: float = 1.8,
    binary: bool | None = None,
    suptitle: str | None = None,
) -> Figure:
    """Show images in a grid without axes.

    ``images``: array (n, h, w) or (h, w), or a sequence of 2-D arrays of any sizes.
    ``titles``: one string per image (or ``None``). ``ncols``: panels per row (default: all in
    one row up to 8). ``cmap``: one colormap, or one per image. ``binary``: fix the colour scale
    to [0, 1] (default: for images whose values are all 0 or 1). ``panel_size`` in inches.
    """
    ims = _as_image_list(images)
    n = len(ims)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    cmaps = [cmap] * n if isinstance(cmap, str) else list(cmap)
    if len(cmaps) != n:
        raise ValueError(f"got {len(cmaps)} colormaps for {n} images")
    ncols = min(n, 8) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1; got {ncols}")
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + (0.3 if suptitle else 0)),
        squeeze=False, layout="constrained",
    )
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        im = ims[k]
        is_binary = bool(np.isin(im, (0, 1)).all()) if binary is None else binary
        kw = {"vmin": 0, "vmax": 1} if is_binary else {}
        ax.imshow(im, cmap=cmaps[k], interpolation="nearest", **kw)
        if titles is not None and titles[k]:
            ax.set_title(titles[k], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_s2(
    s2: np.ndarray,
    volume_fractions: np.ndarray,
    *,
    ax: Axes | None = None,
    n_curves: int = 5,
    label: str | None = None,
    color: str | None = None,
) -> Axes:
    """Two-point correlation curves S2(r) of a batch, shape (n, r_max + 1) (r in pixels).

    Draws up to ``n_curves`` single images thinly, the batch mean thickly, and marks in black
    the mean S2(0) = <vf> (a dot) and the large-distance limit <vf^2> (a dashed line).
    """
    s2 = np.atleast_2d(np.asarray(s2, dtype=float))
    vf = np.asarray(volume_fractions, dtype=float).reshape(-1)
    if vf.shape[0] != s2.shape[0]:
        raise ValueError(f"need one volume fraction per curve: {vf.shape[0]} vs {s2.shape[0]}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    r = np.arange(s2.shape[1])
    line = ax.plot(r, s2.mean(axis=0), lw=2, color=color, label=label or "mean over images")[0]
    c = line.get_color()
    for curve in s2[:n_curves]:
        ax.plot(r, curve, lw=0.6, alpha=0.5, color=c)
    ax.plot([0], [vf.mean()], "o", color="k", ms=5, zorder=3)
    ax.axhline(np.mean(vf**2), ls="--", lw=1, color="k", zorder=3)
    ax.set_xlabel("distance r (px)")
    ax.set_ylabel("S2(r)")
    ax.set_xlim(0, r[-1])
    return ax


def plot_chords(
    chords: Mapping[str, np.ndarray],
    *,
    ax: Axes | None = None,
    max_length: int | None = None,
    density: bool = True,
) -> Axes:
    """Histograms (one per entry, unit-width bins) of chord lengths in pixels, log y axis.

    ``chords``: label -> 1-D array of chord lengths, e.g. ``{"phase 1": c1, "phase 0": c0}``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    top = max_length or int(max((np.max(c) for c in chords.values() if len(c)), default=1))
    bins = np.arange(0.5, top + 1.5)
    for label, c in chords.items():
        c = np.asarray(c)
        ax.hist(c, bins=bins, density=density, histtype="step", lw=1.5,
                label=f"{label} (mean {c.mean():.2f} px)" if c.size else label)
    ax.set_yscale("log")
    ax.set_xlabel("chord length (px)")
    ax.set_ylabel("probability" if density else "count")
    ax.legend(fontsize=8)
    return ax


def figure_grid(nrows: int, ncols: int, size: tuple[float, float], **kw):
    """A constrained-layout Figure of ``size`` inches with an (nrows, ncols) array of axes."""
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)
