"""Statistics of generated images against the training images (chapter 3's evaluation).

:func:`evaluate_generator` compares volume fractions, the two-point correlation, chord lengths,
diversity and novelty, and checks them against :data:`GOALS`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from invdes import microstructure
from invdes.gan.numpy_generator import EVALUATION_FILE, UPSCALE, sample_latents

#: Goals of issue 3 at paper scale (checked in :func:`evaluate_generator`).
GOALS = {"vf_mean_abs_diff": 0.02, "vf_std_abs_diff": 0.01, "s2_rmse": 0.005,
         "diversity_ratio": 0.9}

__all__ = ["GOALS", "diversity", "evaluate_generator", "load_evaluation", "nearest_distance",
           "pairwise_hamming"]

VF_BINS = np.linspace(0.0, 0.7, 36)
CHORD_BINS = np.arange(0.5, 41.5, 1.0)


def pairwise_hamming(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Fraction of differing pixels between rows of binary matrices a (n, P) and b (m, P)."""
    a = a.reshape(len(a), -1).astype(np.float32)
    b = a if b is None else b.reshape(len(b), -1).astype(np.float32)
    sa, sb = a.sum(1), b.sum(1)
    return (sa[:, None] + sb[None, :] - 2.0 * (a @ b.T)) / a.shape[1]


def diversity(images: np.ndarray) -> float:
    """Mean pairwise pixel distance (fraction of differing pixels) among binary images."""
    n = len(images)
    if n < 2:
        raise ValueError("diversity needs at least two images")
    d = pairwise_hamming(images)
    return float((d.sum() - np.trace(d)) / (n * (n - 1)))


