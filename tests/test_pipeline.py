"""End to end: `invdes reproduce --profile smoke`, its cache and resume, and `invdes design`.

The smoke chain runs once per session into the normal artifact root (``artifacts/smoke``,
git-ignored), where the notebooks find it too; tests that damage artifacts work on a copy.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from invdes import artifacts
from invdes.artifacts import ARTIFACTS_ENV
from invdes.book.ch07_results import write_figures
from invdes.cli import main
from invdes.config import DATASETS, get_profile
from invdes.study import pipeline

SMOKE = get_profile("smoke")


@pytest.fixture(scope="session")
def smoke_root() -> Path:
    """The smoke chain, run (or reused) in the default artifact root (the book's notebooks
    may have built part of it before, e.g. the evaluation before the BO runs)."""
    pipeline.reproduce("smoke", n_jobs=2)
    return artifacts.artifact_root()


@pytest.fixture
def smoke_copy(smoke_root: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the smoke artifacts; ``$INVDES_ARTIFACTS`` points to it."""
    root = tmp_path / "artifacts"
    shutil.copytree(smoke_root / "smoke", root / "smoke")
    monkeypatch.setenv(ARTIFACTS_ENV, str(root))
    return root


def test_evaluation_built_before_bo_gains_bo_rows_on_rerun(smoke_copy):
    """A chapter may evaluate before the BO runs exist; a later full reproduce must still put
    the BO rows into Table 1 (evaluation is re-assembled from its cached cells)."""
    shutil.rmtree(smoke_copy / "smoke" / "bo")
    table = smoke_copy / "smoke" / "evaluate" / "table1_data-ii.csv"
    pipeline.reproduce("smoke", ("gan", "data", "mdn", "evaluate"), n_jobs=2)
    assert "bo" not in {r["method"] for r in csv.DictReader(open(table))}
    pipeline.reproduce("smoke", n_jobs=2)
    assert "bo" in {r["method"] for r in csv.DictReader(open(table))}


