"""What survives the certified judge: the study's candidates re-judged
(:mod:`invdes.study.rejudge`, ``<profile>/judge/rejudged.csv``), for chapters 7 and 8."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from invdes import artifacts
from invdes.study.evaluate import difference_interval, mean_interval

#: the comparisons the book's conclusions rest on: (question, (source, method) of a, of b)
COMPARISONS = (
    ("GAN-MDN vs PCA-MDN", ("table1", "gan-mdn"), ("table1", "pca-mdn")),
    ("GAN-MDN vs random latents", ("table1", "gan-mdn"), ("table1", "random-latent")),
    ("GAN-MDN vs look-up", ("table1", "gan-mdn"), ("table1", "lookup")),
    ("designer vs look-up", ("designer", "refine"), ("table1", "lookup")),
    ("designer vs GAN-MDN", ("designer", "refine"), ("table1", "gan-mdn")),
    ("designer vs BO best", ("designer", "refine"), ("bo", "bo-seed0")),
)


def load(profile_name: str) -> pd.DataFrame:
    """The re-judged rows with ``rep_study`` and ``rep_certified`` in percent."""
    path = artifacts.artifact_dir(profile_name, "judge", create=False) / "rejudged.csv"
    frame = pd.read_csv(path)
    frame["target"] = frame["target"].round(4)
    for judge in ("study", "certified"):
        frame[f"rep_{judge}"] = (100 * (frame[f"absorption_{judge}"] - frame["target"]).abs()
                                 / frame["target"])
    return frame


def study_judge_band(profile) -> dict[str, float]:
    """{data set: u95 of the profile's study judge} (absolute absorption) from the
    convergence study of chapter 2."""
    path = artifacts.artifact_dir(profile.name, "judge", create=False) / "certified.json"
    record = json.loads(path.read_text())
    return {name: float(r["u95_by_harmonics"][str(profile.optics_for(name).harmonics[0])])
            for name, r in record.items()}


def survival_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data set, method and target: mean REP (%) at each judge with the certified one's
    95 % interval, and the share of candidates within 1 % REP at each judge."""
    rows = []
    for (name, source, method, t), g in frame.groupby(["dataset", "source", "method", "target"]):
        m, lo, hi = mean_interval(g["rep_certified"].to_numpy())
        rows.append({"data set": name, "method": _label(source, method), "target": t,
                     "n": len(g), "mean REP study (%)": g["rep_study"].mean(),
                     "mean REP certified (%)": m, "certified 95 % CI": f"{lo:.2f}-{hi:.2f}",
                     "within 1 % study": float((g["rep_study"] <= 1).mean()),
                     "within 1 % certified": float((g["rep_certified"] <= 1).mean())})
    return pd.DataFrame(rows)


def _label(source: str, method: str) -> str:
    if source == "designer":
        return "designer"
    if source == "bo":
        return f"BO best ({method.removeprefix('bo-')})"
    return method


def comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """Each comparison of :data:`COMPARISONS` per data set and target, at both judges: the
    difference of mean REP (a - b, points of %) with its 95 % Welch interval, and the verdict
    (a better / b better / cannot tell), then whether the verdict holds under the certified
    judge."""
    rows = []
    for name in sorted(frame["dataset"].unique()):
        for t in sorted(frame["target"].unique()):
            cell = frame[(frame["dataset"] == name) & (frame["target"] == t)]
            for question, a, b in COMPARISONS:
                ga, gb = (cell[(cell["source"] == s) & (cell["method"] == m)] for s, m in (a, b))
                if ga.empty or gb.empty:
                    continue
                row = {"data set": name, "target": t, "comparison": question}
                for judge in ("study", "certified"):
                    d, lo, hi = difference_interval(ga[f"rep_{judge}"], gb[f"rep_{judge}"])
                    row[f"{judge} diff"] = d
                    row[f"{judge} 95 % CI"] = f"{lo:+.2f} to {hi:+.2f}"
                    row[f"{judge} verdict"] = _verdict(lo, hi, question)
                row["holds"] = row["study verdict"] == row["certified verdict"]
                rows.append(row)
    return pd.DataFrame(rows)


def _verdict(lo: float, hi: float, question: str) -> str:
    a, b = question.split(" vs ")
    if not np.isfinite(lo):
        return "cannot tell"
    if hi < 0:
        return f"{a} better"
    if lo > 0:
        return f"{b} better"
    return "cannot tell"


def plot_study_against_certified(frame: pd.DataFrame, axes_by_dataset: dict, u_study: dict
                                 ) -> None:
    """REP at the certified judge against REP at the study judge, one marker per candidate,
    with the study judge's physical error band (u95 / target) shaded."""
    from invdes.book.ch02_judge import STYLES

    for name, ax in axes_by_dataset.items():
        data = frame[frame["dataset"] == name]
        for k, ((source, method), g) in enumerate(data.groupby(["source", "method"])):
            color, marker, _ = STYLES[k % len(STYLES)]
            ax.scatter(g["rep_study"], g["rep_certified"], s=10, marker=marker, color=color,
                       alpha=0.6, label=_label(source, method))
        band = 100 * u_study[name] / data["target"].min()
        ax.axhspan(1e-4, band, facecolor="none", edgecolor="#E69F00", hatch="///", lw=0,
                   zorder=0, alpha=0.5, label=f"study judge's error (u95 {u_study[name]:.3f})")
        lim = max(data["rep_study"].max(), data["rep_certified"].max()) * 1.1
        ax.plot([1e-4, lim], [1e-4, lim], "k:", lw=0.8)
        ax.set(xscale="log", yscale="log", xlim=(1e-4, lim), ylim=(1e-2, lim),
               xlabel="REP at the study judge (m = 4) (%)", ylabel="REP at the certified judge (%)",
               title=name)
        ax.legend(fontsize=7, loc="lower right")


def mark_study_judge_band(ax, u_study: float, target: float) -> None:
    """Shade the REPs (%) below the study judge's physical error at ``target`` (its u95 over
    the target): there the study judge cannot tell designs apart physically."""
    band = 100 * u_study / target
    lo, hi = ax.get_ylim()
    ax.axhspan(lo, band, facecolor="none", edgecolor="#E69F00", hatch="///", lw=0, zorder=0,
               alpha=0.5)
    ax.axhline(band, color="#D55E00", ls=":", lw=1.2,
               label=f"study judge's error (u95/target {band:.1f} %)")
    ax.set_ylim(lo, max(hi, 1.5 * band))


def mark_figure(fig, u_by_dataset: dict, panels) -> None:
    """:func:`mark_study_judge_band` on each axis of ``fig`` named by ``panels``: a list of
    (dataset, target) in the order of ``fig.axes`` (None skips an axis)."""
    for ax, panel in zip(fig.axes, panels, strict=False):
        if panel is not None:
            name, target = panel
            mark_study_judge_band(ax, u_by_dataset[name], target)


def rejudged_for(profile) -> pd.DataFrame:
    """The re-judged rows of ``profile``: read for ``paper`` (committed, possibly partial);
    re-judged now for ``smoke`` (seconds)."""
    if profile.name != "paper":
        from invdes.study import rejudge

        rejudge.run(profile, n_jobs=1)
    return load(profile.name)


def coverage_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Candidates re-judged per source and method (rows) and data set (columns)."""
    counts = frame.assign(method=[_label(s, m) for s, m in zip(frame["source"], frame["method"],
                                                                strict=True)])
    table = counts.groupby(["method", "dataset"]).size().unstack("dataset", fill_value=0)
    return table.reset_index()


def survival_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean REP (%) at the study judge and at the certified judge, one row per (data set,
    method), one column pair per target."""
    table = survival_table(frame)
    wide = table.pivot_table(index=["data set", "method"], columns="target",
                             values=["mean REP study (%)", "mean REP certified (%)"])
    wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0, sort_remaining=False)
    wide.columns = pd.MultiIndex.from_tuples(
        [(f"{t:.2f}", "study" if "study" in j else "certified") for t, j in wide.columns])
    return wide


