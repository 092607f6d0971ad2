"""A conditional normalizing flow p(z | y) (the cINN / MAF family) for a scalar property y and a
latent vector z in the box [-1, 1]^d (d = 4 or 9 for the paper's GAN latents).

Model:

- the box is mapped onto R^d by ``u = atanh(clip(z, -(1 - box_margin), 1 - box_margin))``;
- u | y is a standard normal pushed through a chain of ``n_bijectors`` masked autoregressive
  flows (``tfp.bijectors.MaskedAutoregressiveFlow``, Papamakarios et al. 2017) with a reversal
  ``tfp.bijectors.Permute`` between consecutive ones. Each MAF's shift and log-scale come from a
  ``tfp.bijectors.AutoregressiveNetwork(params=2, conditional=True)`` (a MADE with ReLU hidden
  layers ``hidden_units``) that also sees the standardized y; the log-scale is soft-clamped to
  ``(-LOG_SCALE_BOUND, LOG_SCALE_BOUND)`` by ``c * tanh(raw / c)``, which keeps early training
  finite. The condition is routed to the MAFs (named ``maf_0`` ...) through ``bijector_kwargs``;
- densities are reported in z-space (the box), in nats:
  ``log p(z | y) = log p_u(atanh z | y) - sum_j log(1 - z_j^2)`` (du/dz = 1 / (1 - z^2)).
  The reference is the uniform density on the box, NLL = d log 2 (:func:`uniform_box_nll`): a
  model with a lower mean NLL on held-out data has learned something about z | y.

Training: maximum likelihood with Adam in a plain ``tf.GradientTape`` loop (one ``tf.function``
per epoch), early stopping on the validation NLL with ``patience``, best weights restored.
``tfp.bijectors.AutoregressiveNetwork`` is a legacy-Keras (``tf_keras``) layer, so the optimizer
is ``tf_keras.optimizers.Adam``: it applies the layers' kernel constraints after each step, and
those constraints are what keep the MADE masks (the autoregressive property) during training.
Keras 3's ``Model.fit`` is not used.

Sampling: base noise eps ~ N(0, I) is drawn with ``numpy.random.default_rng(seed)`` and pushed
through the flow's forward map with the condition, then ``z = tanh(u)`` is clipped to
``+-(1 - box_margin)``: samples are finite, strictly inside the box and exactly reproducible.

Determinism: the kernels are initialized from ``numpy.random.default_rng(seed)`` (Glorot
uniform; biases zero) and the validation split and minibatch order come from the same
generator; no global random state is used or changed. On a CPU two fits with the same seed give
the same weights.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
import tf_keras  # noqa: E402

from invdes.artifacts import ArtifactError, atomic_path  # noqa: E402
from invdes.checks import check_count  # noqa: E402
from invdes.inverse.estimator import Estimator  # noqa: E402
from invdes.inverse.mdn import check_latents, check_targets  # noqa: E402

tfb = tfp.bijectors
tfd = tfp.distributions

FORMAT = "invdes-flow"
FORMAT_VERSION = 1
#: Bound of the soft-clamped log-scale of every MAF step (scale within e^-c .. e^c).
LOG_SCALE_BOUND = 3.0
#: Rows per pass when evaluating densities (bounds memory, not results).
EVAL_BATCH = 4096
#: Smallest data set :meth:`ConditionalFlow.fit` accepts.
MIN_ROWS = 10
NOT_FITTED = "not fitted yet: call fit(y, z) or ConditionalFlow.load(path)"


def uniform_box_nll(d: int) -> float:
    """NLL in nats of the uniform density on [-1, 1]^d: d log 2 (the no-information reference)."""
    return check_count(d, "d") * math.log(2.0)


def box_log_jacobian(z: np.ndarray, box_margin: float) -> np.ndarray:
    """``sum_j log(1 - z_j^2)`` of the (clipped) box latents z (n, d) -> (n,) float64: the
    log-density in z-space is the one in u = atanh(z) space plus this term's negative."""
    zc = np.clip(np.asarray(z, dtype=np.float64), -(1.0 - box_margin), 1.0 - box_margin)
    return (np.log1p(-zc) + np.log1p(zc)).sum(axis=1)


def to_unbounded(z: np.ndarray, box_margin: float) -> np.ndarray:
    """u = atanh(clip(z, -(1 - box_margin), 1 - box_margin)), float64 of the shape of z."""
    return np.arctanh(np.clip(np.asarray(z, dtype=np.float64), -(1.0 - box_margin),
                              1.0 - box_margin))


