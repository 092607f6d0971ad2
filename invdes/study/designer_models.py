"""The designer's learned parts per data set: forward surrogates (one ensemble per input kind,
scored against the RCWA on held-out rows), the conditional flow p(z | y) and the novelty
distance ``delta``; trained by the ``designer`` step, loaded by ``invdes design --method
refine`` and the benchmark of chapter 8.

Folder ``<profile>/designer/<data set>/``: ``surrogate-<kind>.npz``, ``flow.npz``,
``provenance.json`` (test RMSE per kind, the chosen kind, validation NLLs of flow / GAN-MDN /
uniform, delta, epochs, times).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from invdes import artifacts
from invdes.config import Profile
from invdes.inverse import novelty as nv

log = logging.getLogger(__name__)

SURROGATE_FILE = "surrogate-{kind}.npz"
#: allowed ``DesignerConfig.ranking`` values
RANKINGS = ("z", "lowest-rmse")
FLOW_FILE = "flow.npz"


def designer_dir(profile_name: str, dataset: str) -> Path:
    return artifacts.artifact_dir(profile_name, f"designer/{dataset}")


def required_files(profile: Profile) -> tuple[str, ...]:
    return tuple(SURROGATE_FILE.format(kind=k) for k in profile.surrogate.kinds) + (FLOW_FILE,)


def test_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) of a seeded random split; the test rows never train a surrogate."""
    order = np.random.default_rng([int(seed), 11]).permutation(n)
    n_test = max(1, int(round(fraction * n)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def train_designer_models(profile: Profile, dataset: str, ds, configs: dict, *,
                          mdn_val_nll: float | None = None) -> dict:
    """Train and write the surrogates and the flow of ``dataset`` (``ds``: its Dataset);
    ``configs``: the upstream configs recorded in the provenance. Returns the provenance."""
    from invdes.inverse.flow import ConditionalFlow, uniform_box_nll
    from invdes.inverse.surrogate import SurrogateEnsemble

    out = designer_dir(profile.name, dataset)
    sc = profile.surrogate
    chash = artifacts.expected_hash(configs)
    train, test = test_split(len(ds), sc.test_fraction, sc.seed)
    rmse, epochs, times = {}, {}, {}
    params = {k: v for k, v in dataclasses.asdict(sc).items()
              if k not in ("kinds", "test_fraction")}
    for kind in sc.kinds:  # each finished model is kept: an interrupted step resumes after it
        path = out / SURROGATE_FILE.format(kind=kind)
        done = _finished(path, chash)
        if done is not None:
            rmse[kind], epochs[kind], times[kind] = done["rmse"], done["epochs"], done["seconds"]
            log.info("designer: %s surrogate on %s: reused (test RMSE %.4f)", kind, dataset,
                     rmse[kind])
            continue
        with artifacts.Timer() as t:
            x_train = None if kind == "z" else ds.x[train]
            model = SurrogateEnsemble(inputs=kind, **params).fit(ds.z[train], x_train,
                                                                 ds.y[train])
            model.save(path)
        rmse[kind] = model.rmse(ds.z[test], None if kind == "z" else ds.x[test], ds.y[test])
        epochs[kind], times[kind] = [int(e) for e in model.n_epochs_], t.seconds
        _mark_finished(path, chash, rmse=rmse[kind], epochs=epochs[kind], seconds=t.seconds)
        log.info("designer: %s surrogate on %s: test RMSE %.4f (%.0f s)", kind, dataset,
                 rmse[kind], t.seconds)
    with artifacts.Timer() as t:
        flow = ConditionalFlow.from_config(profile.flow).fit(ds.y, ds.z)
        flow.save(out / FLOW_FILE)
    times["flow"] = t.seconds
    with artifacts.Timer() as t:
        delta = nv.median_nn_distance(nv.pack(ds.x), n_probe=profile.designer.delta_probes,
                                      seed=profile.designer.seed)
    times["delta"] = t.seconds
    best = min(rmse, key=rmse.get)
    prov = artifacts.provenance(
        configs, seed=sc.seed, wall_time_s=float(sum(times.values())), training_s=times,
        test_rmse=rmse, chosen_surrogate=best, surrogate_epochs=epochs,
        n_train=int(len(train)), n_test=int(len(test)), y_std_test=float(ds.y[test].std()),
        nll_nats={"flow": float(flow.val_nll_), "gan-mdn": mdn_val_nll,
                  "uniform": float(uniform_box_nll(ds.z.shape[1]))},
        flow_epochs=int(flow.n_epochs_), flow_stop_reason=str(flow.stop_reason_), delta=delta)
    artifacts.write_provenance(out, prov)
    return prov


def _finished(path: Path, chash: str) -> dict | None:
    """The record of a model file finished with the configs of hash ``chash``, or None."""
    record = path.with_suffix(".json")
    if not (path.exists() and record.exists()):
        return None
    try:
        done = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return done if done.get("config_hash") == chash else None


def _mark_finished(path: Path, chash: str, **record) -> None:
    with artifacts.atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"config_hash": chash, **record}) + "\n")


