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

from ..identify import EigenAnalysis
from ..simulate import Objective
from ..simulate import SolverConfig
from ..simulate import stored_call


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
    ys, obs, _ = objective.condition_curve(theta, condition, times)
    return jnp.concatenate([ys, obs], axis=1)[:, column]


@eqx.filter_jit
def _prediction_jacobian(objective: Objective, theta, condition, times, column):
    return jax.jacfwd(lambda t: _prediction(objective, t, condition, times, column))(theta)


def check_prediction(problem, spec: PredictionSpec) -> int:
    """Check a prediction against a problem; return its column in [states, observables].

    **Raises:** `ValueError` naming the prediction for an unknown condition, state or observable.
    """
    model = problem.model
    if spec.condition not in problem.condition_ids:
        raise ValueError(
            f"prediction `{spec.id}`: unknown condition {spec.condition!r}; known {list(problem.condition_ids)}."
        )
    if spec.state is not None:
        if spec.state not in model.state_names:
            raise ValueError(f"prediction `{spec.id}`: {spec.state!r} is not a state of the model {list(model.state_names)}.")
        return model.state_names.index(spec.state)
    if spec.observable not in model.observable_names:
        raise ValueError(
            f"prediction `{spec.id}`: {spec.observable!r} is not an observable of the model {list(model.observable_names)}."
        )
    return len(model.state_names) + model.observable_names.index(spec.observable)


def prediction_and_gradient(objective: Objective, theta, spec: PredictionSpec, problem):
    """Values of the prediction at its (sorted) times and their gradient `(n_times, n_params)`."""
    column = check_prediction(problem, spec)
    times = jnp.asarray(sorted(spec.times), dtype=jnp.float64)
    setting = (objective, problem.condition_ids.index(spec.condition), times, column)
    values, gradient = stored_call(_prediction_and_jacobian, setting, theta)
    return np.asarray(values), np.asarray(gradient)


def _prediction_and_jacobian(setting, theta):
    objective, condition, times, column = setting
    return (_prediction(objective, theta, condition, times, column),
            _prediction_jacobian(objective, theta, condition, times, column))


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


def default_predictions(problem, *, n_points: int = 61, horizon: float = 1.5) -> list[PredictionSpec]:
    """Every observable in every condition on an even grid from the condition's start (0 for most
    models) to `horizon` × the last measured time."""
    t_max = float(np.max(problem.times[np.isfinite(problem.times)], initial=0.0)) * horizon
    return [
        PredictionSpec(id=f"{obs}__{cond}", condition=cond, observable=obs,
                       times=tuple(float(t) for t in np.linspace(start, max(t_max, start), n_points)))
        for cond, start in zip(problem.condition_ids, problem.start_times)
        for obs in problem.observable_ids
    ]


def prediction_bands(problem, x, specs, analysis: EigenAnalysis, *, level: float = 0.95,
                     objective: Objective | None = None, config: SolverConfig = SolverConfig()):
    """Pointwise delta-method bands and per-direction contributions of the predictions `specs`
    at `x` (estimation scale), from the eigen-analysis `analysis` of the FIM at `x`.
    `objective`: the problem's compiled objective if built already (else built with `config`).

    **Returns:** `(bands, contributions)` DataFrames. `bands`: prediction, time, value,
    variance, std, lower, upper, unbounded. `contributions`: prediction, time, direction
    (1-based eigen-direction), eigenvalue, share (its term of the variance) and fraction
    (share / variance).
    """
    import pandas as pd
    from scipy.special import ndtri  # the normal quantile without importing scipy.stats (0.7 s)

    objective = objective or Objective.from_problem(problem, config)
    z = float(ndtri(0.5 + level / 2))
    band_rows, share_rows = [], []
    for spec in specs:
        values, gradient = prediction_and_gradient(objective, x, spec, problem)
        variance, shares, unbounded = delta_method(gradient, analysis)
        std = np.sqrt(variance)
        for i, t in enumerate(sorted(spec.times)):
            band_rows.append(
                {"prediction": spec.id, "time": t, "value": values[i], "variance": variance[i], "std": std[i],
                 "lower": values[i] - z * std[i], "upper": values[i] + z * std[i], "unbounded": bool(unbounded[i])}
            )
            for k in range(shares.shape[1]):
                share_rows.append(
                    {"prediction": spec.id, "time": t, "direction": k + 1, "eigenvalue": analysis.eigenvalues[k],
                     "share": shares[i, k],
                     "fraction": shares[i, k] / variance[i] if np.isfinite(variance[i]) and variance[i] > 0 else np.nan}
                )
    return pd.DataFrame(band_rows), pd.DataFrame(share_rows)


def spread_times(times, n: int) -> tuple[float, ...]:
    """Up to `n` of the sorted distinct `times`, evenly spread by position, first and last included."""
    times = sorted(set(float(t) for t in times))
    if n >= len(times):
        return tuple(times)
    if n <= 0:
        return ()
    if n == 1:
        return (times[-1],)
    picks = np.unique(np.round(np.linspace(0, len(times) - 1, n)).astype(int))
    return tuple(times[i] for i in picks)


def compare_bands(delta, profiles, ensemble):
    """One row per prediction and time: the delta-method band beside the prediction-profile
    interval (at the profiled times, else NaN) and the ensemble band.

    **Arguments:** `delta` (`prediction_bands`), `profiles` (prediction profile bands) and
    `ensemble` (ensemble bands) tables, each with prediction, time, lower, upper.

    **Returns:** prediction, time, value, `delta_lower/upper`, `profile_lower/upper`,
    `profile_lower_end/upper_end` (how each profile side ended: only "crossed" is a confidence
    bound; "max_range", "max_points" or "failed" mark an open side at the furthest value reached),
    `ensemble_lower/upper` and `profile_width_ratio` (profile width / delta-method width).
    """
    keys = ["prediction", "time"]

    def renamed(table, prefix):
        out = table[keys + ["lower", "upper"]].rename(columns={"lower": f"{prefix}_lower", "upper": f"{prefix}_upper"})
        return out.astype({"time": np.float64})

    out = delta[keys + ["value"]].astype({"time": np.float64})
    out = out.merge(renamed(delta, "delta"), on=keys, how="left")
    out = out.merge(renamed(profiles, "profile"), on=keys, how="left")
    ends = [c for c in ("lower_end", "upper_end") if c in profiles]
    out = out.merge(profiles[keys + ends].astype({"time": np.float64}).rename(columns={c: f"profile_{c}" for c in ends}),
                    on=keys, how="left")
    out = out.merge(renamed(ensemble, "ensemble"), on=keys, how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["profile_width_ratio"] = (out["profile_upper"] - out["profile_lower"]) / (out["delta_upper"] - out["delta_lower"])
    return out
