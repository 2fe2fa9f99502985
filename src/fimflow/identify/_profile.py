r"""Profile likelihoods (Raue et al. 2009, Bioinformatics 25:1923): one parameter held at a value,
all the others re-optimised.

The profile of $\theta_k$ (estimation scale) is $\mathrm{PL}_k(v) = \min_{\theta:\,\theta_k = v}
\mathrm{NLL}(\theta)$, $\delta_k(v) = \mathrm{PL}_k(v) - \mathrm{NLL}(\hat\theta)$, and the
likelihood-ratio confidence interval of level $1-\alpha$ is $\{v : \delta_k(v) \le \Delta_\alpha\}$,
$\Delta_\alpha = \tfrac12\chi^2_{1-\alpha}(\mathrm{df})$ with `df` = 1 (pointwise, 1.92 at 95 %) or
the number of estimated parameters (simultaneous).

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

Each point records `others_at_bound`, how many of the other estimated parameters sit at a
bound (within 1e-9 times their bound range). A structurally non-identifiable parameter has a flat
profile (Raue et al. 2009); with bounds, a parameter dragged along the flat direction may meet
its bound, and from there the NLL rises because of the bound, not the data (one-compartment
PK with D, V and CL estimated: the (1, 1, 1) direction on log10 scale until CL reaches 100).
That bound ends the flat stretch, not the non-identifiability. A side is *flat* when all its
points from the optimum up to (excluding) the first whose `others_at_bound` exceeds the
optimum's have $|\delta| <$ `flat_tolerance`, at least one of them beyond the optimum, and
either another parameter's bound ends the stretch or the side ends at its own bound or after
`max_points`. Verdicts: both sides flat: structurally non-identifiable (the bounds stay what
the crossings say); both sides crossed and neither flat: identifiable; otherwise practically
non-identifiable (`_profile_verdict`).
"""

import dataclasses
import logging

import numpy as np
import pandas as pd

from ..fit import _trust_region
from ..fit._multistart import FitOptions, batch_kernel
from ..simulate._objective import Objective
from .._precision import require_float64
from ..problem._problem import Problem
from ._profile_verdict import ENDS, SUMMARY_COLUMNS, VERDICTS, profile_summary  # noqa: F401 (re-exported)
from ._profile_verdict import others_at_bound, side_end, side_flat, side_limited, verdict
from ..fit._trust_region import _finite

_log = logging.getLogger(__name__)
POINT_COLUMNS = ("value", "nll", "delta", "direction", "status", "n_iterations", "others_at_bound",
                 "bound_parameters")
STATUSES = ("optimum", "ok", "crossing", "bound", "failed")
_RETRY_RISE = 3.0  # a step rising by more than this many targets is retried shorter
_RETRIES = 2  # a failed re-optimisation is retried this many times, each at a quarter of the step


