"""Tests of invdes.microstructure: exact volume fractions, seeds, periodicity and statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from invdes import microstructure as ms
from invdes.config import MicrostructureConfig

CFG = MicrostructureConfig()

# A hand-made 4x5 image; chords counted by hand along rows, then columns (cut at the border).
HAND = np.array(
    [
        [1, 1, 0, 1, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0],
        [1, 0, 1, 1, 1],
    ],
    dtype=np.uint8,
)
HAND_CHORDS_1 = [2, 1, 3, 1, 3] + [1, 1, 2, 1, 1, 2, 1, 1]
HAND_CHORDS_0 = [1, 1, 1, 1, 5, 1] + [2, 2, 1, 1, 1, 3]


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return ms.generate(24, CFG, seed=123)


# ------------------------------------------------------------------------------ generation
def test_generate_shape_dtype_binary(batch):
    assert batch.shape == (24, CFG.size, CFG.size)
    assert batch.dtype == np.uint8
    assert set(np.unique(batch)) == {0, 1}


@pytest.mark.parametrize("vf", [0.0, 0.05, 0.31, 0.5, 0.777, 1.0])
def test_threshold_gives_exact_pixel_count(vf):
    fields = ms.gaussian_random_field(3, 64, 1.6, seed=1)
    images = ms.threshold_to_volume_fraction(fields, vf)
    counts = images.reshape(3, -1).sum(axis=1)
    assert np.all(counts == round(vf * 64 * 64))


def test_threshold_exact_per_image_and_with_ties():
    fields = np.zeros((2, 10, 10))  # all values tied: still the exact count
    images = ms.threshold_to_volume_fraction(fields, [0.33, 0.5])
    assert images.reshape(2, -1).sum(axis=1).tolist() == [33, 50]
    # phase 1 is where the field is largest
    field = np.arange(16.0).reshape(1, 4, 4)
    image = ms.threshold_to_volume_fraction(field, 0.25)
    assert image[0].ravel().tolist() == [0] * 12 + [1] * 4


def test_generate_volume_fraction_distribution(batch):
    vf = ms.volume_fraction(ms.generate(300, CFG, seed=5))
    # each image has an exact pixel count, so vf * size^2 is an integer
    assert np.allclose(vf * CFG.size**2, np.rint(vf * CFG.size**2))
    assert abs(vf.mean() - CFG.volume_fraction) < 0.01
    assert abs(vf.std() - CFG.volume_fraction_std) < 0.01
    assert vf.min() >= 0.05 and vf.max() <= 0.95


def test_zero_volume_fraction_std_gives_identical_fractions():
    cfg = dataclasses.replace(CFG, size=64, volume_fraction=0.4, volume_fraction_std=0.0)
    vf = ms.volume_fraction(ms.generate(5, cfg, seed=0))
    assert np.all(vf == round(0.4 * 64 * 64) / (64 * 64))


def test_same_seed_same_images_and_different_seeds_differ():
    a = ms.generate(4, CFG, seed=7)
    b = ms.generate(4, CFG, seed=7)
    c = ms.generate(4, CFG, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # images within one batch differ from each other
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize("size", [64, 96, 128])
def test_other_sizes(size):
    images = ms.generate(2, dataclasses.replace(CFG, size=size), seed=0)
    assert images.shape == (2, size, size)


def test_field_is_standardized():
    f = ms.gaussian_random_field(4, 64, 2.0, seed=0)
    assert f.dtype == np.float32
    assert np.allclose(f.mean(axis=(1, 2)), 0, atol=1e-5)
    assert np.allclose(f.std(axis=(1, 2)), 1, atol=1e-4)


def _edge_to_interior_ratio(fields: np.ndarray) -> float:
    """Mean squared jump across the wrap-around edge / across interior neighbours (columns)."""
    edge = np.mean((fields[:, :, 0] - fields[:, :, -1]) ** 2)
    interior = np.mean((fields[:, :, 1:] - fields[:, :, :-1]) ** 2)
    return float(edge / interior)


def test_periodic_field_wraps_smoothly_and_nonperiodic_does_not():
    periodic = ms.gaussian_random_field(20, 64, 1.6, periodic=True, seed=0)
    cut = ms.gaussian_random_field(20, 64, 1.6, periodic=False, seed=0)
    assert 0.8 < _edge_to_interior_ratio(periodic) < 1.25
    assert _edge_to_interior_ratio(cut) > 4.0


# ------------------------------------------------------------------------------ statistics
def test_volume_fraction_of_hand_image():
    assert ms.volume_fraction(HAND)[0] == pytest.approx(10 / 20)


def test_s2_at_zero_equals_volume_fraction(batch):
    s2 = ms.two_point_correlation(batch)
    assert s2.shape == (len(batch), CFG.size // 2 + 1)
    assert np.allclose(s2[:, 0], ms.volume_fraction(batch), atol=1e-12)
    assert np.all(s2 <= s2[:, :1] + 1e-12)  # S2(r) <= S2(0)


def test_s2_tends_to_vf_squared(batch):
    s2 = ms.two_point_correlation(batch)
    vf = ms.volume_fraction(batch)
    tail = s2[:, 40:].mean(axis=1)
    assert np.all(np.abs(tail - vf**2) < 0.006)
    assert abs(np.mean(tail - vf**2)) < 0.002
    # and it is clearly above vf^2 at short range (the phase is clustered)
    assert np.all(s2[:, 1] > vf**2 + 0.05)


def test_s2_is_invariant_under_circular_shift(batch):
    image = batch[0]
    shifted = np.roll(image, shift=(17, 40), axis=(0, 1))
    assert np.allclose(ms.two_point_correlation(image), ms.two_point_correlation(shifted))


def test_s2_matches_brute_force_on_small_image():
    rng = np.random.default_rng(0)
    image = (rng.random((6, 8)) < 0.4).astype(np.uint8)
    h, w = image.shape
    sums = np.zeros(6)
    counts = np.zeros(6)
    for dy in range(h):
        for dx in range(w):
            r = int(np.rint(np.hypot(min(dy, h - dy), min(dx, w - dx))))
            if r > 5:
                continue
            both = image * np.roll(image, shift=(-dy, -dx), axis=(0, 1))
            sums[r] += both.mean()
            counts[r] += 1
    expected = sums / counts
    got = ms.two_point_correlation(image, max_radius=5)[0]
    assert np.allclose(got, expected)


def test_chords_of_hand_image():
    assert sorted(ms.chord_lengths(HAND, phase=1).tolist()) == sorted(HAND_CHORDS_1)
    assert sorted(ms.chord_lengths(HAND, phase=0).tolist()) == sorted(HAND_CHORDS_0)
    assert ms.mean_chord_length(HAND, 1) == pytest.approx(20 / 13)
    assert ms.mean_chord_length(HAND, 0) == pytest.approx(20 / 12)


def test_chords_of_uniform_images():
    full = np.ones((1, 3, 4), dtype=np.uint8)
    assert sorted(ms.chord_lengths(full, 1).tolist()) == [3] * 4 + [4] * 3
    assert ms.chord_lengths(full, 0).size == 0
    assert ms.mean_chord_length(full, 0) == 0.0


def test_chord_lengths_add_up_to_phase_pixels(batch):
    # every phase-1 pixel lies on exactly one row chord and one column chord
    assert ms.chord_lengths(batch, 1).sum() == 2 * int(batch.sum())


def test_default_minority_mean_chord_length_near_5px():
    images = ms.generate(20, CFG, seed=0)
    assert 4.0 < ms.mean_chord_length(images, 1) < 6.0
    # the majority phase has longer chords
    assert ms.mean_chord_length(images, 0) > ms.mean_chord_length(images, 1)


def test_mean_chord_length_grows_with_feature_size():
    small = ms.generate(8, dataclasses.replace(CFG, size=64, feature_size_px=1.0), seed=0)
    large = ms.generate(8, dataclasses.replace(CFG, size=64, feature_size_px=3.0), seed=0)
    assert ms.mean_chord_length(large, 1) > 1.5 * ms.mean_chord_length(small, 1)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "func", [ms.volume_fraction, ms.two_point_correlation, ms.chord_lengths]
)
@pytest.mark.parametrize("bad", [np.full((4, 4), 2), np.full((4, 4), 0.5), np.full((4, 4), np.nan)])
def test_non_binary_input_raises(func, bad):
    with pytest.raises(ValueError, match="binary"):
        func(bad)


@pytest.mark.parametrize(
    "func", [ms.volume_fraction, ms.two_point_correlation, ms.chord_lengths]
)
@pytest.mark.parametrize("shape", [(5,), (2, 2, 3, 3)])
def test_bad_shape_raises(func, shape):
    with pytest.raises(ValueError, match="shape"):
        func(np.zeros(shape, dtype=np.uint8))


def test_empty_input_raises():
    with pytest.raises(ValueError, match="empty"):
        ms.volume_fraction(np.zeros((0, 4, 4), dtype=np.uint8))


def test_other_bad_arguments_raise():
    with pytest.raises(ValueError, match="phase"):
        ms.chord_lengths(HAND, phase=2)
    with pytest.raises(ValueError, match="max_radius"):
        ms.two_point_correlation(HAND, max_radius=100)
    with pytest.raises(ValueError, match="feature_size_px"):
        ms.gaussian_random_field(1, 16, 0.0)
    with pytest.raises(ValueError, match="n >= 1"):
        ms.gaussian_random_field(0, 16, 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ms.threshold_to_volume_fraction(np.zeros((1, 4, 4)), 1.5)
    with pytest.raises(ValueError, match="shape"):
        ms.threshold_to_volume_fraction(np.zeros((2, 4, 4)), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="shape"):
        ms.threshold_to_volume_fraction(np.zeros(16), 0.5)


# ------------------------------------------------------------------------------ plot helpers
def test_plot_helpers(batch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from invdes.book import plots

    fig = plots.image_grid(batch[:5], titles=[f"{i}" for i in range(5)], ncols=3)
    assert len(fig.axes) == 6 and sum(bool(ax.images) for ax in fig.axes) == 5
    plt.close(fig)
    field = batch[1, :64, :64].astype(float) * 0.3
    fig = plots.image_grid([batch[0], field], cmap=["gray", "RdBu"])
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid(batch[:3], titles=["a"])
    s2 = ms.two_point_correlation(batch)
    ax = plots.plot_s2(s2, ms.volume_fraction(batch))
    assert ax.get_lines()
    ax = plots.plot_chords({"phase 1": ms.chord_lengths(batch, 1)})
    assert ax.patches
    plt.close("all")
