"""Diagnostics the evaluate step writes beside Table 1: the PCA round trip of chapter 6.

A PCA-MDN sample is at best what d principal components (and Otsu binarization) make of a
real structure. :func:`pca_round_trip` simulates that best case: training images projected,
reconstructed, binarized and simulated again, against their recorded absorption. If the round
trip alone moves y by several percent, the PCA-MDN's REP cannot be much lower, whatever its
MDN learns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from invdes import artifacts
from invdes.config import Profile
from invdes.study.common import simulator_for, upstream_configs

log = logging.getLogger("invdes.study.pipeline")

#: training images per data set whose PCA round trip is simulated, by profile (others: 24)
ROUND_TRIP_IMAGES = {"paper": 200}


def round_trip_images(profile: Profile) -> int:
    return ROUND_TRIP_IMAGES.get(profile.name, 24)


def round_trip_path(profile_name: str, dataset: str) -> Path:
    return artifacts.artifact_dir(profile_name, "evaluate") / f"pca_round_trip_{dataset}.npz"


def _configs(profile: Profile) -> dict:
    return {k: v for k, v in upstream_configs(profile, "evaluate").items() if k != "bo"}


def pca_round_trip(profile: Profile, dataset: str, load_pca_mdn: Callable[[], Any],
                   images: np.ndarray, y: np.ndarray, *, n: int | None = None,
                   n_jobs: int | None = None, force: bool = False) -> dict:
    """The round trip of ``n`` images of ``dataset`` (default :func:`round_trip_images`; the
    first n, the data set's order being random) through the fitted PCA-MDN that
    ``load_pca_mdn()`` returns (:meth:`~invdes.inverse.baselines.PCAMDN.round_trip`; called
    only when there is something to compute), simulated with the data set's stack; cached in
    ``evaluate/pca_round_trip_<dataset>.npz`` with the config hash it was made with, and reused
    while that matches.

    Returns a dict: ``y`` (n,) recorded absorption, ``y_round_trip`` (n,) simulated,
    ``rep_pct`` (n,) their relative difference in percent, ``pixel_change`` (n,) fraction of
    pixels flipped by the round trip, ``explained_variance`` (fraction), ``n_components``,
    ``simulation_s``.
    """
    n = min(round_trip_images(profile) if n is None else int(n), len(images))
    if not force:
        cached = load_pca_round_trip(profile, dataset)
        if cached is not None and len(cached["y"]) == n:
            return cached
    pca_mdn = load_pca_mdn()
    x = np.asarray(images[:n], np.uint8)
    y0 = np.asarray(y[:n], np.float64)
    rt = pca_mdn.round_trip(x)
    t0 = time.perf_counter()
    y1 = np.asarray(simulator_for(profile, dataset, n_jobs=n_jobs)(rt), np.float64)
    seconds = time.perf_counter() - t0
    out = {"y": y0, "y_round_trip": y1, "rep_pct": 100.0 * np.abs(y1 - y0) / y0,
           "pixel_change": np.mean(rt != x, axis=(1, 2)),
           "explained_variance": float(pca_mdn.explained_variance_ratio_),
           "n_components": int(pca_mdn.n_pca_components), "simulation_s": float(seconds)}
    path = round_trip_path(profile.name, dataset)
    with artifacts.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, config_hash=np.asarray(artifacts.expected_hash(
            _configs(profile))), **out)
    log.info("evaluate: PCA round trip of %d %s images, median REP %.2f %% (%.0f s)", n,
             dataset, float(np.median(out["rep_pct"])), seconds)
    return out


def load_pca_round_trip(profile: Profile, dataset: str) -> dict | None:
    """The cached round trip of ``dataset`` when it was made with the current configs."""
    path = round_trip_path(profile.name, dataset)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as f:
        if str(f["config_hash"]) != artifacts.expected_hash(_configs(profile)):
            return None
        return {k: (f[k].item() if f[k].ndim == 0 else f[k]) for k in f.files
                if k != "config_hash"}