def profile_threshold(level: float = 0.95, n_params: int = 1, simultaneous: bool = False) -> float:
    r"""The NLL rise bounding a profile-likelihood confidence region, $\tfrac12\chi^2_{\mathrm{level}}
    (\mathrm{df})$; `df` = 1 (pointwise) or `n_params` (simultaneous); 1.9207 for 0.95 and df 1.

    **Raises:** `ValueError` when `level` is not in (0, 1) or `n_params` < 1.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
    if n_params < 1:
        raise ValueError(f"`n_params` must be >= 1, got {n_params!r}.")
    from scipy.special import chdtri  # (scipy.stats takes 0.7 s to import, in every job)

    return float(chdtri(n_params if simultaneous else 1, 1.0 - level) / 2.0)


@dataclasses.dataclass(frozen=True)
class ProfileOptions:
    """How a profile is walked.

    **Arguments:**
    - `level`, `simultaneous`: confidence level and kind of the threshold (`profile_threshold`).
    - `max_points`: profile points per direction (not counting the refined crossing).
    - `max_step`, `min_step`: largest and smallest step, as fractions of the parameter's bound
      range on the estimation scale (0.1 of log10 bounds [-5, 5] is one decade).
    - `step_rise`: the NLL rise each step aims at, a fraction of the threshold (Raue: 1/10..1/5).
    - `flat_tolerance`: a side whose |NLL - optimum| stays below this is flat (module notes).
    - `refine_tolerance`: the threshold crossing is located to this (estimation scale).
    - `fit`: the re-optimisations' tolerances (method `"trust_fim"`).
    """

    level: float = 0.95
    simultaneous: bool = False
    max_points: int = 50
    max_step: float = 0.1
    min_step: float = 1e-6
    step_rise: float = 0.2
    flat_tolerance: float = 1e-3
    refine_tolerance: float = 1e-10
    fit: FitOptions = FitOptions()

    def __post_init__(self):
        for ok, message in (
            (0.0 < self.level < 1.0, f"`level` must be in (0, 1), got {self.level!r}."),
            (self.max_points >= 1, f"`max_points` must be >= 1, got {self.max_points!r}."),
            (0.0 < self.min_step <= self.max_step, f"need 0 < `min_step` <= `max_step`, got {self.min_step!r}, {self.max_step!r}."),
            (0.0 < self.step_rise < 1.0, f"`step_rise` must be in (0, 1), got {self.step_rise!r}."),
            (self.flat_tolerance >= 0.0, f"`flat_tolerance` must be >= 0, got {self.flat_tolerance!r}."),
            (self.refine_tolerance > 0.0, f"`refine_tolerance` must be > 0, got {self.refine_tolerance!r}."),
            (self.fit.method == "trust_fim", f"profiles re-optimise with `fit.method` 'trust_fim', got {self.fit.method!r}."),
        ):
            if not ok:
                raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class ProfileResult:
    """The profile of one parameter: its points and what they say (see `summarise_profile`).

    `points`, one row per point sorted by value: `value` (estimation scale), `nll` (the
    objective, with the negative log prior if any), `delta` (`nll - optimum_nll`), `direction`
    (-1, 0 at the optimum, +1), `status` (`STATUSES`), `n_iterations`, `others_at_bound` (how
    many other estimated parameters sit at a bound), then the re-optimised vector, one column
    per estimated parameter. `lower`/`upper`: confidence bounds (-inf/+inf where a side does
    not cross); `lower_end`/`upper_end`: how each side stopped (`ENDS`); `lower_flat`/
    `upper_flat`: whether a side is flat (module notes; a flat side may still cross, once
    another parameter's bound ends its flat stretch); `better_nll`: the lowest NLL below the
    optimum's (beyond round-off), or None.
    """

    parameter_id: str
    points: pd.DataFrame
    optimum_nll: float
    threshold: float
    flat_tolerance: float
    lower: float
    upper: float
    lower_end: str
    upper_end: str
    lower_flat: bool
    upper_flat: bool
    verdict: str
    better_nll: float | None

    @property
    def estimate(self) -> float:
        """The profiled parameter at the optimum (estimation scale)."""
        return float(self.points.loc[self.points["direction"] == 0, "value"].iloc[0])


@dataclasses.dataclass(frozen=True)
class _Point:
    """A re-optimised point: all estimated parameters `x`, the objective's gradient and FIM."""

    value: float
    x: np.ndarray
    nll: float
    gradient: np.ndarray
    fim: np.ndarray
    ok: bool
    n_iterations: int


class _Reoptimiser:
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

    def __call__(self, value: float, starts) -> _Point:
        """Re-optimise at `value` from the best of the start vectors `starts` (free parameters)."""
        starts = [np.clip(z, self.lb, self.ub) for z in starts]
        z0 = min(starts, key=lambda z: np.nan_to_num(float(self.full(self.vector(value, z))[0]), nan=np.inf))

        def reduced(z):
            f, g, h = self.full(self.vector(value, z))
            return f, g[self.free], h[np.ix_(self.free, self.free)]

        fit = self.fit
        out = _trust_region.minimize(reduced, z0, self.lb, self.ub, max_iterations=fit.max_iterations, ftol=fit.ftol,
                                     xtol=fit.xtol, gtol=fit.gtol)
        f, g, h = self.full(x := self.vector(value, out.x))
        ok = out.status != "failed" and _finite(f, g, h)
        if out.status == "max_iterations":
            _log.warning("profile point at %.8g: re-optimisation stopped after %d iterations", value, out.n_iterations)
        return _Point(float(value), x, float(f) if ok else np.nan, g, h, ok, int(out.n_iterations))

    def tangent(self, point: _Point) -> np.ndarray:
        r"""$\mathrm d\theta_r/\mathrm dv = -I_{rr}^{+} I_{rk}$ at a re-optimised point."""
        h, free = point.fim, self.free
        return -np.linalg.pinv(h[np.ix_(free, free)], rcond=1e-12, hermitian=True) @ h[free, self.k]

    def curvature(self, point: _Point) -> float:
        """The profile's curvature predicted by the FIM, `1/(I^{-1})_kk` (Schur complement)."""
        h = point.fim
        return max(float(h[self.k, self.k] + h[self.k, self.free] @ self.tangent(point)), 0.0)

    def starts(self, point: _Point, value: float) -> list[np.ndarray]:
        """Warm starts at `value`: along the tangent from `point`, and `point` itself."""
        z = point.x[self.free]
        return [z + (value - point.value) * self.tangent(point), z]


def _step(slope: float, curvature: float, target: float, min_h: float, max_h: float) -> float:
    """The step whose predicted rise `s h + c h^2 / 2` equals `target`, within [min_h, max_h]."""
    denominator = slope + np.sqrt(slope * slope + 2.0 * curvature * target)
    return float(np.clip(2.0 * target / denominator if denominator > 0 else np.inf, min_h, max_h))


def _advance(reopt: _Reoptimiser, current: _Point, direction: int, h: float, bound: float, min_h: float, target: float) -> _Point:
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


def _walk(reopt: _Reoptimiser, optimum: _Point, direction: int, threshold: float, options: ProfileOptions,
          bound: float, span: float) -> list[tuple[_Point, str]]:
    """The profile points of one side, each with its status."""
    if (bound - optimum.value) * direction <= 0.0:  # the optimum is at this bound
        return [(optimum, "bound")]
    rows: list[tuple[_Point, str]] = []
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


def _refine(reopt: _Reoptimiser, inside: _Point, outside: _Point, level: float, tolerance: float) -> tuple[_Point, str]:
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


def _table(rows: list[tuple[_Point, str, int]], optimum_nll: float, parameter_ids, bounds: tuple, k: int) -> pd.DataFrame:
    at_bound = [others_at_bound(p.x, k, *bounds, parameter_ids) for p, _, _ in rows]
    records = [(p.value, p.nll, p.nll - optimum_nll, direction, status, p.n_iterations, len(list(filter(None, b.split(",")))),
                b, *(float(v) for v in p.x)) for (p, status, direction), b in zip(rows, at_bound)]
    return pd.DataFrame.from_records(records, columns=[*POINT_COLUMNS, *parameter_ids])


def _check_arguments(problem: Problem, parameter: str, x_best) -> tuple[int, np.ndarray]:
    ids = problem.parameter_ids
    if parameter not in ids:
        raise ValueError(f"`parameter` {parameter!r} is not an estimated parameter of {problem.id!r}; estimated: {list(ids)}.")
    x = np.asarray(x_best, dtype=np.float64)
    if x.shape != (len(ids),):
        raise ValueError(f"`x_best` must have shape ({len(ids)},) (one value per estimated parameter, in the order of "
                         f"`problem.parameter_ids`), got shape {x.shape}.")
    bad = [pid for pid, v, lo, hi in zip(ids, x, *problem.parameters.bounds()) if not lo <= v <= hi]
    if bad:
        raise ValueError(f"`x_best` is not finite or outside the bounds (estimation scale) for {bad}; pass the best fit.")
    return ids.index(parameter), x


def profile_parameter(problem: Problem, parameter: str, x_best, *, objective: Objective | None = None,
                      options: ProfileOptions = ProfileOptions(), evaluate=None) -> ProfileResult:
    """The profile likelihood of `parameter`, walked from the best fit in both directions.

    See the module notes. A failed ODE solve ends its side with a `"failed"` point, never an
    exception; an NLL below the optimum's (a better fit) is logged as a WARNING (`better_nll`).

    **Arguments:**
    - `parameter`: id of an estimated parameter of `problem`.
    - `x_best`: the best fit, estimation scale, in the order of `problem.parameter_ids`.
    - `objective`: the compiled problem (default `Objective.from_problem(problem)`).
    - `options`: `ProfileOptions`.

    Other arguments:
    - `evaluate`: `batch_kernel(objective, options.fit)`, to share one compiled kernel
      between the profiles of several parameters (default: built here).

    **Returns:** `ProfileResult`.

    **Raises:** `ValueError` for an unknown parameter, an `x_best` of the wrong length, out of
    bounds or where the objective is not finite.
    """
    require_float64()
    k, x_best = _check_arguments(problem, parameter, x_best)
    objective = objective or Objective.from_problem(problem)
    lb, ub = problem.parameters.bounds()
    reopt = _Reoptimiser(evaluate or batch_kernel(objective, options.fit), k, lb, ub, options.fit)
    f, g, h = reopt.full(x_best)
    if not _finite(f, g, h):
        raise ValueError(f"the objective is not finite at `x_best` (value {float(f)}); pass a successful fit.")
    optimum = _Point(float(x_best[k]), x_best, float(f), g, h, True, 0)
    threshold = profile_threshold(options.level, problem.n_params, options.simultaneous)
    span = float(ub[k] - lb[k])
    rows = [(optimum, "optimum", 0)]
    for direction, bound in ((-1, lb[k]), (1, ub[k])):
        side = _walk(reopt, optimum, direction, threshold, options, float(bound), span)
        rows += [(point, status, direction) for point, status in side]
        _log.info("profile %s, direction %+d: %d points, last %s", parameter, direction, len(side), side[-1][1])
    points = _table(rows, optimum.nll, problem.parameter_ids, (lb, ub), k)
    result = summarise_profile(points, parameter, optimum.nll, threshold, options.flat_tolerance)
    if result.better_nll is not None:
        best = points.loc[points["nll"].idxmin()]
        _log.warning("profile of %s found a better fit: %s = %.8g has NLL %.8f < optimum %.8f; refit from there",
                     parameter, parameter, best["value"], best["nll"], optimum.nll)
    return result


def summarise_profile(points: pd.DataFrame, parameter_id: str, optimum_nll: float, threshold: float,
                      flat_tolerance: float) -> ProfileResult:
    """A `ProfileResult` from its points table (as written by a profile job and read back).

    A side ends `"crossed"` if it has a `"crossing"` point (its value is the confidence bound),
    else `"bound"`, `"failed"` or `"max_points"` in that order (bound -inf/+inf). Whether each
    side is flat and the verdict follow the module notes. `delta` is recomputed from `nll` and
    `optimum_nll`.

    **Raises:** `ValueError` for a missing column, an unknown status or not one optimum row.
    """
    missing = [c for c in POINT_COLUMNS if c not in points.columns]
    if missing:
        raise ValueError(f"profile points of {parameter_id!r} lack column(s) {missing}; need {list(POINT_COLUMNS)}.")
    unknown = sorted(set(points["status"]) - set(STATUSES))
    if unknown:
        raise ValueError(f"profile points of {parameter_id!r} have unknown status(es) {unknown}; known: {list(STATUSES)}.")
    if int(np.sum(points["direction"] == 0)) != 1:
        raise ValueError(f"profile points of {parameter_id!r} need exactly one optimum row (direction 0).")
    bound = points["bound_parameters"]  # read back as NaN where no parameter is at a bound
    points = points.assign(delta=points["nll"] - optimum_nll,
                           bound_parameters=bound.astype(object).where(bound.notna(), "").astype(str))
    points = points.sort_values(["value", "direction"], kind="stable").reset_index(drop=True)
    (lower_end, lower), (upper_end, upper) = side_end(points, -1), side_end(points, 1)
    lower_flat = side_flat(points, -1, lower_end, flat_tolerance)
    upper_flat = side_flat(points, 1, upper_end, flat_tolerance)
    limited = side_limited(points, -1), side_limited(points, 1)
    lowest = float(np.nanmin(points["nll"].to_numpy(dtype=np.float64)))
    better = lowest if lowest < optimum_nll - 1e-6 * (1.0 + abs(optimum_nll)) else None
    return ProfileResult(
        parameter_id=parameter_id, points=points, optimum_nll=float(optimum_nll), threshold=float(threshold),
        flat_tolerance=float(flat_tolerance), lower=lower, upper=upper, lower_end=lower_end, upper_end=upper_end,
        lower_flat=lower_flat, upper_flat=upper_flat, verdict=verdict(lower_end, upper_end, lower_flat, upper_flat, *limited),
        better_nll=better,
    )
