"""Evaluation protocol of Table 1 and Figure 3 (paper, Sec. 3.1 and 3.3).

Every candidate microstructure is re-simulated with the caller's ``simulate(images) -> y``; a
model's own prediction of y is never used. The error metric is the residual error percentage

    REP = |y_hat - y| / y   (paper eq. 1),

kept as a *fraction* inside the code (functions and keys named ``rep``) and shown in percent only
where a name says so (``rep_percent``, ``*_rep_pct`` table columns, :func:`format_percent`).

Beside REP, a candidate set is described by its simulation wall time, its diversity (mean
pairwise Hamming distance between candidates, as a fraction of the pixels) and its novelty (mean
over candidates of the Hamming distance to the nearest training image, fraction of pixels; 0
means a candidate copies a training image). The best-of-N curve gives the expected minimum REP
of N candidates drawn at random from a simulated pool, which puts a method's "min REP over 30"
on a scale that does not depend on the luck of one draw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invdes.artifacts import atomic_path
from invdes.checks import check_positive_target as _check_target
from invdes.inverse.baselines import check_binary_images, check_vector

#: Method keys used in tables and figures, with display names.
METHOD_LABELS: dict[str, str] = {
    "gan-mdn": "GAN-MDN (proposed)",
    "pca-mdn": "PCA-MDN",
    "direct-mdn": "direct MDN",
    "bo": "Bayesian optimization",
    "random-latent": "random latent (null)",
    "lookup": "nearest training y (null)",
}

#: Columns of the Table 1 CSV (REP columns in percent, times in seconds, distances as fractions
#: of the pixels).
TABLE1_COLUMNS: tuple[str, ...] = (
    "dataset", "method", "target", "min_rep_pct", "mean_rep_pct", "std_rep_pct",
    "generation_s", "simulation_s", "diversity", "novelty", "n",
    "draws", "mean_rep_pct_mean", "mean_rep_pct_lo", "mean_rep_pct_hi",
    "min_rep_pct_mean", "min_rep_pct_lo", "min_rep_pct_hi",
)
#: Columns of the error bars over independent draws (:func:`draw_columns`); empty for the
#: deterministic look-up, for BO and for the paper's rows.
DRAW_COLUMNS: tuple[str, ...] = TABLE1_COLUMNS[11:]
#: Columns of ``draws_<dataset>.csv``: one row per draw of a (method, target).
DRAWS_CSV_COLUMNS: tuple[str, ...] = ("dataset", "method", "target", "draw", "mean_rep_pct",
                                      "min_rep_pct")
#: Confidence level of the intervals over draws.
DRAW_CONFIDENCE = 0.95

#: Table 1 columns holding text; :data:`TABLE1_INTEGER`: counts; every other column is a float.
TABLE1_TEXT: tuple[str, ...] = ("dataset", "method")


TABLE1_INTEGER: tuple[str, ...] = ("n", "draws")


# --------------------------------------------------------------------------------------------
# The paper's Table 1 (transcribed from REFERENCE.md / the paper)
# --------------------------------------------------------------------------------------------


def _mdn_rows(values: dict[float, tuple[float, float, float, float]]) -> dict[float, dict]:
    return {t: {"min_rep_pct": a, "mean_rep_pct": b, "std_rep_pct": c, "time_s": s}
            for t, (a, b, c, s) in values.items()}


def _bo_rows(values: dict[float, tuple[float | None, float]]) -> dict[float, dict]:
    return {t: {"min_rep_pct": a, "time_h": h} for t, (a, h) in values.items()}


#: Table 1 of the paper: ``PAPER_TABLE1[dataset][method][target]``. MDN-type methods: min, mean
#: and standard deviation of REP over 30 samples (percent) and running time (s, Titan X GPU).
#: Bayesian optimization: min REP (percent; None where the paper reports "no convergence") and
#: running time (hours).
PAPER_TABLE1: dict[str, dict[str, dict[float, dict]]] = {
    "data-i": {
        "gan-mdn": _mdn_rows({
            0.55: (0.65, 15.68, 8.40, 9.75), 0.60: (0.18, 9.15, 5.97, 9.50),
            0.65: (0.22, 5.80, 3.93, 9.67), 0.70: (0.13, 5.29, 3.86, 9.62),
            0.75: (0.20, 7.83, 3.91, 9.50),
        }),
        "pca-mdn": _mdn_rows({
            0.55: (5.05, 17.67, 7.84, 7.22), 0.60: (0.50, 10.89, 6.48, 7.30),
            0.65: (0.17, 5.92, 4.00, 7.20), 0.70: (0.40, 8.81, 5.27, 7.20),
            0.75: (2.95, 18.34, 5.54, 7.36),
        }),
        "direct-mdn": _mdn_rows({
            0.55: (0.84, 9.07, 3.14, 175.27), 0.60: (4.70, 14.40, 4.08, 187.86),
            0.65: (9.35, 20.04, 4.06, 177.60), 0.70: (12.29, 25.18, 4.21, 147.23),
            0.75: (17.73, 26.81, 3.55, 178.70),
        }),
        "bo": _bo_rows({
            0.55: (None, 4.4), 0.60: (1.08, 3.6), 0.65: (3.38, 5.8), 0.70: (None, 10.6),
            0.75: (None, 8.9),
        }),
    },
    "data-ii": {
        "gan-mdn": _mdn_rows({
            0.55: (1.25, 16.19, 8.96, 9.67), 0.60: (0.70, 10.99, 7.93, 9.74),
            0.65: (0.18, 7.65, 5.64, 9.57), 0.70: (0.10, 5.00, 4.61, 9.68),
            0.75: (0.43, 6.18, 3.51, 9.60),
        }),
        "pca-mdn": _mdn_rows({
            0.55: (4.96, 11.74, 3.05, 7.24), 0.60: (0.07, 2.69, 2.18, 7.26),
            0.65: (3.71, 8.79, 2.59, 7.40), 0.70: (0.10, 3.41, 2.44, 7.15),
            0.75: (3.17, 6.27, 1.52, 7.26),
        }),
        "direct-mdn": _mdn_rows({
            0.55: (2.85, 12.78, 3.89, 23.21), 0.60: (7.87, 14.95, 3.56, 24.05),
            0.65: (11.00, 17.33, 2.63, 24.14), 0.70: (3.03, 15.62, 4.09, 23.90),
            0.75: (8.44, 12.73, 3.20, 23.34),
        }),
        "bo": _bo_rows({
            0.55: (15.51, 5.8), 0.60: (None, 12.1), 0.65: (1.21, 4.2), 0.70: (None, 18.8),
            0.75: (None, 3.2),
        }),
    },
}

#: Candidates per target in the paper's Table 1.
PAPER_N_CANDIDATES = 30


def paper_table1_rows() -> list[dict]:
    """The paper's Table 1 as rows with :data:`TABLE1_COLUMNS` (missing entries None;
    ``generation_s`` is the paper's running time, BO hours converted to seconds)."""
    rows = []
    for dataset, methods in PAPER_TABLE1.items():
        for method, targets in methods.items():
            for target, v in targets.items():
                is_bo = method == "bo"
                rows.append({
                    "dataset": dataset, "method": method, "target": target,
                    "min_rep_pct": v["min_rep_pct"],
                    "mean_rep_pct": None if is_bo else v["mean_rep_pct"],
                    "std_rep_pct": None if is_bo else v["std_rep_pct"],
                    "generation_s": v["time_h"] * 3600.0 if is_bo else v["time_s"],
                    "simulation_s": None, "diversity": None, "novelty": None,
                    "n": 1 if is_bo else PAPER_N_CANDIDATES, **dict.fromkeys(DRAW_COLUMNS),
                })
    return rows


