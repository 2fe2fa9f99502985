r"""Prediction uncertainty beyond the delta method: prediction profile likelihoods.

**Prediction profile likelihood** (Kreutz, Raue and Timmer 2012, BMC Syst. Biol. 6:120) of a
prediction $g(\theta)$ (an observable or state in one condition at one time), with $f$ the
objective of the fit (NLL, plus the negative log prior when the problem has priors):
$\mathrm{PPL}(z) = \min_\theta f(\theta)$ s.t. $g(\theta) = z$. The interval at level $\alpha$
is $\{z : \mathrm{PPL}(z) - \hat f \le \chi^2_{1,\alpha}/2\}$. It follows the nonlinearity that
the delta method ($\hat g \pm z_\alpha \sqrt{\nabla g^\top I^{+} \nabla g}$, `_predict`)
linearises away; for a linear-Gaussian model and a linear prediction the two are equal.

*Penalty (validation-profile) route.* Each point minimises
$F_z(\theta) = f(\theta) + (g(\theta) - z)^2/(2\sigma_v^2)$ with the fit's bounded trust region,
curvature $I(\theta) + \nabla g\nabla g^\top/\sigma_v^2$ (expected FIM plus the Gauss–Newton term
of the penalty). If $\theta^*$ minimises $F_z$, any $\theta$ with $g(\theta) = g(\theta^*)$ has
$F_z(\theta) \ge F_z(\theta^*)$, so $f(\theta) \ge f(\theta^*)$: $(g(\theta^*), f(\theta^*))$ is
*exactly* on the profile at the achieved abscissa, whatever $\sigma_v$. The abscissa misses the
target by $g^* - z = -\sigma_v^2\,\mathrm{PPL}'(g^*)$, small for $\sigma_v \ll$ the delta-method sd.

*Walk and refinement.* The signed root $u = \sqrt{2(\mathrm{PPL} - \hat f)}$ ($|z - \hat g|/\mathrm{sd}$
when linear-Gaussian, nearly linear otherwise) has the threshold $u_\alpha = \sqrt{\chi^2_{1,\alpha}}$.
Each direction steps the target from the best fit so that $u$ grows by about $u_\alpha/4$ (slope
of the last two points; steps change by at most 4×), warm-started from the previous point,
until $u > u_\alpha$ ("crossed"), `max_points` steps ("max_points"), an abscissa `max_range`
delta-method sds from $\hat g$ without crossing ("max_range": practically unbounded on that side;
without this limit a flat side, e.g. a state free to grow by decades, walks on with ever costlier
penalised solves), or a failed solve or an abscissa that stops moving, e.g. at bounds ("failed"). A crossing is refined by the secant
method on $u$ over achieved abscissae, each target corrected by the last miss, to
$|u - u_\alpha| \le 10^{-10} u_\alpha$. Where $\nabla g = 0$, $\mathrm{PPL} = \infty$ off $\hat g$: the
interval is the point $\hat g$, both ends "crossed".

Ensemble bands over parameter vectors in the confidence region: `_ensemble`.
"""

import collections
import dataclasses
import logging
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..fit import trust_region_minimize
from ..fit import FitOptions, batch_kernel
from ..identify import eigen_analysis
from ..simulate import Objective
from .._precision import require_float64
from ._delta import PredictionSpec, check_prediction, delta_method
from ._values import check_x, value_and_ok
from ..problem import Problem
from ..identify import profile_threshold
from ..simulate import stored_call

_log = logging.getLogger(__name__)
POINT_COLUMNS = ("prediction_value", "nll", "delta", "direction", "status")
BAND_COLUMNS = ("prediction", "time", "value", "lower", "upper", "lower_end", "upper_end")
_STEPS_TO_THRESHOLD = 4  # a walk step aims at this fraction (1/4) of the signed-root threshold
_STEP_FACTOR = 4.0  # a step changes by at most this factor from the previous one
_STALL = 1e-3  # an achieved advance below this fraction of the step: the path stalls
_MAX_REFINE, _REFINE_RTOL = 30, 1e-10  # secant steps and tolerance on the signed root of a crossing
_BETTER = 1e-6  # a point this far (NLL units) below the best fit: a better optimum


