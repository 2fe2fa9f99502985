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
import pandas as pd

from ..simulate import Objective, stored_call
from ..problem import from_linear_by_code


def _transformed_means_and_scales(objective: Objective, theta):
    y, s, ok = objective.predictions_and_noise(theta)
    return from_linear_by_code(y, objective.transformation), s, ok


def means_and_scales(objective: Objective, theta) -> tuple[np.ndarray, np.ndarray]:
    """Each measurement's location on its transformation scale and its noise scale at `theta`.
    **Raises:** `ValueError` when the simulation fails."""
    mu, s, ok = stored_call(_transformed_means_and_scales, objective, np.asarray(theta, dtype=np.float64))
    if not bool(ok):
        raise ValueError("the simulation failed at the given parameters: no divergence to compute and no data "
                         "to simulate.")
    return np.asarray(mu), np.asarray(s)


def standard_noise(rng: np.random.Generator, distribution, size) -> np.ndarray:
    """Standard normal or standard Laplace draws (scale 1), by each measurement's distribution code
    (0 normal); `size` ends with the number of measurements."""
    return np.where(np.asarray(distribution) == 0, rng.standard_normal(size), rng.laplace(0.0, 1.0, size))


def kl_terms(objective: Objective, theta, theta_other) -> np.ndarray:
    """Per measurement, KL(p_theta || p_theta_other) of its distribution (see the module notes)."""
    return _kl_terms_from(objective, means_and_scales(objective, theta), theta_other)


def _kl_terms_from(objective: Objective, at_theta, theta_other) -> np.ndarray:
    """`kl_terms` with theta's means and scales `at_theta` already simulated."""
    (mu, s), (mu2, s2) = at_theta, means_and_scales(objective, theta_other)
    gap = np.abs(mu - mu2)
    normal = np.log(s2 / s) + (s**2 + gap**2) / (2.0 * s2**2) - 0.5
    laplace = np.log(s2 / s) + gap / s2 + (s / s2) * np.exp(-gap / s) - 1.0
    return np.where(np.asarray(objective.distribution) == 0, normal, laplace)


def kl_divergence(objective: Objective, theta, theta_other) -> float:
    """KL(p_theta || p_theta_other) of the whole data set (independent measurements), in nats.

    **Arguments:** `objective` (`Objective.from_problem`), two parameter vectors on the
    estimation scale. **Raises:** `ValueError` where a simulation fails."""
    return float(np.sum(kl_terms(objective, theta, theta_other)))


def monte_carlo_kl(objective: Objective, theta, theta_other, n_datasets: int, seed: int = 0) -> tuple[float, float]:
    """KL(p_theta || p_theta_other) as the mean over `n_datasets` data sets drawn at `theta` of
    log p_theta(data) - log p_theta_other(data): `(estimate, standard error)`."""
    (mu, s), (mu2, s2) = means_and_scales(objective, theta), means_and_scales(objective, theta_other)
    noise = standard_noise(np.random.default_rng(seed), objective.distribution, (n_datasets, mu.size))
    z = mu + s * noise  # data on the transformation scale
    # the objective's negative log densities (their Jacobian term of h is the same in both: it cancels)
    def log_ratio(data):  # one data set
        return jnp.sum(objective.nll_terms_of(mu2 - data, s2, True) - objective.nll_terms_of(mu - data, s, True))

    ratio = np.asarray(jax.vmap(log_ratio)(z))
    return float(ratio.mean()), float(ratio.std(ddof=1) / np.sqrt(n_datasets))


KL_RADII = (0.25, 0.5, 1.0, 1.5, 1.96, 2.5, 3.0, 4.0)  # in Wald units: 1.96 is the 95 % reach
KL_COLUMNS = ("direction", "kind", "eigenvalue", "r", "kl", "quadratic", "ratio")


def kl_along_directions(objective: Objective, theta, fim, parameter_ids, *, radii=KL_RADII,
                        relative_tolerance: float = 1e-8):
    r"""The exact KL from `theta` along each eigen-direction $v_k$ of `fim` (step
    $r v_k/\sqrt{\lambda_k}$) and each parameter axis $e_i$ (step $r e_i/\sqrt{I_{ii}}$), for $\pm r$
    in `radii`, against the quadratic picture $\tfrac12 r^2$.

    **Returns:** `(table, reach)`. `table`: one row per direction and signed radius with
    `direction` (`"v1"`…, largest eigenvalue first, or a parameter id), `kind` (`"eigen"`,
    `"axis"`), `eigenvalue` ($\lambda_k$ or $I_{ii}$), `r`, `kl` (NaN where the simulation fails),
    `quadratic` ($\tfrac12 r^2$) and `ratio` (`kl / quadratic`). `reach`: per direction, the
    smallest $|r|$ at which the ratio leaves [0.9, 1.1] on either side (`inf`: never within the
    radii; NaN for a null direction, $\lambda_k \le$ `relative_tolerance` × the largest, whose
    Wald reach is infinite and which the table leaves out)."""
    fim = np.asarray(fim, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    lam, vectors = np.linalg.eigh(fim)
    order = np.argsort(lam)[::-1]
    directions = [(f"v{k + 1}", "eigen", lam[j], vectors[:, j]) for k, j in enumerate(order)]
    directions += [(pid, "axis", fim[i, i], np.eye(theta.size)[i]) for i, pid in enumerate(parameter_ids)]
    floor = relative_tolerance * max(float(lam.max()), 0.0)
    rows, reach, at_theta = [], {}, means_and_scales(objective, theta)  # theta's simulation, once
    for name, kind, value, vector in directions:
        if not value > floor:
            reach[name] = np.nan
            continue
        leaves = np.inf
        for r in sorted({s * float(r) for r in radii for s in (-1.0, 1.0)}, key=abs):
            try:
                kl = float(np.sum(_kl_terms_from(objective, at_theta, theta + r * vector / np.sqrt(value))))
            except ValueError:
                kl = np.nan
            quadratic = 0.5 * r**2
            ratio = kl / quadratic
            if not 0.9 <= ratio <= 1.1:  # NaN included: the picture does not hold there
                leaves = min(leaves, abs(r))
            rows.append((name, kind, float(value), r, kl, quadratic, ratio))
        reach[name] = leaves
    return pd.DataFrame(rows, columns=list(KL_COLUMNS)), reach
