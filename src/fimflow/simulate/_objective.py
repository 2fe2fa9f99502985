r"""Predictions, residuals and the negative log-likelihood of a problem on the estimation scale.

For measurement $m_i$ with prediction $y_i(\theta)$, transformation $h$ (lin/log/log10) and
noise scale $s_i$:

- normal: $-\log p_i = \tfrac12 r_i^2 + \log(\sqrt{2\pi}\,s_i) + \log J_i$,
  $r_i = (h(y_i) - h(m_i))/s_i$;
- Laplace: $-\log p_i = |h(y_i) - h(m_i)|/s_i + \log(2 s_i) + \log J_i$;

with $J_i = 1$, $m_i$ or $m_i \ln 10$ for lin, log and log10 (the density of $m_i$ itself, as
in PEtab).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..problem import prior_nll
from ..problem import Problem
from ..problem import from_linear_by_code, scale_codes, to_linear_by_code
from ._solve import SolverConfig, observables_at, solve_condition


class Objective(eqx.Module):
    """The problem as arrays, with pure functions of the estimated parameters `theta`.

    Build it with `Objective.from_problem(problem, config)`; every method is traceable and
    forward-mode differentiable.
    """

    model: eqx.Module
    config: SolverConfig
    estimated_index: Int[Array, " n_params"]
    scale_codes: Int[Array, " n_params"]
    fixed_values: Float[Array, " n_all"]
    condition_parameter_index: Int[Array, "n_conditions n_model_params"]
    condition_parameter_value: Float[Array, "n_conditions n_model_params"]
    times: Float[Array, "n_conditions n_times"]
    condition_index: Int[Array, " n_meas"]
    time_index: Int[Array, " n_meas"]
    observable_index: Int[Array, " n_meas"]
    values: Float[Array, " n_meas"]
    noise_index: Int[Array, "n_meas n_noise_params"]
    noise_value: Float[Array, "n_meas n_noise_params"]
    observable_parameter_index: Int[Array, "n_meas n_obs_params"]
    observable_parameter_value: Float[Array, "n_meas n_obs_params"]
    preequilibration: Bool[Array, " n_conditions"] | None
    preequilibration_parameter_index: Int[Array, "n_conditions n_model_params"] | None
    preequilibration_parameter_value: Float[Array, "n_conditions n_model_params"] | None
    transformation: Int[Array, " n_meas"]
    distribution: Int[Array, " n_meas"]
    noise_offset: Float[Array, " n_meas"]
    curve_measurement: Int[Array, "n_conditions n_obs"]
    prior_codes: Int[Array, " n_params"]
    prior_parameters: Float[Array, "n_params 2"]
    prior_log_mass: Float[Array, " n_params"]
    estimated_noise: bool = eqx.field(static=True)
    all_normal: bool = eqx.field(static=True)
    noise_formulas: bool = eqx.field(static=True)
    steady_state_times: bool = eqx.field(static=True)
    has_priors: bool = eqx.field(static=True)

    @classmethod
    def from_problem(cls, problem: Problem, config: SolverConfig = SolverConfig()) -> "Objective":
        table = problem.parameters
        est = table.estimated_index
        n = problem.n_measurements
        noise_index = np.asarray(problem.noise_index).reshape(n, -1)
        noise_value = np.asarray(problem.noise_value, dtype=np.float64).reshape(n, -1)
        noise_formulas = hasattr(problem.model, "measurement_noise")
        if noise_formulas:
            estimated_noise = True  # a noise formula may use any parameter
            offset = np.full(n, 1.0 - 2.0 * np.log(1e-300))
        else:
            estimated_noise = bool(np.any(np.isin(noise_index, est)))
            # offset K_i with 2 log s_i + K_i >= 1 over the bounds, for the least-squares form
            lower = np.where(table.estimate, table.lower, table.nominal)
            s_min = np.where(noise_index[:, 0] >= 0, lower[np.maximum(noise_index[:, 0], 0)], noise_value[:, 0])
            offset = 1.0 - 2.0 * np.log(np.maximum(s_min, 1e-300))
        if problem.observable_parameter_index is None:
            op_index, op_value = np.zeros((n, 0), dtype=int), np.zeros((n, 0))
        else:
            op_index, op_value = problem.observable_parameter_index, problem.observable_parameter_value
        if table.has_priors:
            prior_codes, prior_parameters = table.prior_codes[est], table.prior_parameters[est]
        else:
            prior_codes, prior_parameters = np.zeros(len(est), dtype=int), np.zeros((len(est), 2))
        log_mass = np.zeros(len(est)) if table.prior_log_mass is None or not table.has_priors else table.prior_log_mass[est]
        pre = problem.preequilibration
        has_pre = pre is not None and bool(np.any(pre))
        return cls(
            model=problem.model,
            config=config,
            estimated_index=jnp.asarray(est),
            scale_codes=jnp.asarray(scale_codes(table.estimated_scales)),
            fixed_values=jnp.asarray(table.nominal),
            condition_parameter_index=jnp.asarray(problem.condition_parameter_index),
            condition_parameter_value=jnp.asarray(_constants(problem.condition_parameter_index, problem.condition_parameter_value)),
            times=jnp.asarray(problem.times),
            condition_index=jnp.asarray(problem.condition_index),
            time_index=jnp.asarray(problem.time_index),
            observable_index=jnp.asarray(problem.observable_index),
            values=jnp.asarray(problem.values),
            noise_index=jnp.asarray(noise_index),
            noise_value=jnp.asarray(_constants(noise_index, noise_value)),
            observable_parameter_index=jnp.asarray(op_index, dtype=int),
            observable_parameter_value=jnp.asarray(_constants(op_index, op_value)),
            preequilibration=jnp.asarray(pre) if has_pre else None,
            preequilibration_parameter_index=jnp.asarray(problem.preequilibration_parameter_index) if has_pre else None,
            preequilibration_parameter_value=jnp.asarray(
                _constants(problem.preequilibration_parameter_index, problem.preequilibration_parameter_value)
            ) if has_pre else None,
            transformation=jnp.asarray(problem.transformation),
            distribution=jnp.asarray(problem.distribution),
            noise_offset=jnp.asarray(offset),
            curve_measurement=jnp.asarray(_first_measurements(problem)),
            prior_codes=jnp.asarray(prior_codes),
            prior_parameters=jnp.asarray(prior_parameters),
            prior_log_mass=jnp.asarray(log_mass, dtype=jnp.float64),
            has_priors=table.has_priors,
            estimated_noise=estimated_noise,
            all_normal=bool(np.all(problem.distribution == 0)),
            noise_formulas=noise_formulas,
            steady_state_times=bool(np.any(np.isinf(problem.times))),
        )

    def with_times(self, times) -> "Objective":
        """The same objective simulated on another time grid (for predictions)."""
        return eqx.tree_at(lambda o: o.times, self, jnp.asarray(times, dtype=jnp.float64))

    def parameters_linear(self, theta: Float[Array, " n_params"]) -> Float[Array, " n_all"]:
        """All problem parameters on the linear scale: fixed ones nominal, estimated from theta."""
        return self.fixed_values.at[self.estimated_index].set(to_linear_by_code(theta, self.scale_codes))

    def model_parameters(self, theta) -> Float[Array, "n_conditions n_model_params"]:
        """Model parameters of every condition (linear scale)."""
        return _select(self.parameters_linear(theta), self.condition_parameter_index, self.condition_parameter_value)

    def simulate(self, theta) -> tuple[Float[Array, "n_conditions n_times n_states"], Float[Array, "n_conditions n_times n_obs"], Bool[Array, " n_conditions"]]:
        """States, observables (untransformed) and success of every condition on `times`."""
        thetas = self.model_parameters(theta)
        ys, ok = self._solve(theta, thetas)
        obs = jax.vmap(lambda p, ts, y: observables_at(self.model, p, ts, y))(thetas, self.times, ys)
        return ys, obs, ok

    def _solve(self, theta, thetas):
        steady = self.steady_state_times
        if self.preequilibration is None:
            return self._over_conditions(lambda p, ts: solve_condition(self.model, p, ts, self.config, None, steady),
                                         thetas, self.times)
        pre = _select(self.parameters_linear(theta), self.preequilibration_parameter_index, self.preequilibration_parameter_value)
        return self._over_conditions(
            lambda p, ts, q, use: solve_condition(self.model, p, ts, self.config, (q, use), steady),
            thetas, self.times, pre, self.preequilibration)

    def _over_conditions(self, solve, *per_condition):
        """`solve` of every condition (the leading axis of `per_condition`), one after another
        or as one vectorised solve (`SolverConfig.conditions`; a single condition is solved
        vectorised either way, which spares the loop's few percent)."""
        if self.config.conditions == "batched" or per_condition[0].shape[0] == 1:
            return jax.vmap(solve)(*per_condition)
        return jax.lax.map(lambda args: solve(*args), per_condition)

    def condition_curve(self, theta, condition, times) -> tuple[Float[Array, "n_times n_states"], Float[Array, "n_times n_obs"], Bool[Array, ""]]:
        """States and observables of one condition at other `times` (sorted, finite), e.g.
        for predictions and plots; placeholders of an observable take the values of its first
        measurement in that condition (NaN if it has none)."""
        p = self.model_parameters(theta)[condition]
        pre = None
        if self.preequilibration is not None:
            q = _select(self.parameters_linear(theta), self.preequilibration_parameter_index, self.preequilibration_parameter_value)
            pre = (q[condition], self.preequilibration[condition])
        ys, ok = solve_condition(self.model, p, times, self.config, pre, False)
        if not self.noise_formulas:
            return ys, observables_at(self.model, p, times, ys), ok
        first = self.curve_measurement[condition]
        op = jnp.where(
            (first >= 0)[:, None],
            _select(self.parameters_linear(theta), self.observable_parameter_index, self.observable_parameter_value)[jnp.maximum(first, 0)],
            jnp.nan,
        )

        def at(t, y):
            per_observable = jax.vmap(lambda o, params: self.model.measurement_observables(t, y, p, params)[0][o])
            return per_observable(jnp.arange(op.shape[0]), op)

        return ys, jax.vmap(at)(times, ys), ok

    def curves(self, theta, times) -> tuple[Float[Array, "n_conditions n_times n_states"], Float[Array, "n_conditions n_times n_obs"], Bool[Array, " n_conditions"]]:
        """`condition_curve` of every condition; `times` is `(n_conditions, n_times)`."""
        return self._over_conditions(lambda c, ts: self.condition_curve(theta, c, ts), jnp.arange(times.shape[0]), times)

    def predictions_and_noise(self, theta) -> tuple[Float[Array, " n_meas"], Float[Array, " n_meas"], Bool[Array, ""]]:
        """Simulated value (untransformed) and noise scale of every measurement, and whether all
        solves succeeded (one simulation)."""
        p = self.parameters_linear(theta)
        noise_params = _select(p, self.noise_index, self.noise_value)
        if not self.noise_formulas:
            _, obs, ok = self.simulate(theta)
            y = obs[self.condition_index, self.time_index, self.observable_index]
            return y, noise_params[:, 0], jnp.all(ok)
        thetas = self.model_parameters(theta)
        ys, ok = self._solve(theta, thetas)
        c, k = self.condition_index, self.time_index
        obs_params = _select(p, self.observable_parameter_index, self.observable_parameter_value)

        def one(t, y, q, op, npar, o):
            observables, env = self.model.measurement_observables(t, y, q, op)
            noise = self.model.measurement_noise(env, observables, npar)
            return observables[o], noise[o]

        y, s = jax.vmap(one)(self.times[c, k], ys[c, k], thetas[c], obs_params, noise_params, self.observable_index)
        return y, s, jnp.all(ok)

    def predictions(self, theta) -> tuple[Float[Array, " n_meas"], Bool[Array, ""]]:
        """Simulated value of every measurement (untransformed), and whether all solves succeeded."""
        y, _, ok = self.predictions_and_noise(theta)
        return y, ok

    def noise(self, theta) -> Float[Array, " n_meas"]:
        """Noise scale of every measurement (σ for normal, b for Laplace); simulates only when
        noise formulas depend on the model."""
        if not self.noise_formulas:
            return _select(self.parameters_linear(theta), self.noise_index, self.noise_value)[:, 0]
        return self.predictions_and_noise(theta)[1]

    def differences_and_noise(self, theta):
        """h(prediction) - h(measurement) on the transformation scale, noise scales, success."""
        y, s, ok = self.predictions_and_noise(theta)
        return self.difference_of(y), s, ok

    def difference_of(self, y) -> Float[Array, " n_meas"]:
        """h(y) - h(measurement) for predictions `y`."""
        return from_linear_by_code(y, self.transformation) - from_linear_by_code(self.values, self.transformation)

    def differences(self, theta) -> tuple[Float[Array, " n_meas"], Bool[Array, ""]]:
        """h(prediction) - h(measurement) on the transformation scale."""
        d, _, ok = self.differences_and_noise(theta)
        return d, ok

    def nll_terms(self, theta) -> Float[Array, " n_meas"]:
        """Negative log-likelihood of each measurement (NaN where the simulation failed)."""
        return self.nll_terms_of(*self.differences_and_noise(theta))

    def nll_terms_of(self, d, s, ok) -> Float[Array, " n_meas"]:
        """`nll_terms` from differences `d`, noise scales `s` and success `ok`."""
        normal = 0.5 * (d / s) ** 2 + jnp.log(jnp.sqrt(2 * jnp.pi) * s)
        laplace = jnp.abs(d) / s + jnp.log(2 * s)
        jacobian = jnp.where(
            self.transformation == 1,
            jnp.log(self.values),
            jnp.where(self.transformation == 2, jnp.log(self.values * jnp.log(10.0)), 0.0),
        )
        terms = jnp.where(self.distribution == 0, normal, laplace) + jacobian
        return jnp.where(ok, terms, jnp.nan)

    def nll(self, theta) -> Float[Array, ""]:
        """Negative log-likelihood with all normalisation constants (NaN on a failed solve)."""
        return jnp.sum(self.nll_terms(theta))

    def prior(self, theta) -> Float[Array, ""]:
        """Negative log prior density of the estimated parameters (0 without priors)."""
        if not self.has_priors:
            return jnp.zeros(())
        x = to_linear_by_code(theta, self.scale_codes)
        return prior_nll(theta, x, self.prior_codes, self.prior_parameters, self.prior_log_mass)

    def objective(self, theta) -> Float[Array, ""]:
        """What the fit minimises: the NLL plus the negative log prior (if any)."""
        return self.nll(theta) + self.prior(theta)

    def residuals(self, theta) -> Float[Array, " n_res"]:
        r"""Residuals whose half sum of squares is the NLL up to a constant (normal noise only).

        Weighted residuals $r_i = (h(y_i) - h(m_i))/\sigma_i$ and, when noise parameters are
        estimated, $\sqrt{2\log\sigma_i + K_i}$ with $K_i$ keeping the root real over the
        bounds: $\tfrac12\sum r^2 = \mathrm{NLL} + \text{const}$.
        """
        return self.residuals_and_objective(theta)[0]

    def residuals_and_objective(self, theta) -> tuple[Float[Array, " n_res"], Float[Array, ""]]:
        """`residuals` and `objective` from one simulation."""
        d, s, ok = self.differences_and_noise(theta)
        r = d / s
        if self.estimated_noise:
            r = jnp.concatenate([r, jnp.sqrt(2 * jnp.log(s) + self.noise_offset)])
        value = jnp.sum(self.nll_terms_of(d, s, ok)) + self.prior(theta)
        return jnp.where(ok, r, jnp.nan), value


def _first_measurements(problem: Problem) -> np.ndarray:
    """Index of the first measurement of each (condition, observable), -1 where none."""
    first = np.full((len(problem.condition_ids), len(problem.observable_ids)), -1)
    for i in range(problem.n_measurements - 1, -1, -1):
        first[problem.condition_index[i], problem.observable_index[i]] = i
    return first


def _constants(index, value) -> np.ndarray:
    """Constant values with NaN only where a parameter is used instead (index >= 0)."""
    index = np.asarray(index)
    value = np.asarray(value, dtype=np.float64)
    return np.where(index >= 0, 0.0, value)


def _select(p, index, value):
    """`p[index]` where `index >= 0`, else the constant `value` (element-wise)."""
    return jnp.where(index >= 0, p[jnp.maximum(index, 0)], value)
