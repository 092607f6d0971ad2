"""What the designer comparisons (``designer_ranking.py``, ``designer_refinement.py``,
``designer_early.py``, ``designer_against_commit.py``) load for one data set: the command-line
arguments they share, the committed designer models, the data set, the GAN-MDN, the generator
and the data set's simulator; and one design with overrides of the profile's settings."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

#: development targets between chapter 8's, so that no choice is made on the reported targets
DEV_TARGETS = [0.575, 0.625, 0.675, 0.725]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--dataset", default="data-i")
    parser.add_argument("--targets", type=float, nargs="+", default=DEV_TARGETS)
    parser.add_argument("--n-jobs", type=int, default=1)
    return parser.parse_args()


@dataclass
class DesignerSetup:
    profile: Any
    models: Any  # invdes.study.designer_models.DesignerModels
    dataset: Any  # invdes.data.Dataset
    train_packed: Any  # invdes.inverse.novelty.PackedImages
    mdn: Any  # the fitted GAN-MDN
    generator: Any
    simulate: Any  # images -> absorption with the data set's stack

    def design(self, designer, target: float, surrogate=None):
        """``designer.design`` at ``target`` with these inputs (``surrogate`` ranks; default
        the models' ranking surrogate)."""
        m = self.models
        return designer.design(target, generator=self.generator, simulate=self.simulate,
                               train_z=self.dataset.z, train_y=self.dataset.y,
                               train_packed=self.train_packed, delta=m.delta,
                               surrogate=surrogate or m.surrogate,
                               gradient_surrogate=m.gradient_surrogate, flow=m.flow,
                               mdn=self.mdn)

    def design_with(self, overrides: dict, target: float):
        """(result, wall time s) of the profile's designer with ``overrides`` of its settings
        at ``target`` (the constructor only stores parameters, so they are set after it)."""
        from invdes.study import designer_models as dm

        designer = dm.designer_for(self.profile)
        for key, value in overrides.items():
            setattr(designer, key, value)
        t0 = time.perf_counter()
        res = self.design(designer, target)
        return res, time.perf_counter() - t0


def load(profile_name: str, dataset: str, n_jobs: int) -> DesignerSetup:
    from invdes.cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    from invdes.config import get_profile
    from invdes.data import load_dataset
    from invdes.inverse import novelty as nv
    from invdes.study import designer_models as dm
    from invdes.study import pipeline

    profile = get_profile(profile_name)
    models = dm.load_designer_models(profile, dataset,
                                     pipeline.upstream_configs(profile, "designer"))
    ds = load_dataset(dataset, profile, verify=0)
    return DesignerSetup(profile=profile, models=models, dataset=ds, train_packed=nv.pack(ds.x),
                         mdn=pipeline.load_models(profile, dataset, ("gan-mdn",))["gan-mdn"],
                         generator=pipeline.generator_for(profile),
                         simulate=pipeline.simulator_for(profile, dataset, n_jobs=n_jobs))