# --------------------------------------------------------------------------------------------
# REP
# --------------------------------------------------------------------------------------------


def rep(y_hat, target) -> np.ndarray:
    """REP as a fraction: |y_hat - target| / target, elementwise (paper eq. 1 without x100).

    ``y_hat``: simulated properties (any shape, finite); ``target`` > 0. Returns float64 of the
    shape of ``y_hat``."""
    t = _check_target(target)
    y = np.asarray(y_hat, dtype=np.float64)
    if y.size == 0:
        raise ValueError("y_hat is empty")
    if not np.all(np.isfinite(y)):
        raise ValueError("y_hat contains non-finite values (NaN or inf)")
    return np.abs(y - t) / t


def rep_percent(y_hat, target) -> np.ndarray:
    """REP in percent (paper eq. 1): 100 |y_hat - target| / target."""
    return 100.0 * rep(y_hat, target)


def format_percent(fraction: float | None, digits: int = 2) -> str:
    """A fraction as a percent string ("1.25 %"); None or NaN as "n/a"."""
    if fraction is None or not math.isfinite(float(fraction)):
        return "n/a"
    return f"{100.0 * float(fraction):.{digits}f} %"


# --------------------------------------------------------------------------------------------
# Diversity and novelty
# --------------------------------------------------------------------------------------------