def check_box_latents(z, n: int | None = None, dim: int | None = None,
                      name: str = "z") -> np.ndarray:
    """Finite (n, d) latents with every |z| <= 1 (see :func:`invdes.inverse.mdn.check_latents`)."""
    arr = check_latents(z, n=n, dim=dim, name=name)
    outside = np.abs(arr) > 1.0
    if np.any(outside):
        rows = np.flatnonzero(outside.any(axis=1))
        raise ValueError(
            f"{name} must lie in the box [-1, 1]^d; {rows.size} row(s) leave it (max |{name}| = "
            f"{np.abs(arr).max():.4g}, first at row {rows[0]})"
        )
    return arr


# --------------------------------------------------------------------------------------------
# The flow
# --------------------------------------------------------------------------------------------


class _GlorotFromNumpy:
    """A Glorot-uniform kernel initializer drawing from a numpy Generator (seeded, no TF state)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, shape, dtype=None, **kwargs):
        fan_in, fan_out = int(shape[0]), int(shape[1])
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        values = self.rng.uniform(-limit, limit, size=(fan_in, fan_out))
        return tf.constant(values, dtype=dtype or tf.float32)


class _BoundedShiftLogScale(tf.Module):
    """The MADE's two outputs as (shift, soft-clamped log-scale); tracks the network's variables."""

    def __init__(self, network, name: str | None = None):
        super().__init__(name=name)
        self.network = network

    def __call__(self, x, conditional_input=None):
        params = self.network(x, conditional_input=conditional_input)
        shift, raw = tf.unstack(params, num=2, axis=-1)
        return shift, LOG_SCALE_BOUND * tf.tanh(raw / LOG_SCALE_BOUND)


def build_flow(dim: int, n_bijectors: int, hidden_units: tuple[int, ...], seed: int):
    """The flow on u-space: (distribution, bijector chain, list of MADE networks).

    The networks are built (called once) so their variables exist; the order of
    ``[v for net in networks for v in net.trainable_variables]`` is the save order.
    """
    rng = np.random.default_rng([int(seed), 7177])
    init = _GlorotFromNumpy(rng)
    steps, networks = [], []
    for k in range(n_bijectors):
        net = tfb.AutoregressiveNetwork(
            params=2, event_shape=[dim], conditional=True, conditional_event_shape=[1],
            hidden_units=list(hidden_units), activation="relu", kernel_initializer=init,
        )
        net(tf.zeros((1, dim)), conditional_input=tf.zeros((1, 1)))  # build the variables
        networks.append(net)
        if k > 0:
            steps.append(tfb.Permute(permutation=list(range(dim))[::-1], name=f"permute_{k}"))
        steps.append(tfb.MaskedAutoregressiveFlow(
            shift_and_log_scale_fn=_BoundedShiftLogScale(net), name=f"maf_{k}"))
    chain = tfb.Chain(list(reversed(steps)), name="flow")  # Chain applies the last one first
    base = tfd.MultivariateNormalDiag(loc=tf.zeros(dim, dtype=tf.float32))
    return tfd.TransformedDistribution(base, chain), chain, networks


def _condition_kwargs(n_bijectors: int, c) -> dict[str, dict]:
    return {f"maf_{k}": {"conditional_input": c} for k in range(n_bijectors)}


class ConditionalFlow(Estimator):
    """Conditional normalizing flow p(z | y) for a scalar y and a latent z in [-1, 1]^d.

    Parameters (stored only; nothing is built before :meth:`fit`):
        n_bijectors: number of masked autoregressive flow steps (reversal permutations between).
        hidden_units: widths of each MADE's hidden ReLU layers.
        learning_rate: Adam learning rate.
        batch_size: minibatch size.
        max_epochs: upper bound on the number of epochs.
        patience: early-stopping patience in epochs on the validation NLL.
        validation_fraction: share of the rows held out (random split), in (0, 1).
        box_margin: z is clipped to +-(1 - box_margin) before atanh and after sampling.
        seed: seeds the initial weights, the split and the minibatch order.
        verbose: 0 silent, 1 one line per epoch.

    Learned state (after :meth:`fit` or :meth:`load`): ``distribution_`` (TFP distribution of
    u), ``bijector_``, ``networks_`` (the MADEs), ``dim_`` (d), ``y_mean_``, ``y_std_``,
    ``y_range_``, ``history_`` (``loss``, ``val_loss``: mean z-space NLL in nats per epoch),
    ``n_epochs_``, ``best_epoch_`` (0-based), ``stop_reason_`` ("patience", "max_epochs" or
    "non-finite loss") and ``val_nll_`` (held-out mean NLL in nats at the best epoch).
    """

    param_names = (
        "n_bijectors", "hidden_units", "learning_rate", "batch_size", "max_epochs", "patience",
        "validation_fraction", "box_margin", "seed", "verbose",
    )

    def __init__(
        self,
        n_bijectors: int = 4,
        hidden_units: tuple[int, ...] = (64, 64),
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 300,
        patience: int = 30,
        validation_fraction: float = 0.1,
        box_margin: float = 1e-3,
        seed: int = 0,
        verbose: int = 0,
    ):
        self.n_bijectors = n_bijectors
        self.hidden_units = hidden_units
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.box_margin = box_margin
        self.seed = seed
        self.verbose = verbose

    def _check_params(self) -> None:
        for name in ("n_bijectors", "batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ConditionalFlow parameter {name} must be an integer >= 1; "
                                 f"got {value!r}")
        units = self.hidden_units
        if (not isinstance(units, (tuple, list)) or not units
                or not all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) and u >= 1
                           for u in units)):
            raise ValueError(f"hidden_units must be a non-empty tuple of integers >= 1; got "
                             f"{units!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a number > 0; got {self.learning_rate!r}")
        if not (isinstance(self.validation_fraction, (int, float))
                and 0.0 < self.validation_fraction < 1.0):
            raise ValueError(f"validation_fraction must be in (0, 1) (the validation NLL drives "
                             f"early stopping); got {self.validation_fraction!r}")
        if not (isinstance(self.box_margin, (int, float)) and 0.0 < self.box_margin < 0.5):
            raise ValueError(f"box_margin must be in (0, 0.5); got {self.box_margin!r}")
        if self.verbose not in (0, 1):
            raise ValueError(f"verbose must be 0 or 1; got {self.verbose!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "distribution_"):
            raise RuntimeError(f"this ConditionalFlow is {NOT_FITTED}")

    def _standardize(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean_) / self.y_std_).astype(np.float32)[:, None]

    def _variables(self) -> list[tf.Variable]:
        return [v for net in self.networks_ for v in net.trainable_variables]

    def _build(self, dim: int) -> None:
        self.distribution_, self.bijector_, self.networks_ = build_flow(
            dim, int(self.n_bijectors), tuple(int(u) for u in self.hidden_units), int(self.seed))
        self.dim_ = dim
        dist, nb = self.distribution_, int(self.n_bijectors)

        @tf.function(reduce_retracing=True)
        def log_prob_u(u, c):
            return dist.log_prob(u, bijector_kwargs=_condition_kwargs(nb, c))

        self._log_prob_u = log_prob_u

    # -- training -----------------------------------------------------------------------------

    def fit(self, y, z) -> ConditionalFlow:
        """Fit p(z | y) by maximum likelihood.

        Args:
            y: (n,) or (n, 1) properties (finite), n >= 10.
            z: (n, d) latents in [-1, 1] (finite).

        Returns:
            self.
        """
        self._check_params()
        y = check_targets(y, "y")
        z = check_box_latents(z, n=y.size)
        n, d = z.shape
        if n < MIN_ROWS:
            raise ValueError(f"need at least {MIN_ROWS} rows to fit (with a validation split); "
                             f"got n = {n}")
        rng = np.random.default_rng(int(self.seed))
        n_val = min(max(1, int(round(float(self.validation_fraction) * n))), n - 1)
        perm = rng.permutation(n)
        tr, va = perm[n_val:], perm[:n_val]

        self.y_mean_ = float(np.mean(y[tr]))
        std = float(np.std(y[tr]))
        self.y_std_ = std if std > 0 else 1.0
        self.y_range_ = (float(np.min(y)), float(np.max(y)))
        self._build(d)
        variables = self._variables()
        optimizer = tf_keras.optimizers.Adam(learning_rate=float(self.learning_rate))
        optimizer.build(variables)
        nb, bs, margin = int(self.n_bijectors), int(self.batch_size), float(self.box_margin)
        dist = self.distribution_

        def nll(ub, cb, jb):  # per-row z-space NLL
            return jb - dist.log_prob(ub, bijector_kwargs=_condition_kwargs(nb, cb))

        @tf.function
        def train_epoch(u, c, jac, order):
            rows = tf.shape(order)[0]
            total = tf.constant(0.0, tf.float32)
            for i in tf.range((rows + bs - 1) // bs):
                idx = order[i * bs : (i + 1) * bs]
                with tf.GradientTape() as tape:
                    per_row = nll(tf.gather(u, idx), tf.gather(c, idx), tf.gather(jac, idx))
                    loss = tf.reduce_mean(per_row)
                grads = tape.gradient(loss, variables)
                optimizer.apply_gradients(zip(grads, variables, strict=True))
                total += tf.reduce_sum(per_row)
            return total / tf.cast(rows, tf.float32)

        def arrays(rows):
            u = tf.constant(to_unbounded(z[rows], margin).astype(np.float32))
            c = tf.constant(self._standardize(y[rows]))
            jac = tf.constant(box_log_jacobian(z[rows], margin).astype(np.float32))
            return u, c, jac

        u_tr, c_tr, j_tr = arrays(tr)
        val = arrays(va)
        history: dict[str, list[float]] = {"loss": [], "val_loss": []}
        best, best_epoch, best_weights, wait = math.inf, -1, None, 0
        stop_reason = "max_epochs"
        for epoch in range(int(self.max_epochs)):
            order = tf.constant(rng.permutation(len(tr)).astype(np.int32))
            loss = float(train_epoch(u_tr, c_tr, j_tr, order))
            value = self._mean_nll(*val)
            history["loss"].append(loss)
            history["val_loss"].append(value)
            if self.verbose:
                print(f"ConditionalFlow epoch {epoch + 1}/{self.max_epochs}: loss {loss:.5g} "
                      f"val_loss {value:.5g}")
            if not (math.isfinite(loss) and math.isfinite(value)):
                stop_reason = "non-finite loss"
                break
            if value < best:
                best, best_epoch, wait = value, epoch, 0
                best_weights = [v.numpy() for v in variables]
            else:
                wait += 1
                if wait >= int(self.patience):
                    stop_reason = "patience"
                    break
        if best_weights is None:
            raise RuntimeError("ConditionalFlow training produced a non-finite loss in the first "
                               "epoch; lower the learning_rate or raise box_margin")
        if stop_reason == "non-finite loss":
            warnings.warn(f"ConditionalFlow training stopped at epoch {len(history['loss'])}: "
                          f"non-finite loss; the best weights (epoch {best_epoch + 1}) are kept",
                          RuntimeWarning, stacklevel=2)
        for var, value in zip(variables, best_weights, strict=True):
            var.assign(value)
        self.history_ = history
        self.n_epochs_ = len(history["loss"])
        self.best_epoch_ = int(best_epoch)
        self.stop_reason_ = stop_reason
        self.val_nll_ = float(best)
        return self

    def _mean_nll(self, u, c, jac) -> float:
        """Mean z-space NLL (nats) of prepared rows (u, standardized y, log-Jacobian)."""
        n = int(u.shape[0])
        total = 0.0
        for a in range(0, n, EVAL_BATCH):
            total += float(tf.reduce_sum(
                jac[a : a + EVAL_BATCH] - self._log_prob_u(u[a : a + EVAL_BATCH],
                                                           c[a : a + EVAL_BATCH])))
        return total / n

    # -- prediction ---------------------------------------------------------------------------

    def validation_nll(self) -> float:
        """Mean NLL in nats (z-space) on the held-out split at the best epoch; compare with
        :func:`uniform_box_nll` (d log 2)."""
        self._check_fitted()
        return self.val_nll_

    def log_prob(self, y, z) -> np.ndarray:
        """log p(z | y) in nats, density in z-space (the box, tanh Jacobian included), for
        paired rows: y (n,) or (n, 1), z (n, d) in [-1, 1] -> (n,) float64."""
        self._check_fitted()
        yy = check_targets(y, "y")
        zz = check_box_latents(z, n=yy.size, dim=self.dim_)
        margin = float(self.box_margin)
        u = to_unbounded(zz, margin).astype(np.float32)
        c = self._standardize(yy)
        parts = [self._log_prob_u(u[a : a + EVAL_BATCH], c[a : a + EVAL_BATCH]).numpy()
                 for a in range(0, u.shape[0], EVAL_BATCH)]
        return np.concatenate(parts).astype(np.float64) - box_log_jacobian(zz, margin)

    def sample(self, y_target, n: int, seed=None) -> np.ndarray:
        """Draw ``n`` latents per target property.

        Args:
            y_target: a float, or an array of m targets.
            n: samples per target, >= 1.
            seed: int, ``numpy.random.Generator`` or None (fresh entropy); fixes the base noise
                and so the samples exactly.

        Returns:
            (n, d) for a scalar target, (m, n, d) for m targets; float32, finite and strictly
            inside (-1, 1) (at most 1 - box_margin in absolute value).
        """
        self._check_fitted()
        n = check_count(n)
        scalar = np.ndim(y_target) == 0
        targets = check_targets(np.atleast_1d(y_target), "y_target")
        lo, hi = self.y_range_
        outside = (targets < lo) | (targets > hi)
        if np.any(outside):
            warnings.warn(f"target(s) {targets[outside]} lie outside the training range "
                          f"[{lo:.4g}, {hi:.4g}] of y: the flow extrapolates", stacklevel=2)
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((targets.size, n, self.dim_)).astype(np.float32)
        limit = 1.0 - float(self.box_margin)
        out = np.empty(eps.shape, dtype=np.float32)
        for i, t in enumerate(targets):
            c = np.full((n, 1), (t - self.y_mean_) / self.y_std_, dtype=np.float32)
            u = self.bijector_.forward(eps[i], **_condition_kwargs(int(self.n_bijectors), c))
            u = np.nan_to_num(u.numpy().astype(np.float64), nan=0.0)
            out[i] = np.clip(np.tanh(u), -limit, limit)
        return out[0] if scalar else out

    # -- persistence --------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save into one ``.npz`` file ``path`` (written atomically): the trainable variables in
        build order (``var_000`` ...) and a JSON record (``record``) with the parameters, the
        standardization of y and the training summary. Returns the path."""
        self._check_fitted()
        path = Path(path)
        variables = self._variables()
        record = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": {**self.get_params(), "hidden_units": [int(u) for u in self.hidden_units]},
            "dim": self.dim_,
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
            "y_range": list(self.y_range_),
            "history": self.history_,
            "n_epochs": self.n_epochs_,
            "best_epoch": self.best_epoch_,
            "stop_reason": self.stop_reason_,
            "val_nll": self.val_nll_,
            "n_variables": len(variables),
        }
        arrays = {f"var_{i:03d}": v.numpy() for i, v in enumerate(variables)}
        arrays["record"] = np.array(json.dumps(record))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path) -> ConditionalFlow:
        """Load a flow saved by :meth:`save`. FileNotFoundError when ``path`` is missing,
        :class:`~invdes.artifacts.ArtifactError` when it is corrupt or inconsistent."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"flow file {path} is missing (save a ConditionalFlow there "
                                    "with ConditionalFlow.save, or point to the right file)")
        try:
            with np.load(path, allow_pickle=False) as data:
                record = json.loads(str(data["record"]))
                if record.get("format") != FORMAT:
                    raise ValueError(f"format is {record.get('format')!r}, expected {FORMAT!r}")
                values = [data[f"var_{i:03d}"] for i in range(int(record["n_variables"]))]
            params = dict(record["params"])
            params["hidden_units"] = tuple(params["hidden_units"])
            flow = cls(**params)
            flow.y_mean_, flow.y_std_ = float(record["y_mean"]), float(record["y_std"])
            dim = int(record["dim"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"flow file {path} is corrupt: {exc}") from exc
        flow._build(dim)
        variables = flow._variables()
        shapes = [tuple(v.shape) for v in variables]
        if [tuple(a.shape) for a in values] != shapes:
            raise ArtifactError(f"flow file {path} does not match its recorded architecture "
                                "(variable count or shapes differ); save the flow again")
        for var, value in zip(variables, values, strict=True):
            var.assign(value)
        flow.y_range_ = tuple(record.get("y_range", (-math.inf, math.inf)))
        flow.history_ = record.get("history", {"loss": [], "val_loss": []})
        flow.n_epochs_ = int(record.get("n_epochs", len(flow.history_.get("loss", []))))
        flow.best_epoch_ = int(record.get("best_epoch", -1))
        flow.stop_reason_ = record.get("stop_reason", "unknown")
        flow.val_nll_ = float(record.get("val_nll", math.nan))
        return flow


def compare_nll(flow: ConditionalFlow, mdn, y_val, z_val) -> dict[str, float]:
    """Mean held-out NLL in nats of the flow and of an MDN (both densities in z-space) next to
    the uniform box reference: ``{"flow": ..., "mdn": ..., "uniform": d log 2}``.

    ``mdn`` is a fitted :class:`invdes.inverse.mdn.MDN` (anything with ``log_prob(y, z)``);
    y_val (n,), z_val (n, d) in [-1, 1] with the flow's d. Lower is better.
    """
    y = check_targets(y_val, "y_val")
    z = check_box_latents(z_val, n=y.size, name="z_val")
    flow_nll = float(-np.mean(flow.log_prob(y, z)))
    mdn_nll = float(-np.mean(np.asarray(mdn.log_prob(y, z), dtype=np.float64)))
    return {"flow": flow_nll, "mdn": mdn_nll, "uniform": uniform_box_nll(z.shape[1])}
