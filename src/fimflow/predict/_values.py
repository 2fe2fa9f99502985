"""A prediction's values at parameter vectors and the check of the best fit they start from,
shared by the prediction profiles (`_prediction_profile`) and the ensemble bands (`_ensemble`)."""

import jax.numpy as jnp
import numpy as np

from ..problem import Problem


def value_and_ok(objective, theta, condition, times, column):
    """The prediction (column `column` of the states then observables) at `times` of `condition`,
    and as auxiliary output the same values with whether the solve succeeded."""
    ys, obs, ok = objective.condition_curve(theta, condition, times)
    values = jnp.concatenate([ys, obs], axis=1)[:, column]
    return values, (values, ok)


def check_x(problem: Problem, x) -> np.ndarray:
    """`x` as float64 when it holds the estimated parameters, finite and within the bounds
    (estimation scale); `ValueError` otherwise."""
    x, ids = np.asarray(x, dtype=np.float64), list(problem.parameter_ids)
    lower, upper = problem.parameters.bounds()
    if x.shape != (len(ids),) or not np.all(np.isfinite(x)):
        raise ValueError(f"`x_best` must hold the {len(ids)} estimated parameters {ids} (estimation scale), got {x!r}.")
    if np.any(x < lower) or np.any(x > upper):
        raise ValueError(f"`x_best` = {x} lies outside the bounds {lower} .. {upper} (estimation scale); pass a point "
                         "within them, e.g. the best fit.")
    return x