def pairwise_hamming(images) -> np.ndarray:
    """Hamming distances between binary images (n, h, w), as fractions of the pixels: (n, n)."""
    x = check_binary_images(images)
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    s = x.sum(axis=1)
    d = s[:, None] + s[None, :] - 2.0 * (x @ x.T)
    return np.clip(d, 0.0, None) / x.shape[1]


def diversity(images) -> float:
    """Mean pairwise Hamming distance among candidates (fraction of pixels); NaN for n < 2."""
    d = pairwise_hamming(images)
    n = d.shape[0]
    if n < 2:
        return math.nan
    return float(d[np.triu_indices(n, k=1)].mean())


def nearest_distances(images, train_images, *, chunk: int = 512) -> np.ndarray:
    """For each candidate (n, h, w), the Hamming distance (fraction of pixels) to its nearest
    training image (n_train, h, w): (n,) float64. Training images are processed in chunks."""
    x = check_binary_images(images)
    t = check_binary_images(train_images, "train_images")
    if x.shape[1:] != t.shape[1:]:
        raise ValueError(
            f"candidate images are {x.shape[1:]} but training images are {t.shape[1:]}"
        )
    xf = x.reshape(len(x), -1).astype(np.float64)
    sx = xf.sum(axis=1)
    best = np.full(len(x), np.inf)
    for a in range(0, len(t), chunk):
        tf_ = t[a : a + chunk].reshape(-1, xf.shape[1]).astype(np.float64)
        d = sx[:, None] + tf_.sum(axis=1)[None, :] - 2.0 * (xf @ tf_.T)
        best = np.minimum(best, d.min(axis=1))
    return np.clip(best, 0.0, None) / xf.shape[1]


def novelty(images, train_images) -> float:
    """Mean over candidates of the distance to the nearest training image (fraction of pixels)."""
    return float(nearest_distances(images, train_images).mean())


# --------------------------------------------------------------------------------------------
# Candidate evaluation
# --------------------------------------------------------------------------------------------


