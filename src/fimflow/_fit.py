"""Multistart maximum likelihood: Latin-hypercube starts, local optimisation, one row per start."""

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from ._batch import BatchRunner
from ._objective import Objective
from ._precision import require_float64
from ._problem import Problem

METHODS = ("trf", "lbfgsb")


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Local optimiser settings.

    **Arguments:**
    - `method`: `"lbfgsb"` (default: L-BFGS-B on the NLL with its exact gradient; any noise
      model) or `"trf"` (scipy's trust-region reflective least squares on the residuals with
      the exact forward-sensitivity Jacobian, as Data2Dynamics does; normal noise only;
      problems with Laplace noise or priors use `"lbfgsb"`). On Boehm_JProteomeRes2014's 100
      reference starts (bench/multistart.py) L-BFGS-B took 241 s and 4 starts reached the
      optimum, TRF 1120 s and 3.
    - `max_iterations`: function evaluations (trf) or iterations (lbfgsb) per start.
    - `ftol`, `xtol`, `gtol`: stopping tolerances passed to scipy.
    - `batch_size`: starts advancing together, their model evaluations batched into one
      vectorised call.
    """

    method: str = "lbfgsb"
    max_iterations: int = 1000
    ftol: float = 1e-10
    xtol: float = 1e-10
    gtol: float = 1e-10
    batch_size: int = 8

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}.")
        if self.max_iterations < 1:
            raise ValueError(f"`max_iterations` must be >= 1, got {self.max_iterations}.")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size}.")


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
    import scipy.stats.qmc

    sampler = scipy.stats.qmc.LatinHypercube(d=problem.n_params, rng=np.random.default_rng(seed))
    return lb + sampler.random(n_starts) * (ub - lb)


def _residuals_and_objective(objective, theta):
    r, value = objective.residuals_and_objective(theta)
    return r, (r, value)


def _objective_and_objective(objective, theta):
    value = objective.objective(theta)
    return value, value


@eqx.filter_jit
def _batch_least_squares(objective, thetas):
    """Residuals, their Jacobian and the objective at each row of `thetas` (one simulation each)."""
    jac = jax.vmap(jax.jacfwd(lambda t: _residuals_and_objective(objective, t), has_aux=True))(thetas)
    jacobian, (r, value) = jac
    return r, jacobian, value


@eqx.filter_jit
def _batch_gradient(objective, thetas):
    """Objective and its gradient at each row of `thetas`."""
    gradient, value = jax.vmap(jax.jacfwd(lambda t: _objective_and_objective(objective, t), has_aux=True))(thetas)
    return value, gradient


def uses_least_squares(objective: Objective, options: FitOptions) -> bool:
    """Whether the fit runs trust-region least squares (normal noise, no priors) or L-BFGS-B."""
    return options.method == "trf" and objective.all_normal and not objective.has_priors


def batch_kernel(objective: Objective, options: FitOptions):
    """The compiled evaluation the fit batches: points `(width, n_params)` to residuals,
    Jacobians and objective values (least squares) or objective values and gradients."""
    kernel = _batch_least_squares if uses_least_squares(objective, options) else _batch_gradient
    return lambda thetas: kernel(objective, jnp.asarray(thetas, dtype=jnp.float64))


class _Cached:
    """The last batch answer of one start, so scipy's `fun(x)` then `jac(x)` cost one evaluation."""

    def __init__(self, evaluate):
        self.evaluate = evaluate
        self.x = None
        self.out = None

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or not np.array_equal(x, self.x):
            self.out = self.evaluate(x)
            self.x = x.copy()
        return self.out


def _run_trf(cached, x0, lb, ub, options):
    if not np.all(np.isfinite(cached(x0)[0])):
        return x0, "failed", "The simulation failed at the start point.", 0
    out = scipy.optimize.least_squares(
        lambda x: cached(x)[0], x0, jac=lambda x: cached(x)[1], bounds=(lb, ub), method="trf", x_scale="jac",
        ftol=options.ftol, xtol=options.xtol, gtol=options.gtol, max_nfev=options.max_iterations,
    )
    status = "converged" if out.status > 0 else "max_iterations" if out.status == 0 else "failed"
    return out.x, status, out.message, int(out.nfev)


def _run_lbfgsb(cached, x0, lb, ub, options):
    def fun(x):
        value, gradient = cached(x)
        if not np.isfinite(value):
            return 1e100, np.zeros_like(x)
        return float(value), np.asarray(gradient)

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

    Starts run `options.batch_size` at a time: their model evaluations (simulation and forward
    sensitivities) go through one vectorised compiled call (`BatchRunner`), each start keeping
    its own scipy optimiser.

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
    width = min(options.batch_size, len(starts))
    least_squares = uses_least_squares(objective, options)
    run = _run_trf if least_squares else _run_lbfgsb
    final_value = (lambda out: out[2]) if least_squares else (lambda out: out[0])

    def work(i, evaluate):
        tic = time.perf_counter()
        cached = _Cached(evaluate)  # the final point is usually the last one evaluated
        x, status, message, n_iter = run(cached, np.clip(starts[i], lb, ub), lb, ub, options)
        nll = float(final_value(cached(x)))
        if not np.isfinite(nll):
            status, message = "failed", "The simulation failed at the final point."
        return x, status, message, n_iter, nll, time.perf_counter() - tic

    runner = BatchRunner(batch_kernel(objective, options), width)
    outcomes = runner.run(work, starts)
    xs, nlls, statuses, messages, iterations, times = [], [], [], [], [], []
    for x0, outcome in zip(starts, outcomes):
        if isinstance(outcome, (RuntimeError, ValueError, np.linalg.LinAlgError)):
            outcome = (x0, "failed", f"{type(outcome).__name__}: {outcome}", 0, np.nan, 0.0)
        elif isinstance(outcome, BaseException):
            raise outcome
        x, status, message, n_iter, nll, seconds = outcome
        xs.append(np.asarray(x, dtype=np.float64))
        nlls.append(nll if status != "failed" else np.nan)
        statuses.append(status)
        messages.append(" ".join(str(message).split()))
        iterations.append(n_iter)
        times.append(seconds)
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
