"""The neural adjoint (Ren, Padilla, Malof, NeurIPS 2020): inverse design by gradient descent on
the input of a trained forward surrogate, from many random starts.

For a target absorption ``target`` every start z (a row of (n, d)) follows Adam on

    L(z) = (f(z) - target)^2 / target^2  +  boundary_weight * mean_j relu(|z_j| - 1)^2

where f is the surrogate's ensemble mean (:class:`invdes.inverse.surrogate.SurrogateEnsemble`)
and the second term is Ren et al.'s boundary loss: zero inside the latent box [-1, 1]^d (where
the generator and the surrogate were trained) and growing quadratically outside, so the search
stays where the surrogate is trustworthy. The relative error term is the squared relative
error of the property, as in the REP metric. The loss of the n starts is *summed* (not
averaged) before the gradient, and Adam acts element-wise, so each start evolves independently
of the others and of n. Adam is written out in TensorFlow (bias-corrected, beta1 = 0.9,
beta2 = 0.999, epsilon = 1e-7, Keras' defaults) so nothing depends on a Keras optimizer's state.
The final z are clipped to [-1, 1].

Surrogates that read images (``inputs`` ``"image"`` / ``"both"``) are differentiated through the
generator: z -> latent grid (n, s, s, 1) -> the generator's Keras model (batch norm in inference
mode) -> tanh output t (n, h, w) -> soft image ``sigmoid((t - thr) / softness)`` with ``thr``
the per-image *mean* of t. That threshold is a differentiable stand-in for the per-image Otsu
threshold of :meth:`invdes.gan.generator.Generator.generate` (which has no useful gradient);
``softness`` -> 0 approaches a hard threshold. The returned predictions are then evaluated on
the real binary images (Otsu) of the final latents, so they are what the surrogate says about
the designs one would build.
"""

from __future__ import annotations

import dataclasses
import math
import os
import weakref

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from invdes.checks import check_count  # noqa: E402
from invdes.gan.numpy_generator import binarize  # noqa: E402

__all__ = ["AdjointResult", "neural_adjoint", "soft_images"]

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-7


@dataclasses.dataclass
class AdjointResult:
    """Result of :func:`neural_adjoint`, rows sorted by ``|predicted - target|`` (best first).

    Attributes:
        z: (n, d) float32 final latents, clipped to [-1, 1].
        predicted: (n,) float64 surrogate ensemble mean at ``z`` (absorption; for image
            surrogates on the Otsu-binarized generator images of ``z``).
        predicted_std: (n,) float64 standard deviation over the ensemble members at ``z``.
        loss: (n,) float64 the objective at each start's final (unclipped) iterate, on the
            optimized path (soft images for image surrogates).
        history: (n_steps,) float64 mean objective over the starts before each step.
    """

    z: np.ndarray
    predicted: np.ndarray
    predicted_std: np.ndarray
    loss: np.ndarray
    history: np.ndarray


def soft_images(model, z, threshold=None, softness: float = 0.05):
    """Soft binary images (n, h, w) float32 in (0, 1) from latents ``z`` (n, s*s) (a tensor),
    differentiable w.r.t. z: ``sigmoid((t - thr) / softness)`` of the tanh output t of the Keras
    generator ``model`` (inference mode), with ``thr`` the per-image mean of t (a stand-in for
    Otsu's threshold) unless a fixed float ``threshold`` is given."""
    z = tf.convert_to_tensor(z, dtype=tf.float32)
    side = math.isqrt(int(z.shape[1]))
    t = model(tf.reshape(z, (-1, side, side, 1)), training=False)[..., 0]
    thr = tf.reduce_mean(t, axis=(1, 2), keepdims=True) if threshold is None else threshold
    return tf.sigmoid((t - thr) / softness)


def _positive(value, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number; got {value!r}") from exc
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0; "
                         f"got {value!r}")
    return v


def _check_init(init, dim: int | None) -> np.ndarray:
    try:
        arr = np.asarray(init, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"init must be a numeric array (m, d); got {type(init).__name__}") \
            from exc
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"init must have shape (m, d) with m, d >= 1; got {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"init has dimension {arr.shape[1]}; the surrogate has d = {dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("init contains non-finite values (NaN or inf)")
    return arr.astype(np.float32)


#: compiled Adam steps per surrogate (weakly keyed: they go with the surrogate), so that repeated
#: searches on one surrogate (a designer's targets) trace the TensorFlow graph once
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_step(surrogate, kind: str, gen_model, softness: float):
    """(step, objective) for ``surrogate``: ``objective(z, target, weight)`` the per-start loss
    (n,), ``step(z, m, v, k, target, lr, weight)`` one Adam step (a ``tf.function``; the
    target and step sizes are tensor arguments, so a new target does not retrace it)."""
    members = tuple(getattr(surrogate, "models_", ()))  # a refit makes new ones: new graph
    key = (kind, id(gen_model), tuple(map(id, members)), float(softness))
    try:
        cache = _STEPS.setdefault(surrogate, {})
    except TypeError:  # not weakly referenceable: compile for this call only
        cache = {}
    if key in cache and cache[key][0] == (gen_model, members):
        return cache[key][1:]
    if kind == "z":
        predict_tf = surrogate.predict_tf
    else:
        def predict_tf(z):
            images = soft_images(gen_model, z, softness=softness)
            return surrogate.predict_tf_images(images, z if kind == "both" else None)

    def objective(z, target, weight):
        rel = tf.square((predict_tf(z) - target) / target)
        boundary = tf.reduce_mean(tf.square(tf.nn.relu(tf.abs(z) - 1.0)), axis=1)
        return rel + weight * boundary

    @tf.function(reduce_retracing=True)
    def step(z, m, v, k, target, lr, weight):
        with tf.GradientTape() as tape:
            tape.watch(z)
            losses = objective(z, target, weight)
            total = tf.reduce_sum(losses)
        g = tape.gradient(total, z)
        m = ADAM_BETA1 * m + (1.0 - ADAM_BETA1) * g
        v = ADAM_BETA2 * v + (1.0 - ADAM_BETA2) * tf.square(g)
        m_hat = m / (1.0 - tf.pow(ADAM_BETA1, k))
        v_hat = v / (1.0 - tf.pow(ADAM_BETA2, k))
        z = z - lr * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON)
        return z, m, v, tf.reduce_mean(losses)

    cache[key] = ((gen_model, members), step, objective)
    return step, objective


