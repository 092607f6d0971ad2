"""The paper's mixture density network (MDN): a conditional density p(z | y) of a latent vector
``z`` (dimension d) given a scalar property ``y``.

Architecture (paper, appendix; REFERENCE.md "MDN"):

- body: ``n_blocks`` (4) densely connected blocks Dense(``hidden_units`` = 16) -> BatchNorm ->
  ReLU; block i takes the concatenation of the (standardized) input y and the outputs of all
  earlier blocks, so with one input the blocks see widths 1, 17, 33, 49;
- head: one Dense layer with ``K * (1 + 2 d)`` linear outputs (paper eq. 5) on the
  concatenation of the input and all blocks (width 65: the head is the next densely connected
  layer); its outputs are read as ``K`` mixture logits, ``K * d`` means and ``K * d`` raw scales,
  in that order; scale = ELU(raw) + 1 + ``scale_floor`` (a standard deviation, > 0);
- density: ``MixtureSameFamily(Categorical(logits), Independent(Normal(mean, scale), 1))`` of
  TensorFlow Probability, i.e. K = 40 diagonal Gaussians. TFP is used only in
  :func:`mixture_distribution` (the model's density; ``tfp.layers`` needs legacy Keras and
  is not used).
- loss: mean negative log-likelihood (paper eq. 4) of that density, written out in log space
  (:func:`make_nll_loss`: log-sum-exp over components), so it stays finite where the density
  underflows.

Training: Adam (1e-3), batch 128, early stopping with patience 50 on a random validation split,
best weights restored (also when ``max_epochs`` ends training first). The loop is a small custom
one around the Keras model and optimizer: one ``tf.function`` per epoch, which on a CPU is about
four times faster than ``keras.Model.fit`` for this tiny network (fit's per-epoch overhead,
about 50 ms, dominates when an epoch has few batches) and needs no global random state.

Sampling (paper, Sec. 3.3): draw a component from the mixture weights, then z from that Gaussian
with the predicted scale used as a *standard deviation* (the authors' released sampler used it
as a variance; see REFERENCE.md). Sampling is done in numpy by :func:`sample_mixture` from the
predicted parameters, so a seed fixes the samples exactly.

Determinism: the weight initializers are seeded from ``seed`` and the validation split and the
minibatch order come from ``numpy.random.default_rng(seed)``; no global random state is used or
changed. On a CPU two fits with the same seed give bitwise identical weights. On a GPU, bitwise
repeatability additionally needs ``tf.config.experimental.enable_op_determinism()``, which this
module does not switch on because it is process-wide.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from invdes.artifacts import ArtifactError, atomic_path, write_json  # noqa: E402
from invdes.checks import check_count as _check_count
from invdes.inverse.estimator import Estimator  # noqa: E402

tfd = tfp.distributions

FORMAT = "invdes-mdn"
FORMAT_VERSION = 1
#: Files written by :meth:`MDN.save` inside its directory.
PARAMS_FILE = "mdn.json"
WEIGHTS_FILE = "mdn.weights.h5"
#: Rows per forward pass when predicting mixture parameters (bounds memory, not results).
PREDICT_BATCH = 1024


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; got {type(value).__name__}") from exc
    return arr


def check_targets(y, name: str = "y") -> np.ndarray:
    """A property vector as float64 of shape (n,); accepts (n,) or (n, 1). ValueError on other
    shapes, on an empty array or on non-finite values."""
    arr = _as_float_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(
            f"{name} contains {bad.size} non-finite value(s) (NaN or inf), first at index "
            f"{bad[0]}; remove or repair those rows"
        )
    return arr


def check_latents(z, n: int | None = None, dim: int | None = None, name: str = "z") -> np.ndarray:
    """A 2-D float64 array (n, d) with finite values; optional checks of n and d."""
    arr = _as_float_array(z, name)
    if arr.ndim != 2:
        hint = f"; for d = 1 pass {name}[:, None]" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (n, d); got shape {arr.shape}{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but y has {n}; they must match")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(
            f"{name} has dimension {arr.shape[1]}; this model was fitted with d = {dim}"
        )
    if not np.all(np.isfinite(arr)):
        rows = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
        raise ValueError(
            f"{name} contains non-finite values (NaN or inf) in {rows.size} row(s), first at row "
            f"{rows[0]}; remove or repair those rows"
        )
    return arr


# --------------------------------------------------------------------------------------------
# Mixture in numpy: sampling and reference density
# --------------------------------------------------------------------------------------------


def _check_mixture(weights, means, scales) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    w = _as_float_array(weights, "weights")
    mu = _as_float_array(means, "means")
    s = _as_float_array(scales, "scales")
    single = w.ndim == 1
    if single:
        w, mu, s = w[None], mu[None], s[None]
    if w.ndim != 2 or mu.ndim != 3 or mu.shape[:2] != w.shape or s.shape != mu.shape:
        raise ValueError(
            "mixture parameters must have shapes weights (K,), means (K, d), scales (K, d) or, "
            f"batched, (m, K), (m, K, d), (m, K, d); got {np.shape(weights)}, "
            f"{np.shape(means)}, {np.shape(scales)}"
        )
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(mu)) and np.all(np.isfinite(s))):
        raise ValueError("mixture parameters contain non-finite values")
    if np.any(w < 0):
        raise ValueError("mixture weights must be non-negative")
    total = w.sum(axis=1, keepdims=True)
    if np.any(np.abs(total - 1.0) > 1e-3):
        raise ValueError(f"mixture weights must sum to 1 per row; got sums {total.ravel()[:5]}")
    if np.any(s <= 0):
        raise ValueError("mixture scales (standard deviations) must be positive")
    return w / total, mu, s, single


def sample_mixture(weights, means, scales, n: int, rng=None) -> np.ndarray:
    """Draw ``n`` samples from a mixture of diagonal Gaussians.

    For every sample a component k is drawn with probability ``weights[k]``, then
    ``z = means[k] + scales[k] * eps`` with ``eps ~ N(0, I)``: ``scales`` are standard deviations.

    Args:
        weights: (K,) mixture weights summing to 1, or (m, K) for m mixtures.
        means: (K, d) or (m, K, d).
        scales: (K, d) or (m, K, d) standard deviations, > 0.
        n: samples per mixture, >= 1.
        rng: a ``numpy.random.Generator``, a seed, or None (fresh entropy).

    Returns:
        (n, d) float64 for a single mixture, (m, n, d) for m mixtures.
    """
    n = _check_count(n)
    w, mu, s, single = _check_mixture(weights, means, scales)
    rng = np.random.default_rng(rng)
    m, k, d = mu.shape
    out = np.empty((m, n, d), dtype=np.float64)
    for i in range(m):
        comp = rng.choice(k, size=n, p=w[i])
        out[i] = mu[i, comp] + s[i, comp] * rng.standard_normal((n, d))
    return out[0] if single else out


def mixture_log_prob(weights, means, scales, z) -> np.ndarray:
    """Log density of ``z`` under mixtures of diagonal Gaussians, in numpy (log-sum-exp).

    ``weights`` (m, K), ``means`` / ``scales`` (m, K, d), ``z`` (m, d): one mixture per row of z.
    Returns (m,) float64. A reference for the TensorFlow Probability density of :class:`MDN`.
    """
    w, mu, s, single = _check_mixture(weights, means, scales)
    zz = _as_float_array(z, "z")
    if single:
        zz = zz[None]
    if zz.shape != (mu.shape[0], mu.shape[2]):
        raise ValueError(f"z must have shape {(mu.shape[0], mu.shape[2])}; got {zz.shape}")
    u = (zz[:, None, :] - mu) / s
    comp = -0.5 * u**2 - np.log(s) - 0.5 * math.log(2.0 * math.pi)
    with np.errstate(divide="ignore"):
        a = np.log(w) + comp.sum(axis=2)
    amax = a.max(axis=1, keepdims=True)
    out = amax[:, 0] + np.log(np.exp(a - amax).sum(axis=1))
    return out[0] if single else out


# --------------------------------------------------------------------------------------------
# Mixture in TensorFlow: parameter split, distribution, loss
# --------------------------------------------------------------------------------------------


def n_outputs(n_components: int, dim: int) -> int:
    """Width of the mixture head: K * (1 + 2 d) (paper eq. 5)."""
    return n_components * (1 + 2 * dim)


def split_params(raw, n_components: int, dim: int, scale_floor: float):
    """Split the head output (batch, K (1 + 2 d)) into logits (batch, K), means (batch, K, d)
    and scales (batch, K, d) = ELU(raw) + 1 + scale_floor (standard deviations)."""
    k, d = n_components, dim
    logits = raw[:, :k]
    loc = tf.reshape(raw[:, k : k + k * d], (-1, k, d))
    scale = tf.nn.elu(tf.reshape(raw[:, k + k * d :], (-1, k, d))) + (1.0 + scale_floor)
    return logits, loc, scale


def mixture_distribution(raw, n_components: int, dim: int, scale_floor: float):
    """The TFP mixture of K diagonal Gaussians parameterized by the head output ``raw``."""
    logits, loc, scale = split_params(raw, n_components, dim, scale_floor)
    return tfd.MixtureSameFamily(
        mixture_distribution=tfd.Categorical(logits=logits),
        components_distribution=tfd.Independent(tfd.Normal(loc=loc, scale=scale), 1),
    )


def make_nll_loss(n_components: int, dim: int, scale_floor: float):
    """A Keras loss ``(z_true, raw) -> per-sample negative log-likelihood`` (batch,), in nats.

    The density of :func:`mixture_distribution` written out (log-softmax weights plus the
    summed Gaussian log densities, log-sum-exp over components), pinned by the tests to the
    numpy :func:`mixture_log_prob`. On its own it was measured no faster than TFP's
    ``MixtureSameFamily.log_prob``; the direct MDN's speed-up comes from XLA
    (:data:`XLA_MIN_DIM`), which compiles these plain TensorFlow operations.
    """
    k, d = int(n_components), int(dim)
    log_norm = 0.5 * d * math.log(2.0 * math.pi)

    def mdn_nll(z_true, raw):
        logits, loc, scale = split_params(raw, k, d, scale_floor)
        u = (tf.cast(z_true, raw.dtype)[:, None, :] - loc) / scale  # (batch, K, d)
        comp = (-0.5 * tf.reduce_sum(tf.square(u), axis=2)
                - tf.reduce_sum(tf.math.log(scale), axis=2) - log_norm)  # (batch, K)
        return -tf.reduce_logsumexp(tf.nn.log_softmax(logits, axis=1) + comp, axis=1)

    return mdn_nll


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


def build_network(
    dim: int, n_components: int = 40, hidden_units: int = 16, n_blocks: int = 4, seed: int = 0
) -> keras.Model:
    """The densely connected MDN body plus the linear mixture head (see the module docstring).

    Input: standardized y, shape (batch, 1). Output: raw head values (batch, K (1 + 2 d)).
    Initializers are seeded from ``seed`` so the initial weights do not depend on global state.
    """
    layers = keras.layers
    inp = keras.Input(shape=(1,), name="y")
    features = [inp]
    for i in range(n_blocks):
        x = features[0] if i == 0 else layers.Concatenate(name=f"dense_input_{i}")(features)
        h = layers.Dense(
            hidden_units,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 1000 + i),
            name=f"dense_{i}",
        )(x)
        h = layers.BatchNormalization(name=f"batch_norm_{i}")(h)
        h = layers.Activation("relu", name=f"relu_{i}")(h)
        features.append(h)
    x = layers.Concatenate(name="head_input")(features) if len(features) > 1 else inp
    out = layers.Dense(
        n_outputs(n_components, dim),
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 1000 + 999),
        name="mixture_head",
    )(x)
    return keras.Model(inp, out, name="mdn")


#: latent dimension from which the training epoch is compiled with XLA: a wide head (the direct
#: MDN's thousands of pixels) spends its time in element-wise (batch, K, d) operations, which
#: XLA fuses (benchmarks/mdn_speed.py); narrow heads keep the plain graph, whose numbers the
#: committed GAN-MDN and PCA-MDN were trained with
XLA_MIN_DIM = 256


def _make_trainer(model: keras.Model, loss_fn, optimizer, batch_size: int, jit: bool = False):
    """Compiled functions for one training epoch and for the mean loss of a data set.

    ``train_epoch(x, z, perm)`` runs one pass of minibatch Adam steps over the rows in the order
    ``perm`` (int32, a permutation of the n rows; the last batch may be smaller) inside a single
    ``tf.function`` (with ``jit``: a Python loop over XLA-compiled steps) and returns the mean
    per-sample NLL seen during the epoch. ``mean_loss(x, z)`` evaluates the NLL in inference
    mode (batch-norm moving statistics) in chunks.
    """
    bs = int(batch_size)

    def adam_step(xb, zb):
        """One minibatch Adam step; returns the summed NLL of the batch."""
        with tf.GradientTape() as tape:
            nll = loss_fn(zb, model(xb, training=True))
            loss = tf.reduce_mean(nll)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return tf.reduce_sum(nll)

    @tf.function(reduce_retracing=True)
    def train_epoch(x, z, perm):
        n = tf.shape(perm)[0]
        n_batches = (n + bs - 1) // bs
        total = tf.constant(0.0, dtype=tf.float32)
        for i in tf.range(n_batches):
            idx = perm[i * bs : (i + 1) * bs]
            total += adam_step(tf.gather(x, idx), tf.gather(z, idx))
        return total / tf.cast(n, tf.float32)

    if jit:
        jit_step = tf.function(adam_step, reduce_retracing=True, jit_compile=True)

        def xla_epoch(x, z, perm):
            # XLA compiles one step per batch shape (the full batches and the last one); a
            # whole epoch as one XLA while loop would hold every batch's intermediates at once
            n = int(perm.shape[0])
            total = 0.0
            for a in range(0, n, bs):
                idx = perm[a : a + bs]
                total += float(jit_step(tf.gather(x, idx), tf.gather(z, idx)))
            return total / n

    @tf.function(reduce_retracing=True, jit_compile=bool(jit))
    def _sum_loss(xb, zb):
        return tf.reduce_sum(loss_fn(zb, model(xb, training=False)))

    def mean_loss(x, z) -> float:
        n = int(x.shape[0])
        chunk = max(bs, 1024) if z.shape[1] <= 64 else bs
        total = sum(float(_sum_loss(x[a : a + chunk], z[a : a + chunk]))
                    for a in range(0, n, chunk))
        return total / n

    return (xla_epoch if jit else train_epoch), mean_loss


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fit_fingerprint(params: dict, y: np.ndarray, z: np.ndarray) -> str:
    """A hash of the training parameters (verbosity aside) and data, naming a checkpoint."""
    h = hashlib.sha256(json.dumps({k: v for k, v in params.items() if k != "verbose"},
                                  sort_keys=True, default=str).encode())
    for arr in (y, z):
        a = np.ascontiguousarray(arr)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class _TrainingCheckpoint:
    """The resumable state of one MDN fit in one ``.npz`` file (written atomically, so an
    interruption leaves the last complete epoch). A file with another
    fingerprint (other parameters or data) is ignored and later overwritten."""

    def __init__(self, path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                if meta.get("fingerprint") != self.fingerprint:
                    return None
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(f"MDN checkpoint {self.path} unreadable ({exc}); training from the "
                          "start", RuntimeWarning, stacklevel=3)
            return None
        group = lambda prefix, n: [arrays[f"{prefix}{i}"] for i in range(n)]  # noqa: E731
        return {"epoch": meta["epoch"], "rng": meta["rng"], "history": meta["history"],
                "best": meta["best"], "best_epoch": meta["best_epoch"], "wait": meta["wait"],
                "elapsed_s": float(meta.get("elapsed_s", 0.0)),
                "weights": group("w", meta["n_weights"]),
                "best_weights": group("b", meta["n_weights"]),
                "optimizer": group("o", meta["n_optimizer"])}

    def save(self, *, epoch, weights, optimizer, rng, history, best, best_epoch, best_weights,
             wait, elapsed_s) -> None:
        meta = {"fingerprint": self.fingerprint, "epoch": int(epoch), "rng": rng,
                "elapsed_s": float(elapsed_s),
                "history": history, "best": float(best), "best_epoch": int(best_epoch),
                "wait": int(wait), "n_weights": len(weights), "n_optimizer": len(optimizer)}
        arrays = {f"w{i}": a for i, a in enumerate(weights)}
        arrays.update({f"b{i}": a for i, a in enumerate(best_weights)})
        arrays.update({f"o{i}": a for i, a in enumerate(optimizer)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, meta=np.asarray(json.dumps(meta)), **arrays)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class MDN(Estimator):
    """Mixture density network p(z | y) for a scalar y and a latent z of dimension d.

    Parameters (stored only; nothing is built before :meth:`fit`):
        n_components: K, number of diagonal Gaussians (paper: 40).
        hidden_units: width of each dense block (paper: 16).
        n_blocks: number of densely connected blocks (paper: 4).
        learning_rate: Adam learning rate (paper: 1e-3).
        batch_size: minibatch size (paper: 128).
        patience: early-stopping patience in epochs on the validation loss (paper: 50).
        max_epochs: upper bound on the number of epochs.
        validation_fraction: share of the rows held out (random split) for early stopping;
            0 monitors the training loss instead.
        scale_floor: added to ELU + 1 so every standard deviation is at least this large.
        seed: seeds the split, the initializers and the shuffling (see the module docstring).
        verbose: 0 silent, 1 a tqdm bar over epochs, 2 one Keras line per epoch.

    Learned state (after :meth:`fit`): ``model_`` (keras.Model), ``dim_`` (d), ``y_mean_``,
    ``y_std_`` (the standardization of y), ``y_range_`` (min, max of the training y),
    ``history_`` (dict: ``loss``, ``val_loss`` per epoch, mean NLL in nats), ``best_epoch_``
    (0-based), ``n_epochs_``, ``stop_reason_``, ``fit_seconds_`` (training wall time, summed
    over a checkpointed fit's interrupted runs).
    """

    def __init__(
        self,
        n_components: int = 40,
        hidden_units: int = 16,
        n_blocks: int = 4,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        patience: int = 50,
        max_epochs: int = 2000,
        validation_fraction: float = 0.1,
        scale_floor: float = 1e-6,
        seed: int = 0,
        verbose: int = 1,
    ):
        self.n_components = n_components
        self.hidden_units = hidden_units
        self.n_blocks = n_blocks
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.patience = patience
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.scale_floor = scale_floor
        self.seed = seed
        self.verbose = verbose

    param_names = (
        "n_components", "hidden_units", "n_blocks", "learning_rate", "batch_size", "patience",
        "max_epochs", "validation_fraction", "scale_floor", "seed", "verbose",
    )

    def _check_params(self) -> None:
        ints = ("n_components", "hidden_units", "n_blocks", "batch_size", "patience", "max_epochs")
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"MDN parameter {name} must be an integer >= 1; got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}")
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise ValueError(
                f"validation_fraction must be in [0, 1); got {self.validation_fraction!r}"
            )
        if not float(self.scale_floor) >= 0.0:
            raise ValueError(f"scale_floor must be >= 0; got {self.scale_floor!r}")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2; got {self.verbose!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this MDN is not fitted yet: call fit(y, z) or MDN.load(path)")

    def _standardize(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean_) / self.y_std_).astype(np.float32)[:, None]

    # -- training -----------------------------------------------------------------------------

    def fit(self, y, z, checkpoint=None) -> MDN:
        """Fit p(z | y) by maximum likelihood.

        Args:
            y: (n,) or (n, 1) properties (finite).
            z: (n, d) latents (finite).
            checkpoint: optional path of a resumable training state (weights, optimizer
                moments, best weights, history, random state), rewritten after every epoch; a
                later fit with the same parameters and data continues from it, bitwise as if
                never interrupted. Deleted when training ends.

        Returns:
            self.
        """
        self._check_params()
        y = check_targets(y, "y")
        z = check_latents(z, n=y.size)
        n, d = z.shape
        rng = np.random.default_rng(self.seed)
        n_val = int(round(float(self.validation_fraction) * n)) if self.validation_fraction else 0
        if self.validation_fraction and n_val == 0:
            n_val = 1
        if n - n_val < 1:
            raise ValueError(
                f"need at least one training row after the validation split; got n = {n} rows "
                f"with validation_fraction = {self.validation_fraction}"
            )
        perm = rng.permutation(n)
        tr, va = perm[n_val:], perm[:n_val]

        self.dim_ = d
        self.y_mean_ = float(np.mean(y[tr]))
        std = float(np.std(y[tr]))
        self.y_std_ = std if std > 0 else 1.0
        self.y_range_ = (float(np.min(y)), float(np.max(y)))

        model = build_network(d, self.n_components, self.hidden_units, self.n_blocks, self.seed)
        optimizer = keras.optimizers.Adam(learning_rate=float(self.learning_rate))
        optimizer.build(model.trainable_variables)
        loss_fn = make_nll_loss(self.n_components, d, float(self.scale_floor))
        train_epoch, mean_loss = _make_trainer(model, loss_fn, optimizer, int(self.batch_size),
                                               jit=d >= XLA_MIN_DIM)
        x_tr = tf.constant(self._standardize(y[tr]))
        z_tr = tf.constant(z[tr].astype(np.float32))
        if n_val:
            x_va, z_va = self._standardize(y[va]), z[va].astype(np.float32)

        history: dict[str, list[float]] = {"loss": [], "val_loss": []}
        best, best_epoch, best_weights, wait = math.inf, -1, None, 0
        stop_reason = "max_epochs"
        start, elapsed_before = 0, 0.0
        t_start = time.perf_counter()
        ckpt = None
        if checkpoint is not None:
            ckpt = _TrainingCheckpoint(checkpoint, _fit_fingerprint(self.get_params(), y, z))
            state = ckpt.load()
            if state is not None:
                model.set_weights(state["weights"])
                for var, value in zip(optimizer.variables, state["optimizer"], strict=True):
                    var.assign(value)
                rng.bit_generator.state = state["rng"]
                history, best, best_epoch = state["history"], state["best"], state["best_epoch"]
                best_weights, wait, start = state["best_weights"], state["wait"], state["epoch"]
                elapsed_before = state["elapsed_s"]
        bar = None
        if self.verbose == 1:
            from tqdm import tqdm

            bar = tqdm(total=int(self.max_epochs), initial=start, desc="MDN", unit="epoch")
        try:
            for epoch in range(start, int(self.max_epochs)):
                perm = tf.constant(rng.permutation(len(tr)).astype(np.int32))
                loss = float(train_epoch(x_tr, z_tr, perm))
                history["loss"].append(loss)
                if n_val:
                    history["val_loss"].append(mean_loss(x_va, z_va))
                value = history["val_loss"][-1] if n_val else loss
                if bar is not None:
                    post = {"loss": f"{loss:.4g}"}
                    if n_val:
                        post["val_loss"] = f"{value:.4g}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                elif self.verbose == 2:
                    extra = f" val_loss {value:.5g}" if n_val else ""
                    print(f"MDN epoch {epoch + 1}/{self.max_epochs}: loss {loss:.5g}{extra}")
                if not (math.isfinite(loss) and math.isfinite(value)):
                    stop_reason = "non-finite loss"
                    break
                if value < best:
                    best, best_epoch, wait = value, epoch, 0
                    best_weights = model.get_weights()
                else:
                    wait += 1
                    if wait >= int(self.patience):
                        stop_reason = "early stopping"
                        break
                if ckpt is not None:
                    ckpt.save(epoch=epoch + 1, weights=model.get_weights(),
                              optimizer=[v.numpy() for v in optimizer.variables],
                              rng=rng.bit_generator.state, history=history, best=best,
                              best_epoch=best_epoch, best_weights=best_weights, wait=wait,
                              elapsed_s=elapsed_before + time.perf_counter() - t_start)
        finally:
            if bar is not None:
                bar.close()
        if best_weights is None:
            raise RuntimeError(
                "MDN training produced a non-finite loss in the first epoch; check the scale of "
                "z (standardize it) or lower the learning rate"
            )
        if stop_reason == "non-finite loss":
            warnings.warn(
                f"MDN training stopped at epoch {len(history['loss'])}: non-finite loss; the best "
                f"weights (epoch {best_epoch + 1}) are kept",
                RuntimeWarning,
                stacklevel=2,
            )
        model.set_weights(best_weights)
        if ckpt is not None:
            ckpt.remove()
        self.model_ = model
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.n_epochs_ = len(history["loss"])
        self.stop_reason_ = stop_reason
        self.fit_seconds_ = elapsed_before + time.perf_counter() - t_start
        return self

    # -- prediction ---------------------------------------------------------------------------

    def _raw(self, y: np.ndarray) -> tf.Tensor:
        x = self._standardize(y)
        # rows per pass: at most PREDICT_BATCH and about 16 M output values (wide direct-MDN heads)
        step = max(1, min(PREDICT_BATCH, 2**24 // n_outputs(self.n_components, self.dim_)))
        parts = [self.model_(x[a : a + step], training=False) for a in range(0, x.shape[0], step)]
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)

    def mixture_params(self, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mixture parameters at properties ``y`` (scalar or (m,)): weights (m, K), means
        (m, K, d) and scales (m, K, d) (standard deviations), float64 numpy arrays."""
        self._check_fitted()
        yy = check_targets(np.atleast_1d(_as_float_array(y, "y")), "y")
        logits, loc, scale = split_params(
            self._raw(yy), self.n_components, self.dim_, float(self.scale_floor)
        )
        weights = tf.nn.softmax(tf.cast(logits, tf.float64), axis=-1).numpy()
        return weights, loc.numpy().astype(np.float64), scale.numpy().astype(np.float64)

    def log_prob(self, y, z) -> np.ndarray:
        """log p(z | y) in nats for paired rows: y (n,), z (n, d) -> (n,) float64."""
        self._check_fitted()
        yy = check_targets(y, "y")
        zz = check_latents(z, n=yy.size, dim=self.dim_)
        dist = mixture_distribution(
            self._raw(yy), self.n_components, self.dim_, float(self.scale_floor)
        )
        return dist.log_prob(zz.astype(np.float32)).numpy().astype(np.float64)

    def sample(self, y_target, n: int, seed=None) -> np.ndarray:
        """Draw ``n`` latents per target property (component by its weight, then a Gaussian draw
        with the scale as standard deviation).

        Args:
            y_target: a float, or an array of m targets.
            n: samples per target, >= 1.
            seed: int, ``numpy.random.Generator`` or None (fresh entropy).

        Returns:
            (n, d) for a scalar target, (m, n, d) for an array of m targets; float64.
        """
        self._check_fitted()
        n = _check_count(n)
        scalar = np.ndim(y_target) == 0
        targets = check_targets(np.atleast_1d(_as_float_array(y_target, "y_target")), "y_target")
        lo, hi = self.y_range_
        if np.any((targets < lo) | (targets > hi)):
            warnings.warn(
                f"target(s) {targets[(targets < lo) | (targets > hi)]} lie outside the training "
                f"range [{lo:.4g}, {hi:.4g}] of y: the MDN extrapolates",
                stacklevel=2,
            )
        weights, means, scales = self.mixture_params(targets)
        out = sample_mixture(weights, means, scales, n, np.random.default_rng(seed))
        return out[0] if scalar else out

    # -- persistence --------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save into directory ``path``: ``mdn.weights.h5`` (Keras weights) and ``mdn.json``
        (parameters, scaler, history, weights checksum). Both are written atomically; the JSON,
        written last, marks a complete save. Returns the directory."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        weights_path = folder / WEIGHTS_FILE
        with atomic_path(weights_path) as tmp:
            keras_tmp = tmp.with_name(tmp.name + ".weights.h5")  # Keras insists on this suffix
            try:
                self.model_.save_weights(keras_tmp)
                os.replace(keras_tmp, tmp)
            finally:
                if keras_tmp.exists():
                    keras_tmp.unlink()
        record = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "dim": self.dim_,
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
            "y_range": list(self.y_range_),
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "n_epochs": self.n_epochs_,
            "stop_reason": self.stop_reason_,
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": _sha256(weights_path),
        }
        write_json(folder / PARAMS_FILE, record)
        return folder

    @classmethod
    def load(cls, path) -> MDN:
        """Load an MDN saved by :meth:`save` from directory ``path``.

        Raises FileNotFoundError (naming the file) when a file is missing and
        :class:`~invdes.artifacts.ArtifactError` when it is corrupt or inconsistent.
        """
        folder = Path(path)
        params_path = folder / PARAMS_FILE
        if not params_path.is_file():
            raise FileNotFoundError(f"MDN parameter file {params_path} is missing (save an MDN "
                                    "there with MDN.save, or point to the right directory)")
        try:
            record = json.loads(params_path.read_text())
            if record.get("format") != FORMAT:
                raise ValueError(f"format is {record.get('format')!r}, expected {FORMAT!r}")
            params = dict(record["params"])
            dim = int(record["dim"])
            y_mean, y_std = float(record["y_mean"]), float(record["y_std"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"MDN parameter file {params_path} is corrupt: {exc}") from exc
        weights_path = folder / record.get("weights_file", WEIGHTS_FILE)
        if not weights_path.is_file():
            raise FileNotFoundError(f"MDN weights file {weights_path} is missing")
        if record.get("weights_sha256") and _sha256(weights_path) != record["weights_sha256"]:
            raise ArtifactError(
                f"MDN weights file {weights_path} does not match the checksum in {params_path} "
                "(corrupt or from another save); save the model again"
            )
        mdn = cls(**params)
        model = build_network(dim, mdn.n_components, mdn.hidden_units, mdn.n_blocks, mdn.seed)
        try:
            model.load_weights(weights_path)
        except Exception as exc:  # h5py / Keras raise several types for broken files
            raise ArtifactError(f"MDN weights file {weights_path} is corrupt: {exc}") from exc
        mdn.model_ = model
        mdn.dim_ = dim
        mdn.y_mean_, mdn.y_std_ = y_mean, y_std
        mdn.y_range_ = tuple(record.get("y_range", (-math.inf, math.inf)))
        mdn.history_ = record.get("history", {"loss": [], "val_loss": []})
        mdn.best_epoch_ = int(record.get("best_epoch", -1))
        mdn.n_epochs_ = int(record.get("n_epochs", len(mdn.history_.get("loss", []))))
        mdn.stop_reason_ = record.get("stop_reason", "unknown")
        return mdn
