"""Tables and figures of chapter 3 (the GAN): training curves, samples, evaluation, ablation
(tables as DataFrames, see :mod:`invdes.book.tables`).

matplotlib is imported lazily; the numbers come from :mod:`invdes.gan.evaluate` and
:mod:`invdes.gan.ablation`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from invdes.book.tables import frame
from invdes.gan.evaluate import pairwise_hamming
from invdes.gan.numpy_generator import UPSCALE, sample_latents

__all__ = ["ABLATION_METRICS", "ablation_effects", "ablation_table", "plot_ablation",
           "plot_evaluation", "plot_history", "plot_nearest", "plot_samples", "summary_rows",
           "summary_table"]


def summary_rows(evaluations: dict) -> list[dict]:
    """Rows (one per latent side) of the headline numbers of
    :func:`invdes.gan.evaluate.evaluate_generator`."""
    rows = []
    for key, ev in evaluations.items():
        s = ev["summary"]
        rows.append({
            "latent": key, "image": f"{s['side']}x{s['side']}",
            "vf mean gen/train": f"{s['vf_mean_generated']:.3f} / {s['vf_mean_training']:.3f}",
            "vf std gen/train": f"{s['vf_std_generated']:.3f} / {s['vf_std_training']:.3f}",
            "S2 RMSE": s["s2_rmse"],
            "chord (1) gen/train px": f"{s['chord1_mean_generated']:.2f} / "
                                      f"{s['chord1_mean_training']:.2f}",
            "diversity ratio": s["diversity_ratio"], "novelty ratio": s["novelty_ratio"],
            **{f"{k} ok": v for k, v in s["checks"].items()},
        })
    return rows


def summary_table(evaluations: dict, caption: str = "") -> pd.DataFrame:
    """:func:`summary_rows` as a DataFrame indexed by latent side (checks as booleans)."""
    return frame(summary_rows(evaluations), index=["latent"], caption=caption,
                 formats={"S2 RMSE": ".4f", "diversity ratio": ".3f", "novelty ratio": ".3f"})


def plot_history(history: dict, window: int = 25):
    """Training curves: discriminator and adversarial generator losses, collapse and style
    losses, D(real) and D(fake); running means over ``window`` iterations."""
    import matplotlib.pyplot as plt

    def smooth(y):
        y = np.asarray(y, dtype=float)
        w = max(1, min(window, len(y)))
        return np.convolve(y, np.ones(w) / w, mode="valid")

    it = np.asarray(history["iteration"])
    x = it[len(it) - len(smooth(it)):]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].plot(x, smooth(history["d_loss"]), label="discriminator")
    axes[0].plot(x, smooth(history["g_adv"]), label="generator (adversarial)")
    axes[0].set_ylabel("loss")
    axes[1].plot(x, smooth(history["collapse"]), label="collapse (pulling-away)")
    axes[1].plot(x, smooth(history["style"]), label="style (Gram)")
    axes[2].plot(x, smooth(history["d_real"]), label="D(real)")
    axes[2].plot(x, smooth(history["d_fake"]), label="D(fake)")
    axes[2].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_samples(generator, train_images: np.ndarray, n: int = 4, seed: int = 0):
    """Rows: training images cropped to 64x64, generated 64x64 (2x2 latent), training cropped
    to 96x96, generated 96x96 (3x3 latent)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, n, figsize=(2.2 * n, 9.2))
    for row, s in enumerate((2, 3)):
        side = UPSCALE * s
        gen = generator.generate(sample_latents(n, s, seed + s))
        for j in range(n):
            for k, (img, label) in enumerate(((train_images[j, :side, :side], "training"),
                                               (gen[j], "generated"))):
                ax = axes[2 * row + k, j]
                ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"{label}\n{side}x{side}")
    fig.tight_layout()
    return fig


