r"""Fisher information on the estimation scale: expected ($J^\top\Sigma^{-1}J$ + noise block) and observed.

For independent measurements with location $\mu_i(\theta) = h(y_i(\theta))$ and noise scale
$s_i(\theta)$, the expected Fisher information is

$$I(\theta) = \sum_i a_i\,\nabla\mu_i\nabla\mu_i^\top + c_i\,\nabla s_i\nabla s_i^\top,$$

with $a_i = 1/s_i^2$, $c_i = 2/s_i^2$ for normal noise and $a_i = c_i = 1/s_i^2$ for Laplace
noise. The observed Fisher information is the Hessian of the negative log-likelihood.
Both are with respect to the estimated parameters on their estimation scale.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._precision import require_float64
from ..problem import Problem
from ..simulate import Objective, SolverConfig, stored_call


@dataclasses.dataclass(frozen=True)
class FisherResult:
    """Expected and observed FIM at `theta`, labelled by `parameter_ids`, and their agreement."""

    parameter_ids: tuple[str, ...]
    theta: np.ndarray
    expected: np.ndarray
    observed: np.ndarray

    @property
    def relative_difference(self) -> float:
        """$\\|I_{obs} - I_{exp}\\|_F / \\|I_{exp}\\|_F$."""
        return float(np.linalg.norm(self.observed - self.expected) / np.linalg.norm(self.expected))

    @property
    def observed_min_eigenvalue(self) -> float:
        """Negative means the fit is not at a local minimum (or the Hessian is indefinite)."""
        return float(np.linalg.eigvalsh(self.observed).min())


def _locations_and_noise(objective: Objective, theta):
    d, s, _ = objective.differences_and_noise(theta)
    return d, s


def fisher_from_sensitivities(j_mu, j_s, s, distribution) -> jnp.ndarray:
    r"""$\sum_i a_i \nabla\mu_i\nabla\mu_i^\top + c_i \nabla s_i\nabla s_i^\top$ from the Jacobians
    `j_mu`, `j_s` `(n_meas, n_params)`, noise scales `s` and distribution codes (0 = normal)."""
    a = 1.0 / s**2
    c = jnp.where(distribution == 0, 2.0, 1.0) / s**2
    fim = (j_mu.T * a[None, :]) @ j_mu + (j_s.T * c[None, :]) @ j_s
    return 0.5 * (fim + fim.T)


@eqx.filter_jit
def expected_fisher_information(objective: Objective, theta) -> jnp.ndarray:
    """Expected FIM (forward sensitivities), including the block of estimated noise parameters."""

    def locations_and_noise(t):
        d, s = _locations_and_noise(objective, t)
        return (d, s), s

    (j_mu, j_s), s = jax.jacfwd(locations_and_noise, has_aux=True)(theta)
    return fisher_from_sensitivities(j_mu, j_s, s, objective.distribution)


@eqx.filter_jit
def observed_fisher_information(objective: Objective, theta) -> jnp.ndarray:
    """Observed FIM: the exact Hessian of the NLL (forward-over-forward AD)."""
    hessian = jax.jacfwd(jax.jacfwd(objective.nll))(theta)
    return 0.5 * (hessian + hessian.T)


def fisher_information(problem: Problem, x, *, objective: Objective | None = None,
                       config: SolverConfig = SolverConfig()) -> FisherResult:
    """Both FIMs of `problem` at `x` (the estimated parameters on the estimation scale).

    `objective`: the problem's compiled objective if built already (else built with `config`).
    """
    require_float64()
    objective = objective or Objective.from_problem(problem, config)
    theta = np.asarray(x, dtype=np.float64)
    return FisherResult(
        parameter_ids=tuple(problem.parameter_ids),
        theta=theta,
        expected=np.asarray(stored_call(expected_fisher_information, objective, theta)),
        observed=np.asarray(stored_call(observed_fisher_information, objective, theta)),
    )


def to_linear_scale(fim: np.ndarray, theta_linear: np.ndarray, scales) -> np.ndarray:
    r"""FIM with respect to the linear-scale parameters: $D^{-1} I D^{-1}$, $D = \mathrm{diag}(\partial p/\partial\theta)$."""
    factor = np.array(
        [1.0 if s == "lin" else p if s == "log" else p * np.log(10.0) for p, s in zip(theta_linear, scales)]
    )
    return fim / np.outer(factor, factor)
