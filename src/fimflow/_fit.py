"""Multistart maximum likelihood: Latin-hypercube starts, local optimisation, one row per start."""

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.stats.qmc

from ._objective import Objective
from ._precision import require_float64
from ._problem import Problem

METHODS = ("trf", "lbfgsb")


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Local optimiser settings.

    **Arguments:**
    - `method`: `"trf"` (scipy's trust-region reflective least squares on the residuals with
      the exact forward-sensitivity Jacobian, as Data2Dynamics does; normal noise only) or
      `"lbfgsb"` (L-BFGS-B on the NLL with its exact gradient; any noise model). Problems with
      Laplace noise always use `"lbfgsb"`.
    - `max_iterations`: function evaluations (trf) or iterations (lbfgsb) per start.
    - `ftol`, `xtol`, `gtol`: stopping tolerances passed to scipy.
    """

    method: str = "trf"
    max_iterations: int = 1000
    ftol: float = 1e-10
    xtol: float = 1e-10
    gtol: float = 1e-10

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}.")
        if self.max_iterations < 1:
            raise ValueError(f"`max_iterations` must be >= 1, got {self.max_iterations}.")


@dataclasses.dataclass(frozen=True)
class MultistartResult:
    """Result of a multistart fit, one entry per start (leading axis `n_starts`)."""

    parameter_ids: tuple[str, ...]
    start_index: np.ndarray
    x0: np.ndarray
    x: np.ndarray
    nll: np.ndarray
    status: tuple[str, ...]
    message: tuple[str, ...]
    n_iterations: np.ndarray
    time_s: np.ndarray

    @property
    def n_starts(self) -> int:
        return len(self.start_index)

    def best(self) -> int:
        """Position of the start with the lowest finite NLL; raises if every start failed."""
        finite = np.isfinite(self.nll)
        if not finite.any():
            raise RuntimeError(
                f"All {self.n_starts} starts failed; first status: {self.status[0]!r} "
                f"({self.message[0]}). Check bounds, solver tolerances and `max_steps`."
            )
        return int(np.argmin(np.where(finite, self.nll, np.inf)))

    def sorted(self) -> "MultistartResult":
        order = np.argsort(np.where(np.isfinite(self.nll), self.nll, np.inf), kind="stable")
        return _take(self, order)


def _take(result: MultistartResult, order) -> MultistartResult:
    fields = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if f.name == "parameter_ids":
            fields[f.name] = value
        elif isinstance(value, tuple):
            fields[f.name] = tuple(value[i] for i in order)
        else:
            fields[f.name] = value[order]
    return MultistartResult(**fields)


def concatenate(results) -> MultistartResult:
    """Gather the shards of one multistart (same parameters) into one result, by start index."""
    results = list(results)
    ids = results[0].parameter_ids
    for r in results:
        if r.parameter_ids != ids:
            raise ValueError(f"shards disagree on parameter ids: {r.parameter_ids} vs {ids}.")
    merged = {}
    for f in dataclasses.fields(MultistartResult):
        if f.name == "parameter_ids":
            merged[f.name] = ids
        elif f.name in ("status", "message"):
            merged[f.name] = tuple(v for r in results for v in getattr(r, f.name))
        else:
            merged[f.name] = np.concatenate([getattr(r, f.name) for r in results])
    out = MultistartResult(**merged)
    return _take(out, np.argsort(out.start_index, kind="stable"))


def latin_hypercube_starts(problem: Problem, n_starts: int, *, seed: int) -> np.ndarray:
    """`n_starts` start points on the estimation scale, a Latin hypercube within the bounds.

    The same `seed` gives the same points whatever the sharding, so shard `k` of a study can
    take rows of this array without communicating with the others.
    """
    if n_starts < 1:
        raise ValueError(f"`n_starts` must be >= 1, got {n_starts}.")
    lb, ub = problem.parameters.bounds()
    sampler = scipy.stats.qmc.LatinHypercube(d=problem.n_params, rng=np.random.default_rng(seed))
    return lb + sampler.random(n_starts) * (ub - lb)


@eqx.filter_jit
def _residuals(objective, theta):
    return objective.residuals(theta)


@eqx.filter_jit
def _residual_jacobian(objective, theta):
    return jax.jacfwd(objective.residuals)(theta)


@eqx.filter_jit
def _nll(objective, theta):
    return objective.nll(theta)


@eqx.filter_jit
def _objective(objective, theta):
    return objective.objective(theta)


@eqx.filter_jit
def _objective_gradient(objective, theta):
    return jax.jacfwd(objective.objective)(theta)


def _run_trf(objective, x0, lb, ub, options):
    def fun(x):
        return np.asarray(_residuals(objective, jnp.asarray(x)))

    def jac(x):
        return np.asarray(_residual_jacobian(objective, jnp.asarray(x)))

    if not np.all(np.isfinite(fun(x0))):
        return x0, "failed", "The simulation failed at the start point.", 0
    out = scipy.optimize.least_squares(
        fun, x0, jac=jac, bounds=(lb, ub), method="trf", x_scale="jac",
        ftol=options.ftol, xtol=options.xtol, gtol=options.gtol, max_nfev=options.max_iterations,
    )
    status = "converged" if out.status > 0 else "max_iterations" if out.status == 0 else "failed"
    return out.x, status, out.message, int(out.nfev)


def _run_lbfgsb(objective, x0, lb, ub, options):
    def fun(x):
        theta = jnp.asarray(x)
        value = float(_objective(objective, theta))
        if not np.isfinite(value):
            return 1e100, np.zeros_like(x)
        return value, np.asarray(_objective_gradient(objective, theta))

    if fun(x0)[0] >= 1e100:  # non-finite NLL, mapped to 1e100 by `fun`
        return x0, "failed", "The simulation failed at the start point.", 0
    out = scipy.optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lb, ub)),
        options={"maxiter": options.max_iterations, "ftol": options.ftol, "gtol": options.gtol},
    )
    status = "converged" if out.success else "max_iterations" if out.status == 1 else "failed"
    return out.x, status, str(out.message), int(out.nit)


def fit_multistart(
    problem: Problem,
    starts: np.ndarray,
    *,
    start_index=None,
    objective: Objective | None = None,
    options: FitOptions = FitOptions(),
) -> MultistartResult:
    """Fit from each start point; a failed start is a row with its status, never an exception.

    **Arguments:**
    - `starts`: `(n_starts, n_params)` start points on the estimation scale.
    - `start_index`: the global number of each start (default `0..n_starts-1`).
    - `objective`: the compiled problem (default `Objective.from_problem(problem)`).
    - `options`: `FitOptions`.

    **Returns:** `MultistartResult`, NLL with all normalisation constants (plus the negative
    log prior density when the problem has priors: the fit is then maximum a posteriori).
    """
    require_float64()
    objective = objective or Objective.from_problem(problem)
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    if starts.shape[1] != problem.n_params:
        raise ValueError(f"`starts` must have {problem.n_params} columns, got {starts.shape[1]}.")
    start_index = np.arange(len(starts)) if start_index is None else np.asarray(start_index)
    lb, ub = problem.parameters.bounds()
    least_squares = objective.all_normal and not objective.has_priors
    run = _run_trf if (options.method == "trf" and least_squares) else _run_lbfgsb
    xs, nlls, statuses, messages, iterations, times = [], [], [], [], [], []
    for x0 in starts:
        tic = time.perf_counter()
        try:
            x, status, message, n_iter = run(objective, np.clip(x0, lb, ub), lb, ub, options)
            nll = float(_objective(objective, jnp.asarray(x)))
            if not np.isfinite(nll):
                status, message = "failed", "The simulation failed at the final point."
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as error:
            x, status, message, n_iter, nll = x0, "failed", f"{type(error).__name__}: {error}", 0, np.nan
        xs.append(np.asarray(x, dtype=np.float64))
        nlls.append(nll if status != "failed" else np.nan)
        statuses.append(status)
        messages.append(" ".join(str(message).split()))
        iterations.append(n_iter)
        times.append(time.perf_counter() - tic)
    return MultistartResult(
        parameter_ids=problem.parameter_ids,
        start_index=start_index,
        x0=starts,
        x=np.array(xs),
        nll=np.array(nlls),
        status=tuple(statuses),
        message=tuple(messages),
        n_iterations=np.array(iterations),
        time_s=np.array(times),
    )


def best_fit_summary(result: MultistartResult, problem: Problem, *, tolerance: float = 0.1) -> dict:
    """The best start, its parameters (estimation and linear scale) and convergence counts.

    A start counts as reaching the best when its NLL is within `tolerance` of the lowest.
    **Raises:** `RuntimeError` when every start failed.
    """
    best = result.best()
    finite = np.isfinite(result.nll)
    return {
        "parameter_ids": list(result.parameter_ids),
        "scales": list(problem.parameters.estimated_scales),
        "x": result.x[best],
        "x_linear": problem.parameters.to_linear(result.x[best]),
        "nll": result.nll[best],
        "start": int(result.start_index[best]),
        "status": result.status[best],
        "n_starts": result.n_starts,
        "n_failed": int(np.sum(~finite)),
        "n_within_tolerance": int(np.sum(finite & (result.nll <= result.nll[best] + tolerance))),
        "tolerance": tolerance,
        "at_bounds": [
            pid for pid, x, lo, hi in zip(result.parameter_ids, result.x[best], *problem.parameters.bounds())
            if min(x - lo, hi - x) < 1e-6 * (hi - lo)
        ],
    }
