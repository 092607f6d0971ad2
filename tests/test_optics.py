import numpy as np
import pytest

from invdes import microstructure
from invdes.config import MicrostructureConfig, OpticsConfig
from invdes.physics import optics, rcwa
from invdes.physics.materials import permittivity

CFG = OpticsConfig(harmonics=(2, 2), n_wavelengths=3)


def test_wavelengths_are_band_midpoints():
    wl = optics.wavelengths_nm(OpticsConfig(band_nm=(400.0, 700.0), n_wavelengths=3))
    np.testing.assert_allclose(wl, [450.0, 550.0, 650.0])


def test_full_absorber_image_equals_thin_film():
    image = np.zeros((8, 8), np.uint8)
    spec = optics.absorption_spectrum(image, CFG)
    for wl, a in zip(spec.wavelengths_nm, spec.absorption, strict=True):
        r, t = rcwa.thin_film_reflectance_transmittance(
            [permittivity("a-Si", wl)], [CFG.thickness_nm], wavelength=wl,
            eps_in=1.0, eps_out=permittivity("glass", wl))
        assert a == pytest.approx(1 - r - t, abs=1e-10)


def test_all_inclusion_image_absorbs_nothing():
    assert optics.absorption(np.ones((8, 8), np.uint8), CFG, n_jobs=1)[0] == pytest.approx(
        0.0, abs=1e-12)


def test_unpolarized_is_mean_of_polarizations_and_energy_balances():
    image = microstructure.generate(1, MicrostructureConfig(size=16), seed=0)[0]
    s = optics.absorption_spectrum(image, CFG)
    np.testing.assert_allclose(s.absorption, 0.5 * (s.absorption_x + s.absorption_y))
    np.testing.assert_allclose(s.absorption + s.reflectance + s.transmittance, 1.0, atol=1e-12)
    assert np.all((s.absorption > 0) & (s.absorption < 1))


def test_parallel_batch_matches_serial_and_keeps_order():
    images = microstructure.generate(5, MicrostructureConfig(size=16), seed=1)
    serial = np.array([optics.absorption_spectrum(im, CFG).band_average for im in images])
    parallel = optics.absorption(images, CFG, n_jobs=2, chunk_size=1)
    np.testing.assert_allclose(parallel, serial, atol=1e-12)
    # a batch smaller than chunk_size * n_jobs is split over both processes, in order
    np.testing.assert_allclose(optics.absorption(images[:3], CFG, n_jobs=2), serial[:3],
                               atol=1e-12)
    assert len(set(np.round(serial, 8))) == 5  # the images differ, so order is tested


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((8, 8), 0.5), "binary"),
        (np.zeros(8), "shape"),
        (np.full((8, 8), np.nan), "non-finite"),
        (np.zeros((8, 6)), "square"),
    ],
)
def test_bad_images_give_clear_errors(image, message):
    with pytest.raises(ValueError, match=message):
        optics.absorption(image, CFG, n_jobs=1)
