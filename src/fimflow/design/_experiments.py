r"""Designing experiments, not only sampling times: candidate doses, dosing times and other settings
of one experiment, ranked by the same criteria (D, A, E of `_criteria`).

A candidate is the template experiment (a condition of the problem, e.g. a PEtab v2 experiment)
with some settings changed: a fixed parameter it uses (a dose amount named in the parameter table)
or the start time of one of its periods (`period<k>.start`, k counting its finite periods from 0 as
the experiment table lists them; period 0 starts the simulation and stays at 0). Each candidate
is measured as the template is (same observables, times and noise model), and ranks by
$\Psi(M_0 + F_c)$, $F_c$ its expected Fisher information at `x` and $M_0$ the current data's
(`include_current`, sequential design) or 0.
"""

import dataclasses
import re

import numpy as np
import pandas as pd

from .._precision import require_float64
from ..problem import Problem
from ..simulate import Objective, SolverConfig
from ._criteria import CRITERIA, criteria, efficiency, point_terms

_PERIOD = re.compile(r"^period(\d+)\.start$")


def _slot_column(problem: Problem, k: int) -> int | None:
    names = problem.model.parameter_names
    name = f"__period{k}_time"
    return names.index(name) if name in names else None


def _candidate_rows(problem: Problem, experiment: str, settings: pd.DataFrame):
    """Model-parameter rows (index, value) of each candidate: the template's with the settings."""
    if experiment not in problem.condition_ids:
        raise ValueError(f"unknown experiment {experiment!r}; the problem's: {list(problem.condition_ids)}.")
    c = problem.condition_ids.index(experiment)
    index0 = np.asarray(problem.condition_parameter_index[c])
    value0 = np.asarray(problem.condition_parameter_value[c], dtype=np.float64)
    ids = problem.parameters.ids
    targets = {}
    for column in settings.columns:
        match = _PERIOD.match(str(column))
        if match:
            k = int(match.group(1))
            j = _slot_column(problem, k) if k > 0 else None
            if j is None or not np.isfinite(value0[j]):
                raise ValueError(f"setting {column!r}: experiment {experiment!r} has no period {k} that starts during the "
                                 "simulation (period 0 starts it at t = 0).")
            targets[column] = np.array([j])
        elif column in ids:
            p = ids.index(column)
            if problem.parameters.estimate[p]:
                raise ValueError(f"setting {column!r} is an estimated parameter; a design setting must be fixed "
                                 "(estimate false in the parameter table), e.g. a dose amount.")
            used = np.flatnonzero(index0 == p)
            if used.size == 0:
                raise ValueError(f"setting {column!r} does not enter experiment {experiment!r}.")
            targets[column] = used
        else:
            raise ValueError(f"setting {column!r} is neither a fixed parameter of the parameter table nor "
                             "'period<k>.start'.")
    index = np.repeat(index0[None], len(settings), axis=0)
    value = np.repeat(value0[None], len(settings), axis=0)
    for column, columns in targets.items():
        v = settings[column].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"setting {column!r} has values that are not finite numbers.")
        index[:, columns] = -1
        value[:, columns] = v[:, None]
    return c, index, value


