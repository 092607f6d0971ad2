"""Tests of invdes.inverse.surrogate (the forward surrogate ensemble) and invdes.inverse.adjoint
(the neural adjoint): shapes, learning, determinism, persistence, differentiable paths, the
adjoint search on known functions and through a tiny fake generator, input errors."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from invdes.artifacts import ArtifactError
from invdes.gan.generator import Generator
from invdes.inverse.adjoint import AdjointResult, neural_adjoint, soft_images
from invdes.inverse.surrogate import CircularPad2D, SurrogateEnsemble

DIM, SIDE = 4, 8
# tiny networks and few epochs: every fit takes a few seconds on a loaded 2-core machine
FAST = dict(n_members=2, hidden_units=(32, 32), conv_filters=(8, 16), learning_rate=3e-3,
            batch_size=64, max_epochs=40, patience=10, validation_fraction=0.15)
KINDS = ("z", "image", "both")


def synthetic(n: int, seed: int = 0):
    """z uniform in [-1, 1]^4; x = threshold of a fixed random linear map of z (8 x 8);
    y = 0.6 + 0.1 mean(x) + 0.05 z_0."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1.0, 1.0, size=(n, DIM)).astype(np.float32)
    w = np.random.default_rng(123).normal(size=(DIM, SIDE * SIDE))
    x = (z @ w > 0.3).astype(np.uint8).reshape(n, SIDE, SIDE)
    y = 0.6 + 0.1 * x.mean(axis=(1, 2)) + 0.05 * z[:, 0]
    return z, x, y.astype(np.float64)


@pytest.fixture(scope="module")
def data():
    z, x, y = synthetic(500)
    return (z[:400], x[:400], y[:400]), (z[400:], x[400:], y[400:])


_FITTED: dict[str, SurrogateEnsemble] = {}


@pytest.fixture(scope="module")
def fitted(data):
    """kind -> a SurrogateEnsemble fitted on the training rows (fitted once per module)."""
    (z, x, y), _ = data

    def get(kind: str) -> SurrogateEnsemble:
        if kind not in _FITTED:
            _FITTED[kind] = SurrogateEnsemble(kind, seed=1, **FAST).fit(z, x, y)
        return _FITTED[kind]

    return get


# ------------------------------------------------------------------------------ surrogate


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_finite_outputs_and_learned_state(fitted, data, kind):
    model = fitted(kind)
    _, (z, x, _) = data
    mean, std = model.predict(z, x)
    assert mean.shape == std.shape == (len(z),)
    assert mean.dtype == std.dtype == np.float64
    assert np.all(np.isfinite(mean)) and np.all(std >= 0)
    assert len(model.models_) == len(model.n_epochs_) == len(model.val_rmse_) == 2
    assert len(model.history_) == 2 and all(1 <= e <= 40 for e in model.n_epochs_)
    assert all(len(h["loss"]) == len(h["val_loss"]) == e
               for h, e in zip(model.history_, model.n_epochs_, strict=True))
    assert all(0 < r < 0.1 for r in model.val_rmse_)
    assert model.image_shape_ == (None if kind == "z" else (SIDE, SIDE))
    assert model.dim_ == DIM
    # the members were trained differently (own seed, own split)
    assert model.best_epoch_ and model.history_[0]["loss"] != model.history_[1]["loss"]


@pytest.mark.parametrize("kind, limit", [("z", 0.3), ("image", 0.6), ("both", 0.3)])
def test_learns_the_synthetic_absorption(fitted, data, kind, limit):
    model = fitted(kind)
    _, (z, x, y) = data
    rmse = model.rmse(z, x, y)
    print(f"{kind}: held-out RMSE {rmse:.4g}, std(y) {np.std(y):.4g}, "
          f"val RMSE {model.val_rmse_}")
    assert rmse < limit * np.std(y)
    _, std = model.predict(z, x)
    assert np.mean(std) > 0  # the members disagree somewhat


def test_fits_with_the_same_seed_are_identical(data):
    (z, x, y), (zt, xt, _) = data
    params = {**FAST, "max_epochs": 3}
    a = SurrogateEnsemble("both", seed=5, **params).fit(z, x, y).predict_members(zt, xt)
    b = SurrogateEnsemble("both", seed=5, **params).fit(z, x, y).predict_members(zt, xt)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # member k has its own seed 5 + k
    # member 0 of seed 6 is member 1 of seed 5 (same seed, same split, same minibatches)
    c = SurrogateEnsemble("both", seed=6, **{**params, "n_members": 1}).fit(z, x, y)
    np.testing.assert_array_equal(c.predict_members(zt, xt)[0], a[1])