def neural_adjoint(
    surrogate,
    target: float,
    *,
    n_starts: int = 256,
    n_steps: int = 200,
    learning_rate: float = 0.05,
    boundary_weight: float = 10.0,
    seed: int = 0,
    init=None,
    generator=None,
    softness: float = 0.05,
) -> AdjointResult:
    """Search latents whose surrogate prediction equals ``target`` (see the module docstring).

    Args:
        surrogate: a fitted :class:`~invdes.inverse.surrogate.SurrogateEnsemble` (or any object
            with ``inputs``, ``dim_``, ``predict`` and ``predict_tf`` / ``predict_tf_images``).
        target: target absorption, in (0, 1).
        n_starts: number of random starts, uniform in [-1, 1]^d from
            ``numpy.random.default_rng(seed)``; ignored when ``init`` is given.
        n_steps: Adam steps (>= 0; 0 returns the clipped starts with their predictions).
        learning_rate: Adam step size (latent units).
        boundary_weight: weight of the boundary loss (>= 0).
        seed: seed of the random starts.
        init: optional (m, d) starting latents (finite; may lie outside the box).
        generator: the :class:`~invdes.gan.generator.Generator` (its ``model_`` is
            differentiated, its ``generate`` makes the final binary images), or a bare Keras
            generator model on latent grids (n, s, s, 1) -> (n, h, w, 1) (binarized with Otsu);
            needed when the surrogate reads images.
        softness: temperature of the soft binarization of the generator output (> 0).

    Returns:
        :class:`AdjointResult`, rows sorted by |predicted - target| (best first).
    """
    try:
        tgt = float(target)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"target must be a number in (0, 1); got {target!r}") from exc
    if not (math.isfinite(tgt) and 0.0 < tgt < 1.0):
        raise ValueError(f"target must be an absorption in (0, 1); got {target!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0; got {n_steps!r}")
    lr = _positive(learning_rate, "learning_rate")
    weight = _positive(boundary_weight, "boundary_weight", allow_zero=True)
    soft = _positive(softness, "softness")
    kind = getattr(surrogate, "inputs", "z")
    if kind not in ("z", "image", "both"):
        raise ValueError(f"surrogate.inputs must be 'z', 'image' or 'both'; got {kind!r}")
    dim = getattr(surrogate, "dim_", None)
    if init is not None:
        z0 = _check_init(init, dim)
    else:
        n = check_count(n_starts, "n_starts")
        if dim is None:
            raise ValueError("the surrogate's latent dimension is unknown (fitted without z): "
                             "pass init (m, d)")
        z0 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, int(dim)))
        z0 = z0.astype(np.float32)
    d = z0.shape[1]

    gen_model = None
    if kind != "z":
        if generator is None:
            raise ValueError(f"a surrogate with inputs={kind!r} needs the generator "
                             "(generator=...) to map latents to images")
        gen_model = getattr(generator, "model_", generator)
        if math.isqrt(d) ** 2 != d:
            raise ValueError(f"the generator reads a square latent grid: d = {d} is not s*s")
    step, objective = _compiled_step(surrogate, kind, gen_model, soft)
    tgt_tf, lr_tf, weight_tf = (tf.constant(v, tf.float32) for v in (tgt, lr, weight))

    z = tf.constant(z0)
    m = tf.zeros_like(z)
    v = tf.zeros_like(z)
    history = np.empty(int(n_steps), dtype=np.float64)
    for i in range(int(n_steps)):
        z, m, v, mean_loss = step(z, m, v, tf.constant(float(i + 1), tf.float32), tgt_tf,
                                  lr_tf, weight_tf)
        history[i] = float(mean_loss)
    final_loss = objective(z, tgt_tf, weight_tf).numpy().astype(np.float64)
    z_final = np.clip(z.numpy(), -1.0, 1.0).astype(np.float32)

    if kind == "z":
        predicted, predicted_std = surrogate.predict(z_final)
    else:
        if hasattr(generator, "generate"):
            images = generator.generate(z_final)
        else:  # a bare Keras model: per-image Otsu binarization, as Generator.generate does
            side = math.isqrt(d)
            t = gen_model(z_final.reshape(-1, side, side, 1), training=False)
            images = binarize(np.asarray(t)[..., 0])
        predicted, predicted_std = surrogate.predict(z_final, images)
    predicted = np.asarray(predicted, dtype=np.float64)
    predicted_std = np.asarray(predicted_std, dtype=np.float64)
    order = np.argsort(np.abs(predicted - tgt), kind="stable")
    return AdjointResult(z=z_final[order], predicted=predicted[order],
                         predicted_std=predicted_std[order], loss=final_loss[order],
                         history=history)
