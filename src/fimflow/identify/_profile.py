r"""Profile likelihoods (Raue et al. 2009, Bioinformatics 25:1923): one parameter held at a value,
all the others re-optimised.

The profile of $\theta_k$ (estimation scale) is $\mathrm{PL}_k(v) = \min_{\theta:\,\theta_k = v}
\mathrm{NLL}(\theta)$, $\delta_k(v) = \mathrm{PL}_k(v) - \mathrm{NLL}(\hat\theta)$, and the
likelihood-ratio confidence interval of level $1-\alpha$ is $\{v : \delta_k(v) \le \Delta_\alpha\}$,
$\Delta_\alpha = \tfrac12\chi^2_{1-\alpha}(\mathrm{df})$ with `df` = 1 (pointwise, 1.92 at 95 %) or
the number of estimated parameters (simultaneous).

The profile is walked from $\hat\theta$ both ways by `_profile_walk` (steps, warm starts, re-optimisations,
how a side ends).

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

from ..fit import FitOptions, batch_kernel
from ..simulate import Objective
from .._precision import require_float64
from ..problem import Problem
from ._profile_verdict import ENDS, SUMMARY_COLUMNS, VERDICTS, ProfileEnd, profile_summary  # noqa: F401 (re-exported)
from ._profile_verdict import others_at_bound, side_end, side_flat, side_limited, verdict
from ._profile_walk import Point, Reoptimiser, walk
from ..fit import all_finite

_log = logging.getLogger(__name__)
POINT_COLUMNS = ("value", "nll", "delta", "direction", "status", "n_iterations", "others_at_bound",
                 "bound_parameters")
STATUSES = ("optimum", "ok", "crossing", "bound", "failed")


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
    lower_end: ProfileEnd
    upper_end: ProfileEnd
    lower_flat: bool
    upper_flat: bool
    verdict: str
    better_nll: float | None

    @property
    def estimate(self) -> float:
        """The profiled parameter at the optimum (estimation scale)."""
        return float(self.points.loc[self.points["direction"] == 0, "value"].iloc[0])


def _table(rows: list[tuple[Point, str, int]], optimum_nll: float, parameter_ids, bounds: tuple, k: int) -> pd.DataFrame:
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
    reopt = Reoptimiser(evaluate or batch_kernel(objective, options.fit), k, lb, ub, options.fit)
    f, g, h = reopt.full(x_best)
    if not all_finite(f, g, h):
        raise ValueError(f"the objective is not finite at `x_best` (value {float(f)}); pass a successful fit.")
    optimum = Point(float(x_best[k]), x_best, float(f), g, h, True, 0)
    threshold = profile_threshold(options.level, problem.n_params, options.simultaneous)
    span = float(ub[k] - lb[k])
    rows = [(optimum, "optimum", 0)]
    for direction, bound in ((-1, lb[k]), (1, ub[k])):
        side = walk(reopt, optimum, direction, threshold, options, float(bound), span)
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
