"""The trained generator at design time (Keras): latents -> binary images, and its loading.

:class:`Generator` wraps the Keras model (weights in the ``.npz`` format of
:mod:`invdes.gan.numpy_generator`); :func:`load_generator` loads a profile's trained artifact
with the checks of :func:`invdes.gan.numpy_generator.load_checked_weights`.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from invdes.artifacts import ArtifactError, atomic_path, rebuild_command
from invdes.config import get_profile
from invdes.gan.model import BN_EPSILON, build_generator
from invdes.gan.numpy_generator import (
    N_LAYERS,
    STEP,
    UPSCALE,
    WEIGHTS_FORMAT,
    WeightsFormatError,
    binarize,
    fold_weights,
    latents_to_grid,
    load_checked_weights,
    read_npz,
    sample_latents,
    weights_hash,
)

__all__ = ["Generator", "load_generator"]


class Generator:
    """A trained generator: latents (n, s*s) in [-1, 1] -> binary images (n, 32 s, 32 s).

    ``generate(z)`` binarizes the tanh output per image with Otsu's threshold (1 = above it,
    the minority phase); ``generate_continuous(z)`` returns the tanh output. Batch norm runs in
    inference mode (moving statistics gathered in training at s = 4). ``artifact_hash``
    identifies the weights (same value as :class:`invdes.gan.numpy_generator.NumpyGenerator`'s).
    """

    def __init__(self, model: keras.Model | None = None):
        self.model_ = model if model is not None else build_generator(None)
        self.path: Path | None = None
        self._hash: str | None = None

    # -- weights -------------------------------------------------------------------------
    def raw_arrays(self) -> dict[str, np.ndarray]:
        """Named weight arrays (format :data:`invdes.gan.numpy_generator.WEIGHTS_FORMAT`)."""
        out: dict[str, np.ndarray] = {
            "meta/format": np.array(WEIGHTS_FORMAT),
            "meta/bn_epsilon": np.array(BN_EPSILON, dtype=np.float64),
        }
        for i in range(1, N_LAYERS + 1):
            w = self.model_.get_layer(f"deconv{i}").get_weights()
            out[f"deconv{i}/kernel"] = w[0]
            if len(w) > 1:
                out[f"deconv{i}/bias"] = w[1]
            if i < N_LAYERS:
                g, b, m, v = self.model_.get_layer(f"bn{i}").get_weights()
                out.update({f"bn{i}/gamma": g, f"bn{i}/beta": b, f"bn{i}/moving_mean": m,
                            f"bn{i}/moving_variance": v})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Generator:
        """A generator from named weight arrays (:meth:`raw_arrays`); WeightsFormatError when
        the arrays are not a generator of this architecture."""
        fold_weights(arrays)  # checks format and completeness
        gen = cls()
        try:
            for i in range(1, N_LAYERS + 1):
                layer = gen.model_.get_layer(f"deconv{i}")
                w = [arrays[f"deconv{i}/kernel"]]
                if i == N_LAYERS:
                    w.append(arrays[f"deconv{i}/bias"])
                layer.set_weights(w)
                if i < N_LAYERS:
                    gen.model_.get_layer(f"bn{i}").set_weights(
                        [arrays[f"bn{i}/{k}"]
                         for k in ("gamma", "beta", "moving_mean", "moving_variance")]
                    )
        except (KeyError, ValueError) as exc:
            raise WeightsFormatError(f"generator weights do not fit the architecture: {exc}") \
                from exc
        return gen

    @property
    def artifact_hash(self) -> str:
        if self._hash is None:
            self._hash = weights_hash(self.raw_arrays())
        return self._hash

    def save(self, path: str | os.PathLike) -> Path:
        """Write the raw weights as ``.npz`` (atomically); returns the path."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **self.raw_arrays())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Generator:
        """Load weights written by :meth:`save`. FileNotFoundError / WeightsFormatError (a
        ValueError) naming the file when it is missing, truncated or not a generator."""
        arrays = read_npz(path)
        try:
            gen = cls.from_arrays(arrays)
        except WeightsFormatError as exc:
            raise WeightsFormatError(f"{path}: {exc}") from exc
        gen.path = Path(path)
        return gen

    def export_numpy(self, path: str | os.PathLike) -> Path:
        """Write the BN-folded weights for
        :func:`invdes.gan.numpy_generator.numpy_generate` (atomically)."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **fold_weights(self.raw_arrays()))
        return path

    # -- inference -----------------------------------------------------------------------
    def generate_continuous(self, z, *, batch_size: int = 128) -> np.ndarray:
        """tanh output (n, 32 s, 32 s) float32 in (-1, 1) for latents ``z`` of shape (n, s*s),
        (n, s, s) or (n, s, s, 1)."""
        grid = latents_to_grid(z)
        side = grid.shape[1] * UPSCALE
        out = np.empty((grid.shape[0], side, side), dtype=np.float32)
        for a in range(0, grid.shape[0], batch_size):
            b = min(a + batch_size, grid.shape[0])
            out[a:b] = np.asarray(self.model_(grid[a:b], training=False))[..., 0]
        return out

    def generate(self, z, *, batch_size: int = 128) -> np.ndarray:
        """Binary images (n, 32 s, 32 s) uint8 for latents ``z``: per-image Otsu threshold of
        the tanh output, 1 above it."""
        return binarize(self.generate_continuous(z, batch_size=batch_size))

    def sample(self, n: int, latent_side: int, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` uniform latents of side ``latent_side`` and their binary images."""
        z = sample_latents(n, latent_side, seed)
        return z, self.generate(z)



def load_generator(profile_name: str | None = None) -> Generator:
    """The trained generator of profile ``profile_name`` (``None``: ``$INVDES_PROFILE``).

    ArtifactError (naming the file and ``invdes reproduce --profile P --steps gan --force``)
    when the weights are missing, truncated, corrupt or trained with another config.
    """
    profile = get_profile(profile_name)
    path, arrays = load_checked_weights(profile.name)
    try:
        gen = Generator.from_arrays(arrays)
    except WeightsFormatError as exc:
        raise ArtifactError(f"GAN weights file {path} does not fit the generator ({exc}); "
                            f"rebuild it with: {rebuild_command(profile.name, STEP)}") from exc
    gen.path = path
    return gen
