"""The composed designer and its novelty rule: Hamming distances against brute force, and the
designer on a small synthetic problem whose simulator is known (new, different, verified
designs within the budget; refinement lowers the REP)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from invdes.inverse import novelty as nv
from invdes.inverse.designer import ComposedDesigner

SIDE = 12
RNG = np.random.default_rng(0)
PROJ = RNG.standard_normal((4, SIDE * SIDE))
WEIGHTS = np.linspace(0.2, 1.0, SIDE * SIDE)


class LinearGenerator:
    """z (n, 4) -> binary images (n, 12, 12): threshold of a fixed linear map at 0."""

    def generate(self, z):
        return (np.asarray(z, np.float64) @ PROJ > 0).reshape(-1, SIDE, SIDE).astype(np.uint8)


def simulate(images):
    """A stand-in judge: a weighted fill fraction (rough in z, as the RCWA's is)."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    return 0.4 + 0.4 * (flat @ WEIGHTS) / WEIGHTS.sum()


class LatentSurrogate:
    """A smooth stand-in surrogate of ``simulate(generate(z))``: its linear least-squares fit."""

    inputs = "z"

    def __init__(self, z, y):
        a = np.c_[z, np.ones(len(z))]
        self.coef = np.linalg.lstsq(a, y, rcond=None)[0]

    def predict(self, z, x=None):
        z = np.asarray(z, np.float64)
        return z @ self.coef[:-1] + self.coef[-1], np.full(len(z), 0.01)

    def predict_tf(self, z):
        w = tf.constant(self.coef[:-1], tf.float32)
        return tf.linalg.matvec(tf.cast(z, tf.float32), w) + float(self.coef[-1])


@pytest.fixture(scope="module")
def problem():
    z = RNG.uniform(-1, 1, (400, 4)).astype(np.float32)
    x = LinearGenerator().generate(z)
    y = simulate(x)
    packed = nv.pack(x)
    return {"z": z, "x": x, "y": y, "packed": packed,
            "delta": nv.median_nn_distance(packed, n_probe=100),
            "surrogate": LatentSurrogate(z, y)}


def test_hamming_distances_match_brute_force():
    a = RNG.integers(0, 2, (7, 9, 11)).astype(np.uint8)  # 99 pixels: not a multiple of 64
    b = RNG.integers(0, 2, (13, 9, 11)).astype(np.uint8)
    brute = (a[:, None] != b[None]).reshape(7, 13, -1).mean(axis=2)
    got = nv.nearest_distance(nv.pack(a), nv.pack(b), block=3)
    np.testing.assert_allclose(got, brute.min(axis=1))
    np.testing.assert_allclose(nv.nearest_distance(nv.pack(a), nv.pack(b), block=2, chunk=4),
                               brute.min(axis=1))  # blocks and chunks that do not divide
    np.testing.assert_allclose(nv.pairwise_distance(nv.pack(a)),
                               (a[:, None] != a[None]).reshape(7, 7, -1).mean(axis=2))
    assert nv.nearest_distance(nv.pack(b[:2]), nv.pack(b))[0] == 0.0  # a copy is not new


def test_median_nn_distance_and_greedy_diversity():
    base = RNG.integers(0, 2, (1, 8, 8)).astype(np.uint8)
    twins = np.concatenate([base, base, 1 - base, 1 - base])  # two pairs of copies
    assert nv.median_nn_distance(nv.pack(twins)) == 0.0
    images = RNG.integers(0, 2, (40, 8, 8)).astype(np.uint8)
    packed = nv.pack(images)
    kept = nv.greedy_diverse(np.arange(40), packed, 0.45, n_max=40)
    d = nv.pairwise_distance(packed[kept])
    assert kept[0] == 0 and np.all(d[~np.eye(len(kept), dtype=bool)] >= 0.45)
    assert len(nv.greedy_diverse(np.arange(40), packed, 0.0, n_max=5)) == 5
    with pytest.raises(ValueError, match="at least 2 images"):
        nv.median_nn_distance(nv.pack(images[:1]))


def _run(problem, judge, **params):
    """(designer, result) of a small designer at 0.6, simulated by ``judge``."""
    designer = ComposedDesigner(**{"n_designs": 8, "budget": 60, "n_proposals": 400,
                                   "lookup_k": 8, "adjoint_starts": 16, "adjoint_steps": 10,
                                   **params})
    res = designer.design(0.6, generator=LinearGenerator(), simulate=judge,
                          train_z=problem["z"], train_y=problem["y"],
                          train_packed=problem["packed"], delta=problem["delta"],
                          surrogate=problem["surrogate"])
    return designer, res


def _design(problem, **params):
    return _run(problem, simulate, **params)[1]


def test_designs_are_new_different_verified_and_within_budget(problem):
    res = _design(problem)
    delta = problem["delta"]
    assert len(res.rep) == 8 and res.n_simulations <= 60
    assert np.all(res.novelty >= delta)
    assert np.all(nv.nearest_distance(nv.pack(res.images), problem["packed"]) >= delta)
    assert res.min_pairwise >= delta / 2
    np.testing.assert_allclose(res.absorption, simulate(res.images))  # every number verified
    np.testing.assert_allclose(res.rep, np.abs(res.absorption - 0.6) / 0.6)
    assert np.all(np.diff(res.rep) >= 0) and np.all(np.diff(res.trace) <= 0)
    assert res.simulations.sum() <= res.n_simulations and np.all(res.simulations >= 1)
    again = _design(problem)
    np.testing.assert_array_equal(again.images, res.images)  # deterministic with a seed


def test_refinement_lowers_the_error(problem):
    first = _design(problem, budget=11)  # the first batch only (ceil(1.6 * 8) = 13 > 11)
    refined = _design(problem, budget=80)
    assert first.n_simulations == 11
    assert refined.rep.mean() < 0.5 * first.rep.mean()


class ImageSurrogate:
    """A perfect surrogate that reads images (what ``ranking="lowest-rmse"`` ranks with when an
    image-reading kind has the lowest RMSE)."""

    inputs = "image"

    def predict(self, z, x):
        return simulate(x), np.full(len(x), 0.001)


class FarFlow:
    """New, mutually different proposals that miss the target most: the worst of many random
    latents that pass the novelty and diversity rules."""

    def __init__(self, problem, target):
        z = np.random.default_rng(1).uniform(-1, 1, (4000, 4)).astype(np.float32)
        packed = nv.pack(LinearGenerator().generate(z))
        new = np.flatnonzero(nv.nearest_distance(packed, problem["packed"])
                             >= 1.1 * problem["delta"])
        worst = new[np.argsort(-np.abs(simulate(LinearGenerator().generate(z[new])) - target))]
        self.z = z[nv.greedy_diverse(worst, packed, problem["delta"] / 2, 30)]

    def sample(self, target, n, seed=0):
        return self.z[np.arange(n) % len(self.z)]


def test_an_image_surrogate_ranks_every_proposal_not_only_the_first_block(problem):
    """The flow's half of the proposals comes first and misses the target; an image surrogate
    must still find the look-up's and the adjoint's proposals further down the list."""
    designer = ComposedDesigner(n_designs=8, budget=11, n_proposals=1200, lookup_k=8,
                                adjoint_starts=16, adjoint_steps=10)
    target = float(np.median(problem["y"]))
    flow = FarFlow(problem, target)
    assert len(flow.z) >= 11  # enough to fill the first batch on their own
    res = designer.design(target, generator=LinearGenerator(), simulate=simulate,
                          train_z=problem["z"], train_y=problem["y"],
                          train_packed=problem["packed"], delta=problem["delta"],
                          surrogate=ImageSurrogate(), gradient_surrogate=problem["surrogate"],
                          flow=flow)
    flow_rep = np.abs(simulate(LinearGenerator().generate(flow.z)) - target) / target
    assert "flow" not in set(res.source)
    assert res.rep.max() < flow_rep.min()


class RecordingSimulate:
    """``simulate`` that keeps every batch it was given (one batch per refinement round)."""

    def __init__(self):
        self.batches: list[np.ndarray] = []
        self.images: list[np.ndarray] = []

    def __call__(self, images):
        y = simulate(images)
        self.batches.append(y.copy())  # the designer updates its own array in place
        self.images.append(np.array(images, copy=True))
        return y


def _recorded_design(problem, **params):
    sim = RecordingSimulate()
    designer, res = _run(problem, sim, **{"budget": 80, **params})
    return designer, res, sim.batches


def _simulated_designs(events) -> list[int]:
    return [i for i, e in events if e.startswith("sim")]


def test_refine_fraction_steps_the_worst_designs_first(problem):
    designer, res, batches = _recorded_design(problem, refine_fraction=0.25, max_restarts=1000,
                                              early_rounds=0, polish_best=0)
    rep0 = np.abs(batches[0] - 0.6) / 0.6  # the first batch, in design order
    contention = np.argsort(rep0, kind="stable")[:8]
    worst = sorted(contention, key=lambda i: -rep0[i])[:2]  # ceil(0.25 * 8)
    assert len(batches[1]) <= 2
    assert set(_simulated_designs(designer.events_)[: len(batches[1])]) <= set(worst)
    _, full, full_batches = _recorded_design(problem, refine_fraction=1.0, early_rounds=0)
    assert len(full_batches[1]) > 2  # every design in contention steps in a round
    assert res.n_simulations <= 80 and len(res.rep) == 8


def test_the_best_design_is_stepped_every_round_as_well(problem):
    designer, res, batches = _recorded_design(problem, refine_fraction=0.25, max_restarts=1000,
                                              early_rounds=0, polish_best=1)
    rep0 = np.abs(batches[0] - 0.6) / 0.6
    contention = np.argsort(rep0, kind="stable")[:8]
    worst = sorted(contention, key=lambda i: -rep0[i])[:2]
    first_round = set(_simulated_designs(designer.events_)[: len(batches[1])])
    assert len(batches[1]) <= 3 and first_round <= set(worst) | {int(contention[0])}
    assert int(contention[0]) in first_round  # the best one, next to the two worst
    assert res.n_simulations <= 80 and len(res.rep) == 8


def test_stalled_designs_retire_and_spares_take_their_place(problem):
    designer, res, batches = _recorded_design(problem, max_restarts=0, early_rounds=0)
    events = designer.events_
    retired = {i for i, e in events if e == "retired"}
    assert retired  # a rough judge stalls some lines
    for i in retired:  # never stepped again once retired, until the retired come back
        after = events[[k for k, (j, e) in enumerate(events) if j == i and e == "retired"][0]:]
        back = [k for k, (j, e) in enumerate(after) if e == "revived"]
        after = after[: back[0]] if back else after
        assert not [e for j, e in after if j == i and e.startswith("sim")]
    rep0 = np.abs(batches[0] - 0.6) / 0.6
    spares = set(np.argsort(rep0, kind="stable")[8:].tolist())
    assert spares & set(_simulated_designs(events))  # a spare was refined in their place
    assert len(res.rep) == 8 and res.n_simulations <= 80


def test_the_best_early_designs_step_before_the_rest_of_the_first_batch(problem):
    designer, res, batches = _recorded_design(problem, early_designs=4, early_rounds=2,
                                              early_width=1)
    assert len(batches[0]) == 4  # the first designs alone
    early = [len(b) for b in batches[1:3]]
    assert early == [1, 1]  # one line step each round, on one design
    assert len(batches[3]) == 13 - 4  # then the rest of the first batch
    rep0 = np.abs(batches[0] - 0.6) / 0.6
    stepped = _simulated_designs(designer.events_)[:2]
    assert set(stepped) == {int(np.argmin(rep0))}  # the best of the first four
    trace = res.trace
    assert trace[5] <= trace[3] and np.isclose(trace[3], rep0.min())
    _, _, plain = _recorded_design(problem, early_rounds=0)
    assert len(plain[0]) == 13  # early_rounds = 0: the whole first batch at once
    assert res.n_simulations <= 80 and len(res.rep) == 8


def test_an_image_simulated_before_is_never_simulated_again(problem):
    sim = RecordingSimulate()
    designer, res = _run(problem, sim, budget=120)
    keys = [image.tobytes() for batch in sim.images for image in batch]
    assert len(keys) == res.n_simulations
    assert len(set(keys)) == len(keys)  # every simulation is of a new image
    # the rough judge does lead line searches back to images they have seen (for free)
    assert any(e == "repeat" for _, e in designer.events_)


def test_simulations_left_go_below_the_floor(problem):
    """With every first design within the REP floor, the refinement goes on below it while
    the budget lasts, instead of stopping after the first batch (the r_T curve)."""
    designer, res, batches = _recorded_design(problem, budget=120, rep_floor=0.9,
                                              early_rounds=0)
    first = np.abs(batches[0] - 0.6) / 0.6
    assert len(batches[0]) == 13 and first.max() < 0.9  # all within the floor at once
    assert res.n_simulations > len(batches[0])  # the floor was lowered, not the loop ended
    assert res.trace[-1] < first.min()  # and the best design improved there


def test_retired_designs_come_back_while_simulations_are_left(problem):
    designer, res, _ = _recorded_design(problem, budget=400, max_restarts=0, early_rounds=0)
    events = designer.events_
    revived = [k for k, (_, e) in enumerate(events) if e == "revived"]
    assert revived  # every design stalled before the budget was spent
    first = revived[0]
    back = {i for i, e in events[:first] if e == "retired"}
    stepped_again = {i for i, e in events[first:] if e.startswith("sim")}
    assert back & stepped_again  # a retired design was simulated again after coming back
    assert res.n_simulations <= 400 and len(res.rep) == 8
    # they come back again only after a simulation (a run whose lines are all stuck ends)
    starts = [k for k in revived if k == 0 or events[k - 1][1] != "revived"]
    for a, b in zip(starts, starts[1:], strict=False):
        assert _simulated_designs(events[a:b])
    # and keep coming back while that leads to simulations: the run ends with the budget
    # spent or after a return that simulated nothing
    assert res.n_simulations == 400 or not _simulated_designs(events[starts[-1]:])


@pytest.mark.parametrize("params, message", [
    ({"budget": 5}, "at least the number of designs"),
    ({"n_designs": 0}, "n_designs must be"),
    ({"refine_fraction": 0.0}, "refine_fraction must lie in"),
    ({"refine_fraction": 1.5}, "refine_fraction must lie in"),
    ({"max_restarts": -1}, "max_restarts must be"),
    ({"early_rounds": -1}, "early_rounds must be"),
    ({"early_width": 1.5}, "early_width must be"),
])
def test_bad_settings_are_one_line_errors(problem, params, message):
    with pytest.raises(ValueError, match=message):
        _design(problem, **params)


def test_bad_target_is_refused(problem):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ComposedDesigner().design(1.5, generator=LinearGenerator(), simulate=simulate,
                                  train_z=problem["z"], train_y=problem["y"],
                                  train_packed=problem["packed"], delta=0.1,
                                  surrogate=problem["surrogate"])


def test_designer_step_keeps_finished_surrogates(tmp_path, monkeypatch):
    """An interrupted designer step resumes after its finished surrogates: a rerun with the
    same configs fits none of them again (and a changed config does)."""
    import dataclasses

    from invdes.artifacts import ARTIFACTS_ENV
    from invdes.config import get_profile
    from invdes.inverse.surrogate import SurrogateEnsemble
    from invdes.study import designer_models as dm

    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path))
    fits = []
    original = SurrogateEnsemble.fit

    def counting_fit(self, z, x, y):
        fits.append(self.inputs)
        return original(self, z, x, y)

    monkeypatch.setattr(SurrogateEnsemble, "fit", counting_fit)
    z = RNG.uniform(-1, 1, (60, 4)).astype(np.float32)
    x = LinearGenerator().generate(z)
    ds = type("DS", (), {"z": z, "x": x, "y": simulate(x), "__len__": lambda self: 60})()
    smoke = get_profile("smoke")
    profile = dataclasses.replace(smoke, surrogate=dataclasses.replace(
        smoke.surrogate, kinds=("z",), max_epochs=2),
        flow=dataclasses.replace(smoke.flow, max_epochs=2))
    first = dm.train_designer_models(profile, "data-ii", ds, {"a": 1})
    second = dm.train_designer_models(profile, "data-ii", ds, {"a": 1})
    assert fits == ["z"] and second["test_rmse"] == first["test_rmse"]
    dm.train_designer_models(profile, "data-ii", ds, {"a": 2})
    assert fits == ["z", "z"]


