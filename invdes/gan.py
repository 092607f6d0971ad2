"""The microstructure GAN (Keras 3, TensorFlow backend): a 4- or 9-number design space.

A fully convolutional generator turns a spatial latent ``z`` of shape (s, s, 1), uniform on
[-1, 1], into a (32 s) x (32 s) image; trained once at s = 4 on 128x128 images from
:mod:`invdes.microstructure`, the same weights serve Data-I (s = 3, 96x96) and Data-II (s = 2,
64x64), as in the paper. At design time the tanh output is binarized per image with Otsu's
threshold (pixels above it become 1, the minority phase, like the training images).

Networks (REFERENCE.md, "GAN"):

- generator: 5 transposed convolutions, kernel 4, stride 2, 'same', filters 128/64/32/16/1;
  batch norm + ReLU after the first four, tanh after the last.
- discriminator: 4 convolutions, kernel 4, stride 2, 'same', filters 16/32/64/128, batch norm +
  LeakyReLU(0.2); then one 'valid' convolution over the whole remaining (side/16)^2 map to one
  logit.

Losses: discriminator: binary cross-entropy (real -> 1, fake -> 0). Generator: non-saturating
adversarial loss ``-log D(G(z))`` + ``collapse_weight`` x collapse loss + ``style_weight`` x
style loss, both on features of generated (and real) images:

- collapse loss = pulling-away term: mean squared cosine similarity between the feature vectors
  of different samples in a batch (1 for identical samples, near 0 for unrelated ones). The
  feature maps are centred per image and channel (their spatial mean removed) first, so the
  term compares spatial *patterns*, not global statistics (those are the style loss's job).
- style loss = sum over feature layers of ``||<Gram(fake)> - <Gram(real)>||^2 /
  ||<Gram(real)>||^2`` with batch-averaged Gram matrices (zero for identical batches; relative,
  so the 0.03 weight does not depend on the features' scale).

The paper took these features from an ImageNet VGG16, which cannot be downloaded here. The
substitute (``GANConfig.feature_extractor``):

- ``"random"`` (default): a fixed, never-trained stack of three random convolutions (5x5 x 32
  at full resolution, 3x3 x 64 at 1/2 and 3x3 x 64 at 1/4 resolution, He-normal filters drawn
  from the seed, ReLU, average pooling). It needs no download and no training, it cannot drift
  or be gamed during training (unlike the discriminator), and Gram matrices of random
  convolutional features are a known texture descriptor (shallow random networks synthesize
  textures about as well as VGG; Ustyuzhaninov et al. 2017). Chapter 3 measures its effect.
- ``"discriminator"``: the discriminator's four hidden feature maps (an alternative compared in
  the ablation).

Training (:func:`train_gan`): Adam(learning_rate, beta_1), ``critic_steps`` discriminator steps
per generator step, latents uniform on [-1, 1]; each iteration draws its batches from
``numpy.random.default_rng([seed, 1, iteration])``, so a resumed run sees the same batches as
an uninterrupted one. Deterministic (``keras.utils.set_random_seed`` + TensorFlow op
determinism). Checkpoints (weights, optimizer states, weight average, iteration, loss history)
are written atomically every ``checkpoint_every`` iterations and a rerun resumes from them.
Three standard additions to the paper's recipe (chapter 3 gives the measurements behind them):

- instance noise: the discriminator sees real and generated images plus Gaussian noise, its
  standard deviation falling linearly from ``instance_noise`` to ``instance_noise_final``
  (binary training images versus a tanh output are otherwise trivially separable);
- weight averaging: the generator kept is an exponential moving average of the trained one
  (``ema_decay``), which smooths the oscillation of the adversarial game;
- batch-norm recalibration: the kept generator's moving statistics are set to the exact
  statistics over 512 latents at the training side (:func:`recalibrate_batch_norm`).

Artifact (``invdes.artifacts.artifact_dir(profile, "gan")``): ``generator.npz`` (raw weights,
readable by :mod:`invdes.gan_numpy` without TensorFlow), ``history.csv``, ``evaluation.json``,
``provenance.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from invdes import microstructure  # noqa: E402
from invdes.artifacts import (  # noqa: E402
    ArtifactError,
    artifact_dir,
    atomic_path,
    expected_hash,
    is_current,
    provenance,
    read_provenance,
    rebuild_command,
    write_json,
    write_provenance,
)
from invdes.checks import check_count  # noqa: E402
from invdes.config import GANConfig, Profile, get_profile  # noqa: E402
from invdes.gan_numpy import (  # noqa: E402
    CHECKPOINT_FILE,
    EVALUATION_FILE,
    HISTORY_FILE,
    N_LAYERS,
    STEP,
    UPSCALE,
    WEIGHTS_FILE,
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

GENERATOR_FILTERS = (128, 64, 32, 16, 1)
DISCRIMINATOR_FILTERS = (16, 32, 64, 128)
KERNEL = 4
LEAKY_SLOPE = 0.2
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
FEATURE_EXTRACTORS = ("random", "discriminator")
HISTORY_COLUMNS = (
    "iteration", "d_loss", "g_loss", "g_adv", "collapse", "style", "d_real", "d_fake", "time_s"
)
#: Ablation variants: changes to the profile's GANConfig (``seed_offset`` adds to its seed).
#: ``"full-other-seed"`` is the full loss again with another seed: the run-to-run spread that
#: a difference between the other variants has to exceed before it means anything.
ABLATION_VARIANTS: dict[str, dict] = {
    "full": {},
    "no-collapse": {"collapse_weight": 0.0},
    "no-style": {"style_weight": 0.0},
    "adversarial-only": {"collapse_weight": 0.0, "style_weight": 0.0},
    "discriminator-features": {"feature_extractor": "discriminator"},
    "full-other-seed": {"seed_offset": 1},
}
#: Goals of issue 3 at paper scale (checked in :func:`evaluate_generator`).
GOALS = {"vf_mean_abs_diff": 0.02, "vf_std_abs_diff": 0.01, "s2_rmse": 0.005,
         "diversity_ratio": 0.9}

__all__ = [
    "ABLATION_VARIANTS", "GOALS", "GANTrainer", "Generator", "ablation_config", "ablation_effects",
    "architecture_table",
    "build_discriminator", "build_generator", "collapse_loss", "evaluate_generator",
    "gram_matrices", "load_ablation", "load_generator", "load_history", "random_feature_filters",
    "random_features", "run_ablation", "sample_latents", "style_loss", "train_gan",
]


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def build_generator(latent_side: int | None = None) -> keras.Model:
    """The generator: (n, s, s, 1) latent -> (n, 32 s, 32 s, 1) tanh image.

    ``latent_side=None`` builds it with free spatial dimensions (one weight set for every s).
    """
    if latent_side is not None and latent_side < 1:
        raise ValueError(f"latent_side must be a positive integer or None; got {latent_side}")
    inputs = keras.Input(shape=(latent_side, latent_side, 1), name="z")
    x = inputs
    for i, filters in enumerate(GENERATOR_FILTERS, start=1):
        last = i == len(GENERATOR_FILTERS)
        x = keras.layers.Conv2DTranspose(
            filters, KERNEL, strides=2, padding="same", use_bias=last, name=f"deconv{i}"
        )(x)
        if last:
            x = keras.layers.Activation("tanh", name="tanh")(x)
        else:
            x = keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"bn{i}"
            )(x)
            x = keras.layers.ReLU(name=f"relu{i}")(x)
    return keras.Model(inputs, x, name="generator")


def build_discriminator(image_side: int = 128) -> keras.Model:
    """The discriminator: (n, side, side, 1) image in [-1, 1] -> (n, 1) logit.

    ``image_side`` must be a multiple of 16 (four stride-2 convolutions, then one convolution
    over the whole remaining map).
    """
    if image_side < 16 or image_side % 16:
        raise ValueError(f"image_side must be a positive multiple of 16; got {image_side}")
    inputs = keras.Input(shape=(image_side, image_side, 1), name="image")
    x = inputs
    for i, filters in enumerate(DISCRIMINATOR_FILTERS, start=1):
        x = keras.layers.Conv2D(
            filters, KERNEL, strides=2, padding="same", use_bias=False, name=f"conv{i}"
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"dbn{i}"
        )(x)
        x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"lrelu{i}")(x)
    x = keras.layers.Conv2D(1, image_side // 16, padding="valid", name="logit_conv")(x)
    x = keras.layers.Flatten(name="logit")(x)
    return keras.Model(inputs, x, name="discriminator")


def _discriminator_features_model(discriminator: keras.Model) -> keras.Model:
    outputs = [discriminator.get_layer(f"lrelu{i}").output
               for i in range(1, len(DISCRIMINATOR_FILTERS) + 1)]
    return keras.Model(discriminator.input, outputs, name="discriminator_features")


def architecture_table(latent_side: int = 4) -> list[dict]:
    """Layer rows (network, layer, type, output shape, parameters) of both networks for latent
    side ``latent_side`` (the discriminator at the training side 32 s)."""
    rows = []
    for net in (build_generator(latent_side), build_discriminator(UPSCALE * latent_side)):
        for layer in net.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            shape = tuple(layer.output.shape[1:])
            extra = ""
            if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv2DTranspose):
                extra = f" {layer.kernel_size[0]}x{layer.kernel_size[1]}/{layer.strides[0]}"
            rows.append({
                "network": net.name, "layer": layer.name,
                "type": type(layer).__name__ + extra,
                "output": "x".join(str(v) for v in shape),
                "parameters": int(layer.count_params()),
            })
    return rows


# --------------------------------------------------------------------------------------------
# Features, collapse and style losses
# --------------------------------------------------------------------------------------------

#: Random feature stack: (kernel side, filters, average-pool factor before the convolution).
RANDOM_FEATURE_LAYERS = ((5, 16, 1), (3, 32, 2), (3, 64, 2))


def random_feature_filters(seed: int = 0) -> list[np.ndarray]:
    """Fixed He-normal filters of the random feature stack, drawn from ``seed`` with numpy
    (platform independent): a list of (k, k, c_in, c_out) float32 arrays."""
    rng = np.random.default_rng([int(seed), 7])
    filters, c_in = [], 1
    for k, c_out, _ in RANDOM_FEATURE_LAYERS:
        std = math.sqrt(2.0 / (k * k * c_in))
        filters.append((rng.standard_normal((k, k, c_in, c_out)) * std).astype(np.float32))
        c_in = c_out
    return filters


def random_features(images, filters: list) -> list:
    """Feature maps of the random stack for images (n, h, w, 1) in [-1, 1]: a list of
    (n, h/p, w/p, c) tensors (p = 1, 2, 4)."""
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    out = []
    for (_, _, pool), kernel in zip(RANDOM_FEATURE_LAYERS, filters, strict=True):
        if pool > 1:
            x = tf.nn.avg_pool2d(x, pool, pool, "VALID")
        x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        out.append(x)
    return out


#: Features for the collapse and style losses are computed on the central crop of this side
#: (a quarter of a 128x128 image: the statistics are stationary, and it cuts their cost 4x).
FEATURE_CROP = 64


def _center_crop(images, side: int):
    h = images.shape[1]
    if h is None or h <= side:
        return images
    a = (h - side) // 2
    return images[:, a:a + side, a:a + side, :]


def gram_matrices(features) -> tf.Tensor:
    """Per-image Gram matrices of feature maps (n, h, w, c): (n, c, c), divided by h*w."""
    f = tf.convert_to_tensor(features, dtype=tf.float32)
    hw = tf.cast(tf.shape(f)[1] * tf.shape(f)[2], tf.float32)
    return tf.einsum("nhwc,nhwd->ncd", f, f) / hw


def style_loss(features_fake, features_real) -> tf.Tensor:
    """Sum over layers of ``||mean_n Gram(fake) - mean_n Gram(real)||^2 / ||mean_n
    Gram(real)||^2``. Arguments: one (n, h, w, c) feature map or a list of them (same layers).
    Zero when the two batches are identical."""
    if not isinstance(features_fake, list | tuple):
        features_fake, features_real = [features_fake], [features_real]
    if len(features_fake) != len(features_real):
        raise ValueError(f"need the same number of feature layers for fake and real; got "
                         f"{len(features_fake)} and {len(features_real)}")
    total = tf.constant(0.0)
    for ff, fr in zip(features_fake, features_real, strict=True):
        g_fake = tf.reduce_mean(gram_matrices(ff), axis=0)
        g_real = tf.reduce_mean(gram_matrices(fr), axis=0)
        total += tf.reduce_sum(tf.square(g_fake - g_real)) / (
            tf.reduce_sum(tf.square(g_real)) + 1e-12
        )
    return total


def collapse_loss(features) -> tf.Tensor:
    """Pulling-away term: mean over pairs i != j of the squared cosine similarity of the
    feature vectors of samples i and j. ``features``: (n, d), or (n, h, w, c) feature maps,
    which are centred per sample and channel (spatial mean removed) and flattened first.
    1 for n identical samples (with non-constant maps), 0 for mutually orthogonal ones, 0 when
    n < 2."""
    f = tf.convert_to_tensor(features, dtype=tf.float32)
    if f.shape.rank == 4:
        f = f - tf.reduce_mean(f, axis=(1, 2), keepdims=True)
    n = tf.shape(f)[0]
    f = tf.reshape(f, (n, -1))
    f = f / (tf.norm(f, axis=1, keepdims=True) + 1e-8)
    sim = tf.square(tf.matmul(f, f, transpose_b=True))
    nf = tf.cast(n, tf.float32)
    off = tf.reduce_sum(sim) - tf.reduce_sum(tf.linalg.diag_part(sim))
    return tf.where(n > 1, off / tf.maximum(nf * (nf - 1.0), 1.0), 0.0)


def _softplus_mean(x) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.softplus(x))


# --------------------------------------------------------------------------------------------
# The generator at design time
# --------------------------------------------------------------------------------------------


class Generator:
    """A trained generator: latents (n, s*s) in [-1, 1] -> binary images (n, 32 s, 32 s).

    ``generate(z)`` binarizes the tanh output per image with Otsu's threshold (1 = above it,
    the minority phase); ``generate_continuous(z)`` returns the tanh output. Batch norm runs in
    inference mode (moving statistics gathered in training at s = 4). ``artifact_hash``
    identifies the weights (same value as :class:`invdes.gan_numpy.NumpyGenerator`'s).
    """

    def __init__(self, model: keras.Model | None = None):
        self.model_ = model if model is not None else build_generator(None)
        self.path: Path | None = None
        self._hash: str | None = None

    # -- weights -------------------------------------------------------------------------
    def raw_arrays(self) -> dict[str, np.ndarray]:
        """Named weight arrays (format :data:`invdes.gan_numpy.WEIGHTS_FORMAT`)."""
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
        """Write the BN-folded weights for :func:`invdes.gan_numpy.numpy_generate` (atomic)."""
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


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _check_config(cfg: GANConfig, image_side: int) -> None:
    if cfg.latent_side * UPSCALE != image_side:
        raise ValueError(
            f"training images of side {image_side} need latent_side {image_side // UPSCALE} "
            f"(output side = 32 x latent side); GANConfig.latent_side is {cfg.latent_side}"
        )
    if cfg.feature_extractor not in FEATURE_EXTRACTORS:
        raise ValueError(f"feature_extractor must be one of {FEATURE_EXTRACTORS}; "
                         f"got {cfg.feature_extractor!r}")
    for name in ("iterations", "batch_size", "critic_steps", "checkpoint_every",
                 "n_train_images"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"GANConfig.{name} must be >= 1; got {getattr(cfg, name)}")
    if cfg.collapse_weight < 0 or cfg.style_weight < 0 or cfg.instance_noise < 0:
        raise ValueError("collapse_weight, style_weight and instance_noise must be >= 0")
    if not 0 <= cfg.label_smoothing < 1:
        raise ValueError(f"label_smoothing must lie in [0, 1); got {cfg.label_smoothing}")


def recalibrate_batch_norm(model: keras.Model, z, batch_size: int = 128) -> None:
    """Set the generator's batch-norm moving statistics to the exact mean and variance of each
    layer's input over latents ``z`` (n, s, s, 1), layer by layer (each layer sees the already
    recalibrated layers before it, in inference mode)."""
    z = np.asarray(z, dtype=np.float32)
    for i in range(1, N_LAYERS):
        sub = keras.Model(model.input, model.get_layer(f"deconv{i}").output)
        total = total_sq = None
        count = 0
        for a in range(0, len(z), batch_size):
            act = np.asarray(sub(z[a:a + batch_size], training=False), dtype=np.float64)
            act = act.reshape(-1, act.shape[-1])
            s1, s2 = act.sum(0), (act**2).sum(0)
            total = s1 if total is None else total + s1
            total_sq = s2 if total_sq is None else total_sq + s2
            count += len(act)
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0)
        bn = model.get_layer(f"bn{i}")
        gamma, beta, _, _ = bn.get_weights()
        bn.set_weights([gamma, beta, mean.astype(np.float32), var.astype(np.float32)])


def set_determinism(seed: int) -> None:
    """Seed Python, numpy and TensorFlow and make TensorFlow ops deterministic (process-wide)."""
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


class GANTrainer:
    """Generator, discriminator, their Adam optimizers and the two compiled training steps.

    ``trainer.iteration(real_batches, latents)`` runs ``critic_steps`` discriminator steps and
    one generator step; :meth:`state_arrays` / :meth:`load_state_arrays` (de)serialize
    everything a resumed run needs.
    """

    def __init__(self, config: GANConfig, image_side: int = 128):
        _check_config(config, image_side)
        self.config = config
        self.image_side = image_side
        set_determinism(config.seed)
        self.generator = build_generator(None)
        self.discriminator = build_discriminator(image_side)
        self.g_opt = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
        self.d_opt = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
        self.g_opt.build(self.generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)
        self.uses_features = config.collapse_weight > 0 or config.style_weight > 0
        if config.feature_extractor == "random":
            filters = [tf.constant(f) for f in random_feature_filters(config.seed)]
            self.features: Callable = lambda x: random_features(_center_crop(x, FEATURE_CROP),
                                                                filters)
        else:
            dfeat = _discriminator_features_model(self.discriminator)
            self.features = lambda x: list(dfeat(x, training=True))
        self.ema_generator = None
        if config.ema_decay > 0:
            self.ema_generator = build_generator(None)
            self.ema_generator.set_weights(self.generator.get_weights())
            self._ema_update = tf.function(self._ema_update_impl)
        self._d_step = tf.function(self._d_step_impl)
        self._g_step = tf.function(self._g_step_impl)
        self._g_losses = tf.function(self._g_losses_impl)

    # -- steps -------------------------------------------------------------------------------
    def _noisy(self, x, sigma, seed):
        """Instance noise: x + sigma * N(0, 1), drawn statelessly from ``seed`` (int32 (2,))."""
        return x + sigma * tf.random.stateless_normal(tf.shape(x), seed, dtype=x.dtype)

    def _d_step_impl(self, real, z, sigma, seed):
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            logit_real = self.discriminator(self._noisy(real, sigma, seed), training=True)
            logit_fake = self.discriminator(self._noisy(fake, sigma, seed + 1), training=True)
            target = tf.fill(tf.shape(logit_real), 1.0 - self.config.label_smoothing)
            loss = (tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, logit_real))
                    + _softplus_mean(logit_fake))
        variables = self.discriminator.trainable_variables
        self.d_opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return (loss, tf.reduce_mean(tf.sigmoid(logit_real)),
                tf.reduce_mean(tf.sigmoid(logit_fake)))

    def _g_losses_impl(self, real, z, sigma, seed):
        fake = self.generator(z, training=True)
        adv = _softplus_mean(-self.discriminator(self._noisy(fake, sigma, seed), training=True))
        collapse = tf.constant(0.0)
        style = tf.constant(0.0)
        if self.uses_features:
            f_fake = self.features(fake)
            collapse = collapse_loss(f_fake[-1])
            f_real = [tf.stop_gradient(f) for f in self.features(real)]
            style = style_loss(f_fake, f_real)
        total = adv + self.config.collapse_weight * collapse + self.config.style_weight * style
        return total, adv, collapse, style

    def _g_step_impl(self, real, z, sigma, seed):
        with tf.GradientTape() as tape:
            total, adv, collapse, style = self._g_losses_impl(real, z, sigma, seed)
        variables = self.generator.trainable_variables
        self.g_opt.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return total, adv, collapse, style

    def noise_sigma(self, it: int) -> float:
        """Instance-noise standard deviation at iteration ``it``: linear from
        ``instance_noise`` (first iteration) to ``instance_noise_final`` (last)."""
        c = self.config
        frac = min(max(it / max(c.iterations - 1, 1), 0.0), 1.0)
        return float(c.instance_noise + (c.instance_noise_final - c.instance_noise) * frac)

    def _ema_update_impl(self, decay):
        for e, w in zip(self.ema_generator.weights, self.generator.weights, strict=True):
            e.assign(decay * e + (1.0 - decay) * w)

    def ema_update(self, it: int) -> None:
        """Polyak (exponential moving) average of the generator weights, decay
        ``min(ema_decay, (1 + it) / (10 + it))``; no-op when ``ema_decay`` is 0."""
        if self.ema_generator is not None:
            decay = min(self.config.ema_decay, (1.0 + it) / (10.0 + it))
            self._ema_update(tf.constant(decay, tf.float32))

    def final_generator(self, n_calibration: int = 512) -> Generator:
        """The generator to keep: the weight average when ``ema_decay`` > 0, else the trained
        generator; batch-norm statistics recalibrated on ``n_calibration`` latents at the
        training side (:func:`recalibrate_batch_norm`)."""
        model = build_generator(None)
        model.set_weights((self.ema_generator or self.generator).get_weights())
        rng = np.random.default_rng([int(self.config.seed), 2])
        s = self.config.latent_side
        z = rng.uniform(-1.0, 1.0, size=(n_calibration, s, s, 1)).astype(np.float32)
        recalibrate_batch_norm(model, z)
        return Generator(model)

    def _args(self, real, z, sigma, seed):
        return (tf.constant(real, tf.float32), tf.constant(z, tf.float32),
                tf.constant(sigma, tf.float32), tf.constant(seed, tf.int32))

    def generator_losses(self, real, z, sigma: float = 0.0, seed=(0, 0)) -> dict[str, float]:
        """Generator losses (no update) on a batch: real (n, side, side, 1) in [-1, 1], z
        (n, s, s, 1); ``sigma``: instance noise on the discriminator's input."""
        vals = self._g_losses(*self._args(real, z, sigma, seed))
        return dict(zip(("g_loss", "g_adv", "collapse", "style"),
                        (float(v) for v in vals), strict=True))

    def generator_step(self, real, z, sigma: float = 0.0, seed=(0, 0)) -> dict[str, float]:
        vals = self._g_step(*self._args(real, z, sigma, seed))
        return dict(zip(("g_loss", "g_adv", "collapse", "style"),
                        (float(v) for v in vals), strict=True))

    def discriminator_step(self, real, z, sigma: float = 0.0, seed=(0, 0)) -> dict[str, float]:
        vals = self._d_step(*self._args(real, z, sigma, seed))
        return dict(zip(("d_loss", "d_real", "d_fake"), (float(v) for v in vals), strict=True))

    def iteration(self, real_batches: list, latents: list, it: int = 0) -> dict[str, float]:
        """Iteration ``it``: ``critic_steps`` D steps (on ``real_batches[:-1]``,
        ``latents[:-1]``) then one G step (on the last of each). Returns the mean D losses and
        the G losses."""
        k = self.config.critic_steps
        sigma = self.noise_sigma(it)
        base = (int(self.config.seed) * 7919 + 3 * int(it)) % (2**30)
        d = [self.discriminator_step(real_batches[i], latents[i], sigma, (base, 2 * i))
             for i in range(k)]
        g = self.generator_step(real_batches[k], latents[k], sigma, (base, 2 * k))
        out = {key: float(np.mean([di[key] for di in d])) for key in d[0]}
        out.update(g)
        return out

    # -- state -------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for prefix, items in (("G", self.generator.get_weights()),
                              ("D", self.discriminator.get_weights()),
                              ("gopt", [np.asarray(v) for v in self.g_opt.variables]),
                              ("dopt", [np.asarray(v) for v in self.d_opt.variables]),
                              ("E", self.ema_generator.get_weights()
                               if self.ema_generator is not None else [])):
            for i, a in enumerate(items):
                arrays[f"{prefix}/{i:03d}"] = np.asarray(a)
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        def group(prefix):
            keys = sorted(k for k in arrays if k.startswith(prefix + "/"))
            return [arrays[k] for k in keys]

        self.generator.set_weights(group("G"))
        self.discriminator.set_weights(group("D"))
        if self.ema_generator is not None:
            self.ema_generator.set_weights(group("E"))
        for prefix, opt in (("gopt", self.g_opt), ("dopt", self.d_opt)):
            values = group(prefix)
            if len(values) != len(opt.variables):
                raise ValueError(f"checkpoint holds {len(values)} {prefix} variables; the "
                                 f"optimizer has {len(opt.variables)}")
            for var, val in zip(opt.variables, values, strict=True):
                var.assign(val)


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """Binary images (n, h, w) -> float32 (n, h, w, 1) in {-1, +1} (phase 1 -> +1)."""
    return (np.asarray(images, dtype=np.float32) * 2.0 - 1.0)[..., None]


