"""Public entry point kept at its old place: the solver's API from :mod:`invdes.physics.rcwa`.

``from invdes import rcwa; rcwa.reflectance_transmittance(...)`` keeps working for scripts
written against the flat layout. Inside the package, import :mod:`invdes.physics.rcwa`.
"""

from invdes.physics.rcwa import (
    FORMULATIONS,
    FOURIER_CONVENTIONS,
    POLARIZATIONS,
    Layer,
    reflectance_transmittance,
    stack_reflectance_transmittance,
    thin_film_reflectance_transmittance,
)

__all__ = ["FORMULATIONS", "FOURIER_CONVENTIONS", "POLARIZATIONS", "Layer",
           "reflectance_transmittance", "stack_reflectance_transmittance",
           "thin_film_reflectance_transmittance"]
