"""Judges: settings of the RCWA that turn an image into a number, with their accuracy.

A judge simulates an image at one or more truncations m (orders -m..m in x and y, N = 2m + 1
per axis) and combines the band-averaged absorptions linearly. One truncation with weight 1 is
a plain simulation; two truncations with Richardson weights extrapolate A(N) = A_inf + c N^-p
to N -> infinity (:func:`richardson_weights`).

- The **study judge** is m = 4 (81 orders): it labels the data sets and scores the study.
- The **certified judge** is chosen by the convergence study of chapter 2
  (:mod:`invdes.study.judge_convergence`): the cheapest setting whose absorption lies within
  ``uncertainty`` (u, absolute absorption) of the converged reference for 95 % of the data-set
  images of the study.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from invdes.config import OpticsConfig

#: the paper profile's study judge (``OpticsConfig.harmonics`` of its stacks)
STUDY_HARMONICS = 4
#: truncations a user may ask for (``invdes simulate --harmonics``): m = 20 is 1,681 orders,
#: minutes per image on one core
MAX_HARMONICS = 20


def check_harmonics(m) -> int:
    """A truncation m as an int in 1..:data:`MAX_HARMONICS`; ValueError otherwise."""
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or not 1 <= m <= MAX_HARMONICS:
        raise ValueError(f"harmonics must be a whole number from 1 to {MAX_HARMONICS}; got {m!r}")
    return int(m)


def richardson_weights(m_low: int, m_high: int, exponent: float) -> tuple[float, float]:
    """Weights (w_low, w_high), summing to 1, that extrapolate A(N) = A_inf + c N^-p from
    N = 2 m + 1 orders per axis at two truncations to N -> infinity."""
    if not 0 < m_low < m_high or not exponent > 0:
        raise ValueError(f"need 0 < m_low < m_high and exponent > 0; got {m_low}, {m_high}, "
                         f"{exponent}")
    a, b = (2 * m_low + 1) ** exponent, (2 * m_high + 1) ** exponent
    return -a / (b - a), b / (b - a)


@dataclass(frozen=True)
class Judge:
    """A judge: ``sum(weights[k] * A(harmonics[k]))``; ``uncertainty`` is its u (absolute
    absorption, 95 % of the study's images within it; None when not measured)."""

    name: str
    harmonics: tuple[int, ...]
    weights: tuple[float, ...] = (1.0,)
    uncertainty: float | None = None

    def __post_init__(self):
        if len(self.harmonics) != len(self.weights) or not self.harmonics:
            raise ValueError("a judge needs one weight per truncation")
        for m in self.harmonics:
            check_harmonics(m)

    @property
    def label(self) -> str:
        """How a printed number names its judge, e.g. ``certified judge (m = 8)``."""
        ms = " and ".join(str(m) for m in self.harmonics)
        how = f"m = {ms}" + (", extrapolated" if len(self.harmonics) > 1 else "")
        return f"{self.name} judge ({how})"

    def absorption(self, images, stack: OpticsConfig, *, n_jobs: int | None = None,
                   progress: bool = False) -> np.ndarray:
        """The judge's band-averaged absorption of each binary image, shape (n,)."""
        from invdes.physics.optics import absorption

        total = 0.0
        for m, w in zip(self.harmonics, self.weights, strict=True):
            config = dataclasses.replace(stack, harmonics=(m, m))
            total = total + w * absorption(images, config, n_jobs=n_jobs, progress=progress)
        return np.asarray(total, dtype=float)

    def to_dict(self) -> dict:
        return {"name": self.name, "harmonics": list(self.harmonics),
                "weights": list(self.weights), "uncertainty": self.uncertainty}

    @classmethod
    def from_dict(cls, record: dict) -> Judge:
        return cls(name=str(record["name"]), harmonics=tuple(int(m) for m in record["harmonics"]),
                   weights=tuple(float(w) for w in record["weights"]),
                   uncertainty=(None if record.get("uncertainty") is None
                                else float(record["uncertainty"])))


def study_judge(stack: OpticsConfig, uncertainty: float | None = None) -> Judge:
    """The study judge: the truncation of the profile's stack (paper: m = 4)."""
    return Judge("study", (int(stack.harmonics[0]),), uncertainty=uncertainty)


def fixed_judge(m: int) -> Judge:
    """A user's own truncation (``invdes simulate --harmonics M``); its accuracy is not known."""
    return Judge("user", (check_harmonics(m),))


# --------------------------------------------------------------------------------------------
# The certified judge of a profile: artifacts/<profile>/judge/certified.json
# --------------------------------------------------------------------------------------------

JUDGE_STEP = "judge"
CERTIFIED_FILE = "certified.json"


def certified_path(profile_name: str):
    from invdes.artifacts import artifact_dir

    return artifact_dir(profile_name, JUDGE_STEP, create=False) / CERTIFIED_FILE


def load_certified(profile_name: str, dataset: str) -> Judge:
    """The certified judge chosen for ``dataset`` by profile ``profile_name``'s convergence
    study; ArtifactError naming the command that builds it when it is missing or unreadable."""
    import json

    from invdes.artifacts import ArtifactError, rebuild_command

    path = certified_path(profile_name)
    try:
        record = json.loads(path.read_text())[dataset]["judge"]
        return Judge.from_dict(record)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"no certified judge for {dataset} in {path} ({type(exc).__name__}); build it with "
            f"{rebuild_command(profile_name, JUDGE_STEP)}") from None


def measured_uncertainty(profile_name: str, dataset: str, m: int) -> float | None:
    """u (95 % of |A(m) - reference|) of truncation m in the convergence study, or None when
    the study did not run m on every image (or is not here)."""
    import json

    try:
        record = json.loads(certified_path(profile_name).read_text())[dataset]
        return float(record["u95_by_harmonics"][str(int(m))])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def expected_offset(profile_name: str, dataset: str, a_study: float) -> float:
    """A_certified - A_study expected for an image whose study-judge absorption is ``a_study``:
    the convergence study's least-squares line through its images (0 when none is recorded)."""
    import json

    try:
        fit = json.loads(certified_path(profile_name).read_text())[dataset]["offset"]
        return float(fit["intercept"]) + float(fit["slope"]) * float(a_study)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