def ranking_kind(ranking: str, kinds, lowest_rmse: str) -> str:
    """The surrogate kind that ranks the proposals under ``DesignerConfig.ranking``: the
    latent one for ``"z"`` (when trained, of ``kinds``), else ``lowest_rmse``."""
    if ranking not in RANKINGS:
        raise ValueError(f"designer ranking must be one of {', '.join(RANKINGS)}; got "
                         f"{ranking!r}")
    return "z" if ranking == "z" and "z" in kinds else lowest_rmse


@dataclass
class DesignerModels:
    """What :class:`invdes.inverse.designer.ComposedDesigner` needs of one data set."""

    surrogate: object  # the SurrogateEnsemble that ranks (``DesignerConfig.ranking``)
    gradient_surrogate: object | None  # the latent one (line directions, neural adjoint)
    flow: object
    delta: float
    provenance: dict


def load_designer_models(profile: Profile, dataset: str, configs: dict) -> DesignerModels:
    """Load a current designer folder (ArtifactError naming the rebuild command otherwise)."""
    from invdes.inverse.flow import ConditionalFlow
    from invdes.inverse.surrogate import SurrogateEnsemble

    out = designer_dir(profile.name, dataset)
    if not artifacts.is_current(out, configs, required=required_files(profile)):
        raise artifacts.ArtifactError(
            f"the designer models of {dataset} ({profile.name}) are missing or stale: "
            f"{artifacts.rebuild_command(profile.name, 'designer')}")
    prov = artifacts.read_provenance(out)
    kind = ranking_kind(profile.designer.ranking, profile.surrogate.kinds,
                        prov["chosen_surrogate"])
    chosen = SurrogateEnsemble.load(out / SURROGATE_FILE.format(kind=kind))
    latent = (chosen if kind == "z" else
              SurrogateEnsemble.load(out / SURROGATE_FILE.format(kind="z"))
              if "z" in profile.surrogate.kinds else None)
    return DesignerModels(surrogate=chosen, gradient_surrogate=latent,
                          flow=ConditionalFlow.load(out / FLOW_FILE),
                          delta=float(prov["delta"]), provenance=prov)


def designer_for(profile: Profile, budget: int | None = None, n_designs: int | None = None,
                 seed: int | None = None):
    """A :class:`~invdes.inverse.designer.ComposedDesigner` with the profile's settings."""
    from invdes.inverse.designer import ComposedDesigner

    params = {k: v for k, v in dataclasses.asdict(profile.designer).items()
              if k not in ("delta_probes", "ranking")}
    for key, value in (("budget", budget), ("n_designs", n_designs), ("seed", seed)):
        if value is not None:
            params[key] = value
    return ComposedDesigner(**params)