def plot_evaluation(evaluations: dict):
    """One row per latent side: volume-fraction histograms, S2(r), chord-length distributions
    of phase 1 and phase 0 (generated vs training)."""
    import matplotlib.pyplot as plt

    keys = list(evaluations)
    fig, axes = plt.subplots(len(keys), 4, figsize=(15, 3.2 * len(keys)), squeeze=False)
    for row, key in enumerate(keys):
        ev = evaluations[key]
        s = ev["summary"]
        ax = axes[row, 0]
        ax.hist(ev["vf_training"], bins=ev["vf_bins"], density=True, alpha=0.5, label="training")
        ax.hist(ev["vf_generated"], bins=ev["vf_bins"], density=True, alpha=0.5,
                label="generated")
        ax.set_xlabel("volume fraction")
        ax.set_ylabel(f"{key} ({s['side']}x{s['side']})")
        ax.legend(fontsize=8)
        ax = axes[row, 1]
        ax.plot(ev["s2_radius"], ev["s2_training"], "k-", label="training")
        ax.plot(ev["s2_radius"], ev["s2_generated"], "r--", label="generated")
        ax.set_xlabel("r (px)")
        ax.set_title(f"S2(r), RMSE {s['s2_rmse']:.4f}", fontsize=9)
        ax.legend(fontsize=8)
        centers = 0.5 * (np.asarray(ev["chord_bins"][:-1]) + np.asarray(ev["chord_bins"][1:]))
        for col, phase in ((2, 1), (3, 0)):
            ax = axes[row, col]
            ax.plot(centers, ev[f"chord{phase}_hist_training"], "k-", label="training")
            ax.plot(centers, ev[f"chord{phase}_hist_generated"], "r--", label="generated")
            ax.set_xlabel(f"chord length of phase {phase} (px)")
            ax.set_title(f"mean {s[f'chord{phase}_mean_generated']:.2f} vs "
                         f"{s[f'chord{phase}_mean_training']:.2f} px", fontsize=9)
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_nearest(generator, train_images: np.ndarray, latent_side: int = 3, n: int = 4,
                 seed: int = 0):
    """Generated images (top) above their nearest training crops (bottom), with distances."""
    import matplotlib.pyplot as plt

    side = UPSCALE * latent_side
    gen = generator.generate(sample_latents(n, latent_side, seed))
    ref = np.ascontiguousarray(train_images[:, :side, :side])
    d = pairwise_hamming(gen, ref)
    idx = d.argmin(axis=1)
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6))
    for j in range(n):
        for k, (img, title) in enumerate(((gen[j], "generated"),
                                          (ref[idx[j]], f"nearest, d={d[j, idx[j]]:.2f}"))):
            ax = axes[k, j]
            ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def ablation_table(results: dict, key: str = "3x3", caption: str = "") -> pd.DataFrame:
    """The headline numbers at latent side ``key``, one row per ablation variant (the index):
    iterations, volume-fraction mean and std (generated, training), S2 RMSE, chord-length
    Wasserstein distance of phase 1 (px), diversity and novelty ratios; grouped columns."""
    records = []
    for variant, res in results.items():
        ev = res["evaluation"]
        if not ev or key not in ev:
            continue
        s = ev[key]["summary"]
        prov = res.get("provenance") or {}
        records.append([variant, prov.get("iterations"),
                        s["vf_mean_generated"], s["vf_mean_training"],
                        s["vf_std_generated"], s["vf_std_training"], s["s2_rmse"],
                        s["chord1_wasserstein"], s["diversity_ratio"], s["novelty_ratio"]])
    columns = pd.MultiIndex.from_tuples([
        ("", "variant"), ("", "iterations"), ("vf mean", "generated"), ("vf mean", "training"),
        ("vf std", "generated"), ("vf std", "training"), ("", "S2 RMSE"),
        ("", "chord1 W1 (px)"), ("ratio", "diversity"), ("ratio", "novelty")])
    df = frame(records, columns, caption=caption, formats={
        "iterations": "d", "vf mean": ".3f", "vf std": ".3f", "S2 RMSE": ".4f",
        "chord1 W1 (px)": ".2f", "ratio": ".2f"})
    df = df.set_index(("", "variant"))
    df.index.name = "variant"
    df[("", "iterations")] = df[("", "iterations")].astype("Int64")
    return df


#: Headline numbers of the ablation comparison: (label, function of an evaluation summary).
ABLATION_METRICS: dict[str, Callable[[dict], float]] = {
    "vf mean error (abs)": lambda s: abs(s["vf_mean_generated"] - s["vf_mean_training"]),
    "vf std error (abs)": lambda s: abs(s["vf_std_generated"] - s["vf_std_training"]),
    "S2 RMSE": lambda s: s["s2_rmse"],
    "chord1 W1 (px)": lambda s: s["chord1_wasserstein"],
    "diversity ratio": lambda s: s["diversity_ratio"],
    "novelty ratio": lambda s: s["novelty_ratio"],
}


def ablation_effects(results: dict, key: str = "3x3", reference: str = "full",
                     yardstick: str = "full-other-seed", caption: str = "") -> pd.DataFrame:
    """One row per metric of :data:`ABLATION_METRICS` (the index): the ``reference`` variant's
    value, the seed spread |reference - yardstick|, and each other variant's change from the
    reference as text, starred where it exceeds the seed spread (a single pair of seeds: a
    rough yardstick, not a test). Empty when the reference or the yardstick is missing."""
    summaries = {v: r["evaluation"][key]["summary"] for v, r in results.items()
                 if r.get("evaluation") and key in r["evaluation"]}
    if reference not in summaries or yardstick not in summaries:
        return frame([], ["metric"], index=["metric"], caption=caption)
    rows = []
    for label, metric in ABLATION_METRICS.items():
        ref = metric(summaries[reference])
        spread = abs(metric(summaries[yardstick]) - ref)
        row = {"metric": label, reference: f"{ref:.4f}", "seed spread": f"{spread:.4f}"}
        for variant, summary in summaries.items():
            if variant in (reference, yardstick):
                continue
            change = metric(summary) - ref
            row[variant] = f"{change:+.4f}" + (" *" if abs(change) > spread else "")
        rows.append(row)
    return frame(rows, index=["metric"], caption=caption)


def plot_ablation(results: dict, key: str = "3x3"):
    """S2(r) of every ablation variant against the training images, and their final
    collapse-loss values along training."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    ref_done = False
    for variant, res in results.items():
        ev = res["evaluation"]
        if not ev or key not in ev:
            continue
        e = ev[key]
        if not ref_done:
            axes[0].plot(e["s2_radius"], e["s2_training"], "k-", lw=2, label="training")
            ref_done = True
        axes[0].plot(e["s2_radius"], e["s2_generated"], "--", label=variant)
        h = res["history"]
        if np.any(np.asarray(h["collapse"]) > 0):  # not computed when both weights are 0
            axes[1].plot(h["iteration"], h["collapse"], label=variant, alpha=0.8)
    axes[0].set_xlabel("r (px)")
    axes[0].set_ylabel(f"S2(r) at {key}")
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("collapse loss (on each variant's features)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