def verdict_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """For each comparison and data set, per target: "holds" when the certified judge gives
    the study judge's verdict, else "study verdict -> certified verdict"."""
    table = comparisons(frame)
    if table.empty:
        return table
    table["cell"] = [("holds: " + s) if h else f"{s} -> {c}" for s, c, h in
                     zip(table["study verdict"], table["certified verdict"], table["holds"],
                         strict=True)]
    wide = table.pivot_table(index=["data set", "comparison"], columns="target", values="cell",
                             aggfunc="first")
    wide.columns = [f"{t:.2f}" for t in wide.columns]
    return wide.reset_index()


def mark_each_panel(fig, u_by_dataset: dict, targets) -> None:
    """Each data set's study-judge error band (u95 / target, dotted line; the lower one
    shaded) on the panels of ``fig``, one panel per target in ``targets`` order."""
    for ax, target in zip(fig.axes, targets, strict=False):
        lo, hi = ax.get_ylim()
        bands = {name: 100 * u / target for name, u in u_by_dataset.items()}
        ax.axhspan(lo, min(bands.values()), facecolor="none", edgecolor="#E69F00", hatch="///",
                   lw=0, zorder=0, alpha=0.5)
        for (name, band), ls in zip(sorted(bands.items()), (":", "-."), strict=False):
            ax.axhline(band, color="#D55E00", ls=ls, lw=1.2, label=f"{name} study judge's error")
        ax.set_ylim(lo, max(hi, 1.5 * max(bands.values())))


def certified_design_table() -> pd.DataFrame:
    """The certified designs measured by ``benchmarks/certified_design.py`` (paper profile,
    30 designs per target, 2 cores), one row per (data set, target); empty when not run."""
    path = artifacts.REPO_ROOT / "benchmarks" / "results" / "certified_design.csv"
    if not path.exists():
        return pd.DataFrame()
    table = pd.read_csv(path).sort_values(["dataset", "target"])
    table["paper target"] = table["target"].round(4).isin([0.55, 0.6, 0.65, 0.7, 0.75])
    return table[["dataset", "target", "paper target", "within_1pct", "median_rep_pct",
                  "mean_rep_pct", "max_rep_pct", "mean_rep_study_pct", "all_new",
                  "certified_sims", "study_sims", "wall_s"]].rename(columns={
        "dataset": "data set", "within_1pct": "within 1 % (of 30)",
        "median_rep_pct": "median REP (%)", "mean_rep_pct": "mean REP (%)",
        "max_rep_pct": "max REP (%)", "mean_rep_study_pct": "mean REP, study judge (%)",
        "all_new": "all new", "certified_sims": "certified sims",
        "study_sims": "study sims", "wall_s": "s on 2 cores"})


def designer_survival(frame: pd.DataFrame) -> pd.DataFrame:
    """The study-judge designer's designs (chapter 8's benchmark) re-judged: per data set and
    target, how many of 30 stay within 1 % REP at the certified judge."""
    d = frame[frame["source"] == "designer"]
    g = d.groupby(["dataset", "target"])
    return pd.DataFrame({"within 1 % at the study judge": g["rep_study"].apply(
        lambda r: int((r <= 1).sum())), "within 1 % at the certified judge": g[
        "rep_certified"].apply(lambda r: int((r <= 1).sum())), "mean REP certified (%)": g[
        "rep_certified"].mean()}).reset_index().rename(columns={"dataset": "data set"})
