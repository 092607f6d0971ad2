"""The certification of designs (:mod:`invdes.inverse.certify`) on a toy problem whose two
judges differ by a smooth, design-dependent offset: the certified REP falls, every returned
absorption is the certified judge's, the counts add up, and the novelty rules hold."""

from __future__ import annotations

import numpy as np
import pytest

from invdes.inverse import novelty as nv
from invdes.inverse.certify import Certifier

D, SIDE = 4, 12
RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((SIDE * SIDE, D)), 0.3 * RNG.standard_normal(SIDE * SIDE)
TARGET = 0.5


class ToyGenerator:
    """Latent (k, D) -> binary (k, SIDE, SIDE): pixel p is on where A[p] . z + B[p] > 0."""

    def generate(self, z):
        on = (np.asarray(z, float) @ A.T + B) > 0
        return on.reshape(-1, SIDE, SIDE).astype(np.uint8)


def study(images):
    return 0.25 + 0.5 * images.reshape(len(images), -1).mean(axis=1)


def certified(images):
    """The study judge plus an offset that depends on the image (+0.02 to +0.05)."""
    left = images[:, :, : SIDE // 2].reshape(len(images), -1).mean(axis=1)
    return study(images) + 0.02 + 0.03 * left


def gradient(z):
    """The smooth proxy of ``study`` and its gradient: 0.25 + 0.5 mean(sigmoid(4 (A z + B)))."""
    s = 1 / (1 + np.exp(-4 * (np.asarray(z, float) @ A.T + B)))
    return 0.25 + 0.5 * s.mean(axis=1), 0.5 * ((4 * s * (1 - s)) @ A) / A.shape[0]


@pytest.fixture(scope="module")
def designs():
    """Ten designs near the target at the study judge, far from a few 'training' images."""
    z = np.random.default_rng(1).uniform(-0.3, 0.3, (10, D)).astype(np.float32)
    images = ToyGenerator().generate(z)
    return z, images, study(images)


def run(designs, rounds):
    z, images, a = designs
    train = nv.pack(np.zeros((3, SIDE, SIDE), np.uint8))
    return Certifier(rounds=rounds, line_steps=4, rep_goal=0.004).certify(
        TARGET, z, images, a, generator=ToyGenerator(), simulate_study=study,
        simulate_certified=certified, gradient=gradient, train_packed=train, delta=0.01)


def test_rounds_lower_the_certified_rep(designs):
    first, refined = run(designs, rounds=0), run(designs, rounds=3)
    assert refined.rep.mean() < 0.5 * first.rep.mean()
    assert (refined.rep <= 0.01).sum() > (first.rep <= 0.01).sum()


def test_every_absorption_is_the_certified_judges_and_counts_add_up(designs):
    res = run(designs, rounds=3)
    np.testing.assert_allclose(res.absorption, certified(res.images))
    np.testing.assert_allclose(res.absorption_study, study(res.images))
    np.testing.assert_allclose(res.rep, np.abs(res.absorption - TARGET) / TARGET)
    assert np.all(np.diff(res.rep) >= 0)
    assert np.all((res.simulations_certified >= 1) & (res.simulations_certified <= 4))
    assert np.all(res.simulations_study <= 3 * 4)
    assert sorted(res.order.tolist()) == list(range(len(res.order)))


def test_designs_stay_new_and_different(designs):
    res = run(designs, rounds=3)
    assert np.all(res.novelty >= 0.01)
    dist = nv.pairwise_distance(nv.pack(res.images))
    assert dist[~np.eye(len(dist), dtype=bool)].min() >= 0.005


def test_same_inputs_same_designs(designs):
    a, b = run(designs, rounds=2), run(designs, rounds=2)
    np.testing.assert_array_equal(a.images, b.images)


def test_a_step_too_short_to_flip_a_pixel_is_lengthened():
    """A step whose image equals the design's is doubled until a pixel flips (or dropped
    once it would exceed max_step)."""
    from invdes.inverse.certify import _Point

    class Threshold:
        def generate(self, z):
            z = np.asarray(z, float)
            return np.stack([np.full((2, 2), zi[0] > 0.1, np.uint8) for zi in z])

    certifier = Certifier(max_step=0.6)
    best = [_Point(np.zeros(D, np.float32), np.zeros((2, 2), np.uint8), 0.5)]
    u = np.eye(D)[0]
    lines = {0: (u, 1.0, [(0.0, 0.5, best[0])])}
    steps = certifier._flip_a_pixel({0: 0.02}, lines, best, Threshold())
    assert steps[0] == pytest.approx(0.16)  # 0.02 -> 0.04 -> 0.08 -> 0.16 > 0.1
    assert certifier._flip_a_pixel({0: -0.02}, lines, best, Threshold()) == {}


def test_secant_brackets_then_interpolates():
    from invdes.inverse.certify import _secant

    assert _secant([(0.0, 0.40)], 0.5, 1.0) is None
    # not bracketed: the secant through the two points nearest the target
    assert _secant([(0.0, 0.40), (0.1, 0.45)], 0.5, 1.0) == pytest.approx(0.2)
    # bracketed: regula falsi between the nearest on each side
    assert _secant([(0.0, 0.40), (0.1, 0.45), (0.3, 0.55), (0.5, 0.7)], 0.5,
                   1.0) == pytest.approx(0.2)
    assert _secant([(0.0, 0.40), (0.01, 0.401)], 0.5, 0.3) == pytest.approx(0.3)  # clipped
