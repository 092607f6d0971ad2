"""The trained GAN generator in pure numpy: design-time inference without TensorFlow.

:mod:`invdes.gan.train` trains the generator in Keras and saves its weights as a plain ``.npz``
of named arrays (format :data:`WEIGHTS_FORMAT`). This module reads that file (or the BN-folded
file of :meth:`invdes.gan.generator.Generator.export_numpy`) and evaluates the same network with
numpy, so simulator-heavy jobs can run where TensorFlow is not installed. It must never import
TensorFlow or Keras.

The network (batch norm in inference mode, folded into a per-channel scale and shift)::

    z (n, s, s, 1)
    -> 4 x [ConvTranspose 4x4 stride 2 'same' -> scale/shift -> ReLU]   (128, 64, 32, 16 filters)
    -> ConvTranspose 4x4 stride 2 'same' (1 filter) + bias -> tanh       (n, 32 s, 32 s)

Binarization (the authors' recipe for their data sets): per image, pixels above Otsu's
threshold of the tanh output become 1 (the minority phase, as in the training images).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

#: ``meta/format`` of the raw weights file written by :mod:`invdes.gan.generator`.
WEIGHTS_FORMAT = "invdes-gan-generator-v1"
#: ``meta/format`` of the BN-folded file written by ``Generator.export_numpy``.
FOLDED_FORMAT = "invdes-gan-generator-folded-v1"
#: Number of transposed-convolution layers; the output side is ``2**N_LAYERS = 32`` x latent side.
N_LAYERS = 5
UPSCALE = 2**N_LAYERS


class WeightsFormatError(ValueError):
    """A weights file or dict that is not a generator in one of the two known formats."""


# --------------------------------------------------------------------------------------------
# Latents and binarization (shared with invdes.gan.generator)
# --------------------------------------------------------------------------------------------


def latents_to_grid(z) -> np.ndarray:
    """Latents of shape (n, s*s), (n, s, s) or (n, s, s, 1) -> float32 array (n, s, s, 1).

    ValueError when the shape is none of these or ``s*s`` is not a perfect square.
    """
    arr = np.asarray(z, dtype=np.float32)
    if arr.ndim == 2:
        n, d = arr.shape
        s = int(round(np.sqrt(d)))
        if s < 1 or s * s != d:
            raise ValueError(
                f"latents of shape (n, d) need d = s*s for an integer side s >= 1; got d={d}"
            )
        return arr.reshape(n, s, s, 1)
    if arr.ndim == 3 and arr.shape[1] == arr.shape[2]:
        return arr[..., None]
    if arr.ndim == 4 and arr.shape[1] == arr.shape[2] and arr.shape[3] == 1:
        return arr
    raise ValueError(
        f"latents must have shape (n, s*s), (n, s, s) or (n, s, s, 1); got {arr.shape}"
    )


def sample_latents(n: int, latent_side: int, seed=None) -> np.ndarray:
    """``n`` latents uniform on [-1, 1]^(s*s), float32 of shape (n, s*s)."""
    if n < 0 or latent_side < 1:
        raise ValueError(f"need n >= 0 and latent_side >= 1; got n={n}, latent_side={latent_side}")
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, latent_side * latent_side)).astype(np.float32)


def otsu_threshold(image: np.ndarray) -> float:
    """Otsu's threshold of one grey image (scikit-image, 256 bins)."""
    from skimage.filters import threshold_otsu

    image = np.asarray(image)
    lo, hi = float(image.min()), float(image.max())
    if lo == hi:  # constant image: no two classes; everything is phase 0
        return hi
    return float(threshold_otsu(image))


def binarize(continuous: np.ndarray) -> np.ndarray:
    """Per-image Otsu binarization: (n, h, w) float -> (n, h, w) uint8, 1 where above threshold."""
    arr = np.asarray(continuous)
    if arr.ndim != 3:
        raise ValueError(f"continuous images must have shape (n, h, w); got {arr.shape}")
    out = np.empty(arr.shape, dtype=np.uint8)
    for i in range(arr.shape[0]):
        out[i] = arr[i] > otsu_threshold(arr[i])
    return out


# --------------------------------------------------------------------------------------------
# Weights: raw (Keras layer weights by name) and folded (kernel, scale, shift per layer)
# --------------------------------------------------------------------------------------------


