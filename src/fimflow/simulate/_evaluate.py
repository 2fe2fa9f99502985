"""Notebook-level convenience functions on a `Problem` (stable public names)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import _columns as C
from ._objective import Objective
from ..problem import Problem
from ._solve import SolverConfig
from .._precision import require_float64
from ._programs import stored_call


@eqx.filter_jit
def _evaluate(objective, theta):
    """Everything the functions below report, from one compiled program (one simulation)."""
    y, s, ok = objective.predictions_and_noise(theta)
    d = objective.difference_of(y)
    return {"nll": jnp.sum(objective.nll_terms_of(d, s, ok)), "y": y, "d": d, "s": s, "ok": ok}


def _theta(problem: Problem, x) -> jnp.ndarray:
    if x is None:
        return jnp.asarray(problem.parameters.nominal_theta())
    return jnp.asarray(problem.check_x(x))


def log_likelihood(problem: Problem, x=None, *, config: SolverConfig = SolverConfig()) -> float:
    """The full log-likelihood (normalisation constants included, priors excluded).

    **Arguments:** `x`: estimated parameters on the estimation scale in the order of
    `problem.parameter_ids`; `None` means the nominal values.
    """
    require_float64()
    return -float(_evaluate(Objective.from_problem(problem, config), _theta(problem, x))["nll"])


def chi2(problem: Problem, x=None, *, config: SolverConfig = SolverConfig()) -> float:
    """Sum of squared weighted residuals $\\sum_i ((h(y_i) - h(m_i))/\\sigma_i)^2$ (PEtab's chi2)."""
    require_float64()
    out = _evaluate(Objective.from_problem(problem, config), _theta(problem, x))
    return float(jnp.where(out["ok"], jnp.sum((out["d"] / out["s"]) ** 2), jnp.nan))


def simulate_measurements(problem: Problem, x=None, *, config: SolverConfig = SolverConfig()) -> pd.DataFrame:
    """The measurement table with a `simulation` column (PEtab simulation-table form)."""
    require_float64()
    y = _evaluate(Objective.from_problem(problem, config), _theta(problem, x))["y"]
    table = problem.measurements.copy()
    table[C.SIMULATION] = np.asarray(y)
    return table


def simulate_curves(problem: Problem, x=None, *, config: SolverConfig = SolverConfig(), n_points: int = 201) -> pd.DataFrame:
    """Observables of every condition on an even time grid up to the last measurement (for plots)."""
    require_float64()
    times = np.linspace(0.0, float(np.max(problem.times[np.isfinite(problem.times)], initial=0.0)), n_points)
    objective = Objective.from_problem(problem, config)
    grid = jnp.asarray(np.tile(times, (len(problem.condition_ids), 1)))
    obs = stored_call(_observables_on, (objective, grid), _theta(problem, x))
    obs = np.asarray(obs)
    rows = [
        {C.OBSERVABLE_ID: o, C.SIMULATION_CONDITION_ID: c, C.TIME: t, C.SIMULATION: obs[ci, ti, oi]}
        for ci, c in enumerate(problem.condition_ids)
        for oi, o in enumerate(problem.observable_ids)
        for ti, t in enumerate(times)
    ]
    return pd.DataFrame(rows)


def _observables_on(setting, theta):
    objective, times = setting
    return objective.curves(theta, times)[1]
