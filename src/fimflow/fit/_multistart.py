"""Multistart maximum likelihood: Latin-hypercube starts, local optimisation, one row per start."""

import dataclasses
import functools
import logging
import threading
import time

import equinox as eqx
import jax
import numpy as np
import pandas as pd

from ._batch import BatchRunner
from ._local import CachedEvaluation, OutOfTime, Status
from ._options import FitOptions
from ._scalings import completed_scalings, profiled
from ..simulate import Objective
from ..simulate import stored_call, stored_program
from .._precision import require_float64
from ..problem import Problem

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MultistartResult:
    """Result of a multistart fit, one entry per start (leading axis `n_starts`)."""

    parameter_ids: tuple[str, ...]
    start_index: np.ndarray
    x0: np.ndarray
    x: np.ndarray
    nll: np.ndarray
    status: tuple[Status, ...]
    message: tuple[str, ...]
    n_iterations: np.ndarray
    time_s: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "status", tuple(Status(s) for s in self.status))

    @property
    def n_starts(self) -> int:
        return len(self.start_index)

    def best(self) -> int:
        """Position of the start with the lowest finite NLL; raises if every start failed."""
        finite = np.isfinite(self.nll)
        if not finite.any():
            raise RuntimeError(
                f"All {self.n_starts} starts failed; first status: {str(self.status[0])!r} "
                f"({self.message[0]}). Check bounds, solver tolerances and `max_steps`."
            )
        return int(np.argmin(np.where(finite, self.nll, np.inf)))

    def to_frame(self) -> pd.DataFrame:
        """One row per start: start, status, nll, iterations, message, x0_<id>…, x_<id>… (the
        wall times `time_s` are left out: they differ between runs)."""
        table = pd.DataFrame({"start": self.start_index, "status": [str(s) for s in self.status],
                              "nll": self.nll, "iterations": self.n_iterations, "message": list(self.message)})
        for j, pid in enumerate(self.parameter_ids):
            table[f"x0_{pid}"] = self.x0[:, j]
        for j, pid in enumerate(self.parameter_ids):
            table[f"x_{pid}"] = self.x[:, j]
        return table

    @classmethod
    def from_frame(cls, table: pd.DataFrame) -> "MultistartResult":
        """The result of a `to_frame` table (wall times NaN)."""
        unknown = sorted({str(s) for s in table["status"]} - {s.value for s in Status})
        if unknown:
            raise ValueError(f"unknown start status(es) {unknown}; known: {[s.value for s in Status]}.")
        ids = tuple(c[2:] for c in table.columns if c.startswith("x_"))
        return cls(
            parameter_ids=ids,
            start_index=table["start"].to_numpy(dtype=int),
            x0=table[[f"x0_{p}" for p in ids]].to_numpy(dtype=np.float64).reshape(len(table), len(ids)),
            x=table[[f"x_{p}" for p in ids]].to_numpy(dtype=np.float64).reshape(len(table), len(ids)),
            nll=table["nll"].to_numpy(dtype=np.float64),
            status=tuple(Status(str(s)) for s in table["status"]),
            message=tuple(str(m) for m in table["message"]),
            n_iterations=table["iterations"].to_numpy(dtype=int),
            time_s=np.full(len(table), np.nan),
        )

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
    unbounded = [p for p, a, b in zip(problem.parameter_ids, lb, ub) if not (np.isfinite(a) and np.isfinite(b))]
    if unbounded:
        raise ValueError(f"cannot sample start points: {unbounded} have an infinite bound (PEtab v2 allows it). Give them "
                         "finite lowerBound and upperBound in the parameter table.")
    import scipy.stats.qmc

    sampler = scipy.stats.qmc.LatinHypercube(d=problem.n_params, rng=np.random.default_rng(seed))
    return lb + sampler.random(n_starts) * (ub - lb)