def weights_hash(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (16 hex digits) of the raw weight arrays, in sorted key order (meta/ excluded)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        if key.startswith("meta/"):
            continue
        a = np.ascontiguousarray(arrays[key], dtype=np.float32)
        h.update(key.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file; WeightsFormatError (naming the file) if unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"generator weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.array(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise WeightsFormatError(
            f"generator weights file {path} is unreadable (truncated or corrupt): {exc}"
        ) from exc


def _meta_format(arrays: dict) -> str:
    fmt = arrays.get("meta/format")
    return str(np.asarray(fmt).item()) if fmt is not None else ""


def fold_weights(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw Keras weights -> folded arrays ``kernel{i}`` (4, 4, c_out, c_in), ``scale{i}``,
    ``shift{i}`` (c_out,) for i = 1..5 (batch norm folded; the last layer has scale 1 and its
    bias as shift)."""
    if _meta_format(raw) != WEIGHTS_FORMAT:
        raise WeightsFormatError(
            f"not a raw generator weights dict (meta/format {_meta_format(raw)!r}, "
            f"expected {WEIGHTS_FORMAT!r})"
        )
    try:
        eps = float(np.asarray(raw["meta/bn_epsilon"]))
        out: dict[str, np.ndarray] = {"meta/format": np.array(FOLDED_FORMAT)}
        for i in range(1, N_LAYERS + 1):
            kernel = np.asarray(raw[f"deconv{i}/kernel"], dtype=np.float64)
            c_out = kernel.shape[2]
            if i < N_LAYERS:
                gamma = np.asarray(raw[f"bn{i}/gamma"], dtype=np.float64)
                beta = np.asarray(raw[f"bn{i}/beta"], dtype=np.float64)
                mean = np.asarray(raw[f"bn{i}/moving_mean"], dtype=np.float64)
                var = np.asarray(raw[f"bn{i}/moving_variance"], dtype=np.float64)
                scale = gamma / np.sqrt(var + eps)
                shift = beta - mean * scale
            else:
                scale = np.ones(c_out)
                shift = np.asarray(raw[f"deconv{i}/bias"], dtype=np.float64)
            out[f"kernel{i}"] = kernel.astype(np.float32)
            out[f"scale{i}"] = scale.astype(np.float32)
            out[f"shift{i}"] = shift.astype(np.float32)
    except KeyError as exc:
        raise WeightsFormatError(f"raw generator weights lack the array {exc}") from exc
    return out


def as_folded(weights) -> dict[str, np.ndarray]:
    """Folded weights from a path (raw or folded ``.npz``) or a dict (raw or folded)."""
    arrays = read_npz(weights) if isinstance(weights, str | os.PathLike) else dict(weights)
    fmt = _meta_format(arrays)
    if fmt == WEIGHTS_FORMAT:
        return fold_weights(arrays)
    if fmt == FOLDED_FORMAT:
        missing = [f"{k}{i}" for i in range(1, N_LAYERS + 1) for k in ("kernel", "scale", "shift")
                   if f"{k}{i}" not in arrays]
        if missing:
            raise WeightsFormatError(f"folded generator weights lack arrays {missing}")
        return arrays
    raise WeightsFormatError(
        f"unknown generator weights format {fmt!r}: expected {WEIGHTS_FORMAT!r} or "
        f"{FOLDED_FORMAT!r}"
    )


# --------------------------------------------------------------------------------------------
# Forward pass
# --------------------------------------------------------------------------------------------


def conv_transpose_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Transposed convolution, kernel 4x4, stride 2, padding 'same' (TensorFlow semantics).

    x: (n, h, w, c_in); kernel: (4, 4, c_out, c_in) (Keras Conv2DTranspose layout) ->
    (n, 2h, 2w, c_out). Input pixel i feeds output pixels 2i - 1 + k, k = 0..3.
    """
    n, h, w, _ = x.shape
    kh, kw, c_out, _ = kernel.shape
    if (kh, kw) != (4, 4):
        raise ValueError(f"only 4x4 kernels are supported; got {(kh, kw)}")
    full = np.zeros((n, 2 * h + 2, 2 * w + 2, c_out), dtype=np.float32)
    flat = x.reshape(-1, x.shape[-1])
    for ky in range(4):
        for kx in range(4):
            contrib = (flat @ kernel[ky, kx].T).reshape(n, h, w, c_out)
            full[:, ky : ky + 2 * h : 2, kx : kx + 2 * w : 2, :] += contrib
    return full[:, 1 : 2 * h + 1, 1 : 2 * w + 1, :]


def forward(folded: dict[str, np.ndarray], z) -> np.ndarray:
    """tanh output of the generator, (n, 32 s, 32 s) float32, for latents ``z`` (see
    :func:`latents_to_grid` for the accepted shapes)."""
    x = latents_to_grid(z)
    for i in range(1, N_LAYERS + 1):
        x = conv_transpose_same(x, np.asarray(folded[f"kernel{i}"], dtype=np.float32))
        x = x * np.asarray(folded[f"scale{i}"], dtype=np.float32)
        x = x + np.asarray(folded[f"shift{i}"], dtype=np.float32)
        x = np.maximum(x, 0.0) if i < N_LAYERS else np.tanh(x)
    return x[..., 0]


def numpy_generate_continuous(weights, z, *, batch_size: int = 64) -> np.ndarray:
    """tanh output (n, 32 s, 32 s) float32 of the generator in ``weights`` (path or dict)."""
    folded = as_folded(weights)
    grid = latents_to_grid(z)
    parts = [forward(folded, grid[a : a + batch_size]) for a in range(0, len(grid), batch_size)]
    if not parts:
        s = grid.shape[1] * UPSCALE
        return np.zeros((0, s, s), dtype=np.float32)
    return np.concatenate(parts)


def numpy_generate(weights, z, *, batch_size: int = 64) -> np.ndarray:
    """Binary images (n, 32 s, 32 s) uint8 (1 = above Otsu's threshold) for latents ``z``."""
    return binarize(numpy_generate_continuous(weights, z, batch_size=batch_size))


class NumpyGenerator:
    """The generator interface of :class:`invdes.gan.generator.Generator` without TensorFlow.

    ``NumpyGenerator(weights)`` with a path to a raw or folded ``.npz`` or a weights dict;
    ``.generate(z)`` gives binary images, ``.generate_continuous(z)`` the tanh output.
    ``artifact_hash`` identifies the weights (the same value as the Keras generator's when
    built from the raw weights file).
    """

    def __init__(self, weights):
        arrays = read_npz(weights) if isinstance(weights, str | os.PathLike) else dict(weights)
        self.path = Path(weights) if isinstance(weights, str | os.PathLike) else None
        fmt = _meta_format(arrays)
        self.artifact_hash = weights_hash(arrays) if fmt == WEIGHTS_FORMAT else None
        self.folded_ = as_folded(arrays)

    def generate_continuous(self, z, *, batch_size: int = 64) -> np.ndarray:
        return numpy_generate_continuous(self.folded_, z, batch_size=batch_size)

    def generate(self, z, *, batch_size: int = 64) -> np.ndarray:
        return numpy_generate(self.folded_, z, batch_size=batch_size)

    @classmethod
    def from_profile(cls, profile_name: str) -> NumpyGenerator:
        """The trained generator of profile ``profile_name`` (checked like
        ``invdes.gan.generator.load_generator``: ArtifactError when missing, corrupt or
        mismatched)."""
        path, arrays = load_checked_weights(profile_name)
        gen = cls(arrays)
        gen.path = path
        return gen


# --------------------------------------------------------------------------------------------
# The artifact: artifacts/<profile>/gan/generator.npz + provenance.json
# --------------------------------------------------------------------------------------------

#: Files of the GAN artifact (in ``invdes.artifacts.artifact_dir(profile, "gan")``).
WEIGHTS_FILE = "generator.npz"
HISTORY_FILE = "history.csv"
EVALUATION_FILE = "evaluation.json"
CHECKPOINT_FILE = "checkpoint.npz"
STEP = "gan"


def artifact_configs(profile) -> dict:
    """The configs a GAN artifact depends on: ``{"gan": ..., "microstructure": ...}``."""
    return {"gan": profile.gan, "microstructure": profile.microstructure}


def load_checked_weights(profile_name: str, step: str = STEP) -> tuple[Path, dict]:
    """Path and raw arrays of profile ``profile_name``'s generator weights, after checking that
    the file exists, is readable, matches its provenance's weights hash, and that the recorded
    config equals the profile's. Any failure raises :class:`invdes.artifacts.ArtifactError`
    naming the file and the command that rebuilds it."""
    from invdes.artifacts import (
        ArtifactError,
        artifact_dir,
        expected_hash,
        read_provenance,
        rebuild_command,
    )
    from invdes.config import get_profile

    profile = get_profile(profile_name)
    directory = artifact_dir(profile.name, step, create=False)
    path = directory / WEIGHTS_FILE
    fix = f"rebuild it with: {rebuild_command(profile.name, 'gan')}"
    if not path.exists():
        raise ArtifactError(f"GAN weights file {path} is missing; {fix}")
    prov = read_provenance(directory)
    if prov is None:
        raise ArtifactError(
            f"GAN weights file {path} has no readable provenance.json beside it; {fix}"
        )
    if prov.get("config_hash") != expected_hash(artifact_configs(profile)):
        raise ArtifactError(
            f"GAN weights file {path} was trained with another configuration (recorded config "
            f"hash {prov.get('config_hash')}, profile {profile.name!r} needs "
            f"{expected_hash(artifact_configs(profile))}); {fix}"
        )
    try:
        arrays = read_npz(path)
        as_folded(arrays)
    except (WeightsFormatError, FileNotFoundError) as exc:
        raise ArtifactError(f"GAN weights file {path} is unreadable ({exc}); {fix}") from exc
    recorded = prov.get("weights_hash")
    if recorded is not None and recorded != weights_hash(arrays):
        raise ArtifactError(
            f"GAN weights file {path} does not match the weights hash in its provenance "
            f"({recorded}); {fix}"
        )
    return path, arrays
