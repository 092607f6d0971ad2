"""Tables and figures of chapter 4 (the data sets): summaries, target coverage, null baselines.

- :func:`dataset_info`, :func:`dataset_table`, :func:`target_coverage_markdown`  per data set
- :func:`null_baselines`, :func:`null_forward`, :func:`null_baseline_table`  what trivial
  answers score on our data (chapter 7 uses them too)
- :func:`plot_generation_steps`  one latent through the generator, step by step
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from invdes.book.plots import figure_grid
from invdes.book.tables import MISSING, fmt, format_seconds, frame, is_missing
from invdes.study.evaluate import best_of_n_curve


def null_baselines(y, targets: Iterable[float], n: int = 30) -> list[dict]:
    """What trivial designers score for each target on a data set with labels ``y`` (n_data,).

    Per target t (REP in percent): ``median_rep_pct`` = REP of the data set's median structure
    (always proposing it); ``random_mean_rep_pct`` / ``random_std_rep_pct`` = mean / std of
    the REP of a random data-set sample; ``random_best_of_n_pct`` = expected minimum REP of
    ``n_used`` = min(n, n_data) random data-set samples drawn without replacement (the null
    for a "min REP over n"); ``within_1pct`` / ``within_5pct`` = share of the data set with
    REP <= 1 % / 5 %.
    """
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    if yy.size == 0 or not np.all(np.isfinite(yy)):
        raise ValueError("y must be a non-empty array of finite values")
    if isinstance(n, bool) or int(n) < 1:
        raise ValueError(f"n must be an integer >= 1; got {n!r}")
    m = int(min(int(n), yy.size))
    med = float(np.median(yy))
    out = []
    for t in targets:
        t = float(t)
        if not t > 0:
            raise ValueError(f"targets must be > 0 (REP divides by them); got {t}")
        r = 100.0 * np.abs(yy - t) / t
        out.append({
            "target": t, "median_rep_pct": 100.0 * abs(med - t) / t,
            "random_mean_rep_pct": float(r.mean()), "random_std_rep_pct": float(r.std()),
            "random_best_of_n_pct": float(best_of_n_curve(r, n_max=m)[-1]), "n_used": m,
            "within_1pct": float(np.mean(r <= 1.0)), "within_5pct": float(np.mean(r <= 5.0)),
        })
    return out


def null_forward(y) -> dict:
    """Data-set-level nulls of REFERENCE.md (percent): ``median_predictor_rep_pct`` = mean over
    samples of |median - y_i| / y_i (always predicting the median y); ``random_pair_rep_pct``
    = mean over ordered pairs i != j of |y_j - y_i| / y_i (a random other sample)."""
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    if yy.size < 2 or not np.all(np.isfinite(yy)) or np.any(yy <= 0):
        raise ValueError("y must hold at least two finite positive values")
    med = float(np.median(yy))
    n = yy.size
    total = 0.0
    for a in range(0, n, 1024):  # row blocks: memory O(1024 n), not O(n^2)
        block = yy[a : a + 1024, None]
        total += float((np.abs(yy[None, :] - block) / block).sum())
    return {"median_predictor_rep_pct": float(100.0 * np.mean(np.abs(med - yy) / yy)),
            "random_pair_rep_pct": float(100.0 * total / (n * (n - 1)))}


def null_baseline_table(by_dataset: Mapping[str, list[dict]], caption: str = ""
                        ) -> pd.DataFrame:
    """:func:`null_baselines` results ``{dataset: rows}`` as a DataFrame indexed by data set
    and target: REP (percent) of the median design, of a random data-set design (mean, std)
    and the best of n random ones, n, and the share of the set within 1 % and 5 % (percent)."""
    records = [[d, r["target"], r["median_rep_pct"], r["random_mean_rep_pct"],
                r["random_std_rep_pct"], r["random_best_of_n_pct"], r["n_used"],
                100 * r["within_1pct"], 100 * r["within_5pct"]]
               for d, rs in by_dataset.items() for r in rs]
    columns = pd.MultiIndex.from_tuples([
        ("", "data set"), ("", "target"), ("REP % of data-set designs", "median design"),
        ("REP % of data-set designs", "random: mean"), ("REP % of data-set designs", "random: std"),
        ("REP % of data-set designs", "best of n random"), ("", "n"),
        ("share of set within (%)", "1 %"), ("share of set within (%)", "5 %")])
    df = frame(records, columns, caption=caption,
               formats={"share of set within (%)": ".1f", "n": "d"},
               index_formats={"target": ".2f"})
    df = df.set_index([("", "data set"), ("", "target")])
    df.index.names = ["data set", "target"]
    return df


def dataset_info(ds) -> dict:
    """:func:`invdes.data.dataset_summary` of a loaded data set plus what its recorded metadata
    says: ``wall_time_s`` (generation: generator plus simulation), ``created``, ``cpu_count``
    of the machine, ``n_chunks`` (None where not recorded)."""
    from invdes.data import dataset_summary

    info = dataset_summary(ds)
    prov = (ds.attrs or {}).get("provenance") or {}
    info.update(wall_time_s=prov.get("wall_time_s"), created=prov.get("created"),
                cpu_count=(prov.get("machine") or {}).get("cpu_count"),
                n_chunks=prov.get("n_chunks"))
    return info


def target_coverage_markdown(infos: Iterable[Mapping[str, Any]], targets: Sequence[float]
                             ) -> str:
    """A Markdown list, one item per data set (from :func:`dataset_info`): the 5th-95th
    percentile range of y, the targets outside it and the targets outside the whole range."""
    def names(ts) -> str:
        return ", ".join(f"{t:.2f}" for t in ts) or "none"

    lines = []
    for i in infos:
        lo, hi = i["y_p5"], i["y_p95"]
        outside = [t for t in targets if not lo <= t <= hi]
        beyond = [t for t in targets if not i["y_min"] <= t <= i["y_max"]]
        lines.append(f"- **{i['name']}**: the middle 90 % of y lies in [{lo:.3f}, {hi:.3f}]; "
                     f"targets outside it: {names(outside)}; targets outside the whole range "
                     f"[{i['y_min']:.3f}, {i['y_max']:.3f}] of the set: {names(beyond)}.")
    return "\n".join(lines)


def dataset_table(infos: Iterable[Mapping[str, Any]], caption: str = "") -> pd.DataFrame:
    """One column per data set (from :func:`dataset_info`), one row per statistic (the index);
    the cells are text, each row formatted for its statistic."""
    infos = list(infos)
    spec = [
        ("samples", "n", ",d"), ("image (px)", "image_side", "d"),
        ("latent dim", "latent_dim", "d"), ("y mean", "y_mean", ".4f"),
        ("y std", "y_std", ".4f"), ("y min", "y_min", ".4f"), ("y 5th pct", "y_p5", ".4f"),
        ("y median", "y_p50", ".4f"), ("y 95th pct", "y_p95", ".4f"), ("y max", "y_max", ".4f"),
        ("volume fraction mean", "vf_mean", ".3f"), ("volume fraction std", "vf_std", ".3f"),
        ("r(vf, y)", "corr_vf_y", ".2f"), ("R^2(vf, y)", "r2_vf_y", ".2f"),
    ]
    rows = [[label] + [fmt(i.get(key), f) for i in infos] for label, key, f in spec]
    rows.append(["generation wall time"] + [format_seconds(i.get("wall_time_s")) for i in infos])
    rows.append(["per sample"] + [
        format_seconds(i["wall_time_s"] / i["n"]) if not is_missing(i.get("wall_time_s"))
        and i.get("n") else MISSING for i in infos])
    rows.append(["CPU cores"] + [fmt(i.get("cpu_count"), "d") for i in infos])
    return frame(rows, ["statistic"] + [str(i.get("name", "?")) for i in infos],
                 index=["statistic"], caption=caption)


def plot_generation_steps(generator, z, y: float | None = None):
    """One latent (d,) or (1, d) through the generator: the s x s latent map, the tanh output,
    its grey-level histogram with Otsu's threshold, and the binary image (titled with ``y``).
    ``generator`` needs ``generate_continuous`` and ``generate``. Returns a Figure."""
    from invdes.gan.numpy_generator import otsu_threshold

    zz = np.asarray(z, dtype=np.float32).reshape(1, -1)
    side = int(round(math.sqrt(zz.shape[1])))
    if side * side != zz.shape[1]:
        raise ValueError(f"the latent must have s*s entries; got {zz.shape[1]}")
    grey = np.asarray(generator.generate_continuous(zz))[0]
    binary = np.asarray(generator.generate(zz))[0]
    level = otsu_threshold(grey)
    fig, axes = figure_grid(1, 4, (13, 3.1))
    axes = axes[0]
    im = axes[0].imshow(zz.reshape(side, side), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    axes[0].set_title(f"latent z ({side} x {side})")
    axes[1].imshow(grey, cmap="gray_r", vmin=-1, vmax=1)
    axes[1].set_title("generator output (tanh)")
    axes[2].hist(grey.ravel(), bins=60, color="0.6")
    axes[2].axvline(level, color="C3", label=f"Otsu threshold {level:.2f}")
    axes[2].set(xlabel="grey level", ylabel="pixels")
    axes[2].legend(fontsize=8)
    axes[3].imshow(binary, cmap="gray_r", interpolation="nearest", vmin=0, vmax=1)
    axes[3].set_title("binary image" + ("" if y is None else f", y = {float(y):.4f}"))
    for ax in axes[[0, 1, 3]]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


__all__ = [
    "dataset_info", "dataset_table", "null_baseline_table", "null_baselines", "null_forward",
    "plot_generation_steps", "target_coverage_markdown"
]
