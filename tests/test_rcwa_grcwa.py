"""A patterned grating against grcwa (an independent open RCWA) at equal orders.

grcwa uses the Laurent rule and the plain DFT of the pixel grid, with rectangular truncation
(``Gmethod=1``); invdes in the same convention (``formulation="laurent"``, ``fourier="dft"``)
must give the same reflectance and transmittance to round-off. A lossy, asymmetric pattern makes
both polarizations and the orientation of the grid count.
"""

from __future__ import annotations

import numpy as np
import pytest

from invdes.physics import rcwa

grcwa = pytest.importorskip("grcwa")

PERIOD_NM, THICKNESS_NM, EPS_SUBSTRATE = 640.0, 90.0, 2.25


def _pattern(seed: int) -> np.ndarray:
    """A 16x18 grid of a lossy absorber (eps 15 + 0.8i) with air pixels; no symmetry."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((16, 18)) < 0.35, 1.0 + 0j, 15.0 + 0.8j)


def _grcwa_rt(grid: np.ndarray, m: int, wavelength_nm: float):
    grcwa.set_backend("numpy")
    ny, nx = grid.shape
    obj = grcwa.obj((2 * m + 1) ** 2, [PERIOD_NM, 0], [0, PERIOD_NM], 1 / wavelength_nm, 0.0,
                    0.0, verbose=0)
    obj.Add_LayerUniform(0.0, 1.0)
    # grcwa reads the flat grid as (Nx, Ny): our (rows, columns)
    obj.Add_LayerGrid(THICKNESS_NM, ny, nx)
    obj.Add_LayerUniform(0.0, EPS_SUBSTRATE)
    obj.Init_Setup(Gmethod=1)
    assert obj.nG == (2 * m + 1) ** 2
    obj.GridLayer_geteps(grid.flatten())
    out = []
    for p_amp, s_amp in ((0, 1), (1, 0)):  # E along x, then E along y
        obj.MakeExcitationPlanewave(p_amp, 0, s_amp, 0, order=0)
        out.append(obj.RT_Solve(normalize=1))
    r, t = np.array(out, dtype=float).T
    return r, t


@pytest.mark.parametrize("m, wavelength_nm, seed", [(2, 550.0, 0), (4, 700.0, 1)])
def test_patterned_grating_matches_grcwa(m, wavelength_nm, seed):
    grid = _pattern(seed)
    r, t = rcwa.stack_reflectance_transmittance(
        [rcwa.Layer(grid, THICKNESS_NM)], wavelength=wavelength_nm, period=PERIOD_NM,
        harmonics=(m, m), eps_in=1.0, eps_out=EPS_SUBSTRATE, formulation="laurent",
        fourier="dft")
    r_ref, t_ref = _grcwa_rt(grid, m, wavelength_nm)
    assert 0.01 < r.min() and t.max() < 0.99  # a non-trivial case
    np.testing.assert_allclose(r, r_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(t, t_ref, rtol=0, atol=1e-8)
