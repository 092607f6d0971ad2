"""Matplotlib helpers for the optics chapter (chapter 2).

Every function draws on a given ``ax`` (or a new figure) and returns the
:class:`matplotlib.figure.Figure`; none calls ``plt.show()``.

- :func:`draw_stack`               schematic cross-section of the simulated stack
- :func:`plot_optical_constants`   n and k of the stack's materials, the band shaded
- :func:`plot_convergence`         band-averaged absorption against truncation and solve time
- :func:`plot_spectra`             A, R, T of one image on a fine grid plus the band samples
- :func:`plot_absorption_vs_vf`    absorption against volume fraction, with r and R^2
- :func:`plot_absorption_histogram` histogram of absorptions with target values marked
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from invdes.config import OpticsConfig
from invdes.physics.materials import refractive_index

#: Colours of the materials in the schematic.
MATERIAL_COLORS = {"air": "#e8f4fb", "a-Si": "#5a4636", "glass": "#a9cde6"}


def _axes(ax: Axes | None, figsize=(6, 3.6)) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def linear_fit_stats(x, y) -> tuple[float, float]:
    """Pearson r and the R^2 of the least-squares line y ~ a + b x (equal to r^2)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"x and y must be 1-D of equal length >= 3; got {x.shape}, {y.shape}")
    r = float(np.corrcoef(x, y)[0, 1])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    r2 = 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())
    return r, r2