@dataclasses.dataclass(frozen=True)
class PredictionProfileOptions:
    r"""Settings of a prediction profile.

    **Arguments:**
    - `level`: confidence level; the threshold on $\mathrm{PPL} - \hat f$ is
      $\chi^2_{1}(\text{level})/2$ (1.92 at 0.95: a pointwise interval, one degree of freedom).
    - `max_points`: walk steps per direction (refinement points not counted).
    - `relative_penalty`: $\sigma_v$ = this × the delta-method sd of the prediction (at least
      $10^{-9}|\hat g|$; the sd is taken as $|\hat g|$, or 1, where unbounded). Targets are then
      missed by about its square times the distance from $\hat g$; points are exact regardless.
    - `max_iterations`: trust-region iterations per point.
    - `max_range`: a side still below the threshold this many delta-method sds from $\hat g$ ends
      there ("max_range"; the quadratic picture crosses at about 2 sds).
    """

    level: float = 0.95
    max_points: int = 30
    relative_penalty: float = 1e-3
    max_iterations: int = 200
    max_range: float = 100.0

    def __post_init__(self):
        for name, valid, rule in (("level", 0.0 < self.level < 1.0, "in (0, 1)"),
                                  ("max_points", self.max_points >= 1, ">= 1"),
                                  ("relative_penalty", 0.0 < self.relative_penalty < 1.0, "in (0, 1), small (1e-3)"),
                                  ("max_iterations", self.max_iterations >= 1, ">= 1"),
                                  ("max_range", self.max_range > 0.0, "> 0 (in sds; the quadratic crossing is at 2)")):
            if not valid:
                raise ValueError(f"`{name}` must be {rule}, got {getattr(self, name)!r}.")

    @property
    def threshold(self) -> float:
        return profile_threshold(self.level)


@dataclasses.dataclass(frozen=True)
class PredictionProfile:
    """The prediction profile of one prediction at one time.

    `points`: one row per point, sorted by `prediction_value` (the achieved $g$), with `nll` (the
    objective), `delta` (`nll` minus the best fit's), `direction` ("lower", "best", "upper"),
    `status` (the optimiser's "converged", "max_iterations" or "failed"; "stalled" where the
    abscissa stopped moving; "best_fit") and one column per estimated parameter (estimation
    scale). `lower`, `upper`: the interval; an end not "crossed" is the furthest abscissa reached.
    """

    prediction: str
    time: float
    value: float
    threshold: float
    points: pd.DataFrame
    lower: float
    upper: float
    lower_end: str
    upper_end: str


_Point = collections.namedtuple("_Point", "target value nll theta status")  # value: the achieved g(theta*)


@eqx.filter_jit
def _prediction_with_gradient(objective: Objective, theta, condition, times, column):
    """Prediction at `times`, its gradient `(n_times, n_params)` and whether the solve succeeded."""
    jacobian = jax.jacfwd(lambda t: value_and_ok(objective, t, condition, times, column), has_aux=True)
    gradient, (values, ok) = jacobian(theta)
    return values, gradient, ok


def _with_gradient(setting, theta):
    return _prediction_with_gradient(setting[0], theta, *setting[1:])


class _Setting:
    """What the profiles of one problem share: the fit's trust_fim kernel (objective, gradient,
    expected FIM plus prior Hessian; jit-compiled once per problem structure), bounds, options."""

    def __init__(self, problem: Problem, objective: Objective | None, options: PredictionProfileOptions):
        require_float64()
        self.problem, self.options = problem, options
        self.objective = objective or Objective.from_problem(problem)
        self.kernel = batch_kernel(self.objective, FitOptions())  # traced programs kept between jobs
        self.lower, self.upper = problem.parameters.bounds()

    def evaluate(self, x):  # objective, gradient and curvature at one point
        return tuple(np.asarray(a, dtype=np.float64)[0] for a in self.kernel(np.asarray(x)[None, :]))

    def prediction(self, spec: PredictionSpec, time: float) -> Callable:
        """`theta -> (g, gradient of g, ok)` of `spec` at `time`; `ValueError` if either is unknown."""
        column = check_prediction(self.problem, spec)
        if float(time) not in [float(t) for t in spec.times]:
            raise ValueError(f"prediction `{spec.id}`: time {time!r} is not one of its `times` {list(spec.times)}.")
        args = (self.problem.condition_ids.index(spec.condition), jnp.asarray([float(time)]), column)

        def predict(theta):
            values, gradient, ok = stored_call(_with_gradient, (self.objective, *args), theta)
            value = float(values[0])
            return value, np.asarray(gradient[0], dtype=np.float64), bool(ok) and np.isfinite(value)

        return predict