def check_fit_options(problem_or_objective, options: FitOptions) -> None:
    """Raise a `ValueError` naming the reason and the fix when `options.optimiser` cannot fit the
    problem (a `Problem` or an `Objective`): `TRF()` is least squares, so it needs normal noise
    everywhere and no priors (`AbstractOptimiser.check`)."""
    options.optimiser.check(problem_or_objective)


def kernel_function(objective: Objective, options: FitOptions):
    """`f(objective, thetas)`: what one batch evaluation computes for this optimiser."""
    options.optimiser.check(objective)
    return options.optimiser.kernel


@functools.cache
def per_dataset_kernel(kernel):
    """`kernel` where each lane brings its own measured values: rows `[theta, values]`
    `(width, n_params + n_meas)` (the refits of simulated data sets share one program; the
    data are inputs, not constants of the trace)."""

    def kernel_per_dataset(objective, points):
        n = objective.estimated_index.shape[0]

        def one(point):
            lane = eqx.tree_at(lambda o: o.values, objective, point[n:])
            return jax.tree_util.tree_map(lambda a: a[0], kernel(lane, point[None, :n]))

        return jax.vmap(one)(points)

    kernel_per_dataset.__name__ = f"{kernel.__name__}_per_dataset"
    kernel_per_dataset.__qualname__ = f"{kernel.__qualname__}_per_dataset"  # `stored_call`'s key names it
    return kernel_per_dataset


def batch_kernel(objective: Objective, options: FitOptions, *, per_dataset: bool = False):
    """The compiled evaluation the fit batches: points `(width, n_params)` to objective values,
    gradients and expected FIMs (trust_fim), residuals, Jacobians and objective values
    (least squares) or objective values and gradients. The traced program of each width is
    kept between processes (`stored_program`) when a compilation cache is set up.
    `per_dataset`: rows are `[theta, values]`, each lane with its own data (`per_dataset_kernel`)."""
    kernel = kernel_function(objective, options)
    if per_dataset:
        kernel = per_dataset_kernel(kernel)
    programs = {}
    lock = threading.Lock()

    def evaluate(thetas):
        thetas = np.asarray(thetas, dtype=np.float64)
        with lock:  # groups of lanes call this concurrently: one trace per width
            if thetas.shape not in programs:
                programs[thetas.shape] = stored_program(kernel.__name__, kernel, objective, thetas)
        return programs[thetas.shape](thetas)

    return evaluate