def draw_stack(config: OpticsConfig, image=None, ax: Axes | None = None) -> Figure:
    """Schematic cross-section (x-z) of one period: superstrate, patterned film, substrate.

    ``image``: an optional binary image (h, w); its middle row sets where the film holds
    inclusions (pixel 1) along x. Thicknesses are drawn to scale with the period.
    """
    fig, ax = _axes(ax, figsize=(6, 3.2))
    p, d = config.period_nm, config.thickness_nm
    row = (np.asarray(image)[np.asarray(image).shape[0] // 2] if image is not None
           else (np.arange(16) % 8 < 3).astype(int))
    top, film_top = 2.2 * d, 0.0
    ax.add_patch(plt.Rectangle((0, film_top), p, top, color=MATERIAL_COLORS.get(
        config.superstrate, "w")))
    ax.add_patch(plt.Rectangle((0, -d - 1.6 * d), p, 1.6 * d, color=MATERIAL_COLORS.get(
        config.substrate, "0.8")))
    px = p / row.size
    for i, v in enumerate(row):
        mat = config.inclusion if v else config.absorber
        ax.add_patch(plt.Rectangle((i * px, -d), px, d, color=MATERIAL_COLORS.get(mat, "0.5"),
                                   lw=0))
    for x in (0.25 * p, 0.5 * p, 0.75 * p):
        ax.annotate("", (x, 0.15 * d), (x, 1.6 * d),
                    arrowprops=dict(arrowstyle="->", color="C3", lw=1.5))
    ax.text(0.02 * p, 1.9 * d, f"{config.superstrate} (incidence), unpolarized light, normal "
            f"incidence, {config.band_nm[0]:g}-{config.band_nm[1]:g} nm", fontsize=8, va="top")
    ax.text(1.02 * p, -0.5 * d, f"film {config.thickness_nm:g} nm:\n{config.absorber} (pixel 0)"
            f"\n{config.inclusion} (pixel 1)", fontsize=8, va="center")
    ax.text(0.02 * p, -1.9 * d, f"{config.substrate} substrate (half-space)", fontsize=8,
            va="center")
    ax.annotate("", (0, -2.45 * d), (p, -2.45 * d), arrowprops=dict(arrowstyle="<->"))
    ax.text(0.5 * p, -2.55 * d, f"period {p:g} nm (one image)", ha="center", va="top",
            fontsize=8)
    ax.set(xlim=(-0.02 * p, 1.45 * p), ylim=(-2.9 * d, top), xlabel="x (nm)",
           ylabel="z (nm)")
    ax.set_aspect("equal")
    ax.set_yticks([-d, 0])
    return fig


def plot_optical_constants(materials: Sequence[str], wavelengths_nm, band_nm=None,
                           ax: Sequence[Axes] | None = None) -> Figure:
    """Refractive index n (left) and extinction coefficient k (right) against wavelength (nm)."""
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    else:
        fig = ax[0].figure
    wl = np.asarray(wavelengths_nm, float)
    for i, mat in enumerate(materials):
        nk = np.asarray(refractive_index(mat, wl))
        ax[0].plot(wl, nk.real, color=f"C{i}", label=mat)
        ax[1].plot(wl, nk.imag, color=f"C{i}", label=mat)
    for a, label in zip(ax, ("refractive index n", "extinction coefficient k"), strict=True):
        if band_nm is not None:
            a.axvspan(*band_nm, color="0.9", zorder=0, label="band")
        a.set(xlabel="wavelength (nm)", ylabel=label)
    ax[0].legend(fontsize=8)
    return fig


def plot_convergence(study: Mapping[str, np.ndarray], ax: Sequence[Axes] | None = None,
                     title: str = "", reference_m: int | None = None) -> Figure:
    """Band-averaged absorption against m (left) and against solve time per wavelength (right).

    ``study``: the dict of :func:`invdes.physics.optics.convergence_study` (``harmonics``,
    ``absorption_<f>`` (k, w), ``seconds_<f>`` (k,) for each formulation f). The top axis of the
    left panel gives the number of orders N = (2m + 1)^2. ``reference_m`` marks a truncation.
    """
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    else:
        fig = ax[0].figure
    m = np.asarray(study["harmonics"])
    forms = [k.removeprefix("absorption_") for k in study if k.startswith("absorption_")]
    for i, f in enumerate(forms):
        a = np.asarray(study[f"absorption_{f}"]).mean(axis=1)
        ax[0].plot(m, a, "o-", color=f"C{i}", label=f)
        ax[1].semilogx(np.asarray(study[f"seconds_{f}"]), a, "o-", color=f"C{i}", label=f)
    if reference_m is not None:
        ax[0].axvline(reference_m, color="0.5", ls="--", lw=0.8)
    ax[0].set(xlabel="harmonics m (orders -m..m in x and y)", ylabel="band-averaged absorption",
              title=title)
    ax[0].set_xticks(m)
    sec = ax[0].secondary_xaxis("top", functions=(lambda x: (2 * x + 1) ** 2,
                                                  lambda n: (np.sqrt(np.maximum(n, 0)) - 1) / 2))
    sec.set_xticks((2 * m + 1) ** 2)
    sec.set_xlabel("number of orders N = (2m + 1)$^2$", fontsize=8)
    sec.tick_params(labelsize=7)
    ax[1].xaxis.set_minor_formatter(NullFormatter())
    ax[1].set(xlabel="solve time per wavelength (s, one thread)",
              ylabel="band-averaged absorption", title=title)
    ax[0].legend(fontsize=8)
    return fig


def plot_spectra(fine, samples=None, ax: Axes | None = None, title: str = "") -> Figure:
    """A, R, T of one image: curves from ``fine`` (an :class:`invdes.physics.optics.Spectrum` on a
    dense grid), markers and a horizontal line from ``samples`` (the profile's band samples)."""
    fig, ax = _axes(ax, figsize=(5, 3.2))
    wl = fine.wavelengths_nm
    for label, values, c in (("A", fine.absorption, "k"), ("R", fine.reflectance, "C0"),
                             ("T", fine.transmittance, "C1")):
        ax.plot(wl, values, color=c, label=label)
    if samples is not None:
        ax.plot(samples.wavelengths_nm, samples.absorption, "o", color="k", ms=4,
                label="band samples")
        ax.axhline(samples.band_average, color="k", lw=0.8, ls="--")
    ax.set(xlabel="wavelength (nm)", ylabel="fraction of incident power", ylim=(0, 1),
           title=title)
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_absorption_vs_vf(vf: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray],
                          ax: Axes | None = None) -> Figure:
    """Scatter of absorption against volume fraction per group, each with its fitted line and
    r, R^2 in the legend. ``vf`` and ``y`` map a group label to arrays of shape (n,)."""
    fig, ax = _axes(ax, figsize=(5.5, 4))
    for i, key in enumerate(vf):
        x, v = np.asarray(vf[key]), np.asarray(y[key])
        r, r2 = linear_fit_stats(x, v)
        ax.scatter(x, v, s=8, alpha=0.6, color=f"C{i}",
                   label=f"{key}: r = {r:.2f}, R$^2$ = {r2:.2f}")
        slope, intercept = np.polyfit(x, v, 1)
        xs = np.linspace(x.min(), x.max(), 2)
        ax.plot(xs, intercept + slope * xs, color=f"C{i}")
    ax.set(xlabel="volume fraction of inclusions (pixel 1)", ylabel="band-averaged absorption")
    ax.legend(fontsize=8)
    return fig


def plot_absorption_histogram(y: Mapping[str, np.ndarray], targets: Sequence[float] = (),
                              ax: Axes | None = None, bins: int = 30) -> Figure:
    """Histograms of absorption per group with vertical lines at ``targets``."""
    fig, ax = _axes(ax, figsize=(5.5, 3.4))
    all_y = np.concatenate([np.asarray(v) for v in y.values()] + [np.asarray(targets, float)])
    edges = np.linspace(all_y.min() - 0.01, all_y.max() + 0.01, bins + 1)
    for i, (key, v) in enumerate(y.items()):
        ax.hist(v, bins=edges, alpha=0.55, color=f"C{i}", label=key)
    for j, t in enumerate(targets):
        ax.axvline(t, color="C3", ls="--", lw=1, label="targets" if j == 0 else None)
    ax.set(xlabel="band-averaged absorption", ylabel="count")
    ax.legend(fontsize=8)
    return fig
