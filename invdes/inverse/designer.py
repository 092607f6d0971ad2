"""The composed designer: propose many latents, rank them with a forward surrogate, keep new and
different structures, simulate them, then refine each one along a line, checked by the RCWA.

The modular recipe of Ren et al. (2020, 2022: propose, filter with a learned forward model,
refine, verify), on the GAN's latent space:

1. **Proposals** z (P, d): samples of the conditional flow p(z | y*), of the GAN-MDN, latents of
   the look-up's nearest training samples jittered by ``lookup_jitter``, and the neural-adjoint
   descent of the best of them (:func:`invdes.inverse.adjoint.neural_adjoint`).
2. **Ranking** by the surrogate ensemble: score = (|mean - y*| + ``uncertainty_weight`` * std) / y*.
3. **Novelty and diversity**: in score order, keep a design only when its binary image is at
   least ``delta`` (fraction of pixels) from every training image and ``delta / 2`` from every
   design kept before (:mod:`invdes.inverse.novelty`).
4. **Simulation** of the ``ceil(oversample * n_designs)`` kept designs, best score first. The
   first ``early_designs`` are simulated alone, then the ``early_width`` best of them take
   ``early_rounds`` refinement steps (step 5) before the rest of the batch is simulated: a
   design near the target exists after a few dozen simulations, not only once the whole first
   batch has been simulated (the early part of the r_T curve; a user who stops early).
5. **Refinement** until the simulation budget is spent: each design moves along the surrogate's
   gradient direction g / |g| in z; the step along that line comes from the simulated residual
   (Newton with the surrogate's slope |g| first, then secant steps on the simulated points,
   regula falsi once the target is bracketed). A step is taken only when the new image keeps
   the novelty and diversity rules; the design keeps its best simulated point. Each round
   steps the worst ``refine_fraction`` of the ``n_designs`` best designs, worst first, and
   the ``polish_best`` best of them; designs within ``rep_floor`` stop (once all of them are
   within it, simulations left go to a ten times lower floor). A step whose image was
   simulated before costs no simulation: the line learns that point's absorption for free and
   counts a failure, as does a step that moves no pixel (the next one is longer). A design
   that keeps failing after ``max_restarts`` new directions is retired, and the next-best
   spare of the first batch takes its place; when no design is left to step and simulations
   are, the retired ones come back for one more direction each (again only after a
   simulation, at most ``_MAX_REVIVALS`` times), then the floor falls. From then on a step
   that moves no pixel is lengthened, twice as long each time, and counts a failure only once
   it would exceed ``max_step``: lines near their target propose ever shorter steps, which
   would otherwise end the run with simulations left.
6. **Verification**: every returned absorption is an RCWA result. The answer is picked from
   every simulated structure (initial designs and every refinement step, each of which met the
   rules when it was made): new ones (>= ``delta``) first, lowest REP first, each at least
   ``delta / 2`` from those picked before (one line may contribute two designs when its
   points lie far enough apart), unless the lines' own best points, diverse by construction,
   have the lower mean REP (``pick_`` says which set was returned).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from invdes.inverse import novelty as nv

__all__ = ["ComposedDesigner", "DesignerResult", "surrogate_gradient"]


@dataclass
class DesignerResult:
    """The designs of one target, best REP first."""

    target: float
    z: np.ndarray  # (n, d) float32
    images: np.ndarray  # (n, h, w) uint8
    absorption: np.ndarray  # (n,) simulated
    rep: np.ndarray  # (n,) |A - target| / target
    novelty: np.ndarray  # (n,) distance to the nearest training image, fraction of pixels
    simulations: np.ndarray  # (n,) RCWA simulations spent on the line that produced each design
    source: np.ndarray  # (n,) str: "flow", "mdn", "lookup" or "adjoint"
    trace: np.ndarray  # (n_simulations,) best REP after each simulation
    delta: float
    n_simulations: int
    timings_s: dict = field(default_factory=dict)

    @property
    def min_pairwise(self) -> float:
        """Smallest distance between two returned designs (fraction of pixels)."""
        if len(self.images) < 2:
            return float("nan")
        d = nv.pairwise_distance(nv.pack(self.images))
        return float(d[~np.eye(len(d), dtype=bool)].min())


def surrogate_gradient(surrogate, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (n,), d mean / d z (n, d)) of a latent surrogate (``inputs == "z"``)."""
    import tensorflow as tf

    zt = tf.convert_to_tensor(np.asarray(z, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(zt)
        pred = surrogate.predict_tf(zt)
        total = tf.reduce_sum(pred)
    grad = tape.gradient(total, zt)
    return pred.numpy().astype(np.float64), grad.numpy().astype(np.float64)


@dataclass
class _Simulated:
    """One simulated structure of the pool that the final pick chooses from."""

    z: np.ndarray  # (d,)
    image: np.ndarray  # (h, w) uint8
    absorption: float
    novelty: float
    source: str
    design: int  # the design (line) it belongs to


#: failed steps along one direction before a design turns (or, past max_restarts, retires)
_FAILURES_PER_DIRECTION = 3

#: the lowest REP floor the refinement goes down to when simulations are left (about the
#: RCWA's round-off in a band-averaged absorption)
_LOWEST_FLOOR = 1e-10

#: how often the retired designs may come back when simulations are left and no other design
#: can be stepped (each time for one more new direction); they come back only when something
#: was simulated since they last did, so a run whose lines are all stuck still ends
_MAX_REVIVALS = 100


def _keys(packed: nv.PackedImages) -> list[bytes]:
    """One hashable key per bit-packed image: its words' bytes."""
    return [row.tobytes() for row in packed.words]


class _Line:
    """The search of one design along z0 + s * u (u a unit vector): simulated points (s, y)."""

    def __init__(self, z0, y0, direction, slope, restarts: int = 0):
        self.z0, self.u, self.slope = z0, direction, max(float(slope), 1e-3)
        self.points = [(0.0, float(y0))]
        self.failures = 0
        self.restarts = restarts  # new directions taken after repeated failures
        self.scale = 1.0  # multiplies the next step after one that came too close
        #: a step from the line's best point shorter than this left the image unchanged
        #: (doubled after each such step, kept for the line: its pixel scale along s)
        self.min_move = 0.0

    def best_s(self, target: float) -> float:
        """Where on the line the point nearest the target lies (the design's own image)."""
        return min(self.points, key=lambda p: abs(p[1] - target))[0]

    def next_step(self, target: float, s_max: float) -> float:
        pts = sorted(self.points)
        below = [p for p in pts if p[1] < target]
        above = [p for p in pts if p[1] >= target]
        if below and above:  # bracketed: regula falsi between the closest points on each side
            # the closest value on each side; among equal values (a repeated image) the point
            # nearest the other side, so that the bracket narrows in s
            (s_b, y_b) = min(above, key=lambda p: p[1])
            (s_a, y_a) = max(below, key=lambda p: (p[1], -abs(p[0] - s_b)))
            (s_b, y_b) = min(above, key=lambda p: (p[1], abs(p[0] - s_a)))
            s = (s_a + (target - y_a) * (s_b - s_a) / (y_b - y_a) if y_b != y_a
                 else 0.5 * (s_a + s_b))
        elif len(pts) >= 2:  # secant through the two points nearest the target
            (s_a, y_a), (s_b, y_b) = sorted(pts, key=lambda p: abs(p[1] - target))[:2]
            slope = (y_b - y_a) / (s_b - s_a) if s_b != s_a else self.slope
            slope = slope if abs(slope) > 1e-6 else self.slope
            s_best = min(pts, key=lambda p: abs(p[1] - target))
            s = s_best[0] + (target - s_best[1]) / slope
        else:
            s = (target - pts[0][1]) / self.slope
        s *= self.scale
        if self.min_move > 0.0:  # no shorter than a step that moved no pixel
            anchor = self.best_s(target)
            if abs(s - anchor) < self.min_move:
                s = anchor + (self.min_move if s >= anchor else -self.min_move)
        return float(np.clip(s, -s_max, s_max))

    def z_at(self, s: float) -> np.ndarray:
        return np.clip(self.z0 + s * self.u, -1.0, 1.0).astype(np.float32)


class ComposedDesigner:
    """Many new, different designs for one target within a budget of RCWA simulations.

    Parameters (stored only):
        n_designs: designs returned.
        budget: RCWA simulations allowed in all (initial batch and refinement).
        n_proposals: proposals drawn before ranking (flow half, MDN and look-up a quarter each).
        lookup_k: nearest training samples (by |y - target|) whose latents seed proposals.
        lookup_jitter: standard deviation of the Gaussian jitter of those latents.
        adjoint_starts, adjoint_steps: neural-adjoint descents from the best-ranked proposals.
        uncertainty_weight: weight of the ensemble std in the ranking score.
        oversample: designs simulated first per design returned (spares for the final pick).
        rep_floor: a design whose REP is below it is not refined further while others are
            above it; once every design in contention is within it, the floor falls tenfold
            (down to 1e-10) so that a run with simulations left keeps improving.
        refine_fraction: share of the designs in contention (the ``n_designs`` best by
            simulated REP) stepped per round, worst first: the budget goes where the mean and
            the maximum REP can still fall.
        max_restarts: new directions a design may take after repeated failures before it is
            retired, leaving its place to the next-best spare design.
        polish_best: the best designs (lowest REP, above ``rep_floor``) stepped every round as
            well, so that the best design keeps improving (the r_T curve) while the budget
            mostly goes to the worse ones.
        early_designs, early_rounds, early_width: the first ``early_designs`` of the first
            batch are simulated before the rest, then their ``early_width`` best take up to
            ``early_rounds`` line steps (``early_rounds = 0``: the whole batch first).
        max_step: largest |s| of one line step (latent units).
        novelty_margin: the first designs are at least ``novelty_margin * delta`` from every
            training image (refined ones at least ``delta``), so that they have room to move.
        seed: seeds the proposals.
    """

    def __init__(self, n_designs: int = 30, budget: int = 200, n_proposals: int = 2000,
                 lookup_k: int = 32, lookup_jitter: float = 0.15, adjoint_starts: int = 128,
                 adjoint_steps: int = 60, uncertainty_weight: float = 1.0,
                 oversample: float = 1.6, rep_floor: float = 1e-5,
                 refine_fraction: float = 0.25, max_restarts: int = 1,
                 polish_best: int = 0, early_designs: int = 8, early_rounds: int = 3,
                 early_width: int = 2,
                 max_step: float = 0.3, novelty_margin: float = 1.1, seed: int = 0):
        self.n_designs = n_designs
        self.budget = budget
        self.n_proposals = n_proposals
        self.lookup_k = lookup_k
        self.lookup_jitter = lookup_jitter
        self.adjoint_starts = adjoint_starts
        self.adjoint_steps = adjoint_steps
        self.uncertainty_weight = uncertainty_weight
        self.oversample = oversample
        self.rep_floor = rep_floor
        self.refine_fraction = refine_fraction
        self.max_restarts = max_restarts
        self.polish_best = polish_best
        self.early_designs = early_designs
        self.early_rounds = early_rounds
        self.early_width = early_width
        self.max_step = max_step
        self.novelty_margin = novelty_margin
        self.seed = seed

    def _check(self, target: float) -> None:
        if not (math.isfinite(target) and 0.0 < target < 1.0):
            raise ValueError(f"target must be an absorption strictly between 0 and 1; got {target}")
        for name in ("n_designs", "budget", "n_proposals", "lookup_k"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a whole number >= 1; got {v!r}")
        if not (0.0 < float(self.refine_fraction) <= 1.0):
            raise ValueError(f"refine_fraction must lie in (0, 1]; got {self.refine_fraction!r}")
        for name in ("max_restarts", "polish_best", "early_designs", "early_rounds",
                     "early_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 0:
                raise ValueError(f"{name} must be a whole number >= 0; got {v!r}")
        if self.budget < self.n_designs:
            raise ValueError(f"the budget ({self.budget} simulations) must be at least the "
                             f"number of designs ({self.n_designs}): every design is simulated")

    # -- 1. proposals ---------------------------------------------------------------------
    def propose(self, target: float, *, train_z, train_y, flow=None, mdn=None, surrogate,
                gradient_surrogate=None) -> tuple[np.ndarray, np.ndarray]:
        """(z (P, d) float32, source (P,) str) of the proposals."""
        rng = np.random.default_rng([int(self.seed), int(round(target * 1e4))])
        parts, sources = [], []
        n = int(self.n_proposals)
        if flow is not None:
            parts.append(flow.sample(target, n // 2, seed=int(rng.integers(2**31))))
            sources.append("flow")
        if mdn is not None:
            parts.append(np.clip(mdn.sample_latents(target, n // 4,
                                                    seed=int(rng.integers(2**31))), -1, 1))
            sources.append("mdn")
        near = np.argsort(np.abs(np.asarray(train_y) - target), kind="stable")[: self.lookup_k]
        n_look = max(n - sum(len(p) for p in parts), n // 4)
        base = np.asarray(train_z)[near[rng.integers(len(near), size=n_look)]]
        parts.append(np.clip(base + self.lookup_jitter * rng.standard_normal(base.shape), -1, 1))
        sources.append("lookup")
        z = np.concatenate(parts).astype(np.float32)
        src = np.concatenate([np.full(len(p), s) for p, s in zip(parts, sources, strict=True)])
        if gradient_surrogate is not None and self.adjoint_starts > 0:
            from invdes.inverse.adjoint import neural_adjoint

            # the descent's own (latent) surrogate picks its starts: the best-scored proposals
            mean, std = gradient_surrogate.predict(z, None)
            order = np.argsort(np.abs(mean - target) + self.uncertainty_weight * std,
                               kind="stable")
            res = neural_adjoint(gradient_surrogate, target, init=z[order[: self.adjoint_starts]],
                                 n_steps=int(self.adjoint_steps), seed=int(self.seed))
            z = np.concatenate([z, res.z.astype(np.float32)])
            src = np.concatenate([src, np.full(len(res.z), "adjoint")])
        return z, src

    # -- the whole design -----------------------------------------------------------------
    def design(self, target: float, *, generator, simulate: Callable[[np.ndarray], np.ndarray],
               train_z, train_y, train_packed: nv.PackedImages, delta: float, surrogate,
               gradient_surrogate=None, flow=None, mdn=None,
               progress: Callable[[int, int], None] | None = None) -> DesignerResult:
        """Designs for ``target``: see the module docstring.

        generator: latents -> binary images (``.generate``); simulate: images -> absorption
        (the RCWA of the data set's stack); train_*: the data set (latents, absorption, packed
        images); delta: the novelty distance; surrogate: a fitted
        :class:`~invdes.inverse.surrogate.SurrogateEnsemble` (ranking); gradient_surrogate: one
        with ``inputs == "z"`` (line directions and the neural adjoint; default ``surrogate``
        when it reads z); flow, mdn: proposal models (either may be None).
        """
        target = float(target)
        self._check(target)
        if gradient_surrogate is None and surrogate.inputs == "z":
            gradient_surrogate = surrogate
        timings = {"proposal_s": 0.0, "surrogate_s": 0.0, "simulation_s": 0.0,
                   "refinement_s": 0.0}
        trace: list[float] = []
        running_best = [math.inf]  # the lowest REP simulated so far

        def run_sim(images: np.ndarray) -> np.ndarray:
            t0 = time.perf_counter()
            y = np.asarray(simulate(images), np.float64)
            timings["simulation_s"] += time.perf_counter() - t0
            for v in np.abs(y - target) / target:
                running_best[0] = min(running_best[0], float(v))
                trace.append(running_best[0])
            if progress is not None:
                progress(len(trace), int(self.budget))
            return y

        t0 = time.perf_counter()
        z, src = self.propose(target, train_z=train_z, train_y=train_y, flow=flow, mdn=mdn,
                              surrogate=surrogate, gradient_surrogate=gradient_surrogate)
        timings["proposal_s"] = time.perf_counter() - t0

        # 2-3. rank every proposal, then keep new and different designs in score order
        t0 = time.perf_counter()
        n_first = min(int(self.budget), math.ceil(self.oversample * self.n_designs))
        all_images = None
        if surrogate.inputs == "z":
            mean, std = surrogate.predict(z, None)
        else:  # every proposal's image, so that the image surrogate ranks them all at once
            all_images = np.concatenate([np.asarray(generator.generate(z[i : i + 512]), np.uint8)
                                         for i in range(0, len(z), 512)])
            mean, std = surrogate.predict(z, all_images)
        order = np.argsort((np.abs(mean - target) + self.uncertainty_weight * std) / target,
                           kind="stable")
        kept_z, kept_img, kept_src, kept_nov = [], [], [], []
        block = max(4 * n_first, 256)
        # novelty with room to move first; then plain novelty; as a last resort (no proposal
        # is new: say, tiny data) the most distant proposals, which the answer's novelty shows
        for min_new, min_pair in ((self.novelty_margin * delta, delta / 2), (delta, delta / 2),
                                  (0.0, 0.0)):
            taken = {tuple(v) for v in kept_z}
            for i in range(0, len(order), block):
                if len(kept_z) >= n_first:
                    break
                idx = np.asarray([j for j in order[i : i + block]
                                  if tuple(z[j]) not in taken], dtype=np.int64)
                if len(idx) == 0:
                    continue
                images = (all_images[idx] if all_images is not None
                          else np.asarray(generator.generate(z[idx]), np.uint8))
                packed = nv.pack(images)
                nov = nv.nearest_distance(packed, train_packed)
                new = np.flatnonzero(nov >= min_new)
                if min_new == 0.0:
                    new = new[np.argsort(-nov[new], kind="stable")]
                chosen = nv.pack(np.asarray(kept_img)) if kept_img else None
                pick = nv.greedy_diverse(new, packed, min_pair, n_first - len(kept_z), chosen)
                for j in pick:
                    kept_z.append(z[idx[j]])
                    kept_img.append(images[j])
                    kept_src.append(src[idx[j]])
                    kept_nov.append(nov[j])
            if len(kept_z) >= n_first:
                break
        timings["surrogate_s"] = time.perf_counter() - t0
        dz = np.asarray(kept_z, np.float32)
        dimg = np.asarray(kept_img, np.uint8)
        dnov = np.asarray(kept_nov, np.float64)
        dsim = np.ones(len(dz), np.int64)
        dy = np.full(len(dz), np.nan)  # simulated absorption (NaN: not simulated yet)
        # every simulated structure that met the rules when it was made, for the final pick
        pool: list[_Simulated] = []
        # every simulated image (bit-packed bytes) -> its absorption: a step whose image was
        # simulated before costs no simulation (a line search on a rough y(z) often lands on
        # an image it has already seen, e.g. when its bracket straddles a jump)
        seen: dict[bytes, float] = {}
        lines: list[_Line | None] = [None] * len(dz)
        self.events_ = []  # (design, outcome) of every refinement step, for diagnosis
        rng = np.random.default_rng([int(self.seed), 7])
        refine_s = [0.0]  # wall time of the line steps, their simulations excluded
        endgame = [False]  # set once no design was left to step with simulations left

        def simulate_designs(idx: np.ndarray) -> None:
            if len(idx) == 0:
                return
            dy[idx] = run_sim(dimg[idx])
            seen.update(zip(_keys(nv.pack(dimg[idx])), dy[idx].tolist(), strict=True))
            pool.extend(_Simulated(dz[i].copy(), dimg[i].copy(), float(dy[i]), float(dnov[i]),
                                   kept_src[i], int(i)) for i in idx)

        def step(focus: list[int]) -> None:
            """One line step of each design in ``focus`` (simulated ones)."""
            t_step, sim_s = time.perf_counter(), timings["simulation_s"]
            fresh = [i for i in focus
                     if lines[i] is None or lines[i].failures >= _FAILURES_PER_DIRECTION]
            if fresh:
                _, grad = surrogate_gradient(gradient_surrogate, dz[fresh])
                for i, g in zip(fresh, grad, strict=True):
                    norm = float(np.linalg.norm(g))
                    u = g / norm if norm > 0 else np.zeros_like(g)
                    if lines[i] is not None:  # a restart: turn the direction at random
                        u = u + 0.7 * rng.standard_normal(u.shape) / math.sqrt(len(u))
                    u = u / max(float(np.linalg.norm(u)), 1e-12)
                    restarts = 0 if lines[i] is None else lines[i].restarts + 1
                    lines[i] = _Line(dz[i].copy(), dy[i], u, norm, restarts)
            steps, step_z = [], []
            for i in focus:
                s = lines[i].next_step(target, self.max_step)
                steps.append((i, s))
                step_z.append(lines[i].z_at(s))
            images = np.asarray(generator.generate(np.asarray(step_z)), np.uint8)
            packed = nv.pack(images)
            nov = nv.nearest_distance(packed, train_packed)
            # distance of each step's image to every current design (its own excluded below)
            to_designs = nv.cross_distance(packed, nv.pack(dimg))  # (steps, designs)
            valid = []
            keys = _keys(packed)
            for k, (i, s) in enumerate(steps):
                others = np.delete(to_designs[k], i)
                far = bool(others.min() >= delta / 2) if len(others) else True
                unchanged = np.array_equal(images[k], dimg[i])
                new_enough = nov[k] >= min(delta, dnov[i])  # never less new than it was
                if new_enough and far and not unchanged and keys[k] in seen:
                    # an image simulated before: its absorption is known, the line learns
                    # the point for free, and the step counts as a failure (no progress)
                    lines[i].points.append((s, seen[keys[k]]))
                    lines[i].failures += 1
                    self.events_.append((i, "repeat"))
                    continue
                self.events_.append((i, "ok" if new_enough and far and not unchanged else
                                     "unchanged" if unchanged else
                                     "near-train" if not new_enough else "near-design"))
                if new_enough and far and not unchanged:
                    valid.append(k)
                elif unchanged and endgame[0]:  # no pixel moved, and every design has
                    # stalled once: the next step is at least twice as long, a failure only
                    # once it cannot grow (a line near its target proposes ever shorter steps,
                    # which would otherwise end the run with simulations left)
                    move = abs(s - lines[i].best_s(target))
                    lines[i].min_move = max(2.0 * move, 2.0 * lines[i].min_move, 1e-4)
                    if lines[i].min_move > self.max_step:
                        lines[i].failures += 1
                else:  # rejected without a simulation: a longer step when no pixel moved,
                    lines[i].failures += 1  # a shorter one when it came too close
                    lines[i].scale *= 2.0 if unchanged else 0.5
            if valid:
                ys = run_sim(images[valid])
                seen.update(zip([keys[k] for k in valid], ys.tolist(), strict=True))
                for k, y in zip(valid, ys, strict=True):
                    i, s = steps[k]
                    lines[i].points.append((s, float(y)))
                    self.events_.append((i, f"sim s={s:+.4f} y={y:.5f}"))
                    dsim[i] += 1
                    pool.append(_Simulated(step_z[k], images[k].copy(), float(y),
                                           float(nov[k]), kept_src[i], i))
                    lines[i].scale = 1.0
                    if abs(y - target) < abs(dy[i] - target):
                        dz[i], dimg[i], dy[i], dnov[i] = step_z[k], images[k], y, nov[k]
                        lines[i].failures = 0
                    else:
                        lines[i].failures += 1
            refine_s[0] += time.perf_counter() - t_step - (timings["simulation_s"] - sim_s)

        # 4. simulate the kept designs (best score first): the first few, a few line steps on
        # the best of them, then the rest of the batch
        n_early = min(int(self.early_designs), len(dz)) if self.early_rounds > 0 else 0
        simulate_designs(np.arange(n_early))
        if gradient_surrogate is not None and n_early > 0:
            for _ in range(int(self.early_rounds)):
                spare = int(self.budget) - len(trace) - (len(dz) - n_early)
                rep = np.abs(dy[:n_early] - target) / target
                best_first = [int(i) for i in np.argsort(rep, kind="stable")
                              if rep[i] > self.rep_floor]
                focus = best_first[: min(int(self.early_width), spare)]
                if not focus:
                    break
                step(focus)
        simulate_designs(np.arange(n_early, len(dz)))

        # 5. refinement along lines, checked by the RCWA
        retired = np.zeros(len(dz), bool)
        floor, revivals, revived_at = float(self.rep_floor), 0, -1
        # the loop ends: a step that simulates nothing adds a failure to its line (or, late,
        # doubles its shortest step up to max_step), failures retire designs, and the retired
        # come back only after a simulation; the floor falls at most to _LOWEST_FLOOR
        while len(trace) < self.budget and gradient_surrogate is not None:
            rep = np.abs(dy - target) / target
            # the designs in contention: the n_designs best of those not retired
            ranked = [int(i) for i in np.argsort(rep, kind="stable") if not retired[i]]
            focus = [i for i in ranked[: self.n_designs] if rep[i] > floor]
            if not focus:  # simulations are left, but no design to step: rather than stop,
                endgame[0] = True  # steps that move no pixel grow from now on
                if (retired.any() and revivals < _MAX_REVIVALS
                        and len(trace) > revived_at):
                    # the retired designs come back, each for one more new direction, as
                    # long as the last time they did led to a simulation
                    revivals, revived_at = revivals + 1, len(trace)
                    for i in np.flatnonzero(retired).tolist():
                        lines[i].failures = _FAILURES_PER_DIRECTION
                        lines[i].restarts = int(self.max_restarts) - 1  # one more turn
                        self.events_.append((i, "revived"))
                    retired[:] = False
                elif ranked and floor > _LOWEST_FLOOR:
                    floor /= 10.0  # every design in contention is within the floor: lower it
                else:
                    break
                continue
            share = sorted(focus, key=lambda i: -rep[i])  # worst first
            share = share[: math.ceil(float(self.refine_fraction) * len(share))]
            polished = [i for i in focus[: int(self.polish_best)] if i not in share]
            focus = (polished + share)[: int(self.budget) - len(trace)]
            stalled = [i for i in focus if lines[i] is not None
                       and lines[i].failures >= _FAILURES_PER_DIRECTION
                       and lines[i].restarts >= self.max_restarts]
            if stalled:  # retired: the next-best spare takes its place in the next round
                retired[stalled] = True
                self.events_.extend((i, "retired") for i in stalled)
                focus = [i for i in focus if not retired[i]]
                if not focus:
                    continue
            step(focus)
        timings["refinement_s"] = refine_s[0]  # the line steps' images and novelty checks

        # 6. the best designs, verified: the lowest-REP simulated structures of the whole pool
        # (a line may contribute two points far enough apart), pairwise >= delta / 2 apart
        pool_rep = np.asarray([abs(p.absorption - target) / target for p in pool])
        pool_nov = np.asarray([p.novelty for p in pool])
        packed = nv.pack(np.asarray([p.image for p in pool], np.uint8))
        order = np.lexsort((pool_rep, pool_nov < delta))  # new ones first, then by REP
        greedy = nv.greedy_diverse(order, packed, delta / 2, int(self.n_designs))
        # the lines' own best points are diverse by construction; a greedy pick by REP can lose
        # to them (one good point may block two lines' best), so keep the better of the two
        # sets by mean REP, the lines' when tied
        line_best: dict[int, int] = {}  # design (line) -> pool index of its lowest REP
        for j, p in enumerate(pool):
            if p.design not in line_best or pool_rep[j] < pool_rep[line_best[p.design]]:
                line_best[p.design] = j
        own = sorted(line_best.values(), key=lambda j: pool_rep[j])[: int(self.n_designs)]
        use_pool = (len(greedy) == len(own)
                    and pool_rep[greedy].mean() < pool_rep[own].mean())
        self.pick_ = "pool" if use_pool else "lines"
        top = sorted(greedy if use_pool else own, key=lambda j: pool_rep[j])
        pick = [pool[j] for j in top]
        return DesignerResult(
            target=target, z=np.asarray([p.z for p in pick], np.float32),
            images=np.asarray([p.image for p in pick], np.uint8),
            absorption=np.asarray([p.absorption for p in pick]), rep=pool_rep[top],
            novelty=pool_nov[top], simulations=dsim[[p.design for p in pick]],
            source=np.asarray([p.source for p in pick]), trace=np.asarray(trace),
            delta=float(delta), n_simulations=len(trace), timings_s=timings)
