"""One start's local optimisation on its lane of a batch: the drivers of the optimisers
(`trust_fim`, `lbfgsb`, `trf`), the cache of the last evaluation, the start's time budget and
how a start ended (`Status`)."""

import enum
import time

import numpy as np

from . import _trust_region


class Status(str, enum.Enum):
    """How a start ended. A `str`: it equals, prints, formats and is written (TSV, JSON) as its
    plain value, e.g. `"converged"`."""

    CONVERGED = "converged"  # a stopping tolerance was met
    STALLED = "stalled"  # a crawl far from an optimum (`stall_iterations`, `stall_tol`, `stall_gap`)
    MAX_ITERATIONS = "max_iterations"  # iterations (or trf's function evaluations) spent
    MAX_TIME = "max_time"  # the start's time budget spent; the lowest point evaluated is kept
    FAILED = "failed"  # the simulation or the optimiser failed

    __str__ = str.__str__  # "converged", not "Status.CONVERGED"
    __format__ = str.__format__


class OutOfTime(Exception):
    """Raised in a start's optimiser when its time budget is spent."""


class CachedEvaluation:
    """The last batch answer of one start, so scipy's `fun(x)` then `jac(x)` cost one evaluation;
    also the lowest finite value seen (`best_x`) and the start's time budget: once `deadline`
    (a `time.perf_counter()` value) has passed, a new point raises `OutOfTime`."""

    def __init__(self, evaluate, value_of, deadline=None):
        self.evaluate = evaluate
        self.value_of = value_of
        self.deadline = deadline
        self.x = None
        self.out = None
        self.n_evaluations = 0
        self.best_x, self.best_value = None, np.inf

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or not np.array_equal(x, self.x):
            if self.best_x is not None and self.deadline is not None and time.perf_counter() > self.deadline:
                raise OutOfTime()
            self.out = self.evaluate(x)
            self.x = x.copy()
            self.n_evaluations += 1
            value = float(self.value_of(self.out))
            if value < self.best_value:  # False for NaN
                self.best_x, self.best_value = self.x, value
        return self.out


def run_trf(cached, x0, lb, ub, options):
    if not np.all(np.isfinite(cached(x0)[0])):
        return x0, Status.FAILED, "The simulation failed at the start point.", 0
    import scipy.optimize  # here, not at the top: every job imports fimflow, few need it (0.6 s)

    out = scipy.optimize.least_squares(
        lambda x: cached(x)[0], x0, jac=lambda x: cached(x)[1], bounds=(lb, ub), method="trf", x_scale="jac",
        ftol=options.ftol, xtol=options.xtol, gtol=options.gtol, max_nfev=options.max_iterations,
    )
    status = Status.CONVERGED if out.status > 0 else Status.MAX_ITERATIONS if out.status == 0 else Status.FAILED
    return out.x, status, out.message, int(out.nfev)


def run_trust_fim(cached, x0, lb, ub, options):
    out = _trust_region.minimize(
        cached, x0, lb, ub, max_iterations=options.max_iterations, ftol=options.ftol, xtol=options.xtol,
        gtol=options.gtol, stall_iterations=options.stall_iterations, stall_tol=options.stall_tol,
        stall_gap=options.stall_gap,
    )
    return out.x, Status(out.status), out.message, out.n_iterations


def run_lbfgsb(cached, x0, lb, ub, options):
    def fun(x):
        value, gradient = cached(x)
        if not np.isfinite(value):
            return 1e100, np.zeros_like(x)
        return float(value), np.asarray(gradient)

    if fun(x0)[0] >= 1e100:  # non-finite NLL, mapped to 1e100 by `fun`
        return x0, Status.FAILED, "The simulation failed at the start point.", 0
    import scipy.optimize

    out = scipy.optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lb, ub)),
        options={"maxiter": options.max_iterations, "ftol": options.ftol, "gtol": options.gtol},
    )
    status = Status.CONVERGED if out.success else Status.MAX_ITERATIONS if out.status == 1 else Status.FAILED
    return out.x, status, str(out.message), int(out.nit)
