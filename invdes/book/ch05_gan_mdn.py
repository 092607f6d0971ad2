"""Tables and figures of chapter 5 (GAN-MDN): the network, its training, its mixtures, its latents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from invdes.book.plots import figure_grid
from invdes.book.tables import MISSING, frame


def keras_layer_table(model, caption: str = "") -> pd.DataFrame:
    """Layers of a Keras model (a DataFrame, one row per layer): name, type, output shape,
    parameters; a total row last."""
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
        rows.append([layer.name, type(layer).__name__, shape_s, n])
    rows.append(["total", "", "", total])
    return frame(rows, ["layer", "type", "output shape", "parameters"], caption=caption)


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


def plot_training_history(mdns: Mapping[str, Any]):
    """Training and validation NLL per epoch of fitted MDNs ``{name: MDN}``, the kept epoch
    (dashed) and the prior's d ln 2 (dotted, the NLL of independent uniform latents on
    [-1, 1]). Returns a Figure."""
    fig, axes = figure_grid(1, len(mdns), (5.5 * len(mdns), 3.4))
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
    fig, axes = figure_grid(len(names), len(targets), (2.7 * len(targets), 2.4 * len(names)),
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


def mixture_table(summaries: Sequence[Mapping[str, Any]], caption: str = "") -> pd.DataFrame:
    """:func:`mixture_summaries` as a DataFrame indexed by data set and target (components
    numbered from 1; the weight of the top 3 in percent)."""
    rows = [[s["dataset"], s["target"], s["effective"], 100 * s["top3_weight"],
             ", ".join(str(i + 1) for i in s["top3"]), s["mean_sigma"]] for s in summaries]
    return frame(rows, ["data set", "target", "effective components", "weight of top 3 (%)",
                        "top 3", "mean sigma"], index=["data set", "target"], caption=caption,
                 formats={"effective components": ".1f", "weight of top 3 (%)": ".0f",
                          "mean sigma": ".3f"}, index_formats={"target": ".2f"})


def plot_latent_marginals(z, targets: Sequence[float], box: float = 1.0):
    """Histograms per latent coordinate of sampled latents ``z`` (m targets, n, d), one line
    per target; the box [-box, box] shaded. Returns a Figure."""
    zz = np.asarray(z, dtype=np.float64)
    if zz.ndim != 3 or zz.shape[0] != len(targets):
        raise ValueError(f"z must have shape (len(targets), n, d); got {zz.shape}")
    d = zz.shape[2]
    edge = max(1.5 * box, float(np.abs(zz).max()))
    bins = np.linspace(-edge, edge, 61)
    fig, axes = figure_grid(1, d, (2.9 * d, 2.9), sharey=True)
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
    fig, axes = figure_grid(1, len(names), (5.5 * len(names), 3.8), sharey=True)
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


__all__ = [
    "clip_stats", "keras_layer_table", "mixture_summaries", "mixture_table",
    "plot_candidate_absorption", "plot_latent_marginals", "plot_mixture_weights",
    "plot_training_history"
]
