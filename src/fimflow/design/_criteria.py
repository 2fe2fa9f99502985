r"""The design criteria and the candidates' information: D-, A- and E-optimality of a FIM, and each
candidate sample's own expected FIM term, from which `_sampling_times` searches designs.

For independent measurements the expected Fisher information (see `_fisher`) is a sum of one
term per sample, $M(\xi) = M_0 + \sum_{i \in \xi} F_i$ with
$F_i = a_i\,\nabla\mu_i\nabla\mu_i^\top + c_i\,\nabla s_i\nabla s_i^\top$ and $M_0$ the current
data's FIM in a sequential design (`include_current`), else 0. A design $\xi$ of $n$ samples
(replicates allowed) maximises $\Psi(M)$: D $\log\det M$ (the volume of the confidence
ellipsoid), A $-\operatorname{tr} M^{-1}$ (the sum of the parameter variances) or E
$\lambda_{\min}(M)$ (the worst-determined direction); Atkinson, Donev & Tobias, *Optimum
Experimental Designs, with SAS* (2007), ch. 10-12. Over an ensemble $\theta_1..\theta_k$ the
mean $\frac1k\sum_j \Psi(M(\xi;\theta_j))$ is maximised (robust, "pseudo-Bayesian" design).
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..simulate import Objective
from .._precision import require_float64
from ..simulate import stored_call
from ..problem import Problem
from ..problem import DESIGN_COLUMNS, with_design
from ..simulate import SolverConfig

CRITERIA = ("D", "A", "E")
BUCKET = 32  # rows and times of a candidate table are padded to multiples of this


def criteria(fims: np.ndarray, criterion: str) -> np.ndarray:
    """`design_criterion` over the leading axes of `fims` `(..., p, p)`; NaN where non-finite."""
    finite = np.all(np.isfinite(fims), axis=(-2, -1))
    lam = np.linalg.eigvalsh(np.where(finite[..., None, None], fims, np.eye(fims.shape[-1])))
    if criterion == "E":
        return np.where(finite, lam[..., 0], np.nan)
    singular = lam[..., 0] <= lam.shape[-1] * np.finfo(float).eps * np.maximum(lam[..., -1], np.finfo(float).tiny)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.sum(np.log(lam), axis=-1) if criterion == "D" else -np.sum(1.0 / lam, axis=-1)
    return np.where(finite, np.where(singular, -np.inf, value), np.nan)


def design_criterion(fim: np.ndarray, criterion: str) -> float:
    r"""The criterion to maximise: D $\log\det M$, A $-\operatorname{tr}M^{-1}$, E $\lambda_{\min}(M)$.

    D and A are $-\infty$ for a singular $M$ (smallest eigenvalue at most $p\,\epsilon\,\lambda_{\max}$).
    **Raises:** `ValueError` for an unknown criterion or a non-square matrix."""
    if criterion not in CRITERIA:
        raise ValueError(f"`criterion` must be one of {CRITERIA}, got {criterion!r}.")
    fim = np.asarray(fim, dtype=np.float64)
    if fim.ndim != 2 or fim.shape[0] != fim.shape[1]:
        raise ValueError(f"`fim` must be a square matrix, got shape {fim.shape}.")
    return float(criteria(0.5 * (fim + fim.T), criterion))


def efficiency(value: float, reference: float, criterion: str, n_params: int) -> float:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(np.exp((value - reference) / n_params) if criterion == "D" else
                     reference / value if criterion == "A" else value / reference)


def row_parts(objective: Objective, theta):
    """Gradients of each row's location and noise scale `(n_meas, p)`, the scales, success."""
    def parts(t):
        d, s, ok = objective.differences_and_noise(t)
        return (d, s), (s, ok)
    (j_mu, j_s), (s, ok) = jax.jacfwd(parts, has_aux=True)(theta)
    return j_mu, j_s, s, ok


def fims_of(j_mu, j_s, s, distribution):
    r"""Each row's term $a_i\nabla\mu_i\nabla\mu_i^\top + c_i\nabla s_i\nabla s_i^\top$ `(n, p, p)`."""
    a, c = 1.0 / s**2, jnp.where(distribution == 0, 2.0, 1.0) / s**2
    return jnp.einsum("i,ij,ik->ijk", a, j_mu, j_mu) + jnp.einsum("i,ij,ik->ijk", c, j_s, j_s)


