"""Small input checks shared by the modules: each raises a ValueError saying what is allowed."""

from __future__ import annotations

import math

import numpy as np


def check_count(n, name: str = "n") -> int:
    """``n`` as an int >= 1 (bools and non-integers rejected)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= 1; got {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1; got {n}")
    return int(n)


def check_positive_target(target, name: str = "target") -> float:
    """A finite target property > 0 (REP divides by it)."""
    try:
        value = float(target)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a positive number; got {target!r}") from exc
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (REP divides by it); got {target!r}")
    return value
