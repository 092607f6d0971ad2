"""RCWA validation against results that cannot be argued with."""

import numpy as np
import pytest

from invdes.physics import rcwa

WAVELENGTHS = (400.0, 550.0, 700.0)


def random_grid(shape=(12, 12), eps_a=12.0 + 1.0j, eps_b=1.0, fraction=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(shape) < fraction, eps_b, eps_a)


@pytest.mark.parametrize("eps", [2.25, 12.0 + 1.0j, 4.0 + 0.3j])
@pytest.mark.parametrize("wavelength", WAVELENGTHS)
def test_uniform_slab_matches_thin_film(eps, wavelength):
    r_ref, t_ref = rcwa.thin_film_reflectance_transmittance(
        [eps], [150.0], wavelength=wavelength, eps_in=1.0, eps_out=2.1)
    for pol in ("x", "y"):
        r, t = rcwa.reflectance_transmittance(
            np.full((6, 6), eps), wavelength=wavelength, period=300.0, thickness=150.0,
            harmonics=(2, 2), eps_in=1.0, eps_out=2.1, polarization=pol)
        assert abs(r - r_ref) < 1e-10 and abs(t - t_ref) < 1e-10


@pytest.mark.parametrize("formulation", rcwa.FORMULATIONS)
@pytest.mark.parametrize("eps", [2.25, 12.0 + 1.0j, 1.0])
def test_uniform_slab_through_eigen_solver(formulation, eps):
    """The numerical eigen-mode path (not the analytic shortcut) also matches the thin film,
    including the degenerate case of a layer identical to the incidence medium (eps = 1)."""
    wavelength, period, d = 500.0, 300.0, 120.0
    orders = rcwa.Orders(2, 2)
    kx = orders.p * wavelength / period
    ky = orders.q * wavelength / period
    grid = np.full((6, 6), eps, dtype=complex)
    modes = rcwa.patterned_modes(
        *rcwa.permittivity_matrices(grid, orders, formulation, "exact"), kx, ky)
    top, bottom = rcwa.uniform_modes(1.0, kx, ky), rcwa.uniform_modes(2.1, kx, ky)
    incident = np.zeros((2 * orders.n, 2), complex)
    incident[orders.zero, 0] = incident[orders.n + orders.zero, 1] = 1.0
    phase = np.exp(1j * modes.q * 2 * np.pi / wavelength * d)
    refl, trans = rcwa.single_layer_amplitudes(top, modes, bottom, phase, incident)
    p_in = rcwa._flux(incident, top).sum(axis=0)
    r = rcwa._flux(refl, top).sum(axis=0) / p_in
    t = rcwa._flux(trans, bottom).sum(axis=0) / p_in
    r_ref, t_ref = rcwa.thin_film_reflectance_transmittance(
        [eps], [d], wavelength=wavelength, eps_in=1.0, eps_out=2.1)
    np.testing.assert_allclose(r, r_ref, atol=1e-10)
    np.testing.assert_allclose(t, t_ref, atol=1e-10)


def test_multilayer_uniform_stack_matches_thin_film():
    layers = [rcwa.Layer(2.1, 80.0), rcwa.Layer(12.0 + 0.5j, 60.0), rcwa.Layer(4.0, 200.0)]
    for wavelength in WAVELENGTHS:
        r, t = rcwa.stack_reflectance_transmittance(
            layers, wavelength=wavelength, period=250.0, harmonics=(1, 1), eps_in=1.0,
            eps_out=2.25)
        r_ref, t_ref = rcwa.thin_film_reflectance_transmittance(
            [la.eps for la in layers], [la.thickness for la in layers],
            wavelength=wavelength, eps_in=1.0, eps_out=2.25)
        np.testing.assert_allclose(r, r_ref, atol=1e-10)
        np.testing.assert_allclose(t, t_ref, atol=1e-10)


@pytest.mark.parametrize("formulation", rcwa.FORMULATIONS)
def test_lossless_patterned_layer_conserves_energy(formulation):
    grid = random_grid(eps_a=12.0, seed=1)
    for wavelength in (450.0, 650.0):
        r, t = rcwa.stack_reflectance_transmittance(
            [rcwa.Layer(grid, 200.0)], wavelength=wavelength, period=400.0, harmonics=(4, 4),
            eps_in=1.0, eps_out=2.25, formulation=formulation)
        np.testing.assert_allclose(r + t, 1.0, atol=1e-8)