class SteepSurrogate(LatentSurrogate):
    """The latent surrogate with its slope overstated 10^5 times: its Newton steps are far too
    short to move a single pixel."""

    def predict_tf(self, z):
        return 1e5 * super().predict_tf(z)


def test_a_step_that_moves_no_pixel_is_lengthened_not_given_up(problem):
    """Lines whose steps move no pixel fail and retire at first; once every design has stalled,
    such steps are lengthened (twice as long each time) until the image changes, and the lines
    simulate again instead of the run ending with simulations left."""
    steep = SteepSurrogate(problem["z"], problem["y"])
    designer = ComposedDesigner(n_designs=8, budget=60, n_proposals=400, lookup_k=8,
                                adjoint_starts=0, early_rounds=0)
    res = designer.design(0.6, generator=LinearGenerator(), simulate=simulate,
                          train_z=problem["z"], train_y=problem["y"],
                          train_packed=problem["packed"], delta=problem["delta"],
                          surrogate=problem["surrogate"], gradient_surrogate=steep)
    events = designer.events_
    stalled = next(k for k, (_, e) in enumerate(events) if e == "revived")
    assert not _simulated_designs(events[:stalled])  # no line moved a pixel before
    late = events[stalled:]
    unmoved = {i for i, e in late if e == "unchanged"}
    assert unmoved & set(_simulated_designs(late))  # lengthened until they simulated
    assert res.n_simulations == 60  # the whole budget goes to the lines, none is given up
    first = np.abs(simulate(LinearGenerator().generate(res.z)) - 0.6) / 0.6
    np.testing.assert_allclose(first, res.rep)


def test_a_line_never_proposes_a_step_shorter_than_one_that_moved_no_pixel():
    from invdes.inverse.designer import _Line

    line = _Line(np.zeros(4, np.float32), 0.59999, np.eye(4)[0], slope=1e5)
    assert abs(line.next_step(0.6, 0.3)) < 1e-9  # the Newton step: far too short
    line.min_move = 0.01
    assert line.next_step(0.6, 0.3) == pytest.approx(0.01)  # from the best point, same side
    line.points.append((0.05, 0.61))  # the best point stays at s = 0
    assert abs(line.next_step(0.6, 0.3)) >= 0.01 - 1e-12
    line.min_move = 1.0
    assert line.next_step(0.6, 0.3) == pytest.approx(0.3)  # never beyond max_step
