r"""Ensemble bands: pointwise minimum and maximum of a prediction over the best fit and parameter
vectors in the confidence region (e.g. profile points with $\Delta f \le$ the threshold): an
inner approximation of the prediction's confidence band."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..simulate import Objective
from .._precision import require_float64
from ..simulate import stored_call
from ._delta import check_prediction
from ._values import check_x, value_and_ok
from ..problem import Problem

ENSEMBLE_COLUMNS = ("prediction", "time", "value", "lower", "upper", "n_members", "n_failed")


@eqx.filter_jit
def _member_predictions(objective: Objective, thetas, condition, times, column):
    """Prediction at `times` for each row of `thetas`, and whether each solve succeeded."""
    return jax.vmap(lambda t: value_and_ok(objective, t, condition, times, column)[1])(thetas)


def _members(setting, thetas):
    objective, condition, times, column = setting
    return _member_predictions(objective, thetas, condition, times, column)


def ensemble_bands(problem: Problem, specs, members, x_best, *, objective: Objective | None = None) -> pd.DataFrame:
    """Pointwise bands of predictions over an ensemble of parameter vectors and the best fit.

    **Arguments:** `specs`: list of `PredictionSpec`; `members`: `(n_members, n_params)` parameter
    vectors (estimation scale), e.g. from `ensemble_from_profiles`; `x_best`: the best fit (its
    prediction is `value`; it belongs to every band); `objective` as in `prediction_profile`.

    **Returns:** DataFrame with prediction, time, value (best fit), lower and upper (minimum
    and maximum over the best fit and the members that solved), n_members (members used) and
    n_failed (members dropped because their solve failed).

    **Raises:** `ValueError` for bad `members`, `x_best` (as `prediction_profile`) or predictions.
    """
    require_float64()
    objective = objective or Objective.from_problem(problem)
    members = np.asarray(members, dtype=np.float64)
    if members.ndim != 2 or members.shape[1] != problem.n_params:
        raise ValueError(f"`members` must be an (n_members, {problem.n_params}) array of parameter vectors "
                         f"{list(problem.parameter_ids)} (estimation scale), got shape {members.shape}.")
    thetas = np.vstack([check_x(problem, x_best), members])
    rows = []
    for spec in specs:
        column, times = check_prediction(problem, spec), sorted(float(t) for t in spec.times)
        condition = problem.condition_ids.index(spec.condition)
        values, ok = map(np.asarray, stored_call(_members, (objective, condition, jnp.asarray(times), column), thetas))
        good = ok & np.all(np.isfinite(values), axis=1)
        used = values[good] if good.any() else np.full((1, len(times)), np.nan)
        best = values[0] if good[0] else np.full(len(times), np.nan)
        counts = int(good[1:].sum()), int((~good[1:]).sum())
        rows += [[spec.id, t, best[i], used[:, i].min(), used[:, i].max(), *counts] for i, t in enumerate(times)]
    return pd.DataFrame(rows, columns=list(ENSEMBLE_COLUMNS))


def ensemble_from_profiles(frames, parameter_ids, threshold: float) -> np.ndarray:
    """Parameter vectors of profile points within the threshold, as an ensemble.

    **Arguments:** `frames`: profile point tables (a DataFrame or a list), each with a `delta`
    column (objective minus the best fit's) and one column per id of `parameter_ids` (the order
    of the returned columns); rows with `delta <= threshold` are kept (e.g. $\\chi^2_1(0.95)/2$).

    **Returns:** `(n_members, n_params)` array, without duplicates or rows with a non-finite entry.

    **Raises:** `ValueError` naming a table that lacks a column, or for a non-finite `threshold`.
    """
    if not np.isfinite(threshold):
        raise ValueError(f"`threshold` must be a finite number, got {threshold!r}.")
    ids = list(parameter_ids)
    kept = [np.zeros((0, len(ids)))]
    for k, frame in enumerate([frames] if isinstance(frames, pd.DataFrame) else frames):
        missing = [c for c in (*ids, "delta") if c not in frame.columns]
        if missing:
            raise ValueError(f"profile table {k} lacks column(s) {missing}; it needs `delta` and one column per "
                             f"parameter id {ids}.")
        kept.append(frame.loc[frame["delta"].to_numpy(dtype=np.float64) <= threshold, ids].to_numpy(dtype=np.float64))
    table = np.concatenate(kept)
    table = table[np.all(np.isfinite(table), axis=1)]
    return table[np.sort(np.unique(table, axis=0, return_index=True)[1])]
