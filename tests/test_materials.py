import numpy as np
import pytest

from invdes.physics import materials


def test_kramers_kronig_reproduces_a_lorentz_oscillator():
    """Numerical KK of a Lorentz oscillator's eps2 must return its analytic eps1."""
    f, e0, g = 5.0, 3.0, 0.4

    def eps(e):
        return 1.0 + f / (e0**2 - e**2 - 1j * g * e)

    for e in (1.0, 2.5, 3.0, 4.2):
        eps1 = materials.kramers_kronig_eps1(lambda x: eps(x).imag, e, e_min=0.0, eps_inf=1.0)
        assert eps1 == pytest.approx(eps(e).real, abs=2e-4)


def test_fused_silica_index_at_sodium_d_line():
    # Malitson (1965): n_D = 1.4585 at 587.6 nm
    assert materials.refractive_index("glass", 587.6).real == pytest.approx(1.4585, abs=2e-4)


def test_amorphous_silicon_is_absorbing_and_dispersive():
    n = materials.refractive_index("a-Si", np.array([400.0, 550.0, 700.0]))
    assert np.all(n.real > 3.5) and np.all(n.real < 5.5)
    assert np.all(np.diff(n.imag) < 0) and n.imag[-1] > 0  # k falls towards the red, stays > 0
    assert materials.permittivity("a-Si", 1300.0).imag == 0.0  # below the 1.2 eV Tauc gap


def test_bad_material_and_wavelength():
    with pytest.raises(ValueError, match="unknown material"):
        materials.permittivity("unobtainium", 500.0)
    with pytest.raises(ValueError, match="wavelength"):
        materials.permittivity("glass", -5.0)


def test_silver_is_a_lossy_metal_close_to_johnson_christy():
    # Johnson & Christy (1972), silver at 500 nm: n = 0.05, k = 3.09 -> eps = -9.55 + 0.31i
    eps = materials.permittivity("Ag", 500.0)
    assert -10.5 < eps.real < -9.0
    assert 0 < eps.imag < 0.5
    # a Drude metal grows more negative towards the red
    assert materials.permittivity("Ag", 800.0).real < eps.real