@pytest.mark.parametrize("formulation", rcwa.FORMULATIONS)
def test_lossy_layer_absorbs_between_zero_and_one(formulation):
    r, t = rcwa.stack_reflectance_transmittance(
        [rcwa.Layer(random_grid(seed=2), 150.0)], wavelength=500.0, period=400.0,
        harmonics=(3, 3), eps_in=1.0, eps_out=2.25, formulation=formulation)
    a = 1.0 - r - t
    assert np.all(r >= 0) and np.all(t >= 0) and np.all(a > 0.01) and np.all(a < 1)


def test_air_layer_is_transparent_and_lossless():
    r, t = rcwa.reflectance_transmittance(
        np.ones((5, 5)), wavelength=500.0, period=300.0, thickness=100.0, harmonics=(2, 2))
    assert abs(r) < 1e-12 and abs(t - 1.0) < 1e-12


@pytest.mark.parametrize("formulation", rcwa.FORMULATIONS)
def test_circular_shift_changes_nothing(formulation):
    grid = random_grid(seed=3)
    kw = dict(wavelength=520.0, period=400.0, harmonics=(3, 3), eps_in=1.0, eps_out=2.25,
              formulation=formulation)
    r0, t0 = rcwa.stack_reflectance_transmittance([rcwa.Layer(grid, 150.0)], **kw)
    r1, t1 = rcwa.stack_reflectance_transmittance(
        [rcwa.Layer(np.roll(grid, (5, -3), axis=(0, 1)), 150.0)], **kw)
    np.testing.assert_allclose(r1, r0, atol=1e-10)
    np.testing.assert_allclose(t1, t0, atol=1e-10)


@pytest.mark.parametrize("formulation", rcwa.FORMULATIONS)
def test_transpose_swaps_polarizations(formulation):
    grid = random_grid(shape=(10, 14), seed=4)
    kw = dict(wavelength=480.0, period=400.0, harmonics=(3, 2), eps_in=1.0, eps_out=2.25,
              formulation=formulation)
    r0, t0 = rcwa.stack_reflectance_transmittance([rcwa.Layer(grid, 150.0)], **kw)
    kw["harmonics"] = (2, 3)
    r1, t1 = rcwa.stack_reflectance_transmittance([rcwa.Layer(grid.T, 150.0)], **kw)
    np.testing.assert_allclose(r1[::-1], r0, atol=1e-10)
    np.testing.assert_allclose(t1[::-1], t0, atol=1e-10)


@pytest.mark.parametrize("formulation", rcwa.FORMULATIONS)
def test_direct_single_layer_solution_equals_smatrix(formulation):
    kw = dict(wavelength=610.0, period=400.0, harmonics=(3, 3), eps_in=1.0, eps_out=2.1,
              formulation=formulation)
    layers = [rcwa.Layer(random_grid(seed=5), 400.0)]
    r0, t0 = rcwa.stack_reflectance_transmittance(layers, **kw)
    r1, t1 = rcwa.stack_reflectance_transmittance(layers, smatrix=True, **kw)
    np.testing.assert_allclose(r0, r1, atol=1e-10)
    np.testing.assert_allclose(t0, t1, atol=1e-10)


def test_li_equals_laurent_for_field_along_stripes():
    """Stripes varying along x only: for E along y (tangential to every interface) the Laurent
    rule is already correct, so both factorizations must agree exactly for y polarization."""
    stripes = np.tile(np.where(np.arange(16) < 6, 1.0, 12.0 + 0.8j), (4, 1))
    kw = dict(wavelength=550.0, period=450.0, harmonics=(5, 2), eps_in=1.0, eps_out=2.25)
    r_li, t_li = rcwa.stack_reflectance_transmittance([rcwa.Layer(stripes, 150.0)],
                                                      formulation="li", **kw)
    r_la, t_la = rcwa.stack_reflectance_transmittance([rcwa.Layer(stripes, 150.0)],
                                                      formulation="laurent", **kw)
    assert abs(r_li[1] - r_la[1]) < 1e-10 and abs(t_li[1] - t_la[1]) < 1e-10
    assert abs(r_li[0] - r_la[0]) > 1e-4  # x polarization: the rules differ


