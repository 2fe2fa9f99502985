r"""Parametric bootstrap: data sets simulated at $\theta^*$ with the problem's own noise model and
design, each refitted, with what each refit's own uncertainty statement says.

Data set $b$ of a study is drawn from its own random stream (`numpy` seeded by `(seed, b)`), so
shard $k$ of a study draws the same data sets as one job would, and a longer study extends a
shorter one. On its transformation scale $h$ measurement $i$ is $h(y_i(\theta^*)) + s_i(\theta^*)
\varepsilon$ with $\varepsilon$ standard normal or standard Laplace (PEtab's scale $b$); the
value is $h^{-1}$ of that (so log-normal data stay positive). Replicates are separate rows and
draw independently.

Each data set is refitted by the study's optimiser through the fit's batched machinery (one
compiled program for every data set: the measured values are an input, `fit_multistart(...,
values=...)`), warm from $\theta^*$ and optionally from random starts too (the best wins). Per
data set it records the estimate $\hat\theta_b$, its Wald standard errors from the expected FIM at
$\hat\theta_b$, the score and the observed FIM (the NLL's Hessian) at $\theta^*$ (the two faces),
the delta-method coverage of each named prediction, and, for the first data sets, the profile
likelihood ratio at $\theta^*_j$ of each parameter (a refit with $\theta_j$ held at $\theta^*_j$,
from the estimate moved there along the quadratic model's profile path and from $\theta^*$, the
lower kept): $\theta^*_j$ lies inside the profile
interval exactly when the ratio is below the profile threshold, so no whole profile is needed.
"""

import dataclasses
import logging

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..fisher import expected_fisher_information
from ..fit import FitOptions, Status, TrustFIM, fit_multistart, latin_hypercube_starts
from ..identify import eigen_analysis
from ..predict import PredictionSpec, delta_method, prediction_and_gradient
from ..problem import Problem, to_linear_by_code
from ..simulate import Objective, stored_program
from ._kl import means_and_scales, standard_noise

_log = logging.getLogger(__name__)
WIDTH = 8  # data sets per compiled evaluation of the per-data-set terms (padding fills the last)


def dataset_seed(seed: int, index: int) -> np.random.Generator:
    """The random stream of data set `index` of a study with `seed` (independent of sharding)."""
    return np.random.default_rng([int(seed), int(index)])


def simulate_datasets(objective: Objective, theta, indices, *, seed: int) -> np.ndarray:
    """Measured values `(len(indices), n_measurements)` drawn at `theta` (see the module notes).

    **Raises:** `ValueError` when the simulation at `theta` fails."""
    mu, s = means_and_scales(objective, theta)
    rows = [mu + s * standard_noise(dataset_seed(seed, index), objective.distribution, mu.size) for index in indices]
    z = np.asarray(rows, dtype=np.float64).reshape(len(rows), mu.size)
    return np.asarray(to_linear_by_code(jnp.asarray(z), objective.transformation))


def _expected_fim_rows(objective, thetas):
    """Expected FIM at each row of `thetas` (data-independent)."""
    return jax.vmap(lambda theta: expected_fisher_information(objective, theta))(thetas)


def _faces_rows(objective, points):
    """Score and observed FIM (Hessian of the NLL) at each row's theta with that row's data: rows
    `[theta, values]`."""
    n = objective.estimated_index.shape[0]

    def one(point):
        lane = eqx.tree_at(lambda o: o.values, objective, point[n:])
        gradient = jax.jacfwd(lane.nll)
        return gradient(point[:n]), jax.jacfwd(gradient)(point[:n])

    return jax.vmap(one)(points)


def _in_chunks(function, objective, rows: np.ndarray):
    """`function(objective, rows)` evaluated `WIDTH` rows at a time through one stored program."""
    rows = np.asarray(rows, dtype=np.float64)
    program = stored_program(function.__name__, function, objective, np.zeros((WIDTH, rows.shape[1])))
    outputs = []
    for start in range(0, len(rows), WIDTH):
        chunk = rows[start:start + WIDTH]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], WIDTH - len(chunk), axis=0)])
        out = program(padded)
        outputs.append(jax.tree_util.tree_map(lambda a, k=len(chunk): np.asarray(a)[:k], out))
    return jax.tree_util.tree_map(lambda *parts: np.concatenate(parts), *outputs)


