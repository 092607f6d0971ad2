"""A forward surrogate: an ensemble of small networks that predicts the absorption y of a design
from its latent z, its binary image x, or both (y ~ f(z, x)).

The surrogate is the forward model of the neural adjoint (:mod:`invdes.inverse.adjoint`, Ren et
al., NeurIPS 2020): it is fitted on the simulated data set (z, x, y) and then differentiated with
respect to its input to search for designs with a target absorption.

Input kinds (``inputs``):

- ``"z"``: an MLP on the latent z (n, d) in [-1, 1]^d;
- ``"image"``: a small CNN on the binary image x (n, h, w) in {0, 1}: per entry of
  ``conv_filters`` one periodic (circular, wrap-around) padding of 1 pixel and a 3x3 convolution
  with stride 2 and ReLU (each halves the side, rounding up), then a global average over the
  remaining map and the MLP of ``hidden_units``. The images are unit cells of a periodic
  structure, so the circular padding and the global average make the features (nearly)
  invariant to a circular shift of the cell, as the absorption is; any image size works;
- ``"both"``: the CNN features concatenated with z, then the MLP.

Every network ends in one linear output: the standardized absorption (y - ``y_mean_``) /
``y_std_`` (mean and standard deviation of the training y). The loss is the mean squared error of
the standardized y; Adam; early stopping on a validation split with the best weights restored.

Ensemble: ``n_members`` networks, member k with seed ``seed + k``, which seeds its weight
initializers, its own random validation split and its minibatch order
(``numpy.random.default_rng(seed + k)``). :meth:`SurrogateEnsemble.predict` returns the mean and
the standard deviation over the members (a rough uncertainty, in absorption units).

Differentiable paths (TensorFlow tensors in, tensors out, gradients flow to the input):
:meth:`SurrogateEnsemble.predict_tf` (``inputs == "z"``) and
:meth:`SurrogateEnsemble.predict_tf_images`, which accepts *continuous* images in [0, 1] (a soft
binarization of a generator's output) so that a gradient reaches the generator's latent.

Determinism: no global random state is used or changed; on a CPU two fits with the same
parameters and data give identical weights and predictions.

Persistence: :meth:`SurrogateEnsemble.save` writes one ``.npz`` (every member's
``get_weights()`` arrays plus the parameters and learned state as JSON), atomically.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from invdes.artifacts import ArtifactError, atomic_path  # noqa: E402
from invdes.inverse.estimator import Estimator  # noqa: E402
from invdes.inverse.mdn import check_targets  # noqa: E402

__all__ = ["INPUT_KINDS", "CircularPad2D", "SurrogateEnsemble", "build_surrogate_network"]

#: The accepted values of ``inputs``.
INPUT_KINDS = ("z", "image", "both")
FORMAT = "invdes-surrogate"
FORMAT_VERSION = 1
#: Rows per forward pass in :meth:`SurrogateEnsemble.predict` (bounds memory, not results).
PREDICT_BATCH = 1024
#: Latents may exceed the box [-1, 1] by this much (float32 rounding).
Z_TOLERANCE = 1e-6


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


class CircularPad2D(keras.layers.Layer):
    """Periodic (wrap-around) padding of ``pad`` pixels on both sides of both spatial axes of a
    (batch, h, w, channels) tensor: (batch, h + 2 pad, w + 2 pad, channels). ``pad`` <= h, w."""

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        x = keras.ops.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
        return keras.ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = 2 * self.pad
        return (n, None if h is None else h + grow, None if w is None else w + grow, c)

    def get_config(self) -> dict:
        return {**super().get_config(), "pad": self.pad}


def build_surrogate_network(
    inputs: str,
    dim: int | None,
    image_shape: tuple[int, int] | None,
    hidden_units=(128, 128, 64),
    conv_filters=(16, 32, 64),
    seed: int = 0,
) -> keras.Model:
    """One ensemble member (see the module docstring).

    Model inputs: ``"z"``: z (batch, dim); ``"image"``: images (batch, h, w) in [0, 1];
    ``"both"``: the list [images, z]. Output: (batch, 1), the standardized absorption.
    Initializers are seeded from ``seed`` (``seed * 1000 + layer index``).
    """
    layers = keras.layers

    def init(i: int):
        return keras.initializers.GlorotUniform(seed=int(seed) * 1000 + i)

    model_inputs, features = [], []
    if inputs in ("image", "both"):
        h, w = image_shape
        img = keras.Input(shape=(h, w), name="image")
        t = layers.Reshape((h, w, 1), name="channel")(img)
        t = layers.Rescaling(2.0, offset=-1.0, name="center")(t)  # [0, 1] -> [-1, 1]
        for i, filters in enumerate(conv_filters):
            t = CircularPad2D(1, name=f"wrap_{i}")(t)
            t = layers.Conv2D(int(filters), 3, strides=2, padding="valid", activation="relu",
                              kernel_initializer=init(i), name=f"conv_{i}")(t)
        features.append(layers.GlobalAveragePooling2D(name="pool")(t))
        model_inputs.append(img)
    if inputs in ("z", "both"):
        z = keras.Input(shape=(dim,), name="z")
        features.append(z)
        model_inputs.append(z)
    h = features[0] if len(features) == 1 else layers.Concatenate(name="features")(features)
    for j, units in enumerate(hidden_units):
        h = layers.Dense(int(units), activation="relu", kernel_initializer=init(100 + j),
                         name=f"dense_{j}")(h)
    out = layers.Dense(1, kernel_initializer=init(999), name="y")(h)
    return keras.Model(model_inputs[0] if len(model_inputs) == 1 else model_inputs, out,
                       name=f"surrogate_{inputs}")


def _as_model_input(inputs: str, z, x):
    """The model's input structure from the latents z and the images x (arrays or tensors, any
    float/int dtype): Keras refuses a list that mixes numpy arrays and tensors."""
    if z is not None:
        z = tf.convert_to_tensor(z, dtype=tf.float32)
    if inputs == "z":
        return z
    img = tf.cast(x, tf.float32)
    return img if inputs == "image" else [img, z]


def _make_train_epoch(model: keras.Model, optimizer, batch_size: int, inputs: str):
    """A ``tf.function`` ``train_epoch(arrays, t, perm)``: one pass of minibatch Adam steps over
    the rows ``perm`` (int32 indices into the full arrays; the last batch may be smaller) of
    ``arrays`` = (z float32 or None, x uint8 or None) and standardized targets ``t``; returns
    the mean squared error seen during the epoch."""
    bs = int(batch_size)

    @tf.function(reduce_retracing=True)
    def train_epoch(arrays, t, perm):
        n = tf.shape(perm)[0]
        n_batches = (n + bs - 1) // bs
        total = tf.constant(0.0, dtype=tf.float32)
        for i in tf.range(n_batches):
            idx = perm[i * bs : (i + 1) * bs]
            z_b = None if arrays[0] is None else tf.gather(arrays[0], idx)
            x_b = None if arrays[1] is None else tf.gather(arrays[1], idx)
            t_b = tf.gather(t, idx)
            with tf.GradientTape() as tape:
                pred = model(_as_model_input(inputs, z_b, x_b), training=True)[:, 0]
                se = tf.square(pred - t_b)
                loss = tf.reduce_mean(se)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            total += tf.reduce_sum(se)
        return total / tf.cast(n, tf.float32)

    return train_epoch


def _member_predict(model: keras.Model, inputs: str, z, x, rows=None) -> np.ndarray:
    """Standardized predictions (m,) float64 of one member on ``rows`` (all when None), in
    chunks of :data:`PREDICT_BATCH`."""
    n = (z if z is not None else x).shape[0] if rows is None else len(rows)
    out = np.empty(n, dtype=np.float64)
    for a in range(0, n, PREDICT_BATCH):
        sel = slice(a, a + PREDICT_BATCH) if rows is None else rows[a : a + PREDICT_BATCH]
        z_b = None if z is None else z[sel]
        x_b = None if x is None else x[sel]
        pred = model(_as_model_input(inputs, z_b, x_b), training=False)
        out[a : a + PREDICT_BATCH] = np.asarray(pred, dtype=np.float64)[:, 0]
    return out


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class SurrogateEnsemble(Estimator):
    """An ensemble of forward networks y ~ f(z, x) for the absorption y (see the module
    docstring).

    Parameters (stored only; nothing is built before :meth:`fit`):
        inputs: ``"z"`` (MLP on the latent), ``"image"`` (CNN on the binary image) or ``"both"``.
        n_members: number of networks in the ensemble (>= 1).
        hidden_units: widths of the ReLU dense layers of the head (may be empty: linear head).
        conv_filters: filters of the stride-2 convolutions (``"image"`` / ``"both"``; >= 1
            entry); each halves the image side.
        learning_rate: Adam learning rate.
        batch_size: minibatch size.
        max_epochs: upper bound on the epochs per member.
        patience: early-stopping patience in epochs on the validation loss.
        validation_fraction: share of the rows held out per member (its own random split) for
            early stopping; 0 monitors the training loss instead.
        seed: member k uses ``seed + k`` (initializers, split, minibatch order).
        verbose: 0 silent, 1 one line per member, 2 one line per epoch.

    Learned state (after :meth:`fit`): ``models_`` (list of keras.Model), ``dim_`` (d, or None
    for ``"image"`` fitted without z), ``image_shape_`` ((h, w) or None for ``"z"``),
    ``y_mean_``, ``y_std_`` (standardization of y, absorption units), ``history_`` (per member a
    dict ``loss`` / ``val_loss``: per-epoch mean squared error of the *standardized* y),
    ``n_epochs_`` (epochs run per member), ``best_epoch_`` (0-based, per member), ``val_rmse_``
    (per member the validation RMSE at the best epoch, absorption units; NaN without a
    validation split).
    """

    param_names = (
        "inputs", "n_members", "hidden_units", "conv_filters", "learning_rate", "batch_size",
        "max_epochs", "patience", "validation_fraction", "seed", "verbose",
    )

    def __init__(
        self,
        inputs: str = "z",
        n_members: int = 3,
        hidden_units=(128, 128, 64),
        conv_filters=(16, 32, 64),
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_epochs: int = 300,
        patience: int = 20,
        validation_fraction: float = 0.1,
        seed: int = 0,
        verbose: int = 0,
    ):
        self.inputs = inputs
        self.n_members = n_members
        self.hidden_units = hidden_units
        self.conv_filters = conv_filters
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.verbose = verbose

    @property
    def uses_z(self) -> bool:
        return self.inputs in ("z", "both")

    @property
    def uses_images(self) -> bool:
        return self.inputs in ("image", "both")

    def _check_params(self) -> None:
        if self.inputs not in INPUT_KINDS:
            raise ValueError(f"inputs must be one of {INPUT_KINDS}; got {self.inputs!r}")
        for name in ("n_members", "batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        for name in ("hidden_units", "conv_filters"):
            units = getattr(self, name)
            if not isinstance(units, (tuple, list)) or not all(
                isinstance(u, (int, np.integer)) and not isinstance(u, bool) and u >= 1
                for u in units
            ):
                raise ValueError(f"{name} must be a tuple of integers >= 1; got {units!r}")
        if self.uses_images and len(self.conv_filters) == 0:
            raise ValueError(f"conv_filters must not be empty for inputs={self.inputs!r}")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"learning_rate must be > 0; got {lr!r}")
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise ValueError(
                f"validation_fraction must be in [0, 1); got {self.validation_fraction!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {self.seed!r}")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2; got {self.verbose!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError("this SurrogateEnsemble is not fitted yet: call "
                               "fit(z, x, y) or SurrogateEnsemble.load(path)")

    # -- input checks -------------------------------------------------------------------------

    def _check_z(self, z, n: int | None) -> np.ndarray | None:
        if z is None:
            if self.uses_z:
                raise ValueError(f"z is required for inputs={self.inputs!r}; got None")
            return None
        try:
            arr = np.asarray(z, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"z must be numeric; got {type(z).__name__}") from exc
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"z must have shape (n, d) with n, d >= 1; got shape {arr.shape}")
        if n is not None and arr.shape[0] != n:
            raise ValueError(f"z has {arr.shape[0]} rows but there are {n} rows of x or y; "
                             "they must match")
        dim = getattr(self, "dim_", None)
        if dim is not None and arr.shape[1] != dim:
            raise ValueError(f"z has dimension {arr.shape[1]}; this surrogate was fitted "
                             f"with d = {dim}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("z contains non-finite values (NaN or inf)")
        if np.max(np.abs(arr)) > 1.0 + Z_TOLERANCE:
            raise ValueError(f"z must lie in [-1, 1]; got max |z| = {np.max(np.abs(arr)):.6g}")
        return arr.astype(np.float32)

    def _check_x(self, x, n: int | None) -> np.ndarray | None:
        if not self.uses_images:
            return None  # x is ignored for inputs == "z"
        if x is None:
            raise ValueError(f"x (binary images) is required for inputs={self.inputs!r}; "
                             "got None")
        arr = np.asarray(x)
        if arr.ndim != 3 or 0 in arr.shape:
            raise ValueError(f"x must be binary images of shape (n, h, w); got shape "
                             f"{arr.shape}")
        if n is not None and arr.shape[0] != n:
            raise ValueError(f"x has {arr.shape[0]} rows but there are {n} rows of z or y; "
                             "they must match")
        shape = getattr(self, "image_shape_", None)
        if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
            raise ValueError(f"x has images of shape {tuple(arr.shape[1:])}; this surrogate was "
                             f"fitted on {tuple(shape)}")
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"x must be numeric binary images; got dtype {arr.dtype}")
        if arr.dtype != bool and not np.all((arr == 0) | (arr == 1)):
            raise ValueError("x must be binary (values 0 and 1 only); binarize the images first")
        return arr.astype(np.uint8)

    def _check_inputs(self, z, x, n: int | None = None):
        """Checked (z float32 or None, x uint8 or None, n rows)."""
        xx = self._check_x(x, n)
        n = n if n is not None else (xx.shape[0] if xx is not None else None)
        zz = self._check_z(z, n)
        return zz, xx, (zz if zz is not None else xx).shape[0]

    # -- training -----------------------------------------------------------------------------

    def fit(self, z, x, y) -> SurrogateEnsemble:
        """Fit every member on (z, x) -> y.

        Args:
            z: (n, d) latents in [-1, 1] (finite); may be None for ``inputs == "image"``.
            x: (n, h, w) binary images (0/1, any integer, bool or float dtype); ignored (may be
                None) for ``inputs == "z"``.
            y: (n,) absorption (finite; band-averaged, dimensionless).

        Returns:
            self.
        """
        self._check_params()
        for name in ("models_", "dim_", "image_shape_"):  # a refit starts from scratch
            self.__dict__.pop(name, None)
        y = check_targets(y, "y")
        z, x, n = self._check_inputs(z, x, y.size)
        n_val = int(round(float(self.validation_fraction) * n)) if self.validation_fraction else 0
        if self.validation_fraction and n_val == 0:
            n_val = 1
        if n - n_val < 1:
            raise ValueError(f"need at least one training row after the validation split; got "
                             f"n = {n} with validation_fraction = {self.validation_fraction}")

        dim = None if z is None else int(z.shape[1])
        image_shape = None if x is None else (int(x.shape[1]), int(x.shape[2]))
        y_mean = float(np.mean(y))
        std = float(np.std(y))
        y_std = std if std > 0 else 1.0
        t = ((y - y_mean) / y_std).astype(np.float32)
        arrays = (None if z is None else tf.constant(z), None if x is None else tf.constant(x))
        t_tf = tf.constant(t)

        models, histories, n_epochs, best_epochs, val_rmse = [], [], [], [], []
        for k in range(int(self.n_members)):
            member_seed = int(self.seed) + k
            rng = np.random.default_rng(member_seed)
            perm = rng.permutation(n)
            tr, va = perm[n_val:], perm[:n_val]
            model = build_surrogate_network(self.inputs, dim, image_shape,
                                            tuple(self.hidden_units), tuple(self.conv_filters),
                                            member_seed)
            optimizer = keras.optimizers.Adam(learning_rate=float(self.learning_rate))
            optimizer.build(model.trainable_variables)
            train_epoch = _make_train_epoch(model, optimizer, int(self.batch_size), self.inputs)
            history: dict[str, list[float]] = {"loss": [], "val_loss": []}
            best, best_epoch, best_weights, wait = math.inf, -1, None, 0
            for epoch in range(int(self.max_epochs)):
                order = tf.constant(rng.permutation(tr).astype(np.int32))
                loss = float(train_epoch(arrays, t_tf, order))
                history["loss"].append(loss)
                if n_val:
                    pred = _member_predict(model, self.inputs, z, x, va)
                    history["val_loss"].append(float(np.mean((pred - t[va]) ** 2)))
                value = history["val_loss"][-1] if n_val else loss
                if self.verbose == 2:
                    extra = f" val_loss {value:.5g}" if n_val else ""
                    print(f"surrogate member {k + 1}/{self.n_members} epoch {epoch + 1}: "
                          f"loss {loss:.5g}{extra}")
                if not math.isfinite(value):
                    break
                if value < best:
                    best, best_epoch, wait = value, epoch, 0
                    best_weights = model.get_weights()
                else:
                    wait += 1
                    if wait >= int(self.patience):
                        break
            if best_weights is None:
                raise RuntimeError(f"surrogate member {k} produced a non-finite loss in its "
                                   "first epoch; lower the learning rate")
            model.set_weights(best_weights)
            rmse = math.sqrt(best) * y_std if n_val else math.nan
            if self.verbose == 1:
                print(f"surrogate member {k + 1}/{self.n_members}: {len(history['loss'])} "
                      f"epochs, best {best_epoch + 1}, validation RMSE {rmse:.4g}")
            models.append(model)
            histories.append(history)
            n_epochs.append(len(history["loss"]))
            best_epochs.append(int(best_epoch))
            val_rmse.append(float(rmse))

        self.models_ = models
        self.dim_ = dim
        self.image_shape_ = image_shape
        self.y_mean_, self.y_std_ = y_mean, y_std
        self.history_ = histories
        self.n_epochs_ = n_epochs
        self.best_epoch_ = best_epochs
        self.val_rmse_ = val_rmse
        return self

    # -- prediction ---------------------------------------------------------------------------

    def predict_members(self, z, x=None) -> np.ndarray:
        """Every member's prediction, (n_members, n) float64 in absorption units."""
        self._check_fitted()
        zz, xx, _ = self._check_inputs(z, x)
        preds = np.stack([_member_predict(m, self.inputs, zz, xx) for m in self.models_])
        return preds * self.y_std_ + self.y_mean_

    def predict(self, z, x=None) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and standard deviation over the members of the predicted absorption.

        Args:
            z: (n, d) latents in [-1, 1]; may be None for ``inputs == "image"``.
            x: (n, h, w) binary images; needed for ``"image"`` and ``"both"``.

        Returns:
            (mean (n,), std (n,)), float64, absorption units (std is 0 for one member).
        """
        preds = self.predict_members(z, x)
        return preds.mean(axis=0), preds.std(axis=0)

    def rmse(self, z, x, y) -> float:
        """Root-mean-square error of the ensemble mean against ``y`` (absorption units)."""
        self._check_fitted()
        y = check_targets(y, "y")
        zz, xx, _ = self._check_inputs(z, x, y.size)
        mean, _ = self.predict(zz, xx)
        return float(np.sqrt(np.mean((mean - y) ** 2)))

    def _tf_mean(self, model_input) -> tf.Tensor:
        outs = [m(model_input, training=False)[:, 0] for m in self.models_]
        mean = outs[0] if len(outs) == 1 else tf.reduce_mean(tf.stack(outs, axis=0), axis=0)
        return mean * self.y_std_ + self.y_mean_

    def _tf_z(self, z) -> tf.Tensor:
        z = tf.convert_to_tensor(z, dtype=tf.float32)
        if z.shape.rank != 2 or (z.shape[1] is not None and z.shape[1] != self.dim_):
            raise ValueError(f"z must have shape (n, {self.dim_}); got {tuple(z.shape)}")
        return z

    def predict_tf(self, z) -> tf.Tensor:
        """Differentiable ensemble mean (n,) float32 (absorption units) for latents ``z``
        (n, d), a tensor or array; only for ``inputs == "z"``. No box or finiteness checks (the
        neural adjoint steps outside the box on purpose)."""
        self._check_fitted()
        if self.inputs != "z":
            raise ValueError(f"predict_tf needs inputs='z'; this surrogate reads "
                             f"{self.inputs!r}: use predict_tf_images")
        return self._tf_mean(self._tf_z(z))

    def predict_tf_images(self, images, z=None) -> tf.Tensor:
        """Differentiable ensemble mean (n,) float32 (absorption units) for *continuous* images
        (n, h, w) in [0, 1] (a tensor; e.g. a soft binarization of a generator's output) and,
        for ``inputs == "both"``, latents ``z`` (n, d). Only for ``"image"`` and ``"both"``."""
        self._check_fitted()
        if not self.uses_images:
            raise ValueError("predict_tf_images needs inputs='image' or 'both'; this surrogate "
                             "reads z only: use predict_tf")
        img = tf.convert_to_tensor(images, dtype=tf.float32)
        if img.shape.rank != 3 or tuple(img.shape[1:]) != tuple(self.image_shape_):
            raise ValueError(f"images must have shape (n, {self.image_shape_[0]}, "
                             f"{self.image_shape_[1]}); got {tuple(img.shape)}")
        zt = None
        if self.uses_z:
            if z is None:
                raise ValueError("predict_tf_images needs z for inputs='both'; got None")
            zt = self._tf_z(z)
        return self._tf_mean(_as_model_input(self.inputs, zt, img))

    # -- persistence --------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save into one ``.npz`` file at ``path`` (written atomically): ``meta`` (JSON:
        parameters, dimensions, scaler, histories) and ``member{k}/{i}`` (the i-th array of
        member k's ``get_weights()``). Returns the path."""
        self._check_fitted()
        params = {k: (list(v) if isinstance(v, tuple) else v)
                  for k, v in self.get_params().items()}
        record = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": params,
            "dim": self.dim_,
            "image_shape": None if self.image_shape_ is None else list(self.image_shape_),
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
            "history": self.history_,
            "n_epochs": self.n_epochs_,
            "best_epoch": self.best_epoch_,
            "val_rmse": [_json_float(v) for v in self.val_rmse_],
        }
        arrays = {"meta": np.array(json.dumps(record))}
        for k, model in enumerate(self.models_):
            for i, w in enumerate(model.get_weights()):
                arrays[f"member{k}/{i:03d}"] = w
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path) -> SurrogateEnsemble:
        """Load an ensemble written by :meth:`save`. FileNotFoundError when ``path`` is missing,
        :class:`~invdes.artifacts.ArtifactError` when it is corrupt or not a surrogate."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"surrogate file {path} is missing (save one there with "
                                    "SurrogateEnsemble.save)")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            record = json.loads(str(arrays.pop("meta")))
            if record.get("format") != FORMAT:
                raise ValueError(f"format is {record.get('format')!r}, expected {FORMAT!r}")
            params = dict(record["params"])
            for name in ("hidden_units", "conv_filters"):
                params[name] = tuple(params[name])
            ens = cls(**params)
            ens._check_params()
            dim = None if record["dim"] is None else int(record["dim"])
            shape = record["image_shape"]
            image_shape = None if shape is None else (int(shape[0]), int(shape[1]))
            models = []
            for k in range(int(ens.n_members)):
                model = build_surrogate_network(ens.inputs, dim, image_shape, ens.hidden_units,
                                                ens.conv_filters, int(ens.seed) + k)
                keys = sorted(a for a in arrays if a.startswith(f"member{k}/"))
                model.set_weights([arrays[a] for a in keys])
                models.append(model)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"surrogate file {path} is corrupt or not a surrogate: "
                                f"{exc}; save the ensemble again") from exc
        ens.models_ = models
        ens.dim_, ens.image_shape_ = dim, image_shape
        ens.y_mean_, ens.y_std_ = float(record["y_mean"]), float(record["y_std"])
        ens.history_ = record.get("history", [])
        ens.n_epochs_ = list(record.get("n_epochs", []))
        ens.best_epoch_ = list(record.get("best_epoch", []))
        ens.val_rmse_ = [math.nan if v is None else float(v) for v in record.get("val_rmse", [])]
        return ens