def test_results_converge_with_harmonics():
    """The change between successive truncations shrinks as harmonics grow (Li's rule)."""
    grid = np.ones((16, 16), complex)
    grid[4:11, 3:12] = 12.0 + 0.5j
    values = []
    for m in (1, 3, 5, 7):
        r, t = rcwa.stack_reflectance_transmittance(
            [rcwa.Layer(grid, 150.0)], wavelength=600.0, period=400.0, harmonics=(m, m),
            eps_in=1.0, eps_out=2.25, formulation="li")
        values.append(1 - r[0] - t[0])
    steps = np.abs(np.diff(values))
    assert steps[-1] < steps[0] / 3


def test_exact_and_dft_coefficients_differ_only_by_pixel_factor():
    grid = random_grid(shape=(8, 8), seed=6)
    exact = rcwa.fourier_coefficients(grid, 3, 3, "exact")
    dft = rcwa.fourier_coefficients(grid, 3, 3, "dft")
    assert exact[3, 3] == pytest.approx(dft[3, 3])  # zero order: the mean permittivity
    assert exact[3, 3] == pytest.approx(grid.mean())
    assert not np.allclose(exact, dft)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(eps_grid=np.full((4, 4), np.nan)), "non-finite"),
        (dict(eps_grid=np.ones(4)), "2-D"),
        (dict(thickness=-1.0), "thickness"),
        (dict(wavelength=0.0), "wavelength"),
        (dict(period=-3.0), "period"),
        (dict(harmonics=(-1, 2)), "harmonics"),
        (dict(formulation="magic"), "formulation"),
        (dict(polarization="z"), "polarization"),
        (dict(eps_in=1.0 + 0.1j), "eps_in"),
    ],
)
def test_bad_input_gives_clear_error(kwargs, message):
    args = dict(eps_grid=np.full((4, 4), 4.0), wavelength=500.0, period=300.0, thickness=100.0,
                harmonics=(1, 1))
    args.update(kwargs)
    grid = args.pop("eps_grid")
    with pytest.raises(ValueError, match=message):
        rcwa.reflectance_transmittance(grid, **args)


def test_single_layer_sweep_equals_one_solve_per_combination():
    rng = np.random.default_rng(5)
    grid = np.where(rng.random((12, 12)) < 0.3, 1.0, 12.0 + 0.8j)
    thicknesses = [60.0, 150.0]
    eps_outs = [2.1, -9.8 + 0.3j]
    r, t = rcwa.single_layer_sweep(grid, wavelength=600.0, period=500.0,
                                   thicknesses=thicknesses, harmonics=(2, 2),
                                   eps_outs=eps_outs)
    assert r.shape == t.shape == (2, 2, 2)
    for i, eps_out in enumerate(eps_outs):
        for j, d in enumerate(thicknesses):
            r1, t1 = rcwa.stack_reflectance_transmittance(
                [rcwa.Layer(grid, d)], wavelength=600.0, period=500.0, harmonics=(2, 2),
                eps_out=eps_out)
            np.testing.assert_allclose(r[i, j], r1, atol=1e-12)
            np.testing.assert_allclose(t[i, j], t1, atol=1e-12)
    assert np.all(r + t <= 1 + 1e-12)


def test_single_layer_sweep_uniform_layer_matches_thin_film_formula():
    r, t = rcwa.single_layer_sweep(np.full((4, 4), 12.0 + 0.5j), wavelength=550.0,
                                   period=400.0, thicknesses=[80.0], harmonics=(1, 1),
                                   eps_outs=[2.25])
    r_ref, t_ref = rcwa.thin_film_reflectance_transmittance([12.0 + 0.5j], [80.0],
                                                            wavelength=550.0, eps_out=2.25)
    np.testing.assert_allclose(r[0, 0], r_ref, atol=1e-10)
    np.testing.assert_allclose(t[0, 0], t_ref, atol=1e-10)


def test_single_layer_sweep_rejects_negative_thickness():
    with pytest.raises(ValueError, match="thicknesses"):
        rcwa.single_layer_sweep(np.ones((2, 2)), wavelength=500.0, period=300.0,
                                thicknesses=[-1.0], harmonics=(1, 1))