@dataclasses.dataclass(frozen=True)
class RefitOptions:
    """Settings of `refit_datasets`.

    - `fit`: the optimiser settings (as the study's fit).
    - `n_random_starts`: Latin-hypercube starts per data set besides the warm start at theta*
      (to catch other optima; the lowest objective wins).
    - `profile_datasets`: the profile likelihood ratio at theta*_j of every parameter is computed
      for data sets with index below this (each costs one constrained refit per parameter).
    - `level`: of the Wald, profile and delta-method intervals checked.
    """

    fit: FitOptions = FitOptions()
    n_random_starts: int = 0
    profile_datasets: int = 0
    level: float = 0.95

    def __post_init__(self):
        if self.n_random_starts < 0 or self.profile_datasets < 0:
            raise ValueError(f"`n_random_starts` and `profile_datasets` must be >= 0, got {self.n_random_starts}, "
                             f"{self.profile_datasets}.")
        if not 0 < self.level < 1:
            raise ValueError(f"`level` must be in (0, 1), got {self.level}.")


@dataclasses.dataclass(frozen=True)
class ValidationOptions:
    r"""How large a validation study is (the refits' optimiser is the fit's).

    - `n_datasets`: data sets simulated and refitted (the Monte-Carlo error of a variance ratio
      is about $\sqrt{2/N}$, of a coverage $\sqrt{0.95 \cdot 0.05/N}$: 0.007 at 1000).
    - `seed`: of the data sets (data set `b` draws from its own stream, whatever the sharding).
    - `n_random_starts`, `profile_datasets`: see `RefitOptions`.
    - `batch_size`: data sets whose refits advance together, batched into one vectorised call
      (it replaces the fit's `batch_size`, 1 by default). The refits all start at the best fit
      on data of one design, so their costs are alike and batching pays, unlike the
      multistart's starts spread over the bounds (identical rows at width 4: 1.75 times the
      lanes per second of width 1 on Boehm_JProteomeRes2014, `bench/batch_width.py`).

    (Whether a design is checked too is the caller's choice: `Calibration.validate(design=...)`;
    the workflow's `validation.design_check` decides which jobs run.)
    """

    n_datasets: int = 200
    seed: int = 1
    n_random_starts: int = 0
    profile_datasets: int = 20
    batch_size: int = 4

    def __post_init__(self):
        if self.n_datasets < 2:
            raise ValueError(f"`n_datasets` must be >= 2 (a spread needs two), got {self.n_datasets}.")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size}.")

    def refit_options(self, fit: FitOptions, level: float = 0.95) -> RefitOptions:
        return RefitOptions(fit=dataclasses.replace(fit, batch_size=self.batch_size), n_random_starts=self.n_random_starts,
                            profile_datasets=self.profile_datasets, level=level)


def _best_per_dataset(result, n_datasets: int, per_dataset: int) -> list[int]:
    """Position of each data set's winning start (lowest finite objective; the warm start if none)."""
    nll = np.where(np.isfinite(result.nll), result.nll, np.inf).reshape(n_datasets, per_dataset)
    return [b * per_dataset + int(np.argmin(row)) for b, row in enumerate(nll)]


def refit_datasets(problem: Problem, theta, indices, *, seed: int, objective: Objective | None = None,
                   options: RefitOptions = RefitOptions(), predictions=()) -> pd.DataFrame:
    """Simulate data sets `indices` at `theta` (estimation scale), refit each and record what its
    own uncertainty statement says (see the module notes).

    **Returns:** one row per data set: `dataset`, `start` (0 warm, 1.. random), `status`, `nll`,
    `iterations`, `x_<id>`, `se_<id>` (Wald standard error from the expected FIM at the estimate;
    `inf` along a null direction), `score_<id>` and `observed_<i>_<j>` (i <= j: the observed FIM at
    `theta` with this data set), `lr_<id>` (profile likelihood-ratio statistic 2 ΔNLL at `theta_j`, NaN where not
    computed) and `covered_<prediction>_<k>` (whether the delta-method band of the prediction's
    k-th time covers its value at `theta`). A refit that fails is a row with its status.
    """
    objective = objective or Objective.from_problem(problem)
    theta = np.asarray(theta, dtype=np.float64)
    indices = np.asarray(indices, dtype=int)
    ids = problem.parameter_ids
    n, n_sets = len(ids), len(indices)
    values = simulate_datasets(objective, theta, indices, seed=seed)
    per_dataset = 1 + options.n_random_starts
    starts = []
    for index in indices:
        starts.append(theta)
        if options.n_random_starts:
            stream = int(np.random.SeedSequence([int(seed), int(index), 1]).generate_state(1)[0])
            starts.extend(latin_hypercube_starts(problem, options.n_random_starts, seed=stream))
    starts = np.asarray(starts).reshape(-1, n)
    fits = fit_multistart(problem, starts, objective=objective, options=options.fit,
                          values=np.repeat(values, per_dataset, axis=0))
    chosen = _best_per_dataset(fits, n_sets, per_dataset)
    x_hat = fits.x[chosen]
    table = pd.DataFrame({
        "dataset": indices,
        "start": [c % per_dataset for c in chosen],
        "status": [str(fits.status[c]) for c in chosen],
        "nll": fits.nll[chosen],
        "iterations": fits.n_iterations[chosen],
    })
    ok = np.array([fits.status[c] != Status.FAILED for c in chosen]) & np.isfinite(table["nll"].to_numpy())
    for j, pid in enumerate(ids):
        table[f"x_{pid}"] = x_hat[:, j]
    # Wald standard errors from each estimate's own expected FIM
    se, fims = np.full((n_sets, n), np.nan), np.full((n_sets, n, n), np.nan)
    if ok.any():
        fims[ok] = _in_chunks(_expected_fim_rows, objective, x_hat[ok])
        se[ok] = [np.sqrt(delta_method(np.eye(n), eigen_analysis(f, ids))[0]) for f in fims[ok]]
    for j, pid in enumerate(ids):
        table[f"se_{pid}"] = se[:, j]
    # the two faces at theta
    scores, hessians = _in_chunks(_faces_rows, objective, np.column_stack([np.tile(theta, (n_sets, 1)), values]))
    for j, pid in enumerate(ids):
        table[f"score_{pid}"] = scores[:, j]
    for i in range(n):
        for j in range(i, n):
            table[f"observed_{i}_{j}"] = 0.5 * (hessians[:, i, j] + hessians[:, j, i])
    table = pd.concat([table, _profile_ratios(problem, objective, theta, indices, values, x_hat, fims, ok,
                                              table["nll"].to_numpy(), options)], axis=1)
    table = pd.concat([table, _prediction_coverage(problem, objective, theta, x_hat, fims, ok, predictions, options)],
                      axis=1)
    return table