def nearest_distance(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Pixel distance from each query image to its nearest reference image, shape (n,)."""
    out = np.empty(len(queries))
    for a in range(0, len(queries), 256):
        out[a:a + 256] = pairwise_hamming(queries[a:a + 256], references).min(axis=1)
    return out


def _chord_stats(images: np.ndarray, phase: int) -> dict:
    chords = microstructure.chord_lengths(images, phase)
    hist, _ = np.histogram(chords, bins=CHORD_BINS, density=True)
    return {"mean": float(chords.mean()) if chords.size else 0.0, "hist": hist.tolist(),
            "chords": chords}


def evaluate_generator(generator, train_images: np.ndarray, latent_side: int, n: int = 200,
                       seed: int = 0, *, n_reference: int = 1000,
                       max_radius: int | None = None) -> dict:
    """Statistics of ``n`` generated images at latent side ``latent_side`` against the training
    images (cropped to the same side, top-left corner; at most ``n_reference`` of them).

    ``generator``: anything with ``.generate(z) -> (n, 32 s, 32 s)`` binary images. Returns a
    JSON-ready dict: ``summary`` (numbers and pass/fail ``checks`` against :data:`GOALS`) and
    the curves for the plots (volume fractions, S2(r), chord-length histograms).

    - volume fraction: mean and std of generated vs training images;
    - two-point correlation S2(r) (radially averaged): mean curves, RMS and max error;
    - chord lengths of both phases: mean and 1-Wasserstein distance between distributions;
    - diversity: mean pairwise pixel distance among generated images / the same among
      training images (a collapsed generator gives ~0);
    - novelty: distance of each generated image to its nearest training image, against the
      same distance for held-out training images (a memorizing generator gives ~0).
    """
    from scipy.stats import wasserstein_distance

    side = UPSCALE * latent_side
    train_images = np.asarray(train_images)
    if train_images.shape[1] < side or train_images.shape[2] < side:
        raise ValueError(f"training images {train_images.shape[1:]} are smaller than the "
                         f"generated side {side}")
    if n < 2:
        raise ValueError(f"n must be >= 2; got {n}")
    ref = np.ascontiguousarray(train_images[:n_reference, :side, :side])
    z = sample_latents(n, latent_side, seed)
    gen = np.asarray(generator.generate(z))
    if gen.shape != (n, side, side):
        raise ValueError(f"generator returned shape {gen.shape}; expected {(n, side, side)}")
    vf_gen, vf_ref = microstructure.volume_fraction(gen), microstructure.volume_fraction(ref)
    max_radius = max_radius if max_radius is not None else side // 4
    s2_gen = microstructure.two_point_correlation(gen, max_radius).mean(0)
    s2_ref = microstructure.two_point_correlation(ref, max_radius).mean(0)
    chord = {}
    for phase in (1, 0):
        cg, cr = _chord_stats(gen, phase), _chord_stats(ref, phase)
        w1 = (wasserstein_distance(cg["chords"], cr["chords"])
              if cg["chords"].size and cr["chords"].size else float("nan"))
        chord[phase] = (cg, cr, float(w1))
    div_gen = diversity(gen)
    div_ref = diversity(ref[:n]) if len(ref) >= 2 else float("nan")
    n_hold = max(1, min(len(ref) // 5, n))
    nn_gen = nearest_distance(gen, ref)
    nn_hold = nearest_distance(ref[:n_hold], ref[n_hold:]) if len(ref) > n_hold else \
        np.array([np.nan])
    s2_err = s2_gen - s2_ref
    summary = {
        "latent_side": latent_side, "side": side, "n_generated": n, "n_reference": len(ref),
        "vf_mean_generated": float(vf_gen.mean()), "vf_mean_training": float(vf_ref.mean()),
        "vf_std_generated": float(vf_gen.std()), "vf_std_training": float(vf_ref.std()),
        "s2_rmse": float(np.sqrt(np.mean(s2_err**2))), "s2_max_abs_error": float(
            np.abs(s2_err).max()),
        "chord1_mean_generated": chord[1][0]["mean"], "chord1_mean_training": chord[1][1]["mean"],
        "chord0_mean_generated": chord[0][0]["mean"], "chord0_mean_training": chord[0][1]["mean"],
        "chord1_wasserstein": chord[1][2], "chord0_wasserstein": chord[0][2],
        "diversity_generated": div_gen, "diversity_training": div_ref,
        "diversity_ratio": div_gen / div_ref if div_ref > 0 else float("nan"),
        "novelty_mean_nn_generated": float(nn_gen.mean()),
        "novelty_min_nn_generated": float(nn_gen.min()),
        "novelty_mean_nn_heldout": float(np.nanmean(nn_hold)),
        "novelty_ratio": float(nn_gen.mean() / np.nanmean(nn_hold)),
    }
    summary["checks"] = {
        "vf_mean": abs(summary["vf_mean_generated"] - summary["vf_mean_training"])
        <= GOALS["vf_mean_abs_diff"],
        "vf_std": abs(summary["vf_std_generated"] - summary["vf_std_training"])
        <= GOALS["vf_std_abs_diff"],
        "s2": summary["s2_rmse"] <= GOALS["s2_rmse"],
        "diversity": bool(summary["diversity_ratio"] >= GOALS["diversity_ratio"]),
    }
    return {
        "summary": summary,
        "vf_generated": vf_gen.tolist(), "vf_training": vf_ref.tolist(),
        "vf_bins": VF_BINS.tolist(),
        "s2_radius": list(range(max_radius + 1)), "s2_generated": s2_gen.tolist(),
        "s2_training": s2_ref.tolist(),
        "chord_bins": CHORD_BINS.tolist(),
        "chord1_hist_generated": chord[1][0]["hist"], "chord1_hist_training": chord[1][1]["hist"],
        "chord0_hist_generated": chord[0][0]["hist"], "chord0_hist_training": chord[0][1]["hist"],
        "novelty_nn_generated": nn_gen.tolist(), "novelty_nn_heldout": nn_hold.tolist(),
    }


def load_evaluation(directory: str | os.PathLike) -> dict | None:
    """``evaluation.json`` of a GAN artifact directory, or None."""
    path = Path(directory) / EVALUATION_FILE
    return json.loads(path.read_text()) if path.exists() else None
