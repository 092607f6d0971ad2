"""Designs certified against an accurate judge, refined where simulation is cheap.

The study judge (m = 4, a fraction of a second per image) is off the converged absorption by a
few hundredths, differently for each image; the certified judge is accurate to its u but costs
ten to thirty times more. :class:`Certifier` bridges the two for designs already refined at the
study judge:

1. every design is simulated by the certified judge; its offset
   d = A_certified - A_study is taken to hold near the design;
2. a design whose certified REP is above ``rep_goal`` moves, at the study judge, towards the
   shifted goal target - d: a line search along the latent surrogate's gradient direction
   (a Newton step with the surrogate's slope, then secant steps on the simulated points), at
   most ``line_steps`` study simulations, keeping the novelty and diversity rules;
3. the point reached is certified; from then on the design moves along the same line by the
   certified points themselves (regula falsi once they bracket the target, else the secant
   through the two nearest it), one certified simulation per round: the certified response
   along a line is much flatter than the study judge's, so a fixed offset undershoots;
4. each design keeps its best certified point; rounds repeat ``rounds`` times (or until every
   design meets ``rep_goal``).

Every returned absorption is a certified-judge result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from invdes.inverse import novelty as nv

__all__ = ["CertifiedDesigns", "Certifier"]


@dataclass
class CertifiedDesigns:
    """Designs ranked by certified REP (best first); arrays of length n."""

    target: float
    z: np.ndarray  # (n, d) float32
    images: np.ndarray  # (n, h, w) uint8
    absorption: np.ndarray  # (n,) certified judge
    absorption_study: np.ndarray  # (n,) study judge, same images
    rep: np.ndarray  # (n,) |absorption - target| / target
    novelty: np.ndarray  # (n,) distance to the nearest training image, fraction of pixels
    simulations_study: np.ndarray  # (n,) study-judge simulations spent here on each design
    simulations_certified: np.ndarray  # (n,) certified-judge simulations of each design
    order: np.ndarray  # (n,) index of each design in the input
    timings_s: dict = field(default_factory=dict)


@dataclass
class _Point:
    z: np.ndarray
    image: np.ndarray
    a_study: float
    a_cert: float = float("nan")


class Certifier:
    """Parameters (stored only): ``rounds`` of certification after the first, ``line_steps``
    study simulations per design and round, ``rep_goal`` (a design within it stops),
    ``max_step`` (largest latent step along a line)."""

    def __init__(self, rounds: int = 3, line_steps: int = 4, rep_goal: float = 0.004,
                 max_step: float = 0.6):
        self.rounds = rounds
        self.line_steps = line_steps
        self.rep_goal = rep_goal
        self.max_step = max_step

    def certify(self, target: float, z, images, absorption_study, *, generator,
                simulate_study: Callable, simulate_certified: Callable, gradient: Callable,
                train_packed: nv.PackedImages, delta: float,
                progress: Callable[[int], None] | None = None) -> CertifiedDesigns:
        """Certified designs for ``target`` from study-judge designs (z (n, d), images
        (n, h, w), their study absorption (n,)).

        generator: latents -> binary images (``.generate``); simulate_study /
        simulate_certified: images (k, h, w) -> absorption (k,); gradient: latents (k, d) ->
        (predicted absorption (k,), its gradient (k, d)), e.g. a latent surrogate's
        (:func:`invdes.inverse.designer.surrogate_gradient`); train_packed, delta: the novelty
        rule's training images and distance; progress: called with the number of certified
        simulations after each batch."""
        t0 = time.perf_counter()
        best = [_Point(np.asarray(zi, np.float32), im, float(a))
                for zi, im, a in zip(z, images, absorption_study, strict=True)]
        sims = {"study": np.zeros(len(best), int), "certified": np.zeros(len(best), int)}
        self._certify_points(best, range(len(best)), simulate_certified, sims)
        if progress is not None:
            progress(int(sims["certified"].sum()))
        offsets = [[p.a_cert - p.a_study] for p in best]  # every certified point's offset
        lines: dict[int, tuple] = {}  # design -> (origin z, direction, [(s, A_certified)])
        for _ in range(int(self.rounds)):
            open_ = [i for i, p in enumerate(best) if abs(p.a_cert - target) / target
                     > self.rep_goal]
            if not open_:
                break
            on_line = {i: lines[i] for i in open_ if i in lines}
            moved = (self._certified_steps(target, on_line, best, generator, simulate_study,
                                           train_packed, delta, sims) if on_line else {})
            # no certified line yet, or none that gives a step: a walk at the study judge
            goals = {i: target - float(np.mean(offsets[i])) for i in open_ if i not in moved}
            if goals:
                for i, (point, u, s) in self._walk(goals, best, generator, simulate_study,
                                                   gradient, train_packed, delta,
                                                   sims).items():
                    lines[i] = (best[i].z, u, [(0.0, best[i].a_cert)])
                    moved[i] = (point, s)
            points = {i: p for i, (p, _) in moved.items()}
            self._certify_points(points, list(points), simulate_certified, sims)
            if progress is not None:
                progress(int(sims["certified"].sum()))
            for i, (p, s) in moved.items():
                offsets[i].append(p.a_cert - p.a_study)
                lines[i][2].append((s, p.a_cert))
                if abs(p.a_cert - target) < abs(best[i].a_cert - target):
                    best[i] = p
        return _result(target, best, sims, train_packed, time.perf_counter() - t0)

    @staticmethod
    def _certify_points(points, idx, simulate_certified, sims) -> None:
        idx = list(idx)
        if not idx:
            return
        values = np.asarray(simulate_certified(np.stack([points[i].image for i in idx])))
        for i, v in zip(idx, values, strict=True):
            points[i].a_cert = float(v)
            sims["certified"][i] += 1

    def _walk(self, goals, best, generator, simulate_study, gradient, train_packed, delta,
              sims) -> dict[int, _Point]:
        """Line searches at the study judge towards each open design's goal (the target less
        the mean offset of its certified points); returns {design: the point nearest its
        goal} for the designs that moved."""
        open_ = list(goals)
        zs = np.stack([best[i].z for i in open_]).astype(np.float32)
        _, grad = gradient(zs)
        slope = np.maximum(np.linalg.norm(grad, axis=1), 1e-3)
        lines = {i: (g / s, s, [(0.0, best[i].a_study, best[i])])
                 for i, g, s in zip(open_, grad, slope, strict=True)}
        scale = dict.fromkeys(open_, 1.0)  # halved after a step that broke the rules
        for _ in range(int(self.line_steps)):
            steps = {i: self._next_s(lines[i], goals[i]) for i in lines}
            steps = {i: s * scale[i] for i, s in steps.items() if s is not None}
            if not steps:
                break
            steps = self._flip_a_pixel(steps, lines, best, generator)
            cand = {i: np.clip(best[i].z + s * lines[i][0], -1, 1).astype(np.float32)
                    for i, s in steps.items()}
            if not cand:
                break
            keep = self._admissible(cand, generator, best, train_packed, delta)
            for i in set(cand) - set(keep):
                scale[i] *= 0.5  # too close to a training image or another design
            if not keep:
                continue
            values = np.asarray(simulate_study(np.stack([img for _, img in keep.values()])))
            for (i, (zi, img)), v in zip(keep.items(), values, strict=True):
                sims["study"][i] += 1
                lines[i][2].append((steps[i], float(v), _Point(zi, img, float(v))))
        moved = {}
        for i, (u, _, pts) in lines.items():
            s, _, point = min(pts, key=lambda p: abs(p[1] - goals[i]))
            if s != 0.0:
                moved[i] = (point, u, s)
        return moved

    def _certified_steps(self, target, lines, best, generator, simulate_study, train_packed,
                         delta, sims) -> dict:
        """One step per design along its line, from its certified points: regula falsi once
        they bracket the target, else the secant through the two nearest it. Returns
        {design: (point, s)} of the admissible steps, simulated by the study judge."""
        steps = {}
        for i, (_, _, pts) in lines.items():
            s = _secant(pts, target, self.max_step)
            if s is not None and not any(abs(s - p[0]) < 1e-6 for p in pts):
                steps[i] = s
        cand = {i: np.clip(lines[i][0] + s * lines[i][1], -1, 1).astype(np.float32)
                for i, s in steps.items()}
        keep = self._admissible(cand, generator, best, train_packed, delta) if cand else {}
        keep = {i: v for i, v in keep.items() if not np.array_equal(v[1], best[i].image)}
        if not keep:
            return {}
        values = np.asarray(simulate_study(np.stack([img for _, img in keep.values()])))
        out = {}
        for (i, (zi, img)), v in zip(keep.items(), values, strict=True):
            sims["study"][i] += 1
            out[i] = (_Point(zi, img, float(v)), steps[i])
        return out

    def _next_s(self, line, goal: float) -> float | None:
        """The next step along a line: Newton with the surrogate's slope from the start, then
        secant through the two points nearest the goal; None once within the study goal."""
        _, slope, pts = line
        near = sorted(pts, key=lambda p: abs(p[1] - goal))
        if abs(near[0][1] - goal) <= 0.25 * self.rep_goal * goal:
            return None
        if len(near) == 1:
            s = (goal - near[0][1]) / slope
        else:
            (s_a, y_a, _), (s_b, y_b, _) = near[:2]
            sec = (y_b - y_a) / (s_b - s_a) if s_b != s_a else slope
            sec = sec if abs(sec) > 1e-6 else slope
            s = s_a + (goal - y_a) / sec
        s = float(np.clip(s, -self.max_step, self.max_step))
        return None if any(abs(s - p[0]) < 1e-6 for p in pts) else s

    def _flip_a_pixel(self, steps: dict, lines: dict, best, generator) -> dict:
        """Steps lengthened (doubled, at most to ``max_step``) until their image differs from
        the design's; a step that cannot flip a pixel is dropped."""
        out = {}
        for i, s in steps.items():
            u, base = lines[i][0], best[i].image
            while True:
                z = np.clip(best[i].z + s * u, -1, 1).astype(np.float32)[None]
                if not np.array_equal(generator.generate(z)[0], base):
                    out[i] = s
                    break
                if abs(s) >= self.max_step:
                    break
                s = float(np.clip(2 * s, -self.max_step, self.max_step))
        return out

    @staticmethod
    def _admissible(cand, generator, best, train_packed, delta) -> dict:
        """{design: (z, image)} of the candidate steps that keep the rules: at least ``delta``
        from every training image and ``delta / 2`` from every other design."""
        idx = list(cand)
        images = np.asarray(generator.generate(np.stack([cand[i] for i in idx])), np.uint8)
        packed = nv.pack(images)
        new_enough = nv.nearest_distance(packed, train_packed) >= delta
        others = nv.cross_distance(packed, nv.pack(np.stack([p.image for p in best])))
        out = {}
        for k, i in enumerate(idx):
            row = np.delete(others[k], i)
            if new_enough[k] and (row.size == 0 or row.min() >= delta / 2):
                out[i] = (cand[i], images[k])
        return out