@pytest.mark.parametrize("kind", ["z", "both"])
def test_save_load_round_trip_predicts_identically(fitted, data, tmp_path, kind):
    model = fitted(kind)
    _, (z, x, _) = data
    path = model.save(tmp_path / f"{kind}.npz")
    assert path.is_file() and not list(tmp_path.glob(".*.tmp"))
    loaded = SurrogateEnsemble.load(path)
    assert loaded.get_params() == model.get_params()
    assert (loaded.dim_, loaded.image_shape_) == (model.dim_, model.image_shape_)
    assert loaded.n_epochs_ == model.n_epochs_ and loaded.val_rmse_ == model.val_rmse_
    for got, want in zip(loaded.predict(z, x), model.predict(z, x), strict=True):
        np.testing.assert_array_equal(got, want)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        SurrogateEnsemble.load(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match="corrupt"):
        SurrogateEnsemble.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array('{"format": "something-else"}'))
    with pytest.raises(ArtifactError, match="format"):
        SurrogateEnsemble.load(other)


def test_predict_tf_matches_predict_and_is_differentiable(fitted, data):
    _, (z, x, _) = data
    zs = fitted("z")
    zt = tf.constant(z[:16])
    with tf.GradientTape() as tape:
        tape.watch(zt)
        out = zs.predict_tf(zt)
        total = tf.reduce_sum(out)  # inside the tape, or the gradient is None
    grad = tape.gradient(total, zt).numpy()
    np.testing.assert_allclose(out.numpy(), zs.predict(z[:16])[0], rtol=0, atol=1e-6)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)

    both = fitted("both")
    img = tf.constant(x[:16].astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(img)
        out = both.predict_tf_images(img, zt)
        total = tf.reduce_sum(out)
    np.testing.assert_allclose(out.numpy(), both.predict(z[:16], x[:16])[0], atol=1e-6)
    assert np.any(tape.gradient(total, img).numpy() != 0)
    with pytest.raises(ValueError, match="predict_tf_images"):
        both.predict_tf(zt)
    with pytest.raises(ValueError, match="needs z"):
        both.predict_tf_images(img)
    with pytest.raises(ValueError, match="predict_tf"):
        zs.predict_tf_images(img)


def test_circular_padding_wraps_and_the_cnn_is_shift_invariant(fitted, data):
    t = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = CircularPad2D(1)(t).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(out, np.pad(t[0, :, :, 0], 1, mode="wrap"))
    # two stride-2 convolutions + global average: a shift by 4 pixels changes nothing
    model = fitted("image")
    _, (_, x, _) = data
    shifted = np.roll(x[:20], shift=(4, -4), axis=(1, 2))
    np.testing.assert_allclose(model.predict(None, shifted)[0], model.predict(None, x[:20])[0],
                               atol=1e-6)


def test_unfitted_surrogate_raises():
    model = SurrogateEnsemble()
    z = np.zeros((3, DIM))
    for call in (lambda: model.predict(z), lambda: model.predict_tf(z),
                 lambda: model.save("never.npz"), lambda: model.rmse(z, None, [0.5] * 3)):
        with pytest.raises(RuntimeError, match="not fitted"):
            call()


@pytest.mark.parametrize("change, match", [
    (dict(z=np.full((10, DIM), 1.5)), r"\[-1, 1\]"),
    (dict(z=np.full((10, DIM), np.nan)), "non-finite"),
    (dict(z=np.zeros(10)), r"shape \(n, d\)"),
    (dict(z=np.zeros((9, DIM))), "rows"),
    (dict(x=np.full((10, SIDE, SIDE), 2, dtype=np.uint8)), "binary"),
    (dict(x=np.zeros((10, SIDE * SIDE), dtype=np.uint8)), r"shape \(n, h, w\)"),
    (dict(x=None), "required"),
    (dict(y=np.full(10, np.nan)), "non-finite"),
    (dict(y=np.zeros((10, 2))), "shape"),
])
def test_bad_fit_inputs(change, match):
    z, x, y = synthetic(10)
    args = {"z": z, "x": x, "y": y, **change}
    with pytest.raises(ValueError, match=match):
        SurrogateEnsemble("both", **FAST).fit(args["z"], args["x"], args["y"])


@pytest.mark.parametrize("params, match", [
    (dict(inputs="pixels"), "inputs"),
    (dict(n_members=0), "n_members"),
    (dict(hidden_units=(32, 0)), "hidden_units"),
    (dict(inputs="image", conv_filters=()), "conv_filters"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(verbose=3), "verbose"),
])
def test_bad_parameters(params, match):
    z, x, y = synthetic(10)
    with pytest.raises(ValueError, match=match):
        SurrogateEnsemble(**params).fit(z, x, y)


def test_bad_predict_inputs(fitted, data):
    _, (z, x, _) = data
    model = fitted("both")
    with pytest.raises(ValueError, match="fitted on"):
        model.predict(z, np.zeros((len(z), 6, 6), dtype=np.uint8))
    with pytest.raises(ValueError, match="d = 4"):
        model.predict(z[:, :3], x)
    with pytest.raises(ValueError, match="rows"):
        model.predict(z[:5], x)
    # x is ignored by a z-only surrogate
    np.testing.assert_array_equal(fitted("z").predict(z, None)[0], fitted("z").predict(z, x)[0])


# -------------------------------------------------------------------------------- adjoint


class LinearStub:
    """A known smooth surrogate: f(z) = 0.6 + 0.1 z_0, reachable range [0.5, 0.7]."""

    inputs = "z"
    dim_ = DIM

    def predict_tf(self, z):
        return 0.6 + 0.1 * tf.convert_to_tensor(z, tf.float32)[:, 0]

    def predict(self, z, x=None):
        z = np.asarray(z, dtype=np.float64)
        return 0.6 + 0.1 * z[:, 0], np.zeros(len(z))


def test_adjoint_reaches_a_reachable_target():
    res = neural_adjoint(LinearStub(), 0.65, n_starts=64, n_steps=200, seed=0)
    assert isinstance(res, AdjointResult)
    assert res.z.shape == (64, DIM) and res.z.dtype == np.float32
    assert res.predicted.shape == res.predicted_std.shape == res.loss.shape == (64,)
    assert res.history.shape == (200,)
    err = np.abs(res.predicted - 0.65)
    assert np.mean(err < 1e-3) >= 0.9, np.sort(err)[-8:]
    assert np.all(np.diff(err) >= 0)  # best first
    assert np.all(np.abs(res.z) <= 1.0)
    assert res.history[-1] < 0.01 * res.history[0]
    assert np.all(np.diff(res.history[:20]) <= 0)  # the start of the descent is monotone
    again = neural_adjoint(LinearStub(), 0.65, n_starts=64, n_steps=200, seed=0)
    np.testing.assert_array_equal(again.z, res.z)


def test_adjoint_boundary_loss_holds_an_unreachable_target_at_the_box():
    res = neural_adjoint(LinearStub(), 0.9, n_starts=32, n_steps=300, seed=1)
    assert np.all(np.abs(res.z) <= 1.0)
    assert np.all(res.z[:, 0] > 0.99)
    np.testing.assert_allclose(res.predicted, 0.7, atol=1e-3)
    # the unclipped optimum sits just outside the box, where the boundary loss balances the
    # relative error: its loss is close to (0.7 - 0.9)^2 / 0.9^2
    assert np.all(np.abs(res.loss - (0.2 / 0.9) ** 2) < 5e-3)


def test_adjoint_with_init_and_zero_steps():
    init = np.array([[2.0, 0.0, 0.0, 0.0], [-0.5, 3.0, -4.0, 0.2]])
    res = neural_adjoint(LinearStub(), 0.6, init=init, n_steps=0)
    assert res.history.shape == (0,)
    np.testing.assert_array_equal(np.sort(res.z[:, 0]), [-0.5, 1.0])
    assert np.all(np.abs(res.z) <= 1.0)


def test_adjoint_on_a_fitted_surrogate():
    rng = np.random.default_rng(3)
    z = rng.uniform(-1, 1, size=(400, DIM)).astype(np.float32)
    y = 0.6 + 0.1 * z[:, 0]
    model = SurrogateEnsemble("z", seed=0, **FAST).fit(z, None, y)
    res = neural_adjoint(model, 0.65, n_starts=32, n_steps=150, seed=2)
    assert np.mean(np.abs(res.predicted - 0.65) < 1e-3) >= 0.8
    true = 0.6 + 0.1 * res.z[:8, 0].astype(np.float64)  # the real function at the best rows
    assert np.all(np.abs(true - 0.65) < 0.02)
    assert np.all(np.abs(res.z) <= 1.0) and res.history[-1] < res.history[0]


def test_adjoint_reuses_its_graph_across_targets_and_rebuilds_it_after_a_refit():
    """A designer searches many targets on one surrogate: the Adam step is traced once (the
    target is an argument), gives the results of a fresh trace, and a refit surrogate (new
    Keras members) gets a new graph rather than the old weights."""
    from invdes.inverse import adjoint

    rng = np.random.default_rng(5)
    z = rng.uniform(-1, 1, size=(300, DIM)).astype(np.float32)
    model = SurrogateEnsemble("z", seed=0, **FAST).fit(z, None, 0.6 + 0.1 * z[:, 0])
    first = neural_adjoint(model, 0.62, n_starts=16, n_steps=20, seed=0)
    step, _ = adjoint._compiled_step(model, "z", None, 0.05)
    traces = step.experimental_get_tracing_count()
    second = neural_adjoint(model, 0.66, n_starts=16, n_steps=20, seed=0)
    assert step.experimental_get_tracing_count() == traces
    adjoint._STEPS.clear()  # a fresh trace gives the same numbers
    np.testing.assert_array_equal(neural_adjoint(model, 0.66, n_starts=16, n_steps=20,
                                                 seed=0).z, second.z)
    assert not np.array_equal(first.z, second.z)
    model.fit(z, None, 0.6 - 0.1 * z[:, 0])  # the opposite slope: 0.66 at z_0 = -0.6
    refit = neural_adjoint(model, 0.66, n_starts=16, n_steps=20, seed=0)
    assert np.median(refit.z[:, 0]) < 0 < np.median(second.z[:, 0])


GEN_SIDE = 64  # a Generator's images have side 32 s; here s = 2


def fake_generator() -> Generator:
    """A tiny Keras stand-in for the GAN generator: latent grid (2, 2, 1) -> tanh (64, 64, 1)."""
    inp = keras.Input(shape=(2, 2, 1))
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(GEN_SIDE * GEN_SIDE, activation="tanh",
                           kernel_initializer=keras.initializers.RandomNormal(0, 1, seed=4))(h)
    return Generator(keras.Model(inp, keras.layers.Reshape((GEN_SIDE, GEN_SIDE, 1))(h)))


@pytest.mark.parametrize("kind", ["image", "both"])
def test_adjoint_through_a_fake_generator(kind):
    gen = fake_generator()
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(240, DIM)).astype(np.float32)
    x = gen.generate(z)
    y = 0.6 + 0.1 * x.mean(axis=(1, 2)) + 0.05 * z[:, 0]
    model = SurrogateEnsemble(kind, seed=0, **{**FAST, "max_epochs": 12}).fit(z, x, y)

    zt = tf.constant(z[:8])
    with tf.GradientTape() as tape:
        tape.watch(zt)
        soft = soft_images(gen.model_, zt, softness=0.05)
        total = tf.reduce_sum(model.predict_tf_images(soft, zt if kind == "both" else None))
    assert soft.shape == (8, GEN_SIDE, GEN_SIDE)
    assert np.any(tape.gradient(total, zt).numpy() != 0)  # gradients flow to the latent

    target = float(np.quantile(y, 0.7))
    res = neural_adjoint(model, target, n_starts=16, n_steps=100, generator=gen, seed=0)
    assert res.z.shape == (16, DIM) and np.all(np.abs(res.z) <= 1.0)
    assert np.all(np.isfinite(res.predicted)) and np.all(np.isfinite(res.loss))
    print(f"{kind}: adjoint history {res.history[0]:.3g} -> {res.history[-1]:.3g}, "
          f"best |f - target| {abs(res.predicted[0] - target):.2g}")
    assert res.history[-1] < 0.5 * res.history[0]
    # the best rows, re-evaluated on their Otsu images, hit the target (soft-hard gap is small)
    assert abs(res.predicted[0] - target) < 2e-3
    # a bare Keras generator model is accepted too (binarized with Otsu like Generator.generate)
    bare = neural_adjoint(model, target, n_starts=4, n_steps=2, generator=gen.model_)
    assert bare.z.shape == (4, DIM)
    with pytest.raises(ValueError, match="generator"):
        neural_adjoint(model, target, n_starts=4, n_steps=2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(target=0.0), r"\(0, 1\)"),
    (dict(target=1.2), r"\(0, 1\)"),
    (dict(target=math.nan), r"\(0, 1\)"),
    (dict(target="high"), "number"),
    (dict(n_starts=0), "n_starts"),
    (dict(n_steps=-1), "n_steps"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(boundary_weight=-1.0), "boundary_weight"),
    (dict(softness=0.0), "softness"),
    (dict(init=np.zeros((3, 2))), "dimension"),
    (dict(init=np.full((3, DIM), np.inf)), "non-finite"),
])
def test_adjoint_bad_inputs(kwargs, match):
    args = {"target": 0.65, **kwargs}
    target = args.pop("target")
    with pytest.raises(ValueError, match=match):
        neural_adjoint(LinearStub(), target, **args)
