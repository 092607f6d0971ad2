"""Inverse models beside the proposed GAN-MDN, and the null baselines (paper, Sec. 3.2).

- :class:`GANMDN`     the proposed method: MDN p(z | y) on GAN latents, images by the generator.
- :class:`PCAMDN`     PCA of the flattened images to d components, the same MDN on the scores,
                      inverse transform, Otsu binarization.
- :class:`DirectMDN`  the same MDN straight from y to the pixels, binarized at 0.5.
- :func:`run_bo`      Bayesian optimization of the latent (scikit-optimize, GP + GP-Hedge),
                      resumable per target; :func:`latent_objective` builds its objective.
- :func:`random_latent_candidates`, :func:`lookup_candidates`: null baselines.

TensorFlow is imported only when an MDN-based model is fitted or loaded, so the Bayesian
optimization and the null baselines stay light.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from invdes.artifacts import ArtifactError, atomic_path, write_json
from invdes.checks import check_count as _check_count
from invdes.checks import check_positive_target as _check_target
from invdes.config import BOConfig, MDNConfig

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def check_binary_images(images, name: str = "images") -> np.ndarray:
    """Binary images of shape (n, h, w) with values in {0, 1}, returned as uint8."""
    arr = np.asarray(images)
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise ValueError(f"{name} must have shape (n, h, w); got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be binary (values 0 and 1 only)")
    return arr.astype(np.uint8)


def check_vector(y, name: str = "y") -> np.ndarray:
    """A property vector as float64 (n,) from (n,) or (n, 1); ValueError on other shapes, an
    empty array or non-finite values (no TensorFlow needed)."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; got {type(y).__name__}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, 1) with n >= 1; got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def _check_y(y, n: int) -> np.ndarray:
    arr = check_vector(y, "y")
    if arr.size != n:
        raise ValueError(f"y has {arr.size} values but there are {n} samples; they must match")
    return arr


def _make_mdn(mdn: MDNConfig | Mapping[str, Any] | None, **overrides):
    """An :class:`invdes.inverse.mdn.MDN` from a config, a dict of parameters, or the paper
    defaults."""
    from invdes.inverse.mdn import MDN  # lazy: TensorFlow

    if mdn is None:
        params: dict[str, Any] = {}
    elif isinstance(mdn, MDNConfig):
        params = MDN.params_from_config(mdn)
    elif isinstance(mdn, Mapping):
        params = dict(mdn)
    else:
        raise ValueError(f"mdn must be an MDNConfig, a dict of MDN parameters or None; got {mdn!r}")
    params.update({k: v for k, v in overrides.items() if v is not None})
    return MDN(**params)


def _mdn_params(mdn) -> dict | None:
    if mdn is None or isinstance(mdn, Mapping):
        return None if mdn is None else dict(mdn)
    return dataclasses.asdict(mdn)


