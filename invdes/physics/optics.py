"""The optical property of a microstructure: band-averaged absorption of a patterned thin film.

The stack (all choices in :class:`invdes.config.OpticsConfig`, defaults argued in chapter 2):

    superstrate (air, incidence side)
    patterned film, thickness ``thickness_nm``: absorber (a-Si) where the pixel is 0,
        inclusion (air) where the pixel is 1; one image = one square unit cell of side
        ``period_nm`` (whatever its pixel count: 64x64 and 96x96 images describe the same cell)
    substrate half-space (glass)

Light arrives at normal incidence, unpolarized (the mean of the two orthogonal linear
polarizations). The film is the only lossy part of the stack, so the absorbed fraction in the
film is A = 1 - R - T. The scalar property is the mean of A over ``n_wavelengths`` wavelengths
at the midpoints of equal sub-intervals of ``band_nm`` (a midpoint-rule band average).

Many images are simulated in parallel processes (joblib), each pinned to one BLAS thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from invdes.config import OpticsConfig
from invdes.physics import rcwa
from invdes.physics.materials import permittivity


def wavelengths_nm(config: OpticsConfig) -> np.ndarray:
    """Midpoints of ``n_wavelengths`` equal sub-intervals of the band, shape (n_wavelengths,)."""
    lo, hi = config.band_nm
    if not (0 < lo < hi) or config.n_wavelengths < 1:
        raise ValueError(f"band_nm must be (low, high) with 0 < low < high and n_wavelengths >= 1;"
                         f" got {config.band_nm}, {config.n_wavelengths}")
    edges = np.linspace(lo, hi, config.n_wavelengths + 1)
    return 0.5 * (edges[:-1] + edges[1:])


def check_binary_images(images) -> np.ndarray:
    """A batch of binary images as uint8 (n, h, w); a single (h, w) image becomes n = 1.

    Raises a ValueError that says what is wrong: shape, dtype, non-finite or non-binary values.
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] < 1 or min(arr.shape[1:]) < 2:
        raise ValueError(
            f"images must have shape (n, h, w) or (h, w) with h, w >= 2; got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"images must be numeric; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        raise ValueError("images contain non-finite values (nan or inf)")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError("images must be binary (0 = absorber, 1 = inclusion); found values "
                         f"{np.unique(arr)[:6].tolist()}")
    return arr.astype(np.uint8, copy=False)


def check_binary_image(image) -> np.ndarray:
    """A single binary image (h, w) as uint8; clear ValueError otherwise."""
    if np.ndim(image) != 2:
        raise ValueError(f"an image must be a 2-D array (h, w); got shape {np.shape(image)}")
    return check_binary_images(image)[0]


@dataclass(frozen=True)
class Spectrum:
    """Per-wavelength results for one image; arrays of shape (n_wavelengths,)."""

    wavelengths_nm: np.ndarray
    absorption: np.ndarray  # unpolarized: mean of x and y
    absorption_x: np.ndarray
    absorption_y: np.ndarray
    reflectance: np.ndarray  # unpolarized
    transmittance: np.ndarray  # unpolarized

    @property
    def band_average(self) -> float:
        return float(self.absorption.mean())


def absorption_spectrum(image, config: OpticsConfig | None = None) -> Spectrum:
    """Absorption, reflectance and transmittance spectra of one binary image (h, w)."""
    config = config or OpticsConfig()
    img = check_binary_image(image)
    wls = wavelengths_nm(config)
    if img.shape[0] != img.shape[1]:
        raise ValueError(f"images must be square (one square period); got shape {img.shape}")
    r = np.empty((wls.size, 2))
    t = np.empty((wls.size, 2))
    for i, wl in enumerate(wls):
        r[i], t[i] = _stack_rt(img, config, wl)
    a = 1.0 - r - t
    return Spectrum(wavelengths_nm=wls, absorption=a.mean(axis=1), absorption_x=a[:, 0],
                    absorption_y=a[:, 1], reflectance=r.mean(axis=1),
                    transmittance=t.mean(axis=1))


def _absorption_serial(images: np.ndarray, config: OpticsConfig) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return np.array([absorption_spectrum(im, config).band_average for im in images])


def default_n_jobs() -> int:
    """Worker processes for batch simulation: ``$INVDES_N_JOBS`` or the number of CPUs."""
    return int(os.environ.get("INVDES_N_JOBS", os.cpu_count() or 1))


def absorption(images, config: OpticsConfig | None = None, *, n_jobs: int | None = None,
               progress: bool = False, chunk_size: int = 4) -> np.ndarray:
    """Band-averaged unpolarized absorption of each binary image; shape (n,), input order.

    ``images``: (n, h, w) or (h, w) binary (0 = absorber, 1 = inclusion). Runs ``n_jobs``
    processes (default :func:`default_n_jobs`) with one BLAS thread each; ``progress`` shows a
    progress bar. The same numbers on a Dask cluster:
    :func:`invdes.cluster_sweeps.absorption_on_cluster`.
    """
    config = config or OpticsConfig()
    imgs = check_binary_images(images)
    n = imgs.shape[0]
    n_jobs = default_n_jobs() if n_jobs is None else int(n_jobs)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1; got {n_jobs}")
    # at most chunk_size images per task, but small batches split evenly over the processes
    # (a batch of 4 would otherwise run on one core)
    size = max(1, min(int(chunk_size), -(-n // n_jobs)))
    chunks = [imgs[i : i + size] for i in range(0, n, size)]
    from tqdm import tqdm

    bar = tqdm(total=n, desc="RCWA", unit="img", disable=not progress)
    out: list[np.ndarray] = []
    if n_jobs == 1 or len(chunks) == 1:
        for chunk in chunks:
            out.append(_absorption_serial(chunk, config))
            bar.update(len(chunk))
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=min(n_jobs, len(chunks)), return_as="generator")
        for chunk, res in zip(chunks, parallel(delayed(_absorption_serial)(c, config)
                                               for c in chunks), strict=True):
            out.append(res)
            bar.update(len(chunk))
    bar.close()
    return np.concatenate(out)


def plot_spectrum(spectrum: Spectrum, title: str | None = None):
    """Figure of A (both polarizations and unpolarized), R and T against wavelength."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    wl = spectrum.wavelengths_nm
    ax.plot(wl, spectrum.absorption, "o-", color="k", label="A (unpolarized)")
    ax.plot(wl, spectrum.absorption_x, "--", label="A (E along x)")
    ax.plot(wl, spectrum.absorption_y, ":", label="A (E along y)")
    ax.plot(wl, spectrum.reflectance, "s-", ms=3, label="R")
    ax.plot(wl, spectrum.transmittance, "^-", ms=3, label="T")
    ax.axhline(spectrum.band_average, color="gray", lw=0.8)
    ax.set(xlabel="wavelength (nm)", ylabel="fraction of incident power", ylim=(0, 1),
           title=title or f"band-averaged absorption {spectrum.band_average:.4f}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def convergence_study(image, config: OpticsConfig, harmonics: list[int],
                      formulations=("li", "laurent"), wavelengths=None) -> dict:
    """Unpolarized absorption against the truncation m (orders -m..m in x and y).

    Returns arrays: ``harmonics`` (k,), ``wavelengths_nm`` (w,), and for each formulation f
    ``absorption_<f>`` (k, w) and ``seconds_<f>`` (k,) (solve time per wavelength, both
    polarizations). Used for the convergence figure of chapter 2.
    """
    import time
    from dataclasses import replace

    from threadpoolctl import threadpool_limits

    img = check_binary_image(image)
    wls = wavelengths_nm(config) if wavelengths is None else np.asarray(wavelengths, float)
    out: dict[str, np.ndarray] = {"harmonics": np.asarray(harmonics), "wavelengths_nm": wls}
    with threadpool_limits(limits=1):
        for f in formulations:
            a = np.empty((len(harmonics), wls.size))
            sec = np.empty(len(harmonics))
            for i, m in enumerate(harmonics):
                cfg = replace(config, harmonics=(m, m), formulation=f)
                t0 = time.perf_counter()
                for j, wl in enumerate(wls):
                    a[i, j] = _single_wavelength_absorption(img, cfg, wl)
                sec[i] = (time.perf_counter() - t0) / wls.size
            out[f"absorption_{f}"], out[f"seconds_{f}"] = a, sec
    return out


def _stack_rt(img: np.ndarray, config: OpticsConfig, wl: float):
    """(R, T), each (2,) for E along x and y, of one binary image at wavelength ``wl`` (nm)."""
    eps_grid = np.where(img.astype(bool), permittivity(config.inclusion, wl),
                        permittivity(config.absorber, wl))
    return rcwa.stack_reflectance_transmittance(
        [rcwa.Layer(eps_grid, config.thickness_nm)], wavelength=wl, period=config.period_nm,
        harmonics=config.harmonics, eps_in=permittivity(config.superstrate, wl),
        eps_out=permittivity(config.substrate, wl), formulation=config.formulation)


def _single_wavelength_absorption(img: np.ndarray, config: OpticsConfig, wl: float) -> float:
    r, t = _stack_rt(img, config, wl)
    return float((1.0 - r - t).mean())
