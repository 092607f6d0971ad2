"""Chapter 2's section on the judges: the convergence study, its reference and the certified
judge (:mod:`invdes.study.judge_convergence`, artifacts in ``<profile>/judge/``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from invdes import artifacts
from invdes.study import judge_convergence as jc

#: line and marker styles that differ without colour (Okabe-Ito colours)
STYLES = (("#0072B2", "o", "-"), ("#E69F00", "s", "--"), ("#009E73", "^", "-."),
          ("#CC79A7", "D", ":"), ("#56B4E9", "v", "-"), ("#D55E00", "P", "--"))


def load(profile_name: str) -> dict:
    """The study's frames and records: ``lines``, ``reference``, ``errors``, ``certified``."""
    folder = artifacts.artifact_dir(profile_name, jc.STEP, create=False)
    return {"lines": pd.read_csv(folder / jc.CONVERGENCE_FILE),
            "reference": pd.read_csv(folder / jc.REFERENCE_FILE),
            "errors": pd.read_csv(folder / "errors.csv"),
            "certified": json.loads((folder / "certified.json").read_text())}


def coverage(study: dict) -> pd.DataFrame:
    """Images simulated at each truncation, and the mean seconds per image (one core)."""
    g = study["lines"].groupby(["dataset", "harmonics"])
    table = g.agg(images=("row", "size"), seconds=("seconds", "mean")).reset_index()
    return table.rename(columns={"dataset": "data set", "harmonics": "m",
                                 "seconds": "s per image"})


def error_table(study: dict) -> pd.DataFrame:
    """Per data set and setting: images, mean and std of A - reference, u95 = 95th percentile
    of |A - reference|, seconds per image; the certified judge marked."""
    rows = []
    for name, record in study["certified"].items():
        chosen = tuple(record["judge"]["harmonics"])
        for c in record["candidates"]:
            ms = tuple(int(x) for x in c["judge"].replace("m = ", "").replace(" extrapolated", "")
                       .split(", "))
            rows.append({"data set": name, "setting": c["judge"], "images": c["images"],
                         "mean error": c["mean"], "std": c["std"], "u95": c["u95"],
                         "s per image": c["seconds"], "certified": ms == chosen})
    return pd.DataFrame(rows)


def reference_summary(study: dict) -> pd.DataFrame:
    """Per data set: the exponent of the extrapolation, its range over the deep images, and
    the reference's uncertainty (median and 95th percentile)."""
    rows = []
    for name, record in study["certified"].items():
        ref = study["reference"][study["reference"]["dataset"] == name]
        fit = record["fit"]
        rows.append({"data set": name, "images": len(ref), "deep images": fit["deep_images"],
                     "exponent p": fit["exponent"],
                     "p range": f"{fit['exponent_range'][0]:.2f}-{fit['exponent_range'][1]:.2f}",
                     "median u_ref": float(ref["uncertainty"].median()),
                     "95th pct u_ref": float(np.percentile(ref["uncertainty"], 95))})
    return pd.DataFrame(rows)


def plot_convergence(study: dict, ax_by_dataset: dict, max_curves: int = 6) -> None:
    """A(m) of the images simulated furthest, with each one's reference and uncertainty."""
    lines, ref = study["lines"], study["reference"]
    for name, ax in ax_by_dataset.items():
        data = lines[lines["dataset"] == name]
        depth = data.groupby("row")["harmonics"].max().sort_values(ascending=False)
        for k, row in enumerate(depth.index[:max_curves]):
            color, marker, ls = STYLES[k % len(STYLES)]
            curve = data[data["row"] == row].sort_values("harmonics")
            ax.plot(curve["harmonics"], curve["absorption"], marker=marker, ls=ls, color=color,
                    ms=4, label=f"row {row}")
            r = ref[(ref["dataset"] == name) & (ref["row"] == row)]
            if len(r):
                x = curve["harmonics"].max() + 1.5 + 0.25 * k
                ax.errorbar(x, r["absorption"].iloc[0], yerr=r["uncertainty"].iloc[0],
                            fmt=marker, color=color, mfc="none", capsize=2)
        ax.set(xlabel="truncation m (orders -m..m per axis)",
               ylabel="band-averaged absorption A",
               title=f"{name}: A(m); open marker = extrapolated reference +/- u")
        ax.legend(fontsize=8, ncol=2)


def plot_errors(study: dict, axes) -> None:
    """Left: the distribution of A(m) - reference per truncation and data set; right: u95
    against cost, every setting, with the bound the certified judge aims for."""
    errors = study["errors"]
    singles = errors[errors["judge"].str.fullmatch(r"m = \d+")]
    names = list(study["certified"])
    settings = sorted(singles["judge"].unique(), key=lambda j: int(j.split()[-1]))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        color, marker, _ = STYLES[k]
        data = [singles[(singles["dataset"] == name) & (singles["judge"] == j)]["error"]
                for j in settings]
        pos = np.arange(len(settings)) + (k - (len(names) - 1) / 2) * width
        bp = axes[0].boxplot(data, positions=pos, widths=0.9 * width, patch_artist=True,
                             flierprops={"marker": marker, "ms": 3})
        for box in bp["boxes"]:
            box.set(facecolor=color, alpha=0.5)
        axes[0].plot([], [], "s", color=color, alpha=0.5, label=name)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set_xticks(np.arange(len(settings)), [s.replace("m = ", "m=") for s in settings])
    axes[0].set(xlabel="truncation", ylabel="A(m) - reference (absorption)",
                title="error against the converged reference")
    axes[0].legend(fontsize=9)
    for k, name in enumerate(names):
        color, marker, _ = STYLES[k]
        table = pd.DataFrame(study["certified"][name]["candidates"]).sort_values("seconds")
        axes[1].plot(table["seconds"], table["u95"], marker=marker, ls="none", color=color,
                     ms=7, label=name)
        for _, c in table.iterrows():
            axes[1].annotate(c["judge"].replace("m = ", "").replace(" extrapolated", " ext."),
                             (c["seconds"], c["u95"]), fontsize=7, xytext=(3, 3),
                             textcoords="offset points")
    bound = next(iter(study["certified"].values()))["bound"]
    axes[1].axhline(bound, color="k", ls=":", lw=1, label=f"bound u = {bound}")
    axes[1].set(xscale="log", xlabel="seconds per image (one core)",
                ylabel="u95 (absorption, reference's\nuncertainty included)",
                title="accuracy against cost")
    axes[1].legend(fontsize=9)


def certified_table(study: dict) -> pd.DataFrame:
    """The certified judge of each data set: setting, u, whether the bound was met, cost, and
    the offset model A_certified - A_study = intercept + slope * A_study."""
    rows = []
    for name, r in study["certified"].items():
        j = r["judge"]
        rows.append({"data set": name, "harmonics": ", ".join(map(str, j["harmonics"])),
                     "weights": ", ".join(f"{w:.2f}" for w in j["weights"]),
                     "u (95 %)": j["uncertainty"], "bound met": r["bound_met"],
                     "s per image": r["seconds_per_image"],
                     "offset intercept": r["offset"]["intercept"],
                     "offset slope": r["offset"]["slope"], "offset rms": r["offset"]["rms"]})
    return pd.DataFrame(rows)