def _read_file(path: Path, what: str, read: Callable[[Path], Any], *, hint: str = "") -> Any:
    """``read(path)``, with a clear error naming ``what`` and ``path`` when the file is missing
    (FileNotFoundError) or cannot be read (ArtifactError: a damaged zip, a missing key, bad
    JSON, ...); ``hint`` is appended to the corrupt-file message."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} is missing")
    try:
        return read(path)
    except Exception as exc:  # zip / pickle / key / json errors of a damaged file
        raise ArtifactError(f"{what} file {path} is corrupt: {exc}{hint}") from exc


def _check_fitted(model, attr: str = "mdn_") -> None:
    if not hasattr(model, attr):
        raise RuntimeError(f"this {type(model).__name__} is not fitted yet: call fit first")


def binarize_otsu(images: np.ndarray) -> np.ndarray:
    """Binarize each image (n, h, w) at its own Otsu threshold (``pixel > t`` -> 1), uint8.

    An image with a single grey level has no Otsu threshold; it is thresholded at 0.5."""
    from skimage.filters import threshold_otsu

    images = np.asarray(images, dtype=np.float64)
    out = np.empty(images.shape, dtype=np.uint8)
    for i, img in enumerate(images):
        t = threshold_otsu(img) if img.max() > img.min() else 0.5
        out[i] = img > t
    return out


def _finish_samples(flat: np.ndarray, scalar: bool, shape: tuple[int, int]) -> np.ndarray:
    """(m, n, p) -> (n, h, w) for a scalar target or (m, n, h, w)."""
    m, n, _ = flat.shape
    out = flat.reshape(m, n, *shape)
    return out[0] if scalar else out


# --------------------------------------------------------------------------------------------
# The proposed method
# --------------------------------------------------------------------------------------------


class GANMDN:
    """The proposed inverse model: an MDN for p(z | y) and a generator z -> image.

    Args:
        generator: an object with ``generate(z) -> (n, h, w)`` binary images for z of shape
            (n, d) in [-1, 1] (see ``invdes.gan.generator.Generator``).
        mdn: an :class:`~invdes.config.MDNConfig`, a dict of
            :class:`~invdes.inverse.mdn.MDN` parameters, or None (the paper's MDN).
        clip: clip sampled latents to [-1, 1] before generating. The data-set latents are
            uniform on [-1, 1], so the generator never saw latents outside that box; a Gaussian
            component near the edge puts some of its draws outside, where the generator
            extrapolates. Clipping keeps every candidate inside the box the MDN was trained on
            (the clipped point is the nearest point of the box). How often it happens is
            recorded after each :meth:`sample` in ``clip_fraction_`` (share of latent vectors
            with at least one coordinate outside) and ``clip_coordinate_fraction_``.
        seed, verbose: override the MDN's seed and verbosity when not None.

    Learned state: ``mdn_`` (the fitted MDN). After :meth:`sample`: ``last_sample_s_`` (wall
    time of sampling plus generation, s), ``clip_fraction_``, ``clip_coordinate_fraction_``.
    """

    def __init__(self, generator, mdn=None, *, clip: bool = True, seed: int | None = None,
                 verbose: int | None = None):
        self.generator = generator
        self.mdn = mdn
        self.clip = clip
        self.seed = seed
        self.verbose = verbose

    def fit(self, z, y) -> GANMDN:
        """Fit the MDN on latents z (n, d) and their properties y (n,)."""
        if not callable(getattr(self.generator, "generate", None)):
            raise ValueError("generator must have a generate(z) method")
        self.mdn_ = _make_mdn(self.mdn, seed=self.seed, verbose=self.verbose).fit(y, z)
        return self

    @classmethod
    def from_mdn(cls, generator, mdn, *, clip: bool = True) -> GANMDN:
        """Wrap an already fitted (or loaded) :class:`~invdes.inverse.mdn.MDN`."""
        _check_fitted(mdn, "model_")
        obj = cls(generator, mdn.get_params(), clip=clip)
        obj.mdn_ = mdn
        return obj

    def sample_latents(self, y_target, n: int, seed=None) -> np.ndarray:
        """Latents from the MDN (clipped if ``clip``): (n, d) or (m, n, d) for m targets."""
        _check_fitted(self)
        z = self.mdn_.sample(y_target, n, seed)
        outside = np.abs(z) > 1.0
        self.clip_coordinate_fraction_ = float(outside.mean())
        self.clip_fraction_ = float(outside.any(axis=-1).mean())
        return np.clip(z, -1.0, 1.0) if self.clip else z

    def sample(self, y_target, n: int, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """Candidates for ``y_target`` (a float or m targets).

        Returns:
            (z, images): z (n, d) float64 and images (n, h, w) uint8 for a scalar target;
            (m, n, d) and (m, n, h, w) for m targets.
        """
        t0 = time.perf_counter()
        z = self.sample_latents(y_target, n, seed)
        flat = z.reshape(-1, z.shape[-1])
        images = np.asarray(self.generator.generate(flat.astype(np.float32)))
        if images.ndim != 3 or images.shape[0] != flat.shape[0]:
            raise ValueError(
                f"generator returned shape {images.shape}; expected ({flat.shape[0]}, h, w)"
            )
        images = images.reshape(*z.shape[:-1], *images.shape[1:]).astype(np.uint8)
        self.last_sample_s_ = time.perf_counter() - t0
        return z, images

    def save(self, path) -> Path:
        """Save the MDN (the generator is saved by its owner) into directory ``path``."""
        _check_fitted(self)
        return self.mdn_.save(path)

    @classmethod
    def load(cls, path, generator, *, clip: bool = True) -> GANMDN:
        from invdes.inverse.mdn import MDN

        return cls.from_mdn(generator, MDN.load(path), clip=clip)


# --------------------------------------------------------------------------------------------
# PCA-MDN
# --------------------------------------------------------------------------------------------


class PCAMDN:
    """PCA-MDN baseline: PCA replaces the GAN as the low-dimensional representation.

    The flattened images are projected onto ``n_pca_components`` principal components (as many
    as the GAN latent has, d); the MDN learns p(scores | y); sampled scores are mapped back with
    the PCA inverse transform and binarized.

    Binarization: each reconstructed image is thresholded at its own Otsu threshold (default,
    ``binarize="otsu"``), not at 0.5. With d = 4 or 9 components a reconstruction keeps only the
    mean image plus a few smooth modes, so its grey levels sit in a narrow band around the mean
    volume fraction (about 0.31) and a fixed threshold of 0.5 would return nearly empty images.
    Otsu's threshold adapts to each image's histogram and is also the rule that turned the
    GAN's tanh output into the data-set images, so both methods are binarized alike.
    ``binarize="0.5"`` is available for comparison.

    Args:
        n_pca_components: number of principal components d (>= 1).
        mdn: MDNConfig, dict of MDN parameters, or None (paper's MDN).
        binarize: "otsu" or "0.5".
        whiten: scale the PCA scores to unit variance before the MDN (the MDN's initial
            scales are about 1, and unwhitened scores of 96x96 images are tens of units).
        seed, verbose: override the MDN's seed (also the PCA's random state) and verbosity.

    Learned state: ``pca_`` (sklearn PCA), ``mdn_``, ``image_shape_`` (h, w),
    ``explained_variance_ratio_`` (sum over the kept components); ``last_sample_s_``.
    """

    def __init__(self, n_pca_components: int, mdn=None, *, binarize: str = "otsu",
                 whiten: bool = True, seed: int | None = None, verbose: int | None = None):
        self.n_pca_components = n_pca_components
        self.mdn = mdn
        self.binarize = binarize
        self.whiten = whiten
        self.seed = seed
        self.verbose = verbose

    def _resolved_seed(self) -> int:
        if self.seed is not None:
            return int(self.seed)
        params = _mdn_params(self.mdn) or {}
        return int(params.get("seed", 0))

    def fit(self, images, y) -> PCAMDN:
        """Fit PCA on ``images`` (n, h, w) binary and the MDN on (y, scores)."""
        from sklearn.decomposition import PCA

        if self.binarize not in ("otsu", "0.5"):
            raise ValueError(f"binarize must be 'otsu' or '0.5'; got {self.binarize!r}")
        d = _check_count(self.n_pca_components, "n_pca_components")
        x = check_binary_images(images)
        n, h, w = x.shape
        if d > min(n, h * w):
            raise ValueError(
                f"n_pca_components = {d} exceeds min(n_samples, n_pixels) = {min(n, h * w)}"
            )
        yy = _check_y(y, n)
        seed = self._resolved_seed()
        self.pca_ = PCA(n_components=d, whiten=bool(self.whiten), random_state=seed)
        scores = self.pca_.fit_transform(x.reshape(n, -1).astype(np.float64))
        self.explained_variance_ratio_ = float(np.sum(self.pca_.explained_variance_ratio_))
        self.image_shape_ = (h, w)
        self.mdn_ = _make_mdn(self.mdn, seed=seed, verbose=self.verbose).fit(yy, scores)
        return self

    def reconstruct(self, scores) -> np.ndarray:
        """Grey-level images (k, h, w) float64 from PCA scores (k, d) (no binarization)."""
        _check_fitted(self)
        s = np.asarray(scores, dtype=np.float64)
        return self.pca_.inverse_transform(s).reshape(s.shape[0], *self.image_shape_)

    def _binarize(self, grey: np.ndarray) -> np.ndarray:
        if self.binarize == "otsu":
            return binarize_otsu(grey)
        return (grey > 0.5).astype(np.uint8)

    def sample(self, y_target, n: int, seed=None) -> np.ndarray:
        """Binary images for ``y_target``: (n, h, w) uint8, or (m, n, h, w) for m targets."""
        _check_fitted(self)
        t0 = time.perf_counter()
        scalar = np.ndim(y_target) == 0
        s = self.mdn_.sample(np.atleast_1d(y_target), n, seed)  # (m, n, d)
        m = s.shape[0]
        flat = self._binarize(self.reconstruct(s.reshape(m * n, -1))).reshape(m, n, -1)
        out = _finish_samples(flat, scalar, self.image_shape_)
        self.last_sample_s_ = time.perf_counter() - t0
        return out

    def round_trip(self, images) -> np.ndarray:
        """Binary images (n, h, w) uint8 after PCA projection, reconstruction and binarization.

        The best any PCA-MDN sample can be: the structure that the d kept components (and the
        binarization) make of a real image. Chapter 6 simulates these round trips against their
        originals to show how much of the absorption survives the representation.
        """
        _check_fitted(self)
        x = check_binary_images(images)
        if x.shape[1:] != tuple(self.image_shape_):
            raise ValueError(f"images must have shape (n, {self.image_shape_[0]}, "
                             f"{self.image_shape_[1]}); got {x.shape}")
        scores = self.pca_.transform(x.reshape(len(x), -1).astype(np.float64))
        return self._binarize(self.reconstruct(scores)).astype(np.uint8)

    def save(self, path) -> Path:
        """Save into directory ``path``: ``pca.npz`` and the MDN files (``mdn.json`` last)."""
        _check_fitted(self)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "pca.npz") as tmp, open(tmp, "wb") as f:
            np.savez(
                f, components=self.pca_.components_, mean=self.pca_.mean_,
                explained_variance=self.pca_.explained_variance_,
                explained_variance_ratio=self.pca_.explained_variance_ratio_,
                image_shape=np.asarray(self.image_shape_),
                settings=json.dumps({
                    "n_pca_components": self.n_pca_components, "binarize": self.binarize,
                    "whiten": bool(self.whiten), "seed": self.seed, "mdn": _mdn_params(self.mdn),
                }),
            )
        self.mdn_.save(folder)
        return folder

    @classmethod
    def load(cls, path) -> PCAMDN:
        from sklearn.decomposition import PCA

        from invdes.inverse.mdn import MDN

        folder = Path(path)
        def read(path):
            with np.load(path) as data:
                return (json.loads(str(data["settings"])),
                        {k: data[k] for k in data.files if k != "settings"})

        settings, arrays = _read_file(folder / "pca.npz", "PCA-MDN", read)
        obj = cls(settings["n_pca_components"], settings["mdn"], binarize=settings["binarize"],
                  whiten=settings["whiten"], seed=settings["seed"])
        pca = PCA(n_components=int(settings["n_pca_components"]), whiten=settings["whiten"])
        pca.components_ = arrays["components"]
        pca.mean_ = arrays["mean"]
        pca.explained_variance_ = arrays["explained_variance"]
        pca.explained_variance_ratio_ = arrays["explained_variance_ratio"]
        pca.n_components_ = pca.components_.shape[0]
        pca.n_features_in_ = pca.components_.shape[1]
        obj.pca_ = pca
        obj.image_shape_ = tuple(int(v) for v in arrays["image_shape"])
        obj.explained_variance_ratio_ = float(np.sum(pca.explained_variance_ratio_))
        obj.mdn_ = MDN.load(folder)
        return obj


# --------------------------------------------------------------------------------------------
# Direct MDN
# --------------------------------------------------------------------------------------------


class DirectMDN:
    """Direct MDN baseline: the same MDN from y straight to all h*w pixels (K (1 + 2 h w) head
    outputs, paper eq. 5 with M = h w); samples are binarized at 0.5 (pixels are 0 or 1 in the
    data, so 0.5 is the midpoint between the two phases).

    Args:
        mdn: MDNConfig, dict of MDN parameters, or None (paper's MDN).
        seed, verbose: override the MDN's seed and verbosity when not None.

    Learned state: ``mdn_``, ``image_shape_``; ``last_sample_s_`` after :meth:`sample`.
    """

    def __init__(self, mdn=None, *, seed: int | None = None, verbose: int | None = None):
        self.mdn = mdn
        self.seed = seed
        self.verbose = verbose

    def fit(self, images, y, checkpoint=None) -> DirectMDN:
        """Fit the MDN on (y, flattened images); ``checkpoint``: a resumable training state
        (see :meth:`invdes.inverse.mdn.MDN.fit`)."""
        x = check_binary_images(images)
        n, h, w = x.shape
        yy = _check_y(y, n)
        self.image_shape_ = (h, w)
        self.mdn_ = _make_mdn(self.mdn, seed=self.seed, verbose=self.verbose)
        self.mdn_.fit(yy, x.reshape(n, -1).astype(np.float32), checkpoint=checkpoint)
        return self

    def sample(self, y_target, n: int, seed=None) -> np.ndarray:
        """Binary images for ``y_target``: (n, h, w) uint8, or (m, n, h, w) for m targets."""
        _check_fitted(self)
        t0 = time.perf_counter()
        scalar = np.ndim(y_target) == 0
        flat = (self.mdn_.sample(np.atleast_1d(y_target), n, seed) > 0.5).astype(np.uint8)
        out = _finish_samples(flat, scalar, self.image_shape_)
        self.last_sample_s_ = time.perf_counter() - t0
        return out

    def save(self, path) -> Path:
        _check_fitted(self)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "direct.json", {"image_shape": list(self.image_shape_),
                                            "mdn": _mdn_params(self.mdn), "seed": self.seed})
        self.mdn_.save(folder)
        return folder

    @classmethod
    def load(cls, path) -> DirectMDN:
        from invdes.inverse.mdn import MDN

        folder = Path(path)
        def read(path):
            meta = json.loads(path.read_text())
            return meta, tuple(int(v) for v in meta["image_shape"])

        meta, shape = _read_file(folder / "direct.json", "direct-MDN", read)
        obj = cls(meta.get("mdn"), seed=meta.get("seed"))
        obj.image_shape_ = shape
        obj.mdn_ = MDN.load(folder)
        return obj


# --------------------------------------------------------------------------------------------
# Null baselines
# --------------------------------------------------------------------------------------------


def random_latent_candidates(dim: int, n: int, seed=None) -> np.ndarray:
    """``n`` latents uniform on [-1, 1]^dim (the data-set prior): (n, dim) float64."""
    dim = _check_count(dim, "dim")
    n = _check_count(n, "n")
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, dim))


def lookup_candidates(y_train, target: float, n: int) -> np.ndarray:
    """Indices (n,) of the ``n`` training samples whose y is nearest ``target``, nearest first
    (ties keep the data order)."""
    y = check_vector(y_train, "y_train")
    target = _check_target(target)
    n = _check_count(n, "n")
    if n > y.size:
        raise ValueError(f"n = {n} exceeds the number of training samples ({y.size})")
    return np.argsort(np.abs(y - target), kind="stable")[:n]


# --------------------------------------------------------------------------------------------
# Bayesian optimization
# --------------------------------------------------------------------------------------------


def latent_objective(generator, simulate: Callable[[np.ndarray], np.ndarray]
                     ) -> Callable[[np.ndarray], np.ndarray]:
    """The paper's BO objective before REP: ``z (b, d) -> simulate(generator.generate(z)) (b,)``
    (the generator returns binary images; ``simulate`` maps images to the property)."""

    def objective(z: np.ndarray) -> np.ndarray:
        images = np.asarray(generator.generate(np.asarray(z, dtype=np.float32)))
        return np.asarray(simulate(images), dtype=np.float64)

    return objective


BO_FORMAT = "invdes-bo"
BO_FORMAT_VERSION = 1


@dataclass
class BOResult:
    """Record of one Bayesian optimization run for one target (REP as a fraction).

    Arrays are indexed by evaluation (0-based; the first ``n_initial`` are the random initial
    samples). ``best_history[i]`` is the smallest REP among evaluations 0..i (non-increasing).
    """

    target: float
    z_best: np.ndarray  # (d,)
    y_best: float
    rep_best: float
    z_history: np.ndarray  # (n, d)
    y_history: np.ndarray  # (n,)
    rep_history: np.ndarray  # (n,)
    best_history: np.ndarray  # (n,)
    n_initial: int
    n_evaluations: int
    wall_time_s: float  # all sessions together
    simulation_s: float  # time inside the objective
    finished: bool
    state_path: str | None = None

    @property
    def rep_best_percent(self) -> float:
        return 100.0 * self.rep_best

    def first_below(self, rep: float) -> int | None:
        """Number of evaluations after which the best REP first fell to ``rep`` (fraction) or
        below; None if it never did."""
        hits = np.flatnonzero(self.best_history <= rep)
        return int(hits[0]) + 1 if hits.size else None


def _bo_meta(dim: int, target: float, config: BOConfig, bounds: tuple[float, float]) -> dict:
    return {
        "format": BO_FORMAT, "format_version": BO_FORMAT_VERSION, "dim": int(dim),
        "target": float(target), "seed": int(config.seed), "acq_func": config.acq_func,
        "acq_optimizer": config.acq_optimizer, "n_initial": int(config.n_initial),
        "gp_restarts": int(config.gp_restarts), "gp_warm_start": bool(config.gp_warm_start),
        "bounds": [float(bounds[0]), float(bounds[1])],
    }


def _save_bo_state(path: Path, meta: dict, xs, ys, reps, snapshot, wall: float, sim: float,
                   budget: int) -> None:
    rng_state = snapshot["rng"] if snapshot else None
    arrays = {
        "meta": json.dumps({**meta, "budget": int(budget)}),
        "xs": np.asarray(xs, dtype=np.float64).reshape(len(xs), meta["dim"]),
        "ys": np.asarray(ys, dtype=np.float64),
        "reps": np.asarray(reps, dtype=np.float64),
        "wall_time_s": np.float64(wall),
        "simulation_s": np.float64(sim),
        "has_snapshot": np.bool_(snapshot is not None),
    }
    if snapshot is not None:
        arrays.update(
            rng_keys=rng_state[1], rng_pos=np.int64(rng_state[2]),
            rng_has_gauss=np.int64(rng_state[3]), rng_cached_gaussian=np.float64(rng_state[4]),
            gains=np.asarray(snapshot["gains"] if snapshot["gains"] is not None else [],
                             dtype=np.float64),
            has_next_xs=np.bool_(snapshot["next_xs"] is not None),
            next_xs=np.asarray(snapshot["next_xs"] if snapshot["next_xs"] is not None else [],
                               dtype=np.float64),
            gp_theta=np.asarray(snapshot["gp_theta"], dtype=np.float64),
        )
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _load_bo_state(path: Path, meta: dict) -> dict:
    def read(path):
        with np.load(path) as data:
            return (json.loads(str(data["meta"])),
                    {k: data[k] for k in data.files if k != "meta"})

    saved_meta, state = _read_file(path, "Bayesian-optimization state", read,
                                   hint="; delete it to start this target afresh")
    diffs = [f"{k}: saved {saved_meta.get(k)!r}, now {v!r}" for k, v in meta.items()
             if saved_meta.get(k) != v]
    if diffs:
        raise ValueError(
            f"Bayesian-optimization state file {path} belongs to another run ("
            + "; ".join(diffs) + "); delete it or use the matching settings"
        )
    return state


def _snapshot(opt) -> dict:
    from invdes.inverse import bo_gp

    return {
        "gp_theta": bo_gp.start_theta(opt),
        "rng": opt.rng.get_state(),
        "gains": np.copy(opt.gains_) if hasattr(opt, "gains_") else None,
        "next_xs": np.array(opt.next_xs_) if hasattr(opt, "next_xs_") else None,
    }


def _restore(opt, state: dict) -> None:
    opt.rng.set_state(("MT19937", state["rng_keys"], int(state["rng_pos"]),
                       int(state["rng_has_gauss"]), float(state["rng_cached_gaussian"])))
    if hasattr(opt, "gains_") and state["gains"].size:
        opt.gains_ = np.array(state["gains"], dtype=np.float64)
    if bool(state["has_next_xs"]):
        opt.next_xs_ = [np.array(x) for x in state["next_xs"]]
    elif hasattr(opt, "next_xs_"):
        del opt.next_xs_
    from invdes.inverse import bo_gp

    bo_gp.set_start_theta(opt, state["gp_theta"])


def _tell(opt, x, r, *, fit: bool, warm: bool) -> None:
    """``opt.tell`` (warnings of the GP fit silenced); after a fit, with ``warm``, the next
    fit starts from this one's hyperparameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.tell(x, r, fit=fit)
    if fit and warm:
        from invdes.inverse import bo_gp

        bo_gp.warm_start(opt)


def _evaluate(objective: Callable, z: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(objective(z), dtype=np.float64).reshape(-1)
    if y.shape != (z.shape[0],):
        raise ValueError(
            f"objective returned {y.size} value(s) for {z.shape[0]} latent(s); it must return one "
            "property value per row of its (b, d) input"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"objective returned non-finite values {y} for latents {z.tolist()}")
    return y, np.abs(y - target) / target


def run_bo(
    objective: Callable[[np.ndarray], np.ndarray],
    dim: int,
    target: float,
    config: BOConfig | None = None,
    *,
    state_path: str | Path | None = None,
    progress: bool = True,
    bounds: tuple[float, float] = (-1.0, 1.0),
) -> BOResult:
    """Bayesian optimization of a latent z for one target property (paper, Sec. 3.2).

    ``objective(z_batch)`` maps latents (b, d) to their simulated property y (b,) (for the paper:
    simulate(binarize(G(z)))); the optimizer minimizes REP = |y - target| / target over
    ``bounds``^d with scikit-optimize's ask/tell ``Optimizer`` (Gaussian process, acquisition
    ``config.acq_func``, "gp_hedge" = the GP-Hedge portfolio of EI, LCB and PI, acquisition
    optimizer ``config.acq_optimizer``). First ``config.n_initial`` latents uniform on the box
    (drawn from ``default_rng(config.seed)``, evaluated in chunks of ``config.initial_chunk``),
    then ``config.n_iterations`` sequential iterations.

    Resume: with ``state_path`` (an ``.npz`` file, one per target) the record (latents, y, REP,
    wall and simulation time, and the optimizer's random state, GP-Hedge gains and pending
    candidates) is written atomically after every initial chunk and every iteration. A rerun
    re-tells the saved points to a fresh Optimizer, restores that state and continues without
    repeating an evaluation; the continued run proposes exactly the points an uninterrupted run
    would have. A finished record is returned without any evaluation (a larger budget extends
    it; a smaller one returns its first evaluations). A record from other settings (dim, target,
    seed, acquisition, n_initial, bounds) raises ValueError.

    Returns:
        :class:`BOResult`.
    """
    from skopt import Optimizer

    from invdes.inverse import bo_gp

    config = config or BOConfig()
    dim = _check_count(dim, "dim")
    target = _check_target(target)
    n_initial = _check_count(config.n_initial, "config.n_initial")
    if isinstance(config.n_iterations, bool) or int(config.n_iterations) < 0:
        raise ValueError(f"config.n_iterations must be >= 0; got {config.n_iterations!r}")
    chunk = _check_count(config.initial_chunk, "config.initial_chunk")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lower < upper; got {bounds!r}")
    budget = n_initial + int(config.n_iterations)
    meta = _bo_meta(dim, target, config, (lo, hi))
    path = Path(state_path) if state_path is not None else None

    opt = Optimizer(
        [(lo, hi)] * dim, base_estimator="GP", acq_func=config.acq_func,
        acq_optimizer=config.acq_optimizer, random_state=int(config.seed),
        n_initial_points=n_initial, model_queue_size=1,
    )
    if isinstance(config.gp_restarts, bool) or int(config.gp_restarts) < 0:
        raise ValueError(f"config.gp_restarts must be >= 0; got {config.gp_restarts!r}")
    bo_gp.use_fast_gp(opt, int(config.gp_restarts))
    warm = bool(config.gp_warm_start)
    initial = np.random.default_rng(int(config.seed)).uniform(lo, hi, size=(n_initial, dim))
    xs: list[list[float]] = []
    ys: list[float] = []
    reps: list[float] = []
    wall0 = sim = 0.0
    snapshot: dict | None = None

    if path is not None and path.exists():
        state = _load_bo_state(path, meta)
        xs = state["xs"].tolist()
        ys = state["ys"].tolist()
        reps = state["reps"].tolist()
        wall0, sim = float(state["wall_time_s"]), float(state["simulation_s"])
        k = len(xs)
        if k >= budget:
            return _bo_result(target, xs[:budget], ys[:budget], reps[:budget], n_initial,
                              wall0, sim, True, path)
        if k > 0:
            if k <= n_initial and not np.allclose(np.asarray(xs), initial[:k]):
                raise ValueError(f"state file {path} holds initial points of another seed")
            if k < n_initial:
                opt.tell(xs, reps, fit=False)
            else:
                if k > 1:
                    opt.tell(xs[:-1], reps[:-1], fit=False)
                if bool(state["has_snapshot"]):
                    _restore(opt, state)
                _tell(opt, xs[-1], reps[-1], fit=True, warm=warm)
                snapshot = _snapshot_from_state(state)

    t_start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=budget, initial=len(xs), desc=f"BO target {target:g}", unit="eval")

    def record(z: np.ndarray, y: np.ndarray, r: np.ndarray, dt: float) -> None:
        nonlocal sim
        xs.extend(z.tolist())
        ys.extend(y.tolist())
        reps.extend(r.tolist())
        sim += dt
        if bar is not None:
            bar.update(len(y))
            bar.set_postfix(best_rep=f"{100 * min(reps):.3g}%", refresh=False)

    def save() -> None:
        if path is not None:
            _save_bo_state(path, meta, xs, ys, reps, snapshot, wall0 + time.perf_counter()
                           - t_start, sim, budget)

    try:
        while len(xs) < n_initial:
            a = len(xs)
            b = min(a + chunk, n_initial)
            z = initial[a:b]
            t0 = time.perf_counter()
            y, r = _evaluate(objective, z, target)
            record(z, y, r, time.perf_counter() - t0)
            if b == n_initial:  # the first GP fit: snapshot the state it starts from
                snapshot = _snapshot(opt)
            # the GP is fitted only when another point will be asked for; a resume with a
            # larger budget replays this tell with the fit from the saved snapshot
            _tell(opt, z.tolist(), r.tolist(), fit=b == n_initial and len(xs) < budget,
                  warm=warm)
            save()
        while len(xs) < budget:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = opt.ask()
            z = np.asarray(x, dtype=np.float64)[None]
            t0 = time.perf_counter()
            y, r = _evaluate(objective, z, target)
            record(z, y, r, time.perf_counter() - t0)
            snapshot = _snapshot(opt)
            _tell(opt, x, float(r[0]), fit=len(xs) < budget, warm=warm)
            save()
    finally:
        if bar is not None:
            bar.close()
    wall = wall0 + time.perf_counter() - t_start
    return _bo_result(target, xs, ys, reps, n_initial, wall, sim, True, path)


def _snapshot_from_state(state: dict) -> dict | None:
    if not bool(state["has_snapshot"]):
        return None
    rng = ("MT19937", state["rng_keys"], int(state["rng_pos"]), int(state["rng_has_gauss"]),
           float(state["rng_cached_gaussian"]))
    return {"rng": rng, "gains": state["gains"] if state["gains"].size else None,
            "next_xs": state["next_xs"] if bool(state["has_next_xs"]) else None,
            "gp_theta": state["gp_theta"]}


def _bo_result(target, xs, ys, reps, n_initial, wall, sim, finished, path) -> BOResult:
    reps_a = np.asarray(reps, dtype=np.float64)
    z = np.asarray(xs, dtype=np.float64)
    i = int(np.argmin(reps_a))
    return BOResult(
        target=float(target), z_best=z[i].copy(), y_best=float(ys[i]), rep_best=float(reps_a[i]),
        z_history=z, y_history=np.asarray(ys, dtype=np.float64), rep_history=reps_a,
        best_history=np.minimum.accumulate(reps_a), n_initial=int(n_initial),
        n_evaluations=int(reps_a.size), wall_time_s=float(wall), simulation_s=float(sim),
        finished=bool(finished), state_path=None if path is None else str(path),
    )


def load_bo_result(path: str | Path) -> BOResult:
    """The :class:`BOResult` stored in a state file (finished or not) without running anything."""
    def read(path):
        with np.load(path) as data:
            return (json.loads(str(data["meta"])), data["xs"], data["ys"], data["reps"],
                    float(data["wall_time_s"]), float(data["simulation_s"]))

    path = Path(path)
    meta, xs, ys, reps, wall, sim = _read_file(path, "Bayesian-optimization state", read)
    if reps.size == 0:
        raise ArtifactError(f"Bayesian-optimization state file {path} holds no evaluation")
    return _bo_result(meta["target"], xs, ys, reps, meta["n_initial"], wall, sim,
                      reps.size >= int(meta.get("budget", 0)), path)
