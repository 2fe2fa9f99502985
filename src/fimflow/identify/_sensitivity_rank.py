r"""The noise-weighted sensitivity matrix of a design, its numerical rank and null space: the linear
algebra under the numerical structural identifiability of `_structural`.

The *sensitivity matrix* of a design is that of the whole observation model on the estimation
scale, weighted by the noise,

$$S(\theta) = \begin{pmatrix} \sqrt{a_i}\,\nabla\mu_i(\theta)^\top \\ \sqrt{c_i}\,\nabla s_i(\theta)^\top \end{pmatrix}_{i},
\qquad S^\top S = \sum_i a_i\nabla\mu_i\nabla\mu_i^\top + c_i\nabla s_i\nabla s_i^\top = I(\theta),$$

locations $\mu_i = h(y_i)$, noise scales $s_i$, weights $a_i = 1/s_i^2$, $c_i = 2/s_i^2$ (normal)
or $1/s_i^2$ (Laplace) as in `_fisher.fisher_from_sensitivities`: $S^\top S$ is the expected
Fisher information, so estimated noise parameters are identified through the spread, not
reported as null directions. With the SVD $S = U\Sigma V^\top$ the rank counts
$\sigma_k > \tau\sigma_1$ ($\tau$ = `relative_tolerance`); the remaining right singular vectors
span the *null space*, directions along which no measurement of the design changes to first order.

**The tolerance.** Exact symmetries cancel to round-off. On dense designs (50 times, default
solver) the PK model with D, V, CL estimated gives $\sigma_3/\sigma_1$ = 1.2e-16 to 2.9e-16
(fit and 5 random points), a Michaelis-Menten decay seen through a scale ($x_0, V_{max}, K_m, s$)
at most 1.4e-16 (9 points, also at rtol 1e-6), Robertson's stiff kinetics with an initial
amount and an observation scale at most 2.6e-16 (7 points). The smallest *genuine* relative
singular values met at random points were 2.9e-12 (PK, $CL/V$ = 61 per hour sampled every half
hour) and 2.4e-10 (Michaelis-Menten): the default $\tau = 10^{-13}$ lies 350 times above the
round-off and 30 times below the weakest genuine direction.

`design_sensitivities` evaluates the matrices of a dense design and of the problem's own
measurements in one solve per point.
"""

import dataclasses
import logging
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Bool, Float

from ..simulate import Objective
from ..simulate import stored_call
from ..problem import Problem
from ..problem import dense_design, with_design
from ..simulate import SolverConfig

RELATIVE_TOLERANCE = 1e-13
"""Default relative singular-value tolerance (see the module doc for the measurements)."""
_log = logging.getLogger(__name__)


class Sensitivities(NamedTuple):
    """The noise-weighted sensitivity matrix with the values it differentiates."""

    matrix: Float[Array, "n_rows n_params"]  # rows sqrt(a_i) grad mu_i, then sqrt(c_i) grad s_i
    locations: Float[Array, " n_meas"]  # h(y_i) - h(m_i)
    noise: Float[Array, " n_meas"]  # s_i
    ok: Bool[Array, ""]


@eqx.filter_jit
def weighted_sensitivities(objective: Objective, theta: Float[Array, " n_params"]) -> Sensitivities:
    r"""The noise-weighted sensitivity matrix $S$ (module doc; `(2 n_meas, n_params)`, $S^\top S$ the
    expected FIM) of the design of `objective` at `theta` (estimation scale) by forward-mode AD,
    with the locations and noise scales there and whether every solve succeeded (one solve)."""

    def locations_and_noise(t):
        d, s, ok = objective.differences_and_noise(t)
        return (d, s), (d, s, ok)

    (j_mu, j_s), (d, s, ok) = jax.jacfwd(locations_and_noise, has_aux=True)(theta)
    root_a, root_c = 1.0 / s, jnp.sqrt(jnp.where(objective.distribution == 0, 2.0, 1.0)) / s
    return Sensitivities(jnp.concatenate([root_a[:, None] * j_mu, root_c[:, None] * j_s]), d, s, ok)


