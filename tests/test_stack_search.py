import numpy as np

from invdes.config import OpticsConfig
from invdes.physics import optics
from invdes.study import stack_search as ss


def test_grid_absorption_matches_the_plain_simulator():
    rng = np.random.default_rng(0)
    images = (rng.random((2, 8, 8)) < 0.3).astype(np.uint8)
    base = OpticsConfig(harmonics=(1, 1), n_wavelengths=2)
    grid = ss.StackGrid(periods_nm=(500.0, 640.0), bands_nm=((450.0, 650.0),),
                        thicknesses_nm=(100.0, 140.0), substrates=("glass", "Ag"), base=base)
    y = ss.grid_absorption(images, grid)
    assert y.shape == (2, 2, 1, 2, 2)
    for index in [(0, 0, 1, 0), (1, 0, 0, 1)]:
        expected = optics.absorption(images, grid.stack(index), n_jobs=1)
        np.testing.assert_allclose(y[(slice(None), *index)], expected, atol=1e-12)


def test_score_stacks_ranks_the_stack_that_meets_the_goals_first():
    rng = np.random.default_rng(1)
    n = 400
    vf = rng.normal(0.3, 0.03, n)
    good = rng.normal(0.666, 0.045, n)  # wide enough for every target
    narrow = rng.normal(0.666, 0.01, n)  # right mean, too narrow
    grid = ss.StackGrid(periods_nm=(640.0,), bands_nm=((400.0, 650.0),),
                        thicknesses_nm=(100.0, 200.0), substrates=("glass",))
    y = np.stack([narrow, good], axis=1)[:, None, None, :, None]
    table = ss.score_stacks(y, vf, grid)
    assert list(table.thickness_nm) == [200.0, 100.0]
    assert table.iloc[0].goals_met == 4
    assert not table.iloc[1].std_ok and not table.iloc[1].near_ok


def test_projected_counts_scale_with_the_final_size():
    y = np.random.default_rng(2).normal(0.65, 0.04, 300)
    small = ss.projected_near_counts(y, ss.StackGoals(n_final=1000))
    big = ss.projected_near_counts(y, ss.StackGoals(n_final=10_000))
    np.testing.assert_allclose(big, 10 * small)
    assert small[2] > small[0]  # more mass near 0.65 than near 0.55