class _Path:
    """The penalised solves of one prediction profile around the best fit `centre`."""

    def __init__(self, setting: _Setting, prediction: Callable, centre: _Point, sigma: float, reach: float):
        self.setting, self.prediction, self.centre, self.sigma, self.reach = setting, prediction, centre, sigma, reach
        self.u_alpha = float(np.sqrt(2.0 * setting.options.threshold))

    def u(self, point: _Point) -> float:
        """The signed root's size $\\sqrt{2(f - \\hat f)}$ (0 below the best fit)."""
        return float(np.sqrt(2.0 * max(point.nll - self.centre.nll, 0.0)))

    def solve(self, target: float, x0: np.ndarray) -> _Point:
        """Minimise $F_z$ from `x0`; a failed solve or optimisation is a point with status "failed"."""
        last = {}

        def penalised(x):
            value, gradient, fim = self.setting.evaluate(x)
            g, dg, ok = self.prediction(x)
            last.update(x=x, value=value, g=g if ok else np.nan)
            r = (last["g"] - target) / self.sigma
            return value + 0.5 * r**2, gradient + (r / self.sigma) * dg, fim + np.outer(dg, dg) / self.sigma**2

        s = self.setting

        def fit(start):
            return trust_region_minimize(penalised, start, s.lower, s.upper, max_iterations=s.options.max_iterations,
                                         ftol=1e-12, xtol=1e-12, gtol=1e-12)

        try:
            out = fit(x0)
            if out.status == "max_iterations":  # once more from there, with a fresh radius and secant estimate
                out = fit(out.x)
        except np.linalg.LinAlgError as error:
            _log.warning("the penalised fit at target %.10g failed: %s", target, error)
            return _Point(target, np.nan, np.nan, np.asarray(x0), "failed")
        if not np.array_equal(last["x"], out.x):
            penalised(out.x)
        if out.status == "failed" or not np.isfinite(last["value"] + last["g"]):
            return _Point(target, np.nan, np.nan, out.x, "failed")
        return _Point(target, last["g"], last["value"], out.x, out.status)

    def walk(self, step: float, direction: int):
        """Points from the best fit in one direction: `(points, end value, end status)`."""
        points, previous = [], self.centre
        for _ in range(self.setting.options.max_points):
            point = self.solve(previous.value + direction * step, previous.theta)
            if point.status == "failed":
                return points + [point], previous.value, "failed"
            advance = direction * (point.value - previous.value)
            if advance < _STALL * step:
                end = max(previous.value, point.value, key=lambda v: direction * v)
                return points + [point._replace(status="stalled")], end, "failed"
            points.append(point)
            if self.u(point) > self.u_alpha:
                bound, refined = self.refine(previous, point, direction)
                return points + refined, bound, "crossed"
            if abs(point.value - self.centre.value) >= self.reach:
                return points, point.value, "max_range"
            slope = (self.u(point) - self.u(previous)) / advance
            wanted = self.u_alpha / _STEPS_TO_THRESHOLD / slope if slope > 0 else _STEP_FACTOR * step
            step = float(np.clip(wanted, step / _STEP_FACTOR, _STEP_FACTOR * step))
            previous = point
        return points, previous.value, "max_points"

    def crossing(self, inside: _Point, outside: _Point) -> float:
        """Where the secant of the signed root through the two points reaches the threshold."""
        u_in, u_out = self.u(inside), self.u(outside)
        return inside.value + (self.u_alpha - u_in) * (outside.value - inside.value) / (u_out - u_in)

    def refine(self, inside: _Point, outside: _Point, direction: int):
        """Secant steps on the signed root from a point inside and one outside: (crossing, new points)."""
        new, miss = [], outside.target - outside.value
        for _ in range(_MAX_REFINE):
            if min(abs(self.u(p) - self.u_alpha) for p in (inside, outside)) <= _REFINE_RTOL * self.u_alpha:
                break
            root = self.crossing(inside, outside)
            nearer = min((inside, outside), key=lambda p: abs(self.u(p) - self.u_alpha))
            point = self.solve(root + miss, nearer.theta)
            new.append(point)
            if point.status != "converged":  # its objective is not the profile's there: nothing to refine on
                _log.warning("refining the crossing near %.10g: the penalised fit %s; the interpolated crossing is "
                             "kept", root, "failed" if point.status == "failed" else "did not converge")
                break
            miss = point.target - point.value
            if self.u(point) <= self.u_alpha and direction * (point.value - inside.value) > 0:
                inside = point
            elif self.u(point) > self.u_alpha and direction * (point.value - outside.value) < 0:
                outside = point
        return self.crossing(inside, outside), new


def _points_frame(points, directions, parameter_ids, best: float) -> pd.DataFrame:
    rows = [[p.value, p.nll, p.nll - best, d, p.status, *map(float, p.theta)] for p, d in zip(points, directions)]
    frame = pd.DataFrame(rows, columns=[*POINT_COLUMNS, *parameter_ids])
    return frame.sort_values("prediction_value", kind="stable", na_position="last").reset_index(drop=True)