def mtimes(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_reproduce_writes_table1_and_figures(smoke_root):
    out = smoke_root / "smoke" / "evaluate"
    for name in DATASETS:
        rows = list(csv.DictReader(open(out / f"table1_{name}.csv")))
        methods = {r["method"] for r in rows}
        assert methods == set(pipeline.METHODS) | {"bo"}
        assert len(rows) == len(pipeline.METHODS) * len(SMOKE.evaluation.targets) + len(
            SMOKE.evaluation.targets)
        widths = []
        for r in rows:
            assert float(r["min_rep_pct"]) >= 0 and np.isfinite(float(r["min_rep_pct"]))
            if r["method"] in pipeline.DRAW_METHODS:  # error bars over independent draws
                assert int(r["draws"]) == SMOKE.evaluation.n_draws >= 2
                for key in ("mean_rep_pct", "min_rep_pct"):
                    lo, m, hi = (float(r[f"{key}_{s}"]) for s in ("lo", "mean", "hi"))
                    assert lo <= m <= hi
                    widths.append(hi - lo)
            else:
                assert r["draws"] == "" and r["mean_rep_pct_lo"] == ""
        # independent draws differ (a degenerate smoke model may repeat itself: not all must)
        assert max(widths) > 0
        draws = list(csv.DictReader(open(out / f"draws_{name}.csv")))
        assert len(draws) == (len(pipeline.DRAW_METHODS) * len(SMOKE.evaluation.targets)
                              * SMOKE.evaluation.n_draws)
        first = [d for d in draws if d["draw"] == "0"]
        by_cell = {(r["method"], float(r["target"])): float(r["mean_rep_pct"]) for r in rows
                   if r["method"] in pipeline.DRAW_METHODS}
        for d in first:  # draw 0 is the single draw of the paper's columns
            assert float(d["mean_rep_pct"]) == pytest.approx(
                by_cell[(d["method"], float(d["target"]))])
        # the PCA round trip of chapter 6: real images through the d components, simulated
        from invdes.study.diagnostics import load_pca_round_trip, round_trip_images

        trip = load_pca_round_trip(SMOKE, name)
        assert trip is not None and len(trip["y"]) == round_trip_images(SMOKE)
        assert np.all(np.isfinite(trip["y_round_trip"])) and np.all(trip["rep_pct"] >= 0)
        assert 0 < trip["explained_variance"] <= 1 and np.any(trip["pixel_change"] > 0)
    written = write_figures("smoke")  # what `invdes reproduce` does after the evaluate step
    assert sorted(p.name for p in written) == ["best_of_n.png", "figure2.png", "figure3.png"]
    for fig in written:
        assert fig.parent == out and fig.stat().st_size > 5_000
    curves = pipeline.load_curves("smoke")
    for c in curves.values():
        assert len(c) == SMOKE.evaluation.best_of_n_max and np.all(np.diff(c) <= 1e-12)


def test_rerun_reuses_every_artifact(smoke_copy):
    before = mtimes(smoke_copy / "smoke")
    pipeline.reproduce("smoke", ("data", "mdn", "baselines"), n_jobs=1)
    after = mtimes(smoke_copy / "smoke")
    changed = [p for p in before if after.get(p) != before[p] and "provenance" not in p.name
               and p.name != "reproduce_log.json"]
    assert changed == []


def test_interrupted_work_resumes_without_redoing_finished_parts(smoke_copy):
    """Remove one BO record and one evaluation cell (as if the run had stopped before them):
    a rerun recreates exactly those and leaves the finished ones untouched."""
    bo_file = pipeline.bo_state_path("smoke", "data-ii", 0.65)
    cell = pipeline._cell_path("smoke", "data-i", "gan-mdn", 0.60)
    bo_file.unlink()
    cell.unlink()
    before = mtimes(smoke_copy / "smoke" / "bo")
    pipeline.reproduce("smoke", ("baselines", "evaluate"), n_jobs=1)
    assert bo_file.exists() and cell.exists()
    after = mtimes(smoke_copy / "smoke" / "bo")
    untouched = [p for p in before if p.suffix == ".npz"]
    assert untouched and all(after[p] == before[p] for p in untouched)


def test_cell_simulation_keeps_finished_batches_and_is_rechecked(smoke_copy, monkeypatch):
    """Simulation of stored candidates runs in batches, each written when done: a crash
    loses one batch at most, a rerun simulates only what is pending, and the evaluation
    re-simulates one batch here and refuses stored absorptions that differ."""
    import invdes.physics.optics

    cells = sorted((smoke_copy / "smoke" / "evaluate" / "cells").glob("*.npz"))
    for path in cells:  # forget every simulated absorption
        with np.load(path) as f:
            kept = {k: f[k] for k in ("images", "generation_s", "z") if k in f.files}
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **kept)
    real, calls = invdes.physics.optics.absorption, []

    def crashing(images, *args, **kwargs):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(images, *args, **kwargs)

    monkeypatch.setattr(invdes.physics.optics, "absorption", crashing)
    with pytest.raises(KeyboardInterrupt):
        pipeline.simulate_pending_cells(SMOKE, n_jobs=1, progress=False, cells_per_batch=4)
    done = [p for p in cells if "y_hat" in np.load(p).files]
    assert len(done) == 4
    n = pipeline.simulate_pending_cells(SMOKE, n_jobs=1, progress=False, cells_per_batch=4)
    assert n == sum(len(np.load(p)["images"]) for p in cells if p not in done)
    assert all("y_hat" in np.load(p).files for p in cells)

    monkeypatch.setattr(invdes.physics.optics, "absorption", real)
    check = pipeline.resimulation_check(SMOKE, "data-ii", n_jobs=1)
    assert check["max_abs_difference"] < 1e-12 and check["simulation_s"] > 0
    path = pipeline._cell_path("smoke", "data-ii", "gan-mdn", 0.65)
    cell = dict(np.load(path))
    cell["y_hat"] = cell["y_hat"] + 1e-3
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **cell)
    with pytest.raises(artifacts.ArtifactError, match="differ from the stored"):
        pipeline.resimulation_check(SMOKE, "data-ii", n_jobs=1)