def evaluate_candidates(
    images,
    target: float,
    simulate: Callable[[np.ndarray], np.ndarray],
    *,
    train_images=None,
) -> dict[str, Any]:
    """Re-simulate candidate images for one target and summarize them.

    Args:
        images: candidates (n, h, w), binary.
        target: target property (> 0).
        simulate: ``simulate(images) -> y`` (n,), e.g. ``functools.partial(
            invdes.physics.optics.absorption, config=profile.optics_for(dataset))``.
        train_images: optional training images (n_train, h, w) for the novelty.

    Returns:
        dict with ``target``, ``n``, ``y_hat`` (n,), ``rep`` (n,) fractions, ``rep_min``,
        ``rep_mean``, ``rep_std`` (population standard deviation, ddof = 0), ``best_index``,
        ``simulation_s`` (wall time of ``simulate``), ``diversity`` (NaN for n = 1) and
        ``novelty`` (None without ``train_images``).
    """
    target = _check_target(target)
    x = check_binary_images(images)
    if not callable(simulate):
        raise ValueError("simulate must be a callable images -> y")
    t0 = time.perf_counter()
    y_hat = np.asarray(simulate(x), dtype=np.float64).reshape(-1)
    sim_s = time.perf_counter() - t0
    if y_hat.shape != (len(x),):
        raise ValueError(
            f"simulate returned {y_hat.size} values for {len(x)} images; it must return one each"
        )
    if not np.all(np.isfinite(y_hat)):
        bad = np.flatnonzero(~np.isfinite(y_hat))
        raise ValueError(f"simulate returned non-finite values for candidate(s) {bad.tolist()}")
    r = rep(y_hat, target)
    return {
        "target": target,
        "n": int(len(x)),
        "y_hat": y_hat,
        "rep": r,
        "rep_min": float(r.min()),
        "rep_mean": float(r.mean()),
        "rep_std": float(r.std()),
        "best_index": int(np.argmin(r)),
        "simulation_s": float(sim_s),
        "diversity": diversity(x),
        "novelty": None if train_images is None else novelty(x, train_images),
    }


def best_of_n_curve(reps, n_max: int | None = None, n_repeats: int | None = None,
                    seed=0) -> np.ndarray:
    """Expected minimum REP of N candidates drawn without replacement from a simulated pool.

    Args:
        reps: REP of every candidate in the pool (M,), fractions (or percent: the curve has
            the unit of its input).
        n_max: largest N (default M); 1 <= n_max <= M.
        n_repeats: None for the exact expectation (order statistics: the i-th smallest of M is
            the minimum of a random N-subset with probability C(M-i, N-1) / C(M, N)); an integer
            for a Monte-Carlo estimate from that many random orderings of the pool (the running
            minimum of each ordering, so the estimate is non-increasing in N as well).
        seed: seed of the Monte-Carlo orderings.

    Returns:
        (n_max,) float64; entry N-1 is the expected best REP of N candidates (non-increasing).
    """
    from scipy.special import gammaln

    r = check_vector(reps, "reps")
    if np.any(r < 0):
        raise ValueError("reps must be non-negative")
    m = r.size
    n_max = m if n_max is None else n_max
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or not 1 <= n_max <= m:
        raise ValueError(f"n_max must be an integer in [1, {m}] (the pool size); got {n_max!r}")
    if n_repeats is not None:
        if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) \
                or n_repeats < 1:
            raise ValueError(f"n_repeats must be None or an integer >= 1; got {n_repeats!r}")
        rng = np.random.default_rng(seed)
        order = rng.random((int(n_repeats), m)).argsort(axis=1)[:, :n_max]
        return np.minimum.accumulate(r[order], axis=1).mean(axis=0)
    s = np.sort(r)
    i = np.arange(1, m + 1)
    out = np.empty(n_max)
    for n in range(1, n_max + 1):
        k = i[: m - n + 1]
        logp = (gammaln(m - k + 1) - gammaln(n) - gammaln(m - k - n + 2)) - (
            gammaln(m + 1) - gammaln(n + 1) - gammaln(m - n + 1))
        out[n - 1] = float(np.sum(np.exp(logp) * s[: m - n + 1]))
    return np.minimum.accumulate(out)  # removes rounding noise only (the exact curve is monotone)


# --------------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------------


def _pct(value) -> float | None:
    return None if value is None else 100.0 * float(value)


def table1_row(dataset: str, method: str, evaluation: Mapping[str, Any],
               generation_s: float | None = None) -> dict:
    """One Table 1 row from an :func:`evaluate_candidates` result (REP converted to percent)."""
    return {
        "dataset": dataset, "method": method, "target": float(evaluation["target"]),
        "min_rep_pct": _pct(evaluation["rep_min"]), "mean_rep_pct": _pct(evaluation["rep_mean"]),
        "std_rep_pct": _pct(evaluation["rep_std"]),
        "generation_s": None if generation_s is None else float(generation_s),
        "simulation_s": evaluation.get("simulation_s"), "diversity": evaluation.get("diversity"),
        "novelty": evaluation.get("novelty"), "n": int(evaluation["n"]),
        **dict.fromkeys(DRAW_COLUMNS),
    }