def iteration_batches(images: np.ndarray, config: GANConfig, it: int):
    """The batches of iteration ``it``: ``critic_steps + 1`` real batches (n, side, side, 1) and
    latents (n, s, s, 1), drawn from ``default_rng([seed, 1, it])`` (resumable)."""
    rng = np.random.default_rng([int(config.seed), 1, int(it)])
    reals, zs = [], []
    s, b = config.latent_side, config.batch_size
    for _ in range(config.critic_steps + 1):
        reals.append(to_unit_range(images[rng.integers(0, len(images), size=b)]))
        zs.append(rng.uniform(-1.0, 1.0, size=(b, s, s, 1)).astype(np.float32))
    return reals, zs


def training_images(profile: Profile, config: GANConfig | None = None) -> np.ndarray:
    """The GAN's training images: ``n_train_images`` from :func:`invdes.microstructure.generate`
    with the profile's microstructure config and the GAN seed, (n, side, side) uint8."""
    config = config or profile.gan
    return microstructure.generate(config.n_train_images, profile.microstructure,
                                   seed=config.seed)


def _write_checkpoint(path: Path, trainer: GANTrainer, iteration: int, history: list,
                      elapsed: float, chash: str) -> None:
    arrays = trainer.state_arrays()
    arrays["meta/iteration"] = np.array(iteration)
    arrays["meta/elapsed_s"] = np.array(elapsed)
    arrays["meta/config_hash"] = np.array(chash)
    arrays["meta/history"] = np.asarray(history, dtype=np.float64).reshape(-1,
                                                                           len(HISTORY_COLUMNS))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _write_history(path: Path, history: list) -> None:
    with atomic_path(path) as tmp:
        lines = [",".join(HISTORY_COLUMNS)]
        lines += [",".join(f"{v:.6g}" for v in row) for row in history]
        tmp.write_text("\n".join(lines) + "\n")