def _held_start(x, fim, j, value):
    """`x` with parameter `j` moved to `value` and the others along the quadratic model's profile
    path (the conditional mean of a normal with precision `fim`): along a flat valley this keeps
    the identifiable combinations, where setting `x_j` alone would leave the valley."""
    start = np.array(x, dtype=np.float64)
    free = np.arange(start.size) != j
    if np.all(np.isfinite(fim)):
        shift = -np.linalg.pinv(fim[np.ix_(free, free)], rcond=1e-10, hermitian=True) @ fim[free, j] * (value - start[j])
        start[free] += shift
    start[j] = value
    return start


def _profile_ratios(problem, objective, theta, indices, values, x_hat, fims, ok, nll, options) -> pd.DataFrame:
    ids = problem.parameter_ids
    ratios = np.full((len(indices), len(ids)), np.nan)
    rows = np.flatnonzero((indices < options.profile_datasets) & ok)
    if rows.size:
        fit = options.fit
        if fit.method == "trf":  # least squares cannot hold a parameter with equal bounds
            fit = dataclasses.replace(fit, optimiser=TrustFIM())
        lb, ub = problem.parameters.bounds()
        for j in range(len(ids)):
            lower, upper = lb.copy(), ub.copy()
            lower[j] = upper[j] = theta[j]
            # two starts per data set: its estimate moved to theta_j = theta*_j along the quadratic
            # model's profile path, and theta* itself; the lower wins
            moved = np.clip([_held_start(x_hat[r], fims[r], j, theta[j]) for r in rows], lower, upper)
            starts = np.stack([moved, np.tile(theta, (rows.size, 1))], axis=1).reshape(-1, len(ids))
            held = fit_multistart(problem, starts, objective=objective, options=fit,
                                  values=np.repeat(values[rows], 2, axis=0), bounds=(lower, upper))
            lowest = np.fmin(held.nll[0::2], held.nll[1::2])
            ratios[rows, j] = np.where(np.isfinite(lowest), 2.0 * (lowest - nll[rows]), np.nan)
    return pd.DataFrame(ratios, columns=[f"lr_{pid}" for pid in ids])


def _prediction_coverage(problem, objective, theta, x_hat, fims, ok, predictions, options) -> pd.DataFrame:
    from scipy.special import ndtri

    z = float(ndtri(0.5 + options.level / 2))
    ids = problem.parameter_ids
    columns = {}
    for spec in predictions:
        spec = spec if isinstance(spec, PredictionSpec) else PredictionSpec(**spec)
        truth, _ = prediction_and_gradient(objective, theta, spec, problem)
        covered = np.full((len(x_hat), len(truth)), np.nan)
        for row in np.flatnonzero(ok):
            value, gradient = prediction_and_gradient(objective, x_hat[row], spec, problem)
            variance = delta_method(gradient, eigen_analysis(fims[row], ids))[0]
            covered[row] = np.abs(value - truth) <= z * np.sqrt(variance)
        for k in range(len(truth)):
            columns[f"covered_{spec.id}_{k}"] = covered[:, k]
    return pd.DataFrame(columns, index=range(len(x_hat)))