def _complete_scalings(objective, outcomes, values):
    """Each finished start's estimate with its closed-form scalings (`completed_scalings`, with
    that start's own data when it has them)."""
    done = [i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
    if not done:
        return outcomes
    points = np.stack([np.asarray(outcomes[i][0], dtype=np.float64) for i in done])
    kernel = completed_scalings
    if values is not None:
        points, kernel = np.concatenate([points, values[done]], axis=1), per_dataset_kernel(kernel)
    completed = np.asarray(stored_call(kernel, objective, points))
    outcomes = list(outcomes)
    for row, i in enumerate(done):
        x = completed[row] if np.all(np.isfinite(completed[row])) else outcomes[i][0]
        outcomes[i] = (x,) + tuple(outcomes[i][1:])
    return outcomes


def _with_data(evaluate, data, x):
    return evaluate(np.concatenate([np.asarray(x, dtype=np.float64), data]))


def batch_layout(n_starts: int, options: FitOptions) -> tuple[int, int]:
    """Lanes per batch and batches run concurrently for `n_starts` starts. The width does not
    depend on the threads (a compiled program of another width may differ at the last bit)."""
    width = min(options.batch_size, n_starts)
    return width, min(options.n_threads(), -(-n_starts // width))


def fit_multistart(
    problem: Problem,
    starts: np.ndarray,
    *,
    start_index=None,
    objective: Objective | None = None,
    options: FitOptions = FitOptions(),
    values: np.ndarray | None = None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> MultistartResult:
    """Fit from each start point; a failed start is a row with its status, never an exception.

    Starts run `options.batch_size` at a time per thread: their model evaluations (simulation and
    forward sensitivities) go through one vectorised compiled call (`BatchRunner`), each start
    keeping its own optimiser; `options.threads` such batches run concurrently.

    **Arguments:**
    - `starts`: `(n_starts, n_params)` start points on the estimation scale.
    - `start_index`: the global number of each start (default `0..n_starts-1`).
    - `objective`: the compiled problem (default `Objective.from_problem(problem)`).
    - `options`: `FitOptions`.
    - `values`: `(n_starts, n_measurements)`, each start's own measured values in the order of
      the problem's measurements (default: the problem's data for all); simulated data sets are
      refitted this way, all through one compiled program.
    - `bounds`: `(lower, upper)` on the estimation scale instead of the problem's (a parameter
      with equal bounds is held there: a constrained refit).

    **Returns:** `MultistartResult`, NLL with all normalisation constants (plus the negative
    log prior density when the problem has priors: the fit is then maximum a posteriori).
    """
    require_float64()
    objective = objective or Objective.from_problem(problem)
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    if starts.shape[1] != problem.n_params:
        raise ValueError(f"`starts` must have {problem.n_params} columns, got {starts.shape[1]}.")
    start_index = np.arange(len(starts)) if start_index is None else np.asarray(start_index)
    lb, ub = problem.parameters.bounds() if bounds is None else (np.asarray(b, dtype=np.float64) for b in bounds)
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(starts), problem.n_measurements):
            raise ValueError(f"`values` must be shaped (n_starts, n_measurements) = {(len(starts), problem.n_measurements)}, "
                             f"got {values.shape}.")
    width, groups = batch_layout(len(starts), options)
    optimiser = options.optimiser
    optimiser.check(objective)
    run, final_value = optimiser.run, optimiser.value
    profile = profiled(objective, lb, ub) if options.profile_scalings else None
    if profile is not None:  # the closed-form scalings replace values the optimiser then holds
        objective, lb, ub = profile

    def work(i, evaluate):
        if values is not None:
            evaluate = functools.partial(_with_data, evaluate, values[i])
        tic = time.perf_counter()
        deadline = None if options.max_time_s is None else tic + options.max_time_s
        cached = CachedEvaluation(evaluate, final_value, deadline)  # the final point is usually the last one evaluated
        try:
            x, status, message, n_iter = run(cached, np.clip(starts[i], lb, ub), lb, ub, options)
        except OutOfTime:
            x, status, n_iter = cached.best_x, Status.MAX_TIME, cached.n_evaluations
            message = f"Time budget of {options.max_time_s:g} s spent after {n_iter} evaluations; lowest point kept."
        nll = cached.best_value if status == Status.MAX_TIME else float(final_value(cached(x)))
        if not np.isfinite(nll):
            status, message = Status.FAILED, "The simulation failed at the final point."
        seconds = time.perf_counter() - tic
        _log.info("start %d: %s, nll %.6f, %d iterations, %.1f s", start_index[i], status, nll, n_iter, seconds)
        return x, status, message, n_iter, nll, seconds

    runner = BatchRunner(batch_kernel(objective, options, per_dataset=values is not None), width, groups)
    outcomes = runner.run(work, starts)
    if profile is not None:
        outcomes = _complete_scalings(objective, outcomes, values)
    xs, nlls, statuses, messages, iterations, times = [], [], [], [], [], []
    for index, x0, outcome in zip(start_index, starts, outcomes):
        if isinstance(outcome, (RuntimeError, ValueError, np.linalg.LinAlgError)):
            _log.warning("start %d failed: %s: %s", index, type(outcome).__name__, outcome)
            outcome = (x0, Status.FAILED, f"{type(outcome).__name__}: {outcome}", 0, np.nan, 0.0)
        elif isinstance(outcome, BaseException):
            raise outcome
        x, status, message, n_iter, nll, seconds = outcome
        xs.append(np.asarray(x, dtype=np.float64))
        nlls.append(nll if status != Status.FAILED else np.nan)
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