def load_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The loss history CSV as a dict column -> array."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
    data = np.genfromtxt(path, delimiter=",", names=True, ndmin=1)
    return {name: np.asarray(data[name]) for name in data.dtype.names}


def train_gan(profile: Profile | str | None = None, out_dir: str | os.PathLike | None = None, *,
              resume: bool = True, force: bool = False, progress: bool = True,
              config: GANConfig | None = None, stop_after: int | None = None,
              evaluate: bool = True, images: np.ndarray | None = None) -> Generator | None:
    """Train the GAN of ``profile`` and write its artifact; returns the trained Generator.

    ``out_dir`` defaults to ``artifact_dir(profile.name, "gan")``. An existing artifact whose
    recorded config (``profile.microstructure`` + GAN config) matches is reused unless
    ``force``. With ``resume`` a checkpoint of the same config continues where it stopped.
    ``config`` overrides ``profile.gan`` (ablations, tests). ``stop_after`` stops after that
    many iterations (a deliberate interruption: checkpoint written, returns None).
    ``images`` overrides the training images (tests).
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    cfg = config or profile.gan
    out = Path(out_dir) if out_dir is not None else artifact_dir(profile.name, STEP)
    out.mkdir(parents=True, exist_ok=True)
    configs = {"gan": cfg, "microstructure": profile.microstructure}
    chash = expected_hash(configs)
    if not force and is_current(out, configs, required=(WEIGHTS_FILE,)):
        gen = Generator.load(out / WEIGHTS_FILE)
        return gen

    t_setup = time.perf_counter()
    if images is None:
        images = training_images(profile, cfg)
    _check_config(cfg, images.shape[1])
    trainer = GANTrainer(cfg, image_side=images.shape[1])
    ckpt = out / CHECKPOINT_FILE
    start, elapsed, history = 0, 0.0, []
    if resume and ckpt.exists():
        try:
            arrays = read_npz(ckpt)
            if str(arrays["meta/config_hash"]) == chash:
                trainer.load_state_arrays(arrays)
                start = int(arrays["meta/iteration"])
                elapsed = float(arrays["meta/elapsed_s"])
                history = [list(r) for r in arrays["meta/history"]]
                print(f"resuming GAN training from {ckpt} at iteration {start}",
                      file=sys.stderr)
            else:
                print(f"ignoring checkpoint {ckpt}: another config", file=sys.stderr)
        except (WeightsFormatError, KeyError, ValueError) as exc:
            print(f"ignoring unreadable checkpoint {ckpt}: {exc}", file=sys.stderr)
    elif ckpt.exists():
        ckpt.unlink()
    setup_s = time.perf_counter() - t_setup

    from tqdm.auto import tqdm

    end = cfg.iterations if stop_after is None else min(cfg.iterations, int(stop_after))
    bar = tqdm(range(start, end), initial=start, total=cfg.iterations, disable=not progress,
               desc=f"GAN {profile.name}", mininterval=2.0, smoothing=0.05)
    t0 = time.perf_counter()
    elapsed0 = elapsed
    for it in bar:
        reals, zs = iteration_batches(images, cfg, it)
        vals = trainer.iteration(reals, zs, it)
        trainer.ema_update(it)
        elapsed = elapsed0 + time.perf_counter() - t0
        history.append([it + 1] + [vals[c] for c in HISTORY_COLUMNS[1:-1]] + [elapsed])
        bar.set_postfix({"D": f"{vals['d_loss']:.3f}", "G": f"{vals['g_adv']:.3f}",
                         "col": f"{vals['collapse']:.3f}", "sty": f"{vals['style']:.3f}"},
                        refresh=False)
        if (it + 1) % cfg.checkpoint_every == 0 and it + 1 < cfg.iterations:
            _write_checkpoint(ckpt, trainer, it + 1, history, elapsed, chash)
            _write_history(out / HISTORY_FILE, history)
    bar.close()
    if end < cfg.iterations:
        _write_checkpoint(ckpt, trainer, end, history, elapsed, chash)
        _write_history(out / HISTORY_FILE, history)
        return None

    gen = trainer.final_generator()
    gen.save(out / WEIGHTS_FILE)
    _write_history(out / HISTORY_FILE, history)
    n_timed = max(len(history) - 1, 1)
    per_it = (history[-1][-1] - history[0][-1]) / n_timed if len(history) > 1 else elapsed
    extra = {
        "weights_hash": gen.artifact_hash, "iterations": cfg.iterations,
        "n_train_images": int(len(images)), "image_side": int(images.shape[1]),
        "time_per_iteration_s": round(per_it, 4), "setup_s": round(setup_s, 2),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    if evaluate:
        t_eval = time.perf_counter()
        ev = {f"{s}x{s}": evaluate_generator(gen, images, s, n=cfg.n_eval_images,
                                              seed=cfg.seed + 1) for s in (2, 3, 4)}
        write_json(out / EVALUATION_FILE, ev)
        extra["evaluation_s"] = round(time.perf_counter() - t_eval, 2)
        extra["evaluation"] = {k: v["summary"] for k, v in ev.items()}
    write_provenance(out, provenance(configs, seed=cfg.seed, wall_time_s=elapsed, **extra))
    if ckpt.exists():
        ckpt.unlink()
    gen.path = out / WEIGHTS_FILE
    return gen


# --------------------------------------------------------------------------------------------
# Loading the artifact
# --------------------------------------------------------------------------------------------


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


def load_or_train_generator(profile: Profile | str | None = None, *,
                            progress: bool = True) -> Generator:
    """The profile's generator: the current artifact if there is one, else trained now."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    try:
        return load_generator(profile.name)
    except ArtifactError:
        return train_gan(profile, progress=progress)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