def _secant(pts, target: float, max_step: float) -> float | None:
    """The next s on a line of certified points [(s, A)]: regula falsi between the nearest
    points on each side of the target, else the secant through the two nearest it (None with
    fewer than two points or a flat secant)."""
    if len(pts) < 2:
        return None
    below = [p for p in pts if p[1] < target]
    above = [p for p in pts if p[1] >= target]
    if below and above:
        (s_a, y_a), (s_b, y_b) = max(below, key=lambda p: p[1]), min(above, key=lambda p: p[1])
    else:
        (s_a, y_a), (s_b, y_b) = sorted(pts, key=lambda p: abs(p[1] - target))[:2]
    if s_a == s_b or abs(y_b - y_a) < 1e-9:
        return None
    s = s_a + (target - y_a) * (s_b - s_a) / (y_b - y_a)
    return float(np.clip(s, -max_step, max_step))


def _result(target, best, sims, train_packed, seconds) -> CertifiedDesigns:
    a = np.array([p.a_cert for p in best])
    rep = np.abs(a - target) / target
    order = np.argsort(rep, kind="stable")
    images = np.stack([best[i].image for i in order])
    return CertifiedDesigns(
        target=target, z=np.stack([best[i].z for i in order]), images=images,
        absorption=a[order], absorption_study=np.array([best[i].a_study for i in order]),
        rep=rep[order], novelty=nv.nearest_distance(nv.pack(images), train_packed),
        simulations_study=sims["study"][order], simulations_certified=sims["certified"][order],
        order=order, timings_s={"certification_s": seconds})