def _draw_values(values, name: str = "values") -> np.ndarray:
    """One value per independent draw as a float array; ValueError unless 1-D, non-empty and
    finite."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 1 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers; got {v}")
    return v


def mean_interval(values, confidence: float = DRAW_CONFIDENCE) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of ``values`` (one per independent draw) and its Student-t
    confidence interval; lo = hi = mean for a single value."""
    from scipy import stats

    v = _draw_values(values)
    mean = float(v.mean())
    if v.size == 1:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def difference_interval(a, b, confidence: float = DRAW_CONFIDENCE
                        ) -> tuple[float, float, float]:
    """(mean(a) - mean(b), lo, hi): the difference of two means of independent draws and its
    Welch confidence interval (Student t with the Welch-Satterthwaite degrees of freedom). A
    sample of one value (a deterministic method such as the look-up) adds no variance; when
    neither sample has two values the interval is (nan, nan)."""
    from scipy import stats

    va, vb = _draw_values(a, "a"), _draw_values(b, "b")
    diff = float(va.mean() - vb.mean())
    parts = [(v.var(ddof=1) / v.size, v.size - 1) for v in (va, vb) if v.size > 1]
    if not parts:
        return diff, math.nan, math.nan
    se2 = sum(p for p, _ in parts)
    if se2 == 0.0:
        return diff, diff, diff
    dof = se2**2 / sum(p**2 / k for p, k in parts)
    half = float(stats.t.ppf(0.5 + confidence / 2, dof) * math.sqrt(se2))
    return diff, diff - half, diff + half