def test_mismatched_config_is_not_used(smoke_copy):
    folder = pipeline.models_dir("smoke", "data-ii")
    prov = json.loads((folder / "provenance.json").read_text())
    prov["config_hash"] = "0" * 16
    artifacts.write_provenance(folder, prov)
    with pytest.raises(artifacts.ArtifactError, match="reproduce --profile smoke --steps mdn"):
        pipeline.load_models(SMOKE, "data-ii")
    old = (folder / "gan-mdn").stat().st_mtime_ns if (folder / "gan-mdn").exists() else None
    pipeline.reproduce("smoke", ("mdn",), n_jobs=1)
    assert artifacts.is_current(folder, pipeline.upstream_configs(SMOKE, "mdn"))
    new = (folder / "gan-mdn").stat().st_mtime_ns
    assert old is None or new != old
    pipeline.load_models(SMOKE, "data-ii")  # usable again


def test_design_cli_ranks_writes_and_is_deterministic(smoke_copy, tmp_path, capsys):
    out = tmp_path / "design"
    args = ["design", "--target", "0.06", "--profile", "smoke", "--n", "4", "--seed", "3",
            "--method", "gan-mdn"]
    assert main(args + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rank" in text and "REP %" in text
    summary = json.loads((out / "summary.json").read_text())
    reps = [c["rep_pct"] for c in summary["candidates"]]
    assert reps == sorted(reps) and len(reps) == 4
    for i in range(1, 5):
        assert (out / f"candidate_{i:03d}.png").stat().st_size > 0
        img = np.load(out / f"candidate_{i:03d}.npy")
        assert img.dtype == np.uint8 and set(np.unique(img)) <= {0, 1}
    assert (out / "contact_sheet.png").stat().st_size > 5_000
    assert main(args + ["--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [c["absorption"] for c in again["candidates"]] == [
        c["absorption"] for c in summary["candidates"]]


def test_design_without_verification_skips_simulation(smoke_copy, capsys):
    assert main(["design", "--target", "0.06", "--profile", "smoke", "--n", "3",
                 "--method", "gan-mdn", "--no-verify", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verified"] is False and "simulation_s" not in summary["timings_s"]


@pytest.mark.parametrize("extra, message", [
    (["--target", "1.2"], "between 0 and 1"),
    (["--target", "abc"], "number"),
    (["--target", "0.5", "--n", "0"], "must be a whole number >= 1"),
    (["--target", "0.5", "--n", "100000000"], "from 1 to 10,000; got 100000000"),
    (["--target", "0.5", "--dataset", "data-iii"], "invalid choice"),
    (["--target", "0.5", "--method", "magic"], "invalid choice"),
])
def test_design_bad_input_is_one_line_exit_2(smoke_copy, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    code = main(["design", "--profile", "smoke", "--out", str(out)] + extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_design_with_corrupted_weights_names_the_file(smoke_copy, capsys):
    weights = smoke_copy / "smoke" / "gan" / "generator.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["design", "--target", "0.5", "--profile", "smoke", "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "generator.npz" in err and "invdes reproduce --profile smoke --steps gan" in err


def test_models_without_the_uncommitted_direct_mdn_weights(smoke_copy, capsys, tmp_path):
    """As in a fresh clone of the paper artifacts: the direct MDN's weights are absent, its
    summary is there; the other models load, and asking for the direct MDN says what to do."""
    folder = pipeline.models_dir("smoke", "data-ii")
    shutil.rmtree(folder / "direct-mdn")
    assert sorted(pipeline.load_models(SMOKE, "data-ii")) == ["gan-mdn", "pca-mdn"]
    summary = pipeline.load_direct_summary(SMOKE, "data-ii")
    assert summary["image_shape"] == (64, 64) and summary["top_means"].shape[-1] == 64 * 64
    assert summary["n_params"] > 0 and np.allclose(summary["weights"].sum(axis=1), 1, atol=1e-5)
    assert pipeline.step_current(SMOKE, "mdn")
    out = tmp_path / "design"
    assert main(["design", "--target", "0.1", "--profile", "smoke", "--dataset", "data-ii",
                 "--method", "direct-mdn", "--n", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "direct-MDN weights" in err
    assert "invdes reproduce --profile smoke --steps mdn --force" in err and not out.exists()


def test_design_warns_outside_training_range(smoke_copy, capsys):
    assert main(["design", "--target", "0.9", "--profile", "smoke", "--n", "2",
                 "--method", "gan-mdn", "--no-verify"]) == 0
    assert "outside the absorption range seen in training" in capsys.readouterr().err


def test_bo_spread_runs_have_their_own_seeded_records(smoke_copy):
    """Spread runs (``bo.spread_seeds`` at ``bo.spread_targets``) write records of their own,
    start from other random latents than the profile's seed, and leave the seed-0 record alone."""
    import dataclasses

    from invdes.config import get_profile

    smoke = get_profile("smoke")
    profile = dataclasses.replace(smoke, bo=dataclasses.replace(smoke.bo, spread_seeds=(1,)))
    jobs = pipeline.bo_jobs(profile, ("data-ii",), (0.6, 0.65))
    assert jobs == [("data-ii", 0.6, None), ("data-ii", 0.65, None), ("data-ii", 0.65, 1)]
    base = pipeline.bo_state_path("smoke", "data-ii", 0.65)
    assert base.exists()
    before = base.stat().st_mtime_ns
    pipeline.step_baselines(profile, n_jobs=1, datasets=("data-ii",), targets=(0.65,))
    seeded = pipeline.bo_state_path("smoke", "data-ii", 0.65, 1)
    assert seeded.name == "target_0.65_seed1.npz" and seeded.exists()
    assert base.stat().st_mtime_ns == before
    spread = pipeline.load_bo_spread(profile, "data-ii")
    assert set(spread) == {(0.65, 0), (0.65, 1), (0.75, 0)}  # 0.75 seed 1 was not asked for
    assert not np.allclose(spread[(0.65, 0)].z_history[0], spread[(0.65, 1)].z_history[0])


def test_design_refine_returns_new_verified_designs_within_budget(smoke_copy, tmp_path, capsys):
    """The default method: the composed designer."""
    out = tmp_path / "refine"
    args = ["design", "--target", "0.08", "--profile", "smoke", "--n", "4", "--budget", "10",
            "--dataset", "data-ii", "--judge", "study"]
    assert main(args + ["--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = summary["candidates"]
    assert summary["method"] == "refine" and len(rows) == 4 and summary["verified"]
    assert summary["simulations"] <= 10 and all(r["simulations"] >= 1 for r in rows)
    images = np.stack([np.load(out / f"candidate_{i:03d}.npy") for i in range(1, 5)])
    from invdes.data import load_dataset
    from invdes.inverse import novelty as nv
    from invdes.physics.optics import absorption

    train = load_dataset("data-ii", SMOKE, verify=0).x
    np.testing.assert_allclose([r["novelty"] for r in rows],
                               nv.nearest_distance(nv.pack(images), nv.pack(train)))

    np.testing.assert_allclose([r["absorption"] for r in rows],
                               absorption(images, SMOKE.optics_for("data-ii"), n_jobs=1))


def test_design_certified_judges_every_returned_absorption(smoke_copy, tmp_path, capsys):
    """The default judge: designs refined at the study judge, then certified and corrected;
    every absorption and REP is the certified judge's, the study's value is kept beside it."""
    from invdes.physics import judges
    from invdes.physics.optics import absorption

    out = tmp_path / "certified"
    assert main(["design", "--target", "0.08", "--profile", "smoke", "--n", "4", "--budget",
                 "10", "--dataset", "data-ii", "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    judge = judges.load_certified("smoke", "data-ii")
    stack = SMOKE.optics_for("data-ii")
    assert judge.harmonics != stack.harmonics[:1]  # the smoke study makes them differ
    assert summary["judge"] == {"name": "certified", "harmonics": list(judge.harmonics),
                                "weights": list(judge.weights),
                                "uncertainty": judge.uncertainty}
    rows = summary["candidates"]
    images = np.stack([np.load(out / f"candidate_{i:03d}.npy") for i in range(1, 5)])
    np.testing.assert_allclose([r["absorption"] for r in rows],
                               judge.absorption(images, stack, n_jobs=1))
    np.testing.assert_allclose([r["absorption_study"] for r in rows],
                               absorption(images, stack, n_jobs=1))
    np.testing.assert_allclose([r["rep_pct"] for r in rows],
                               [100 * abs(r["absorption"] - 0.08) / 0.08 for r in rows])
    assert all(r["simulations_certified"] >= 1 for r in rows)
    assert (out / "contact_sheet.png").stat().st_size > 5_000
    assert main(["design", "--target", "0.08", "--profile", "smoke", "--n", "4", "--budget",
                 "10", "--dataset", "data-ii"]) == 0
    text = capsys.readouterr().out
    assert "by the certified judge (m = " in text and f"+/- {judge.uncertainty:.3f}" in text


@pytest.mark.parametrize("extra, message", [
    (["--method", "refine", "--n", "4", "--budget", "2"], "from the number of designs (4)"),
    (["--method", "gan-mdn", "--budget", "5"], "--budget applies to --method refine only"),
    (["--method", "refine", "--no-verify"], "always simulates"),
    (["--no-verify"], "--method refine (the default) always simulates"),
])
def test_design_refine_bad_budget_is_one_line(smoke_copy, capsys, extra, message):
    code = main(["design", "--target", "0.08", "--profile", "smoke", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_book_profile_optional_steps_are_not_required_in_paper(monkeypatch, capsys):
    """A paper page shows what exists when only optional steps (the direct MDN) are missing;
    a missing required step falls back to smoke, which then runs the optional steps too."""
    ran = []
    monkeypatch.setattr(pipeline, "step_current", lambda profile, step: step != "direct-mdn")
    monkeypatch.setattr(pipeline, "reproduce", lambda profile, steps: ran.append(steps))
    shown = pipeline.book_profile("paper", steps=("gan", "evaluate"), optional=("direct-mdn",))
    assert shown.name == "paper" and ran == [] and "NOTE" not in capsys.readouterr().out
    shown = pipeline.book_profile("paper", steps=("gan", "direct-mdn"))
    assert shown.name == "smoke" and "direct-mdn" in capsys.readouterr().out
    pipeline.book_profile("smoke", steps=("evaluate", "gan"), optional=("direct-mdn",))
    assert ran[-1] == ("gan", "direct-mdn", "evaluate")  # the pipeline's order


def test_benchmark_without_one_data_sets_designer_keeps_parts_and_writes_no_table(smoke_copy):
    """The benchmark runs the data sets whose designer models exist and stores their parts, but
    writes its table only once every data set has run (a half table would pass as current)."""
    from invdes.study import benchmark, designer_models

    out = benchmark.benchmark_dir("smoke")
    shutil.rmtree(out)
    shutil.rmtree(designer_models.designer_dir("smoke", "data-ii"))
    pipeline.reproduce("smoke", ("benchmark",), n_jobs=1)
    parts = sorted(p.name for p in (out / "parts").glob("*.npz"))
    assert parts == [f"data-i_{t:.2f}.npz" for t in SMOKE.evaluation.targets]
    assert not (out / "table.csv").exists() and not pipeline.step_current(SMOKE, "benchmark")
    before = mtimes(out / "parts")
    pipeline.reproduce("smoke", ("designer", "benchmark"), n_jobs=1)
    assert pipeline.step_current(SMOKE, "benchmark")
    table = benchmark.load_table("smoke")
    assert set(table["dataset"]) == set(DATASETS)
    bo_rows = table[table["method"] == "bo"]  # one row per recorded target, r_T of every seed
    assert len(bo_rows) == len(DATASETS) * len(SMOKE.evaluation.targets)
    bo_curves = {k for k in benchmark.load_curves("smoke") if k[1] == "bo"}
    assert {k[3] for k in bo_curves} == {SMOKE.bo.seed, *SMOKE.bo.spread_seeds}
    assert all(mtimes(out / "parts")[p] == t for p, t in before.items())  # data-i reused
    # the designer's r_T run gets as many simulations as one BO run; its running best is the
    # designer's curve, and a part stored before it existed gets it added, the rest kept
    assert benchmark.curve_budget(SMOKE) > SMOKE.designer.budget
    path = benchmark.part_path("smoke", "data-i", SMOKE.evaluation.targets[0])
    with np.load(path) as f:
        part = {k: f[k] for k in f.files}
    curve = part["designer/curve"]
    assert SMOKE.designer.budget < len(curve) <= benchmark.curve_budget(SMOKE)
    assert np.all(np.diff(curve) <= 0)
    key = ("data-i", "designer", round(SMOKE.evaluation.targets[0], 2), 0)
    np.testing.assert_array_equal(benchmark.load_curves("smoke")[key], curve)
    row = table[(table.method == "designer") & (table.dataset == "data-i")].iloc[0]
    assert row["long_simulations"] == len(benchmark.load_curves("smoke")[
        ("data-i", "designer", round(float(row["target"]), 2), 0)])
    older = {k: v for k, v in part.items() if not k.startswith("designer/curve")}
    np.savez_compressed(path, **older)
    pipeline.reproduce("smoke", ("benchmark",), n_jobs=1)
    with np.load(path) as f:
        assert "designer/curve" in f.files
        np.testing.assert_array_equal(f["flow/y"], part["flow/y"])
        np.testing.assert_array_equal(f["designer/trace"], part["designer/trace"])


def test_designer_ranking_picks_the_surrogate_that_ranks(smoke_copy):
    """DesignerConfig.ranking: "z" ranks with the latent surrogate, "lowest-rmse" with the kind
    of lowest held-out RMSE; anything else is a one-line error naming the allowed values."""
    import dataclasses

    from invdes.study import designer_models as dm

    configs = pipeline.upstream_configs(SMOKE, "designer")
    folder = dm.designer_dir("smoke", "data-ii")
    prov = artifacts.read_provenance(folder)
    prov["chosen_surrogate"] = "image"  # as if the image CNN had won (the smoke one rarely does)
    artifacts.write_provenance(folder, prov)
    latent = dm.load_designer_models(SMOKE, "data-ii", configs)
    assert SMOKE.designer.ranking == "z" and latent.surrogate.inputs == "z"
    assert latent.gradient_surrogate is latent.surrogate
    best = dm.load_designer_models(dataclasses.replace(
        SMOKE, designer=dataclasses.replace(SMOKE.designer, ranking="lowest-rmse")),
        "data-ii", configs)
    assert best.surrogate.inputs == "image"
    assert best.gradient_surrogate.inputs == "z"
    bad = dataclasses.replace(SMOKE, designer=dataclasses.replace(SMOKE.designer,
                                                                  ranking="fastest"))
    with pytest.raises(ValueError, match="one of z, lowest-rmse; got 'fastest'"):
        dm.load_designer_models(bad, "data-ii", configs)


def test_rejudge_simulates_every_group_once_and_resumes(smoke_copy):
    """The study's candidates at the certified judge: Table 1's draw 0, the designer's designs
    and BO's best; a rerun simulates nothing; the book's tables read the rows."""
    import pandas as pd

    from invdes.book import certified as bc
    from invdes.physics import judges
    from invdes.study import rejudge

    frame = rejudge.run(SMOKE, n_jobs=1)
    n = SMOKE.evaluation.n_candidates
    table1 = frame[frame["source"] == "table1"]
    assert set(table1["method"]) <= set(rejudge.TABLE1_METHODS)
    assert table1.groupby(["dataset", "method", "target"]).size().max() == n
    assert {"table1", "bo"} <= set(frame["source"])
    row = table1.iloc[0]
    cell = np.load(smoke_copy / "smoke" / "evaluate" / "cells" /
                   f"{row['dataset']}_{row['method']}_{row['target']:.2f}.npz")
    judge = judges.load_certified("smoke", row["dataset"])
    want = judge.absorption(cell["images"][:1], SMOKE.optics_for(row["dataset"]), n_jobs=1)[0]
    assert row["absorption_certified"] == pytest.approx(want)
    assert row["absorption_study"] == pytest.approx(cell["y_hat"][0])
    path = smoke_copy / "smoke" / "judge" / rejudge.REJUDGED_FILE
    before = path.stat().st_mtime_ns
    again = rejudge.run(SMOKE, n_jobs=1)
    assert path.stat().st_mtime_ns == before and len(again) == len(frame)
    rows = bc.load("smoke")
    survival = bc.survival_table(rows)
    assert len(survival) == rows.groupby(["dataset", "source", "method", "target"]).ngroups
    assert survival["within 1 % certified"].between(0, 1).all()
    verdicts = bc.comparisons(rows)
    assert len(verdicts) > 0 and verdicts["holds"].dtype == bool
    assert isinstance(verdicts, pd.DataFrame)
