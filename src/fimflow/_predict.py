r"""Prediction uncertainty by the delta method, split by eigen-direction of the FIM.

For a prediction $g(\theta)$, $\operatorname{Var} g \approx \nabla g^\top I^{+} \nabla g
= \sum_{k \le r} (\nabla g\cdot v_k)^2/\lambda_k$ with $(\lambda_k, v_k)$ the eigenpairs of the
FIM $I$ and $r$ its numerical rank. Each term is the share of direction $k$. If $\nabla g$ has a
component along a null direction ($k > r$) the data do not bound $g$: its variance is reported
as infinite ("unbounded").
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._identifiability import EigenAnalysis
from ._objective import Objective
from ._simulate import solve_condition, observables_at


@dataclasses.dataclass(frozen=True)
class PredictionSpec:
    """A named prediction: an observable or a state of the model in one condition at `times`."""

    id: str
    condition: str
    times: tuple[float, ...]
    observable: str | None = None
    state: str | None = None

    def __post_init__(self):
        if (self.observable is None) == (self.state is None):
            raise ValueError(f"prediction `{self.id}`: give exactly one of `observable` or `state`.")
        if not self.times or min(self.times) < 0:
            raise ValueError(f"prediction `{self.id}`: `times` must be a non-empty list of times >= 0.")


@eqx.filter_jit
def _prediction(objective: Objective, theta, condition, times, column):
    p = objective.model_parameters(theta)[condition]
    ys, _ = solve_condition(objective.model, p, times, objective.config)
    obs = observables_at(objective.model, p, times, ys)
    return jnp.concatenate([ys, obs], axis=1)[:, column]


@eqx.filter_jit
def _prediction_jacobian(objective: Objective, theta, condition, times, column):
    return jax.jacfwd(lambda t: _prediction(objective, t, condition, times, column))(theta)


def prediction_and_gradient(objective: Objective, theta, spec: PredictionSpec, condition_ids):
    """Values of the prediction at its times and their gradient `(n_times, n_params)`."""
    model = objective.model
    if spec.condition not in condition_ids:
        raise ValueError(f"prediction `{spec.id}`: unknown condition {spec.condition!r}; known {list(condition_ids)}.")
    names = list(model.state_names) + list(model.observable_names)
    name = spec.state if spec.state is not None else spec.observable
    if spec.state is not None and name not in model.state_names or spec.observable is not None and name not in model.observable_names:
        raise ValueError(f"prediction `{spec.id}`: {name!r} is not a {'state' if spec.state else 'observable'} of the model.")
    column = names.index(name) if spec.state is not None else len(model.state_names) + model.observable_names.index(name)
    times = jnp.asarray(sorted(spec.times), dtype=jnp.float64)
    args = (objective, jnp.asarray(theta), condition_ids.index(spec.condition), times, column)
    return np.asarray(_prediction(*args)), np.asarray(_prediction_jacobian(*args))


def delta_method(gradient: np.ndarray, analysis: EigenAnalysis, *, null_tolerance: float = 1e-6):
    """Variance of each prediction and the share of each eigen-direction.

    **Arguments:** `gradient` `(n_points, n_params)`; `analysis` of the FIM.

    **Returns:** `(variance (n_points,), shares (n_points, rank), unbounded (n_points,))`; the
    variance equals the sum of the shares where bounded and is `inf` where the gradient has a
    relative component above `null_tolerance` along a null direction.
    """
    r = analysis.rank
    projections = gradient @ analysis.eigenvectors
    shares = projections[:, :r] ** 2 / analysis.eigenvalues[:r]
    norms = np.linalg.norm(gradient, axis=1)
    null_component = np.abs(projections[:, r:]).max(axis=1) if r < gradient.shape[1] else np.zeros(len(gradient))
    unbounded = null_component > null_tolerance * np.maximum(norms, np.finfo(float).tiny)
    variance = np.where(unbounded, np.inf, shares.sum(axis=1))
    return variance, shares, unbounded
