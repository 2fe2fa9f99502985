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

from ._problem import SCALE_CODES, Problem
from ._simulate import SolverConfig, observables_at, solve_condition


def unscale(theta, codes):
    """Estimation scale -> linear scale, by scale code (0 lin, 1 log, 2 log10)."""
    return jnp.where(codes == 1, jnp.exp(theta), jnp.where(codes == 2, 10.0**theta, theta))


def transform(values, codes):
    """Observable transformation h by code (0 lin, 1 log, 2 log10)."""
    return jnp.where(codes == 1, jnp.log(values), jnp.where(codes == 2, jnp.log10(values), values))


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
    noise_index: Int[Array, " n_meas"]
    noise_value: Float[Array, " n_meas"]
    transformation: Int[Array, " n_meas"]
    distribution: Int[Array, " n_meas"]
    noise_offset: Float[Array, " n_meas"]
    estimated_noise: bool = eqx.field(static=True)
    all_normal: bool = eqx.field(static=True)

    @classmethod
    def from_problem(cls, problem: Problem, config: SolverConfig = SolverConfig()) -> "Objective":
        table = problem.parameters
        est = table.estimated_index
        noise_index = problem.noise_index
        estimated_noise = bool(np.any(np.isin(noise_index, est)))
        # offset K_i with 2 log s_i + K_i >= 1 over the bounds, for the least-squares form
        lower = np.where(table.estimate, table.lower, table.nominal)
        s_min = np.where(noise_index >= 0, lower[np.maximum(noise_index, 0)], problem.noise_value)
        offset = 1.0 - 2.0 * np.log(np.maximum(s_min, 1e-300))
        return cls(
            model=problem.model,
            config=config,
            estimated_index=jnp.asarray(est),
            scale_codes=jnp.asarray([SCALE_CODES[s] for s in table.estimated_scales], dtype=int),
            fixed_values=jnp.asarray(table.nominal),
            condition_parameter_index=jnp.asarray(problem.condition_parameter_index),
            condition_parameter_value=jnp.asarray(np.nan_to_num(problem.condition_parameter_value)),
            times=jnp.asarray(problem.times),
            condition_index=jnp.asarray(problem.condition_index),
            time_index=jnp.asarray(problem.time_index),
            observable_index=jnp.asarray(problem.observable_index),
            values=jnp.asarray(problem.values),
            noise_index=jnp.asarray(noise_index),
            noise_value=jnp.asarray(np.nan_to_num(problem.noise_value)),
            transformation=jnp.asarray(problem.transformation),
            distribution=jnp.asarray(problem.distribution),
            noise_offset=jnp.asarray(offset),
            estimated_noise=estimated_noise,
            all_normal=bool(np.all(problem.distribution == 0)),
        )

    def with_times(self, times) -> "Objective":
        """The same objective simulated on another time grid (for predictions)."""
        return eqx.tree_at(lambda o: o.times, self, jnp.asarray(times, dtype=jnp.float64))

    def parameters_linear(self, theta: Float[Array, " n_params"]) -> Float[Array, " n_all"]:
        """All problem parameters on the linear scale: fixed ones nominal, estimated from theta."""
        return self.fixed_values.at[self.estimated_index].set(unscale(theta, self.scale_codes))

    def model_parameters(self, theta) -> Float[Array, "n_conditions n_model_params"]:
        """Model parameters of every condition (linear scale)."""
        p = self.parameters_linear(theta)
        idx = self.condition_parameter_index
        return jnp.where(idx >= 0, p[jnp.maximum(idx, 0)], self.condition_parameter_value)

    def simulate(self, theta) -> tuple[Float[Array, "n_conditions n_times n_states"], Float[Array, "n_conditions n_times n_obs"], Bool[Array, " n_conditions"]]:
        """States, observables (untransformed) and success of every condition on `times`."""
        thetas = self.model_parameters(theta)
        ys, ok = jax.vmap(lambda p, ts: solve_condition(self.model, p, ts, self.config))(thetas, self.times)
        obs = jax.vmap(lambda p, ts, y: observables_at(self.model, p, ts, y))(thetas, self.times, ys)
        return ys, obs, ok

    def predictions(self, theta) -> tuple[Float[Array, " n_meas"], Bool[Array, ""]]:
        """Simulated value of every measurement (untransformed), and whether all solves succeeded."""
        _, obs, ok = self.simulate(theta)
        return obs[self.condition_index, self.time_index, self.observable_index], jnp.all(ok)

    def noise(self, theta) -> Float[Array, " n_meas"]:
        """Noise scale of every measurement (σ for normal, b for Laplace)."""
        p = self.parameters_linear(theta)
        return jnp.where(self.noise_index >= 0, p[jnp.maximum(self.noise_index, 0)], self.noise_value)

    def differences(self, theta) -> tuple[Float[Array, " n_meas"], Bool[Array, ""]]:
        """h(prediction) - h(measurement) on the transformation scale."""
        y, ok = self.predictions(theta)
        return transform(y, self.transformation) - transform(self.values, self.transformation), ok

    def nll_terms(self, theta) -> Float[Array, " n_meas"]:
        """Negative log-likelihood of each measurement (NaN where the simulation failed)."""
        d, ok = self.differences(theta)
        s = self.noise(theta)
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

    def residuals(self, theta) -> Float[Array, " n_res"]:
        r"""Residuals whose half sum of squares is the NLL up to a constant (normal noise only).

        Weighted residuals $r_i = (h(y_i) - h(m_i))/\sigma_i$ and, when noise parameters are
        estimated, $\sqrt{2\log\sigma_i + K_i}$ with $K_i$ keeping the root real over the
        bounds: $\tfrac12\sum r^2 = \mathrm{NLL} + \text{const}$.
        """
        d, ok = self.differences(theta)
        s = self.noise(theta)
        r = d / s
        if self.estimated_noise:
            r = jnp.concatenate([r, jnp.sqrt(2 * jnp.log(s) + self.noise_offset)])
        return jnp.where(ok, r, jnp.nan)
