r"""Scaling factors of observables solved in closed form inside the fit (hierarchical optimisation).

Relative data ($y = s\,h(x, \theta)$ with an unknown scale $s$ per observable or experiment)
give each scaling parameter an optimum in closed form: with normal noise on the linear scale
and noise scales $\sigma_i$ that do not depend on $s$,

$$s^* = \operatorname{clip}\Big(\frac{\sum_i h_i m_i/\sigma_i^2}{\sum_i h_i^2/\sigma_i^2},\;
s_{\min},\; s_{\max}\Big)$$

over the measurements $i$ that $s$ scales (a one-dimensional convex quadratic, so the clip is its
bounded minimum). The fit then searches the other parameters only, on the profile
$\min_s \mathrm{NLL}$ (variable projection: the residuals' Jacobian is differentiated through
$s^*$, so the Gauss-Newton/FIM model of the trust region is that of the profile), and reports
$s^*$ at the end. Loos et al., Bioinformatics 34, 4266 (2018); Schmiester et al., Bioinformatics
36, 594 (2020). The minimum is the same as the full problem's; the number of iterations and
the basins of attraction are not.

A parameter is profiled when, on the estimation problem as built: it enters only measurements'
observable placeholders (no model, noise or condition use, no prior, bounds not equal), every
measurement it enters uses it in one placeholder, with normal noise and no transformation, and
no other profiled scaling; and the observable is homogeneous of degree one in that placeholder
and its noise independent of it. The last two are checked by evaluating the model's own
observable and noise formulas at random arguments (placeholder scaled by two factors, relative
tolerance 1e-12), so any formula written so qualifies, not only a literal product.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ..problem import from_linear_by_code, to_linear_by_code
from ..simulate import Objective

_FACTORS = (2.0, 0.37)
_RTOL = 1e-12


def _random_arguments(objective: Objective, rng):
    n_states = len(objective.model.state_names)
    n_model = int(objective.condition_parameter_index.shape[1])
    n_observable = int(objective.observable_parameter_index.shape[1])
    n_noise = int(objective.noise_index.shape[1])
    draw = lambda n: jnp.asarray(rng.uniform(0.5, 2.0, n))  # noqa: E731
    return jnp.asarray(rng.uniform(0.5, 2.0)), draw(n_states), draw(n_model), draw(n_observable), draw(n_noise)


def _homogeneous(objective: Objective, observable: int, column: int) -> bool:
    """Observable `observable` is $\\lambda$ times itself with placeholder `column` times
    $\\lambda$, and its noise unchanged, at two random points."""
    model = objective.model
    rng = np.random.default_rng(20181101 + 1000 * observable + column)
    for _ in range(2):
        t, y, q, op, noise = _random_arguments(objective, rng)
        values, env = model.measurement_observables(t, y, q, op)
        sigma = model.measurement_noise(env, values, noise)[observable]
        base = float(values[observable])
        if not (np.isfinite(base) and base != 0.0 and np.isfinite(float(sigma))):
            return False
        for factor in _FACTORS:
            scaled, env_scaled = model.measurement_observables(t, y, q, op.at[column].multiply(factor))
            sigma_scaled = model.measurement_noise(env_scaled, scaled, noise)[observable]
            if abs(float(scaled[observable]) - factor * base) > _RTOL * abs(factor * base):
                return False
            if abs(float(sigma_scaled) - float(sigma)) > _RTOL * abs(float(sigma)):
                return False
    return True


def find_scalings(objective: Objective, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """For each measurement, the position (in the estimated parameters) of the scaling parameter
    that can be profiled in closed form, or -1 (see the module's conditions). `lower`/`upper`:
    the fit's bounds on the estimation scale (a parameter held by equal bounds is not profiled)."""
    n_meas = int(objective.values.shape[0])
    none = np.full(n_meas, -1)
    if not hasattr(objective.model, "measurement_observables"):
        return none
    placeholders = np.asarray(objective.observable_parameter_index)
    if placeholders.size == 0:
        return none
    other_uses = set(np.asarray(objective.noise_index).ravel().tolist())
    other_uses |= set(np.asarray(objective.condition_parameter_index).ravel().tolist())
    if objective.preequilibration_parameter_index is not None:
        other_uses |= set(np.asarray(objective.preequilibration_parameter_index).ravel().tolist())
    distribution = np.asarray(objective.distribution)
    transformation = np.asarray(objective.transformation)
    observable = np.asarray(objective.observable_index)
    prior = np.asarray(objective.prior_codes)
    owner = none.copy()
    claimed = np.zeros(n_meas, dtype=int)
    for j, g in enumerate(np.asarray(objective.estimated_index).tolist()):
        if lower[j] == upper[j] or prior[j] != 0 or g in other_uses:
            continue
        uses = placeholders == g
        rows = np.flatnonzero(uses.any(axis=1))
        if len(rows) == 0 or np.any(uses[rows].sum(axis=1) != 1):
            continue
        if np.any(distribution[rows] != 0) or np.any(transformation[rows] != 0):
            continue
        columns = np.argmax(uses[rows], axis=1)
        if not all(_homogeneous(objective, int(o), int(k)) for o, k in sorted(set(zip(observable[rows], columns)))):
            continue
        owner[rows] = j
        claimed[rows] += 1
    shared = np.unique(owner[claimed > 1])  # two scalings of one measurement: not separable
    owner[np.isin(owner, shared)] = -1
    return owner


class ProfiledObjective(Objective):
    """`Objective` whose predictions use the closed-form scalings `scaling_of` (per measurement,
    -1 for none) instead of the values in `theta`: its NLL is the profile over them."""

    scaling_of: jax.Array = None
    scaling_bounds: jax.Array = None  # (n_params, 2), linear scale

    def best_scalings(self, theta, y, s):
        """The closed-form scalings (linear scale, one per estimated parameter; the value in
        `theta` where none) and the predictions they give."""
        n = theta.shape[0]
        x = to_linear_by_code(theta, self.scale_codes)
        used = self.scaling_of >= 0
        owner = jnp.maximum(self.scaling_of, 0)
        h = jnp.where(used, y / x[owner], 0.0)
        w = jnp.where(used, 1.0 / s**2, 0.0)
        numerator = jax.ops.segment_sum(w * h * self.values, owner, n)
        denominator = jax.ops.segment_sum(w * h * h, owner, n)
        informative = denominator > 0
        best = jnp.clip(numerator / jnp.where(informative, denominator, 1.0), self.scaling_bounds[:, 0],
                        self.scaling_bounds[:, 1])
        best = jnp.where(informative, best, x)
        return best, jnp.where(used, h * best[owner], y)

    def predictions_and_noise(self, theta):
        y, s, ok = super().predictions_and_noise(theta)
        return self.best_scalings(theta, y, s)[1], s, ok

    def complete(self, theta):
        """`theta` with each profiled scaling at its closed-form value (estimation scale)."""
        y, s, _ = super().predictions_and_noise(theta)
        best = self.best_scalings(theta, y, s)[0]
        owners = jax.ops.segment_sum(jnp.where(self.scaling_of >= 0, 1, 0), jnp.maximum(self.scaling_of, 0),
                                     theta.shape[0]) > 0
        return jnp.where(owners, from_linear_by_code(best, self.scale_codes), theta)


def profiled(objective: Objective, lower: np.ndarray, upper: np.ndarray):
    """`(ProfiledObjective, lower, upper)` for a problem with closed-form scalings, the bounds
    holding each profiled scaling (it does not enter the profile) at a bound whose linear value
    is not zero (the closed form divides the predictions by it); `None` when it has none."""
    owner = find_scalings(objective, lower, upper)
    if not np.any(owner >= 0):
        return None
    linear = [np.asarray(to_linear_by_code(jnp.asarray(b), objective.scale_codes)) for b in (lower, upper)]
    fields = {name: getattr(objective, name) for name in objective.__dataclass_fields__}
    out = ProfiledObjective(**fields, scaling_of=jnp.asarray(owner), scaling_bounds=jnp.asarray(np.stack(linear, 1)))
    held = np.unique(owner[owner >= 0])
    lower, upper = lower.copy(), upper.copy()
    lower[held] = upper[held] = np.where(linear[1] != 0.0, upper, lower)[held]
    return out, lower, upper


def completed_scalings(objective: ProfiledObjective, thetas):
    """Each row of `thetas` with its closed-form scalings (one simulation each)."""
    return jax.vmap(objective.complete)(thetas)


__all__ = ["completed_scalings", "find_scalings", "profiled", "ProfiledObjective"]