def single_draw_interval(values, confidence: float = DRAW_CONFIDENCE
                         ) -> tuple[float, float]:
    """(lo, hi): where one more independent draw is expected to fall (Student-t prediction
    interval, mean +- t s sqrt(1 + 1/R)); what a single published draw is compared with."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"values must hold at least two finite draws; got {v}")
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1)
                 * math.sqrt(1.0 + 1.0 / v.size))
    return float(v.mean()) - half, float(v.mean()) + half


def draw_columns(y_hats, target: float) -> dict:
    """The error-bar columns of a Table 1 row from the simulated absorptions of R independent
    draws (a list of R arrays of n candidates): ``draws`` = R, and for the per-draw mean and
    minimum REP (percent) their mean over draws and 95 % interval (:func:`mean_interval`)."""
    means = [100.0 * float(np.mean(rep(y, target))) for y in y_hats]
    mins = [100.0 * float(np.min(rep(y, target))) for y in y_hats]
    out: dict[str, Any] = {"draws": len(y_hats)}
    for key, values in (("mean_rep_pct", means), ("min_rep_pct", mins)):
        m, lo, hi = mean_interval(values)
        out.update({f"{key}_mean": m, f"{key}_lo": lo, f"{key}_hi": hi})
    return out


def draw_rows(dataset: str, method: str, target: float, y_hats) -> list[dict]:
    """One row per draw (columns :data:`DRAWS_CSV_COLUMNS`), for comparisons across methods."""
    return [{"dataset": dataset, "method": method, "target": float(target), "draw": r,
             "mean_rep_pct": 100.0 * float(np.mean(rep(y, target))),
             "min_rep_pct": 100.0 * float(np.min(rep(y, target)))} for r, y in enumerate(y_hats)]


def write_draws_csv(rows: Iterable[Mapping[str, Any]], path) -> Path:
    """Write the per-draw rows of :func:`draw_rows` to ``path`` atomically."""
    df = pd.DataFrame.from_records(list(rows), columns=list(DRAWS_CSV_COLUMNS))
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")
    return path


def table1_rows(dataset: str, method: str, evaluations: Mapping[float, Mapping[str, Any]],
                generation_s: Mapping[float, float] | float | None = None) -> list[dict]:
    """Rows for one data set and method from ``{target: evaluate_candidates(...)}``;
    ``generation_s`` is one number for all targets or ``{target: seconds}``."""
    rows = []
    for target, ev in evaluations.items():
        g = generation_s.get(target) if isinstance(generation_s, Mapping) else generation_s
        rows.append(table1_row(dataset, method, ev, g))
    return rows


def bo_table1_row(dataset: str, result) -> dict:
    """A Table 1 row from a :class:`invdes.inverse.baselines.BOResult` (one candidate: the best
    point; ``generation_s`` = total wall time of the run, simulations included)."""
    return {
        "dataset": dataset, "method": "bo", "target": float(result.target),
        "min_rep_pct": _pct(result.rep_best), "mean_rep_pct": None, "std_rep_pct": None,
        "generation_s": float(result.wall_time_s), "simulation_s": float(result.simulation_s),
        "diversity": None, "novelty": None, "n": 1, **dict.fromkeys(DRAW_COLUMNS),
    }


def table1_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Table 1 rows as a DataFrame with :data:`TABLE1_COLUMNS` in order (then any further
    columns the rows carry): text columns :data:`TABLE1_TEXT`, integer columns
    :data:`TABLE1_INTEGER` (nullable ``Int64``), every other column float64 with NaN for a
    missing value. Raises ``ValueError`` when a row lacks one of :data:`TABLE1_COLUMNS`."""
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    else:
        rows = list(rows)
        for i, row in enumerate(rows):
            missing = [c for c in TABLE1_COLUMNS if c not in row]
            if missing:
                raise ValueError(f"row {i} lacks column(s) {missing}; columns are "
                                 f"{TABLE1_COLUMNS}")
        df = pd.DataFrame.from_records(rows)
    lacking = [c for c in TABLE1_COLUMNS if c not in df.columns]
    if lacking:
        raise ValueError(f"the table lacks column(s) {lacking}; columns are {TABLE1_COLUMNS}")
    df = df[list(TABLE1_COLUMNS) + [c for c in df.columns if c not in TABLE1_COLUMNS]]
    return df.astype({c: _table1_dtype(c) for c in df.columns})


def _table1_dtype(column: str) -> str:
    if column in TABLE1_TEXT:
        return "str"
    return "Int64" if column in TABLE1_INTEGER else "float64"


def write_table1_csv(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, path) -> Path:
    """Write Table 1 rows (dicts or a DataFrame with :data:`TABLE1_COLUMNS`) to ``path``
    atomically with pandas: one line per row, missing values empty, floats in their shortest
    round-trip form."""
    df = table1_frame(rows)
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, na_rep="", lineterminator="\n")
    return path