@eqx.filter_jit
def _row_terms(objective: Objective, theta):
    r"""Each row's FIM term and noise-weighted sensitivity $\nabla\mu_i/s_i$, NaN on a failed solve."""
    j_mu, j_s, s, ok = row_parts(objective, theta)
    fims = jnp.where(ok, fims_of(j_mu, j_s, s, objective.distribution), jnp.nan)
    return fims, jnp.where(ok, j_mu / s[:, None], jnp.nan)


def point_terms(objective: Objective, thetas: np.ndarray, n_rows: int | None = None):
    """`_row_terms` `(k, n_rows, ...)` at each point, one compiled program whatever `k`."""
    out = [stored_call(_row_terms, objective, t) for t in thetas]
    return tuple(np.stack([np.asarray(o[i])[:n_rows] for o in out]) for i in range(2))


def check_theta(problem: Problem, x, name: str) -> np.ndarray:
    x, ndim = np.asarray(x, dtype=np.float64), 1 if name == "x" else 2
    if x.ndim != ndim or x.size == 0 or x.shape[-1] != problem.n_params or not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite with shape {'(n_params,)' if ndim == 1 else '(k, n_params)'} "
                         f"on the estimation scale of {problem.parameter_ids}, got shape {x.shape}.")
    return x


def check_table(candidates) -> pd.DataFrame:
    missing = [c for c in DESIGN_COLUMNS if c not in getattr(candidates, "columns", ())]
    if missing or len(candidates) == 0:
        raise ValueError(f"`candidates` must be a non-empty table with columns {list(DESIGN_COLUMNS)}, "
                         f"missing {missing}.")
    return candidates[list(DESIGN_COLUMNS)].reset_index(drop=True)


def designed_objective(problem: Problem, table: pd.DataFrame, config: SolverConfig, bucket: int = 1) -> Objective:
    """The problem measured at the rows of `table`, rows and each condition's times padded (by the
    last) to multiples of `bucket` so that tables of similar size share one compiled program."""
    table = pd.concat([table, table.iloc[[-1] * (-len(table) % bucket)]])
    designed = with_design(problem, table)  # raises naming a row with an unmeasured condition/observable
    width = designed.times.shape[1]
    times = designed.times[:, np.concatenate([np.arange(width), np.full(-width % bucket, width - 1)])]
    return Objective.from_problem(dataclasses.replace(designed, times=times), config)


def _candidate_terms(problem: Problem, x, candidates, config: SolverConfig):
    require_float64()
    x, rows = check_theta(problem, x, "x"), check_table(candidates)
    fims, weighted = point_terms(designed_objective(problem, rows, config, BUCKET), x[None], len(rows))
    return rows, fims[0], weighted[0]


def candidate_fims(problem: Problem, x, candidates: pd.DataFrame, *, config: SolverConfig = SolverConfig()
                   ) -> np.ndarray:
    """Each candidate row's own expected FIM at `x` (estimation scale), `(n_candidates, p, p)`; their sum
    is the FIM of the design of those rows, NaN where the solve failed. **Raises:** `ValueError` for a
    row with an unknown or unmeasured condition/observable."""
    return _candidate_terms(problem, x, candidates, config)[1]


def sensitivity_curves(problem: Problem, x, candidates: pd.DataFrame, *, config: SolverConfig = SolverConfig()
                       ) -> pd.DataFrame:
    r"""Noise-weighted sensitivities $(\partial h(\mu_i)/\partial\theta_j) / s_i$ at each candidate row.

    **Returns:** a long table: simulationConditionId, observableId, time, parameterId,
    sensitivity (NaN where the solve failed), one row per candidate and parameter.
    """
    rows, _, weighted = _candidate_terms(problem, x, candidates, config)
    frame = rows.loc[np.repeat(np.arange(len(rows)), problem.n_params)].reset_index(drop=True)
    frame["parameterId"] = np.tile(np.asarray(problem.parameter_ids, dtype=object), len(rows))
    frame["sensitivity"] = weighted.reshape(-1)
    return frame
