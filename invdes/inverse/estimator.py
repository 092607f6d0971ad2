"""scikit-learn-style parameter handling shared by the trainable models of this package (the
MDN, the conditional flow, the surrogate ensemble): the constructor stores its arguments, whose
names a subclass lists in ``param_names``; learned state ends in ``_``."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


class Estimator:
    """``get_params`` / ``set_params`` / ``from_config`` / ``repr`` over ``param_names``."""

    param_names: ClassVar[tuple[str, ...]] = ()

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters as a dict, in ``param_names`` order."""
        return {name: getattr(self, name) for name in self.param_names}

    def set_params(self, **params):
        """Set constructor parameters (ValueError naming the allowed ones otherwise); self."""
        for name, value in params.items():
            if name not in self.param_names:
                raise ValueError(f"unknown {type(self).__name__} parameter {name!r}: allowed are "
                                 f"{self.param_names}")
            setattr(self, name, value)
        return self

    @classmethod
    def params_from_config(cls, config) -> dict[str, Any]:
        """The fields of a config dataclass that are parameters of this class."""
        return {k: v for k, v in dataclasses.asdict(config).items() if k in cls.param_names}

    @classmethod
    def from_config(cls, config, **overrides):
        """An instance with the parameters of a config dataclass (plus ``overrides``)."""
        return cls(**{**cls.params_from_config(config), **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