def read_table1_frame(path) -> pd.DataFrame:
    """The Table 1 CSV at ``path`` as a DataFrame (dtypes of :func:`table1_frame`; a column of
    :data:`TABLE1_COLUMNS` absent from an older file is added, all missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Table 1 file {path} is missing")
    # only an empty field is missing (a method named "NA" stays a name)
    df = pd.read_csv(path, dtype={c: "str" for c in TABLE1_TEXT}, keep_default_na=False,
                     na_values=[""])
    for c in TABLE1_COLUMNS:
        if c not in df.columns:
            df[c] = None
    return table1_frame(df)


def frame_records(df: pd.DataFrame) -> list[dict]:
    """The rows of a DataFrame as dicts of Python values (missing values None)."""
    out = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()}
            for r in out]


def read_table1_csv(path) -> list[dict]:
    """Rows written by :func:`write_table1_csv` as dicts (numbers as float / int, missing
    values None): :func:`read_table1_frame` as records."""
    return frame_records(read_table1_frame(path))


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _bo_arrays(result) -> tuple[np.ndarray, np.ndarray, int]:
    if isinstance(result, Mapping):
        reps = np.asarray(result["rep_history"], dtype=np.float64)
        best = np.asarray(result.get("best_history", np.minimum.accumulate(reps)))
        return reps, best, int(result.get("n_initial", 0))
    return (np.asarray(result.rep_history, dtype=np.float64),
            np.asarray(result.best_history, dtype=np.float64), int(result.n_initial))


def plot_bo_history(results_by_dataset_target: Mapping[str, Mapping[float, Any]], *,
                    log_scale: bool = True, show_evaluations: bool = True):
    """Figure 3: best REP (percent) against evaluation, one row per data set, one panel per
    target; the random initial phase is shaded, every evaluation's REP shown as a dot.

    ``results_by_dataset_target``: ``{dataset: {target: BOResult or dict with rep_history,
    best_history, n_initial}}``. Returns a ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    if not results_by_dataset_target:
        raise ValueError("results_by_dataset_target is empty")
    targets = sorted({float(t) for res in results_by_dataset_target.values() for t in res})
    rows = len(results_by_dataset_target)
    fig = Figure(figsize=(3.2 * len(targets), 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, len(targets), squeeze=False, sharey="row")
    for i, (dataset, by_target) in enumerate(results_by_dataset_target.items()):
        lookup = {float(t): r for t, r in by_target.items()}
        for j, target in enumerate(targets):
            ax = axes[i, j]
            if target not in lookup:
                ax.set_axis_off()
                continue
            reps, best, n_init = _bo_arrays(lookup[target])
            it = np.arange(1, reps.size + 1)
            if n_init:
                ax.axvspan(0.5, n_init + 0.5, color="0.9", label="initial samples")
            if show_evaluations:
                ax.plot(it, 100 * np.maximum(reps, 1e-6), ".", ms=2, color="C0", alpha=0.35,
                        label="evaluation")
            ax.plot(it, 100 * np.maximum(best, 1e-6), color="C3", lw=1.6, label="best so far")
            if log_scale:
                ax.set_yscale("log")
            ax.set_title(f"{dataset}, target {target:g}: best {100 * best[-1]:.2g} %",
                         fontsize=9)
            ax.set_xlabel("evaluation")
            if j == 0:
                ax.set_ylabel("REP (%)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    return fig


def plot_best_of_n(curves: Mapping[str, Sequence[float]], *, percent_input: bool = False,
                   mark_n: int | None = 30, title: str | None = None, ax=None):
    """Best-of-N curves (from :func:`best_of_n_curve`, fractions unless ``percent_input``):
    expected best REP (percent, log scale) against the number of candidates N, one line per
    label; a vertical line at ``mark_n`` (the paper's 30). Returns the Figure."""
    from matplotlib.figure import Figure

    if not curves:
        raise ValueError("curves is empty: pass {label: curve}")
    if ax is None:
        fig = Figure(figsize=(5.0, 3.6), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    scale = 1.0 if percent_input else 100.0
    for label, curve in curves.items():
        c = np.asarray(curve, dtype=np.float64)
        ax.plot(np.arange(1, c.size + 1), np.maximum(scale * c, 1e-4), label=label)
    if mark_n:
        ax.axvline(mark_n, color="0.5", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of candidates N")
    ax.set_ylabel("expected best REP (%)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


__all__ = [
    "METHOD_LABELS", "PAPER_N_CANDIDATES", "PAPER_TABLE1", "TABLE1_COLUMNS", "TABLE1_INTEGER",
    "TABLE1_TEXT", "best_of_n_curve", "frame_records", "read_table1_frame", "table1_frame",
    "bo_table1_row", "diversity", "evaluate_candidates", "format_percent", "nearest_distances",
    "novelty", "pairwise_hamming", "paper_table1_rows", "plot_best_of_n", "plot_bo_history",
    "read_table1_csv", "rep", "rep_percent", "table1_row", "table1_rows", "write_table1_csv",
]