def _profile(setting: _Setting, spec: PredictionSpec, time: float, x_best) -> PredictionProfile:
    prediction = setting.prediction(spec, time)
    x_best, ids, threshold = check_x(setting.problem, x_best), setting.problem.parameter_ids, setting.options.threshold
    value, _, fim = setting.evaluate(x_best)
    g, dg, ok = prediction(x_best)
    failed = not (ok and np.isfinite(value) and np.all(np.isfinite(fim)))
    centre = _Point(g, g, float(value), x_best, "failed" if failed else "best_fit")
    if failed or not np.any(dg):  # a failed solve, or PPL = inf off g (the interval is the point g)
        g, end = (np.nan, "failed") if failed else (g, "crossed")
        _log.log(logging.WARNING if failed else logging.INFO, "prediction profile of `%s` at t = %g: %s", spec.id, time,
                 "the solve fails at `x_best`" if failed else "the prediction does not depend on the parameters")
        return PredictionProfile(spec.id, float(time), g, threshold, _points_frame([centre], ["best"], ids, centre.nll),
                                 g, g, end, end)
    variance = float(delta_method(dg[None, :], eigen_analysis(fim, ids))[0][0])
    sd = np.sqrt(variance) if np.isfinite(variance) and variance > 0 else (abs(g) or 1.0)
    path = _Path(setting, prediction, centre, setting.options.relative_penalty * max(sd, 1e-9 * abs(g)),
                 setting.options.max_range * sd)
    step = sd * path.u_alpha / _STEPS_TO_THRESHOLD
    (below, lower, lower_end), (above, upper, upper_end) = path.walk(step, -1), path.walk(step, 1)
    directions = ["best"] + ["lower"] * len(below) + ["upper"] * len(above)
    frame = _points_frame([centre, *below, *above], directions, ids, centre.nll)
    if frame["delta"].min() < -_BETTER:
        at = frame.loc[frame["delta"].idxmin()]
        _log.warning("prediction profile of `%s` at t = %g found a better optimum: objective %.10g, %.3g below the "
                     "best fit, at %s; refit from there", spec.id, time, at["nll"], -at["delta"], dict(at[list(ids)]))
    _log.info("prediction profile of `%s` at t = %g: %.6g in [%.6g (%s), %.6g (%s)], %d points", spec.id, time, g,
              lower, lower_end, upper, upper_end, len(frame))
    return PredictionProfile(spec.id, float(time), g, threshold, frame, lower, upper, lower_end, upper_end)


def prediction_profile(
    problem: Problem, spec: PredictionSpec, time: float, x_best, *, objective: Objective | None = None,
    options: PredictionProfileOptions = PredictionProfileOptions(),
) -> PredictionProfile:
    """Prediction profile likelihood of `spec` at `time` (Kreutz et al. 2012) by the penalty
    route (see the module notes).

    **Arguments:**
    - `spec`, `time`: the prediction (an observable or state in one condition), one of its times.
    - `x_best`: the best fit (estimation scale), the profile's centre and reference objective.
    - Other arguments: `objective`, the compiled problem (default
      `Objective.from_problem(problem)`); `options`, `PredictionProfileOptions`.

    **Returns:** `PredictionProfile`. A solve that fails at `x_best` gives NaN ends, both "failed".

    **Raises:** `ValueError` for an unknown condition, observable or state, a `time` not in
    `spec.times`, or an `x_best` of the wrong shape or outside the bounds.
    """
    return _profile(_Setting(problem, objective, options), spec, time, x_best)


def prediction_profile_bands(
    problem: Problem, specs, x_best, *, objective: Objective | None = None,
    options: PredictionProfileOptions = PredictionProfileOptions(), times=None,
) -> pd.DataFrame:
    """Prediction-profile intervals of every prediction at each of its times (one profile each,
    one compiled kernel for all).

    **Arguments:** as `prediction_profile`, with `specs` a list of `PredictionSpec`; `times`
    (optional) restricts every prediction to those of its times in this list.

    **Returns:** DataFrame with prediction, time, value, lower, upper, lower_end, upper_end
    (to set beside the delta-method bands of `prediction_bands`, same prediction and time).

    **Raises:** as `prediction_profile`; `ValueError` if a time in `times` belongs to no prediction.
    """
    setting = _Setting(problem, objective, options)
    known = {float(t) for spec in specs for t in spec.times}
    wanted = known if times is None else {float(t) for t in np.atleast_1d(times)}
    if wanted - known:
        raise ValueError(f"`times` {sorted(wanted - known)} belong to no prediction; pick times of their `times`.")
    profiles = (_profile(setting, spec, t, x_best) for spec in specs for t in sorted(wanted.intersection(spec.times)))
    return pd.DataFrame([[getattr(p, c) for c in BAND_COLUMNS] for p in profiles], columns=list(BAND_COLUMNS))