VF_BINS = np.linspace(0.0, 0.7, 36)
CHORD_BINS = np.arange(0.5, 41.5, 1.0)


def _pairwise_hamming(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
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
    d = _pairwise_hamming(images)
    return float((d.sum() - np.trace(d)) / (n * (n - 1)))


def nearest_distance(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Pixel distance from each query image to its nearest reference image, shape (n,)."""
    out = np.empty(len(queries))
    for a in range(0, len(queries), 256):
        out[a:a + 256] = _pairwise_hamming(queries[a:a + 256], references).min(axis=1)
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


# --------------------------------------------------------------------------------------------
# Ablation
# --------------------------------------------------------------------------------------------


def ablation_dir(profile_name: str, variant: str, *, scaled: bool = False,
                 create: bool = True) -> Path:
    """Directory of an ablation variant: the profile's GAN artifact for ``"full"`` at full
    scale, else ``artifact_dir(profile, "gan-ablation/<variant>")`` (made unless not
    ``create``)."""
    if variant == "full" and not scaled:
        return artifact_dir(profile_name, STEP, create=create)
    return artifact_dir(profile_name, f"{STEP}-ablation/{variant}", create=create)


def ablation_config(base: GANConfig, variant: str, iterations: int | None = None) -> GANConfig:
    """The GANConfig of ablation ``variant`` (a key of :data:`ABLATION_VARIANTS`) on ``base``,
    trained for ``iterations`` when given."""
    if variant not in ABLATION_VARIANTS:
        raise ValueError(f"unknown ablation variant {variant!r}; allowed: "
                         f"{', '.join(ABLATION_VARIANTS)}")
    changes = dict(ABLATION_VARIANTS[variant])
    if "seed_offset" in changes:
        changes["seed"] = base.seed + int(changes.pop("seed_offset"))
    if iterations is not None:
        changes["iterations"] = check_count(iterations, "ablation iterations")
    return dataclasses.replace(base, **changes)


def run_ablation(profile: Profile | str | None = None, variants=None, *, resume: bool = True,
                 progress: bool = True, iterations: int | None = None) -> dict:
    """Train (or reuse) one GAN per variant of :data:`ABLATION_VARIANTS` and return
    ``{variant: {"evaluation", "history", "provenance", "directory"}}``. ``"full"`` is the
    profile's own GAN artifact; the others live in ``artifact_dir(profile, "gan-ablation/V")``.
    ``iterations`` trains every variant (``"full"`` included, then also under gan-ablation/)
    for that many iterations instead of the profile's."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    variants = list(variants or ABLATION_VARIANTS)
    scaled = iterations is not None and iterations != profile.gan.iterations
    configs = {v: ablation_config(profile.gan, v, iterations if scaled else None)
               for v in variants}  # checks every name before any training
    results = {}
    for variant, cfg in configs.items():
        out = ablation_dir(profile.name, variant, scaled=scaled)
        train_gan(profile, out, resume=resume, progress=progress, config=cfg)
        results[variant] = load_ablation_result(out)
    return results


def load_ablation_result(directory: str | os.PathLike) -> dict:
    directory = Path(directory)
    return {"evaluation": load_evaluation(directory),
            "history": load_history(directory / HISTORY_FILE),
            "provenance": read_provenance(directory), "directory": str(directory)}


def load_ablation(profile: Profile | str) -> dict:
    """Stored ablation results of a profile: for each variant, the artifact whose recorded
    config equals the profile's with the variant's changes, any number of iterations allowed
    (an ablation may run shorter than the main training: :func:`run_ablation`'s
    ``iterations``). Ablation directories are preferred to the main artifact for ``"full"``
    so that all variants share one iteration count when possible."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    out = {}
    for variant in ABLATION_VARIANTS:
        for scaled in (True, False):
            directory = ablation_dir(profile.name, variant, scaled=scaled, create=False)
            prov = read_provenance(directory)
            if prov is None or not (directory / EVALUATION_FILE).exists():
                continue
            iters = prov.get("config", {}).get("gan", {}).get("iterations")
            if not isinstance(iters, int):
                continue
            cfg = ablation_config(profile.gan, variant, iters)
            if is_current(directory, {"gan": cfg, "microstructure": profile.microstructure},
                          required=(WEIGHTS_FILE, EVALUATION_FILE)):
                out[variant] = load_ablation_result(directory)
                break
    return out


# --------------------------------------------------------------------------------------------
# Figures (matplotlib imported lazily)
# --------------------------------------------------------------------------------------------


def markdown_table(rows: list[dict], columns: list[str] | None = None,
                   floatfmt: str = ".4g") -> str:
    """A GitHub-markdown table of a list of dicts (for ``IPython.display.Markdown``): booleans
    as yes / **no**, floats with ``floatfmt``; rendered by :class:`invdes.report.Table`."""
    from invdes.report import Table

    if not rows:
        return ""
    columns = columns or list(rows[0])

    def fmt(v):
        if isinstance(v, bool):
            return "yes" if v else "**no**"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    return Table(columns, [[fmt(r.get(c, "")) for c in columns] for r in rows],
                 align=["l"] * len(columns)).to_markdown()


def summary_rows(evaluations: dict) -> list[dict]:
    """Rows (one per latent side) of the headline numbers of :func:`evaluate_generator`."""
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
    d = _pairwise_hamming(gen, ref)
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


def ablation_rows(results: dict, key: str = "3x3") -> list[dict]:
    """Rows (one per ablation variant) of the headline numbers at latent side ``key``."""
    rows = []
    for variant, res in results.items():
        ev = res["evaluation"]
        if not ev or key not in ev:
            continue
        s = ev[key]["summary"]
        prov = res.get("provenance") or {}
        rows.append({
            "variant": variant, "iterations": prov.get("iterations", ""),
            "vf mean (train)": f"{s['vf_mean_generated']:.3f} ({s['vf_mean_training']:.3f})",
            "vf std (train)": f"{s['vf_std_generated']:.3f} ({s['vf_std_training']:.3f})",
            "S2 RMSE": s["s2_rmse"], "chord1 W1 (px)": s["chord1_wasserstein"],
            "diversity ratio": s["diversity_ratio"], "novelty ratio": s["novelty_ratio"],
        })
    return rows


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
                     yardstick: str = "full-other-seed") -> list[dict]:
    """One row per metric of :data:`ABLATION_METRICS`: the ``reference`` variant's value, the
    seed spread |reference - yardstick|, and each other variant's change from the reference,
    starred where it exceeds the seed spread (a single pair of seeds: a rough yardstick, not a
    test). Empty when the reference or the yardstick is missing."""
    summaries = {v: r["evaluation"][key]["summary"] for v, r in results.items()
                 if r.get("evaluation") and key in r["evaluation"]}
    if reference not in summaries or yardstick not in summaries:
        return []
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
    return rows


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


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m invdes.gan", description="Train the microstructure GAN of a profile."
    )
    parser.add_argument("--profile", default=None, help="smoke or paper (default $INVDES_PROFILE)")
    parser.add_argument("--no-resume", action="store_true", help="ignore any checkpoint")
    parser.add_argument("--force", action="store_true", help="retrain even if current")
    parser.add_argument("--ablation", nargs="*", default=None, metavar="VARIANT",
                        help="train ablation variants (default: all of "
                        f"{', '.join(ABLATION_VARIANTS)})")
    parser.add_argument("--ablation-iterations", type=int, default=None, metavar="N",
                        help="iterations of each ablation variant (default: the profile's)")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    profile = get_profile(args.profile)
    print(f"profile {profile.name}: {json.dumps(dataclasses.asdict(profile.gan))}", flush=True)
    if args.ablation is not None:
        try:  # the names and the iteration count, checked before any training
            for variant in args.ablation or ABLATION_VARIANTS:
                ablation_config(profile.gan, variant, args.ablation_iterations)
        except ValueError as exc:
            parser.error(str(exc))
        res = run_ablation(profile, args.ablation or None, resume=not args.no_resume,
                           iterations=args.ablation_iterations)
        for variant, r in res.items():
            print(variant, json.dumps(r["evaluation"] and
                                      {k: v["summary"] for k, v in r["evaluation"].items()}))
        return 0
    t0 = time.perf_counter()
    gen = train_gan(profile, resume=not args.no_resume, force=args.force)
    prov = read_provenance(artifact_dir(profile.name, STEP))
    print(f"done in {time.perf_counter() - t0:.1f} s: {gen.path}", flush=True)
    if prov and "evaluation" in prov:
        print(json.dumps(prov["evaluation"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
