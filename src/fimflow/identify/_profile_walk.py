r"""The walk along one side of a profile likelihood: re-optimisation with one parameter held,
the step rule, retries and the refined threshold crossing (`profile_parameter` in `_profile`
walks both sides and reads the verdicts off the points; notation as there).

The profile is walked from $\hat\theta$ both ways. At each point the free parameters $\theta_r$
are re-optimised by the bounded trust region with the expected Fisher information $I$ as
curvature, warm-started on the path's tangent $\mathrm d\theta_r/\mathrm dv = -I_{rr}^{+} I_{rk}$
or at the previous point, whichever has the lower objective. The step $h$ aims at a rise of
`step_rise`$\cdot\Delta_\alpha$: by the envelope theorem the profile's slope is the gradient
component $s = \partial\mathrm{NLL}/\partial\theta_k$ at the re-optimised point, its curvature
about $c = I_{kk} - I_{kr} I_{rr}^{+} I_{rk} = 1/(I^{-1})_{kk}$, so $h$ solves
$s h + \tfrac12 c h^2 =$ target (over the last step's ratio of observed to predicted rise),
within [`min_step`, `max_step`]. A step rising by over 3 targets is retried shorter, a failed
one (twice at most) at a quarter of its length. A side stops when $\delta > \Delta_\alpha$ (the
crossing is then located by Brent's method on the re-optimised profile: a `"crossing"` point),
at the bound (`"bound"`, the point at the bound included), after `max_points` points
(`"max_points"`) or when a re-optimisation fails (`"failed"`).
"""

import dataclasses
import logging

import numpy as np

from ..fit import trust_region_minimize
from ..fit import FitOptions
from ..fit import all_finite

_log = logging.getLogger(__name__)
_RETRY_RISE = 3.0  # a step rising by more than this many targets is retried shorter
_RETRIES = 2  # a failed re-optimisation is retried this many times, each at a quarter of the step


@dataclasses.dataclass(frozen=True)
class Point:
    """A re-optimised point: all estimated parameters `x`, the objective's gradient and FIM."""

    value: float
    x: np.ndarray
    nll: float
    gradient: np.ndarray
    fim: np.ndarray
    ok: bool
    n_iterations: int


class Reoptimiser:
    """Minimises the objective over every parameter but `k`, with `k` held at a value."""

    def __init__(self, evaluate, k: int, lb: np.ndarray, ub: np.ndarray, fit: FitOptions):
        self.evaluate, self.k, self.fit = evaluate, k, fit
        self.free = np.arange(len(lb)) != k
        self.lb, self.ub = lb[self.free], ub[self.free]
        self.cache: dict[bytes, tuple] = {}

    def full(self, x: np.ndarray) -> tuple:
        """(value, gradient, FIM) at a full vector; the last few points are kept."""
        key = x.tobytes()
        if key not in self.cache:
            if len(self.cache) >= 4:
                self.cache.pop(next(iter(self.cache)))
            out = self.evaluate(x[None, :])
            self.cache[key] = tuple(np.asarray(a[0], dtype=np.float64) for a in out)
        return self.cache[key]

    def vector(self, value: float, z: np.ndarray) -> np.ndarray:
        x = np.empty(len(self.free))
        x[self.k], x[self.free] = value, z
        return x

    def __call__(self, value: float, starts) -> Point:
        """Re-optimise at `value` from the best of the start vectors `starts` (free parameters)."""
        starts = [np.clip(z, self.lb, self.ub) for z in starts]
        z0 = min(starts, key=lambda z: np.nan_to_num(float(self.full(self.vector(value, z))[0]), nan=np.inf))

        def reduced(z):
            f, g, h = self.full(self.vector(value, z))
            return f, g[self.free], h[np.ix_(self.free, self.free)]

        fit = self.fit
        out = trust_region_minimize(reduced, z0, self.lb, self.ub, max_iterations=fit.max_iterations, ftol=fit.ftol,
                                     xtol=fit.xtol, gtol=fit.gtol)
        f, g, h = self.full(x := self.vector(value, out.x))
        ok = out.status != "failed" and all_finite(f, g, h)
        if out.status == "max_iterations":
            _log.warning("profile point at %.8g: re-optimisation stopped after %d iterations", value, out.n_iterations)
        return Point(float(value), x, float(f) if ok else np.nan, g, h, ok, int(out.n_iterations))

    def tangent(self, point: Point) -> np.ndarray:
        r"""$\mathrm d\theta_r/\mathrm dv = -I_{rr}^{+} I_{rk}$ at a re-optimised point."""
        h, free = point.fim, self.free
        return -np.linalg.pinv(h[np.ix_(free, free)], rcond=1e-12, hermitian=True) @ h[free, self.k]

    def curvature(self, point: Point) -> float:
        """The profile's curvature predicted by the FIM, `1/(I^{-1})_kk` (Schur complement)."""
        h = point.fim
        return max(float(h[self.k, self.k] + h[self.k, self.free] @ self.tangent(point)), 0.0)

    def starts(self, point: Point, value: float) -> list[np.ndarray]:
        """Warm starts at `value`: along the tangent from `point`, and `point` itself."""
        z = point.x[self.free]
        return [z + (value - point.value) * self.tangent(point), z]


