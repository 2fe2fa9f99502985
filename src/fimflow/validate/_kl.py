r"""Kullback–Leibler divergence between the data distributions of two parameter vectors.

The measurements are independent given $\theta$; on its transformation scale $h$ (lin, log,
log10) measurement $i$ is normal with mean $\mu_i = h(y_i(\theta))$ and sd $s_i(\theta)$, or
Laplace with scale $b_i(\theta)$. KL is invariant under the bijection $h$, so per measurement

- normal: $\log\frac{s'}{s} + \frac{s^2 + (\mu - \mu')^2}{2 s'^2} - \frac12$,
- Laplace: $\log\frac{b'}{b} + \frac{|\mu - \mu'|}{b'} + \frac{b}{b'} e^{-|\mu - \mu'|/b} - 1$,

with the primed values at $\theta'$ (noise scales may depend on $\theta$: estimated σ, noise
formulas). Summed, $\mathrm{KL}(p_\theta \,\|\, p_{\theta'})$; for $\theta' = \theta + \delta$ it is
$\tfrac12 \delta^\top I(\theta)\, \delta + O(\|\delta\|^3)$, $I$ the expected Fisher information —
exactly so for a model linear in $\theta$ with fixed noise. `monte_carlo_kl` estimates the same
divergence as the mean log-likelihood ratio over data simulated at $\theta$ (a check of the
closed forms).
"""

import jax
import jax.numpy as jnp
import numpy as np

from ..simulate import Objective
from ..problem import from_linear_by_code


def _means_and_scales(objective: Objective, theta):
    y, s, ok = objective.predictions_and_noise(jnp.asarray(theta, dtype=jnp.float64))
    if not bool(ok):
        raise ValueError("the simulation failed at the given parameters: no divergence to compute.")
    return np.asarray(from_linear_by_code(y, objective.transformation)), np.asarray(s)


def kl_terms(objective: Objective, theta, theta_other) -> np.ndarray:
    """Per measurement, KL(p_theta || p_theta_other) of its distribution (see the module notes)."""
    (mu, s), (mu2, s2) = _means_and_scales(objective, theta), _means_and_scales(objective, theta_other)
    gap = np.abs(mu - mu2)
    normal = np.log(s2 / s) + (s**2 + gap**2) / (2.0 * s2**2) - 0.5
    laplace = np.log(s2 / s) + gap / s2 + (s / s2) * np.exp(-gap / s) - 1.0
    return np.where(np.asarray(objective.distribution) == 0, normal, laplace)


def kl_divergence(objective: Objective, theta, theta_other) -> float:
    """KL(p_theta || p_theta_other) of the whole data set (independent measurements), in nats.

    **Arguments:** `objective` (`Objective.from_problem`), two parameter vectors on the
    estimation scale. **Raises:** `ValueError` where a simulation fails."""
    return float(np.sum(kl_terms(objective, theta, theta_other)))


def _log_density(z, mu, s, distribution):
    normal = -0.5 * ((z - mu) / s) ** 2 - np.log(np.sqrt(2.0 * np.pi) * s)
    laplace = -np.abs(z - mu) / s - np.log(2.0 * s)
    return np.where(distribution == 0, normal, laplace)


def monte_carlo_kl(objective: Objective, theta, theta_other, n_datasets: int, seed: int = 0) -> tuple[float, float]:
    """KL(p_theta || p_theta_other) as the mean over `n_datasets` data sets drawn at `theta` of
    log p_theta(data) - log p_theta_other(data): `(estimate, standard error)`."""
    (mu, s), (mu2, s2) = _means_and_scales(objective, theta), _means_and_scales(objective, theta_other)
    distribution = np.asarray(objective.distribution)
    rng = np.random.default_rng(seed)
    noise = np.where(distribution == 0, rng.standard_normal((n_datasets, mu.size)),
                     rng.laplace(0.0, 1.0, (n_datasets, mu.size)))
    z = mu + s * noise  # data on the transformation scale (the Jacobian of h cancels in the ratio)
    ratio = np.sum(_log_density(z, mu, s, distribution) - _log_density(z, mu2, s2, distribution), axis=1)
    return float(ratio.mean()), float(ratio.std(ddof=1) / np.sqrt(n_datasets))