def null_space(matrix: np.ndarray, relative_tolerance: float) -> tuple[np.ndarray, int, np.ndarray]:
    """Singular values (descending, `n` of them), numerical rank ($\\sigma_k > \\tau\\sigma_1$; 0 for a
    zero matrix) and null basis `(n, n - rank)` of `matrix` `(n_rows, n)`, each column with its
    largest entry (the first of entries equal to 1e-8 relative) positive."""
    n = matrix.shape[1]
    _, singular_values, vt = np.linalg.svd(matrix, full_matrices=True)
    singular_values = np.concatenate([singular_values, np.zeros(n - len(singular_values))])
    largest = singular_values[0]
    rank = int(np.sum(singular_values > relative_tolerance * largest)) if largest > 0 else 0
    basis = vt[rank:].T.copy()
    for k in range(basis.shape[1]):
        magnitude = np.abs(basis[:, k])
        if basis[np.flatnonzero(magnitude >= (1.0 - 1e-8) * magnitude.max())[0], k] < 0:
            basis[:, k] = -basis[:, k]
    return singular_values, rank, basis


def _matrix_and_ok(objective: Objective, theta):
    out = weighted_sensitivities(objective, theta)
    return out.matrix, out.ok


def _sensitivities(objective: Objective, theta: np.ndarray, label: str) -> np.ndarray | None:
    """`weighted_sensitivities(...).matrix` as numpy, or None (logged) where the solve failed."""
    try:
        matrix, ok = stored_call(_matrix_and_ok, objective, theta)
        matrix, ok = np.asarray(matrix), bool(ok)
    except RuntimeError as error:  # a failing solve that raises (EQX_ON_ERROR not "nan")
        _log.warning("%s: the sensitivities failed: %s", label, error)
        return None
    if not (ok and np.all(np.isfinite(matrix))):
        _log.warning("%s: the solve failed at theta = %s; point skipped", label, np.array2string(theta, precision=4))
        return None
    return matrix


def _own_and_dense(problem: Problem, design: pd.DataFrame) -> Problem:
    """The problem's own measurements (rows `0..n_meas-1`, unchanged) followed by those of `design`."""
    n = problem.n_measurements
    own = pd.DataFrame({
        "simulationConditionId": [problem.condition_ids[c] for c in problem.condition_index],
        "observableId": [problem.observable_ids[o] for o in problem.observable_index],
        "time": np.asarray(problem.times)[problem.condition_index, problem.time_index],
    })
    both = with_design(problem, pd.concat([own, design[list(own.columns)]], ignore_index=True))
    restored = {"measurements": pd.concat([problem.measurements, both.measurements.iloc[n:]], ignore_index=True)}
    for name in ("values", "noise_index", "noise_value", "transformation", "distribution",
                 "observable_parameter_index", "observable_parameter_value"):
        mine, theirs = getattr(problem, name), getattr(both, name)
        if mine is not None:
            restored[name] = np.concatenate([np.asarray(mine, dtype=np.asarray(theirs).dtype), np.asarray(theirs)[n:]])
    return dataclasses.replace(both, **restored)


def design_sensitivities(problem: Problem, n_times: int, config: SolverConfig):
    """`evaluate(theta, label, actual)` -> sensitivity matrices of the dense design and (when
    `actual`) of the problem's own design, None where the solve failed.

    One compiled program and one solve per point serve both: the dense design's measurements are
    appended to the problem's own, the rows split afterwards. A problem measuring a steady state
    (infinite times, which a design cannot hold) gets a second program for its own design.
    """
    design = dense_design(problem, n_times)
    n, total = problem.n_measurements, problem.n_measurements + len(design)
    if np.all(np.isfinite(np.asarray(problem.times)[problem.condition_index, problem.time_index])):
        both = Objective.from_problem(_own_and_dense(problem, design), config)
        programs = [(both, {"dense": np.arange(n, total), "own": np.arange(n)})]
    else:
        programs = [(Objective.from_problem(with_design(problem, design), config), {"dense": np.arange(total - n)}),
                    (Objective.from_problem(problem, config), {"own": np.arange(n)})]

    def evaluate(theta, label, actual):
        parts = {}
        for objective, selections in programs:
            wanted = {key: rows for key, rows in selections.items() if key == "dense" or actual}
            matrix = _sensitivities(objective, theta, label) if wanted else None
            half = len(matrix) // 2 if matrix is not None else 0  # location rows, then noise rows
            for key, rows in wanted.items() if matrix is not None else ():
                parts[key] = matrix[np.concatenate([rows, half + rows])]
        return parts.get("dense"), parts.get("own")

    return evaluate