def _step(slope: float, curvature: float, target: float, min_h: float, max_h: float) -> float:
    """The step whose predicted rise `s h + c h^2 / 2` equals `target`, within [min_h, max_h]."""
    denominator = slope + np.sqrt(slope * slope + 2.0 * curvature * target)
    return float(np.clip(2.0 * target / denominator if denominator > 0 else np.inf, min_h, max_h))


def _advance(reopt: Reoptimiser, current: Point, direction: int, h: float, bound: float, min_h: float, target: float) -> Point:
    """The next point: a step `h` (shortened if it fails or rises too much), or the bound if within `min_h`."""
    failures = 0
    while True:
        value = current.value + direction * h if h < (bound - current.value) * direction - min_h else bound
        point = reopt(value, reopt.starts(current, value))
        rise = point.nll - current.nll
        if h > min_h and not point.ok and failures < _RETRIES:  # maybe only the step was too long
            failures, h = failures + 1, max(min_h, 0.25 * h)
        elif h > min_h and point.ok and rise > _RETRY_RISE * target:
            h = max(min_h, h * min(0.5, max(0.1, target / rise)))
        else:
            return point


def walk(reopt: Reoptimiser, optimum: Point, direction: int, threshold: float, options,
          bound: float, span: float) -> list[tuple[Point, str]]:
    """The profile points of one side, each with its status (`options`: a `ProfileOptions`)."""
    if (bound - optimum.value) * direction <= 0.0:  # the optimum is at this bound
        return [(optimum, "bound")]
    rows: list[tuple[Point, str]] = []
    current, ratio = optimum, 1.0
    target = options.step_rise * threshold
    min_h, max_h = options.min_step * span, options.max_step * span
    while len(rows) < options.max_points:
        slope, curvature = direction * float(current.gradient[reopt.k]), reopt.curvature(current)
        h = _step(slope, curvature, target / ratio, min_h, max_h)
        point = _advance(reopt, current, direction, h, bound, min_h, target)
        if not point.ok:
            return rows + [(point, "failed")]
        h, rise = abs(point.value - current.value), point.nll - current.nll
        predicted = slope * h + 0.5 * curvature * h * h
        if predicted > 1e-3 * target and rise > 0.0:
            ratio = float(np.clip(rise / predicted, 0.25, 4.0))
        if point.nll - optimum.nll > threshold:
            return rows + [(point, "ok"), _refine(reopt, current, point, optimum.nll + threshold, options.refine_tolerance)]
        rows.append((point, "bound" if point.value == bound else "ok"))
        if point.value == bound:
            return rows
        current = point
    return rows


class _TrialFailed(Exception):
    """A re-optimisation refining the crossing failed (its point is `args[0]`)."""


def _refine(reopt: Reoptimiser, inside: Point, outside: Point, level: float, tolerance: float) -> tuple[Point, str]:
    """The point where the re-optimised profile crosses `level`, by Brent's method between
    `inside` (below) and `outside` (above); each trial is a re-optimisation."""
    trials = {inside.value: inside, outside.value: outside}

    def excess(value):
        if value not in trials:
            weight = (value - inside.value) / (outside.value - inside.value)
            start = (1.0 - weight) * inside.x[reopt.free] + weight * outside.x[reopt.free]
            point = reopt(value, [start])
            if not point.ok:
                raise _TrialFailed(point)
            trials[value] = point
        return trials[value].nll - level

    from scipy.optimize import brentq  # imported where used: every job imports fimflow

    try:
        root = brentq(excess, inside.value, outside.value, xtol=tolerance, maxiter=200)
        excess(root)
    except _TrialFailed as failure:
        return failure.args[0], "failed"
    return trials[root], "crossing"