def _candidates_problem(problem: Problem, c: int, index, value) -> Problem:
    """One condition per candidate, each measured as the template condition `c` is."""
    rows = np.flatnonzero(np.asarray(problem.condition_index) == c)
    if rows.size == 0:
        raise ValueError(f"experiment {problem.condition_ids[c]!r} has no measurements to repeat in a candidate.")
    n = len(index)
    every = np.tile(rows, n)
    owner = np.repeat(np.arange(n), rows.size)

    def take(array):
        return None if array is None else np.asarray(array)[every]

    def per_candidate(array):
        return None if array is None else np.repeat(np.asarray(array)[c : c + 1], n, axis=0)

    table = problem.measurements.iloc[every].reset_index(drop=True).copy()
    ids = tuple(f"candidate_{i}" for i in range(n))
    table["simulationConditionId"] = [ids[i] for i in owner]
    return dataclasses.replace(
        problem,
        condition_ids=ids,
        condition_parameter_index=index,
        condition_parameter_value=value,
        times=per_candidate(problem.times),
        measurements=table,
        condition_index=owner,
        time_index=take(problem.time_index),
        observable_index=take(problem.observable_index),
        values=take(problem.values),
        noise_index=take(problem.noise_index),
        noise_value=take(problem.noise_value),
        transformation=take(problem.transformation),
        distribution=take(problem.distribution),
        observable_parameter_index=take(problem.observable_parameter_index),
        observable_parameter_value=take(problem.observable_parameter_value),
        preequilibration=per_candidate(problem.preequilibration),
        preequilibration_parameter_index=per_candidate(problem.preequilibration_parameter_index),
        preequilibration_parameter_value=per_candidate(problem.preequilibration_parameter_value),
    )


def check_experiment_settings(problem: Problem, experiment: str, settings) -> None:
    """Raise a `ValueError` naming what is wrong when `settings` (one column per setting, one row
    per candidate) cannot vary `experiment` (no solve: a check before any job)."""
    if isinstance(settings, dict):
        lengths = {name: len(values) for name, values in settings.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"settings must list one value per candidate each, got lengths {lengths}.")
    settings = pd.DataFrame(settings).reset_index(drop=True)
    if len(settings) == 0:
        raise ValueError("`settings` has no rows (candidates).")
    _candidate_rows(problem, experiment, settings)


def experiment_fims(problem: Problem, x, experiment: str, settings: pd.DataFrame, *,
                    config: SolverConfig = SolverConfig()) -> np.ndarray:
    """Expected Fisher information `(n_candidates, p, p)` of each candidate (rows of `settings`: one
    column per setting, see the module notes) at `x` (estimation scale); NaN where a solve fails."""
    require_float64()
    settings = pd.DataFrame(settings).reset_index(drop=True)
    if len(settings) == 0:
        raise ValueError("`settings` has no rows (candidates).")
    c, index, value = _candidate_rows(problem, experiment, settings)
    candidates = _candidates_problem(problem, c, index, value)
    objective = Objective.from_problem(candidates, config)
    terms, _ = point_terms(objective, np.asarray(x, dtype=np.float64)[None])
    owner = np.asarray(candidates.condition_index)
    return np.stack([terms[0][owner == i].sum(axis=0) for i in range(len(settings))])


def rank_experiments(problem: Problem, x, experiment: str, settings: pd.DataFrame, *, criterion: str = "D",
                     include_current: bool = True, config: SolverConfig = SolverConfig()) -> pd.DataFrame:
    """Rank candidate settings of `experiment` by `criterion` of the information they would add.

    **Returns:** `settings` with columns `criterion` ($\\Psi(M_0 + F_c)$), `efficiency` (relative to
    the best candidate: D and A per parameter, E as a ratio) and `rank` (1 = best), sorted best
    first; a candidate whose solve fails ranks last (criterion NaN).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"`criterion` must be one of {CRITERIA}, got {criterion!r}.")
    settings = pd.DataFrame(settings).reset_index(drop=True)
    fims = experiment_fims(problem, x, experiment, settings, config=config)
    if include_current:
        terms, _ = point_terms(Objective.from_problem(problem, config), np.asarray(x, dtype=np.float64)[None])
        fims = fims + terms[0].sum(axis=0)[None]  # the current data's expected FIM, a sum of its rows' terms
    values = criteria(0.5 * (fims + np.swapaxes(fims, 1, 2)), criterion)
    out = settings.copy()
    out["criterion"] = values
    best = np.nanmax(values) if np.any(np.isfinite(values)) else np.nan
    out["efficiency"] = [efficiency(v, best, criterion, problem.n_params) for v in values]
    order = np.argsort(np.where(np.isnan(values), -np.inf, -values), kind="stable")
    out = out.iloc[order].reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out
