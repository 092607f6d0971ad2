"""Dispersive relative permittivities of the stack's materials (time convention exp(-i omega t),
so absorbing materials have Im(eps) > 0). Wavelengths in nanometres.

- ``"a-Si"``: amorphous silicon, Tauc-Lorentz model with the a-Si parameters of Jellison &
  Modine, Appl. Phys. Lett. 69, 371 (1996): A = 122 eV, E0 = 3.45 eV, C = 2.54 eV,
  Eg = 1.20 eV, eps_inf = 1.15. eps2 is the model's closed form; eps1 follows from the
  Kramers-Kronig relation, evaluated numerically (principal value, :func:`kramers_kronig_eps1`).
- ``"glass"``: fused silica, three-term Sellmeier formula of Malitson, J. Opt. Soc. Am. 55,
  1205 (1965) (lossless).
- ``"Ag"``: silver, Drude model eps = eps_inf - wp^2 / (w^2 + i gamma w) with eps_inf = 3.7,
  hbar wp = 9.1 eV, hbar gamma = 0.018 eV, a common fit to the data of Johnson & Christy,
  Phys. Rev. B 6, 4370 (1972) in the visible (at 500 nm: -9.8 + 0.10i against their
  -9.6 + 0.31i). Used as an optional back reflector (a lossy half-space).
- ``"air"``: eps = 1.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import integrate

HC_EV_NM = 1239.841984  # photon energy (eV) times wavelength (nm)

TAUC_LORENTZ_A_SI = {"A": 122.0, "E0": 3.45, "C": 2.54, "Eg": 1.20, "eps_inf": 1.15}
DRUDE_AG = {"eps_inf": 3.7, "wp_ev": 9.1, "gamma_ev": 0.018}
MALITSON_SIO2 = ((0.6961663, 0.0684043), (0.4079426, 0.1162414), (0.8974794, 9.896161))


def tauc_lorentz_eps2(energy_ev, A: float, E0: float, C: float, Eg: float) -> np.ndarray:
    """Imaginary part of the Tauc-Lorentz permittivity (Jellison & Modine 1996), energy in eV."""
    e = np.asarray(energy_ev, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = A * E0 * C * (e - Eg) ** 2 / (((e**2 - E0**2) ** 2 + C**2 * e**2) * e)
    return np.where(e > Eg, val, 0.0)


def kramers_kronig_eps1(
    eps2: Callable[[float], float], energy_ev: float, *, e_min: float, eps_inf: float
) -> float:
    """eps1(E) = eps_inf + (2/pi) P int_{e_min}^inf x eps2(x) / (x^2 - E^2) dx.

    The principal value is taken with QUADPACK's Cauchy weight on a finite interval and the
    tail integrated plainly.
    """
    e = float(energy_ev)

    def f(x: float) -> float:
        return x * eps2(x) / (x + e)

    upper = max(50.0, 4 * e)
    if e_min < e < upper:
        main, _ = integrate.quad(f, e_min, upper, weight="cauchy", wvar=e, limit=200)
    else:
        main, _ = integrate.quad(lambda x: f(x) / (x - e), e_min, upper, limit=200)
    tail, _ = integrate.quad(lambda x: x * eps2(x) / (x * x - e * e), upper, np.inf, limit=200)
    return eps_inf + 2.0 / np.pi * (main + tail)


@lru_cache(maxsize=4096)
def _a_si(wavelength_nm: float) -> complex:
    p = TAUC_LORENTZ_A_SI
    e = HC_EV_NM / wavelength_nm

    def eps2(x: float) -> float:
        return float(tauc_lorentz_eps2(x, p["A"], p["E0"], p["C"], p["Eg"]))

    eps1 = kramers_kronig_eps1(eps2, e, e_min=p["Eg"], eps_inf=p["eps_inf"])
    return complex(eps1, eps2(e))


def _glass(wavelength_nm: float) -> complex:
    lam2 = (wavelength_nm / 1000.0) ** 2
    n2 = 1.0 + sum(b * lam2 / (lam2 - c * c) for b, c in MALITSON_SIO2)
    return complex(n2, 0.0)


def _silver(wavelength_nm: float) -> complex:
    e = HC_EV_NM / wavelength_nm
    p = DRUDE_AG
    return complex(p["eps_inf"] - p["wp_ev"] ** 2 / (e * e + 1j * p["gamma_ev"] * e))


def _air(wavelength_nm: float) -> complex:
    return 1.0 + 0.0j


MATERIALS: dict[str, Callable[[float], complex]] = {
    "a-Si": _a_si, "glass": _glass, "Ag": _silver, "air": _air,
}


def permittivity(material: str, wavelength_nm) -> np.ndarray | complex:
    """Relative permittivity of ``material`` at ``wavelength_nm`` (scalar or array, 200-2000 nm)."""
    if material not in MATERIALS:
        raise ValueError(f"unknown material {material!r}; known materials: {', '.join(MATERIALS)}")
    wl = np.asarray(wavelength_nm, dtype=float)
    if not np.all(np.isfinite(wl)) or np.any(wl < 200) or np.any(wl > 2000):
        raise ValueError(f"wavelength_nm must lie in [200, 2000] nm; got {wavelength_nm}")
    fn = MATERIALS[material]
    if wl.ndim == 0:
        return fn(float(wl))
    return np.array([fn(float(w)) for w in wl.ravel()]).reshape(wl.shape)


def refractive_index(material: str, wavelength_nm) -> np.ndarray | complex:
    """Complex refractive index n + i k = sqrt(eps) (principal branch)."""
    return np.sqrt(permittivity(material, wavelength_nm))
