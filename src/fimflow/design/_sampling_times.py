r"""Optimal experimental design of sampling times: D-, A- and E-optimal samples.

A design $\xi$ of $n$ samples (replicates allowed) maximises $\Psi(M)$, $M(\xi) = M_0 + \sum_{i\in\xi} F_i$;
the criteria D, A, E and the per-sample FIM terms $F_i$ are defined in `_criteria`.

`exchange` computes each candidate's $F_i$ once, then improves greedy starts by Fedorov
exchange (each sample in turn swapped for the candidate that raises $\Psi$ most, until none
does) on $p\times p$ matrices. Exchange is a local search, and E (the smallest eigenvalue, not
smooth where eigenvalues cross) has local optima it stops in: on pk_fixed_dose with 4 samples
the greedy E start ends at (0.24, 5.28, 5.28, 5.28), E = 5380.27, below the D-optimal design's
5380.93 under E. So it runs from the greedy design of each criterion (the asked one first) and
keeps the best under the asked criterion (ties: the earlier). `gradient` moves the exchange design's times by L-BFGS-B within
each pair's candidate range, $\partial\Psi/\partial t_i = \langle\nabla_M\Psi, \partial F_i/\partial
t_i\rangle$ with $\partial F_i/\partial t_i$ by forward-mode AD through the solver. The search
adds a ridge $\varepsilon I$ (`RIDGE` × the largest eigenvalue of $n$ average candidates' FIM) so
that designs with a singular FIM (fewer samples than parameters without `include_current`, a
non-identifiable model) still rank by what they determine: we regularise rather than raise;
reported values use the exact FIM (D, A: $-\infty$ if singular, status `"singular"`).

Measured at nominal parameters on a shared 2-core CPU whose speed varied 5x with other jobs
(default grids; warm times, the first call on a problem adds 10-20 s of compiling, the
gradient method 20 s+ per design size); values are per-sample $\log\det(M/n)$:

| problem, n | exchange | gradient |
|---|---|---|
| pk_fixed_dose (V, CL), 3/4/5/6 | 18.25267/18.37045/18.32963/18.37045, 0.03-0.3 s | each +6.4e-5, +0.15 s |
| cascade (13 parameters, 909 candidates), 15/27 | 48.98395/49.30168, 0.7/1.2 s | 49.07331, 45-600 s/none in 30 min |

On PK both reach the analytic D-optimum (half the samples at $t = 0$, half at $t = V/CL$), the gradient
without the grid's rounding (5.04 -> 5.00); on the cascade it gains a D-efficiency of 1.007 at 60-800
times the cost. `exchange` is the default.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..simulate import Objective
from .._precision import require_float64
from ..problem import Problem
from ..problem import DESIGN_COLUMNS, dense_design, with_design
from ..simulate import SolverConfig
from ._criteria import (BUCKET, CRITERIA, check_table, check_theta, criteria, designed_objective, efficiency, fims_of,
                        point_terms, row_parts)

METHODS = ("exchange", "gradient")
RIDGE = 1e-14  # below the sloppiest real directions (Boehm: 2e-10 relative; a ridge of 1e-10 hid one: singular design)
_PAIR = ["simulationConditionId", "observableId"]


@dataclasses.dataclass(frozen=True)
class DesignOptions:
    """Settings of `optimal_design` (methods: see the module notes)."""

    criterion: str = "D"  # "D", "A" or "E" (see `design_criterion`)
    n_samples: int | None = None  # samples to choose; None: as many as the problem has measurements
    include_current: bool = False  # add the current data's FIM to every design (sequential design)
    method: str = "exchange"  # or "gradient"
    n_candidates: int = 101  # default grid per measured (condition, observable), 0 to its last time
    max_iterations: int = 100  # exchange sweeps; L-BFGS-B iterations of the gradient method

    def __post_init__(self):
        if self.criterion not in CRITERIA:
            raise ValueError(f"`criterion` must be one of {CRITERIA}, got {self.criterion!r}.")
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}.")
        if self.n_samples is not None and not (isinstance(self.n_samples, (int, np.integer)) and self.n_samples >= 1):
            raise ValueError(f"`n_samples` must be an integer >= 1 (or None: as measured), got {self.n_samples!r}.")
        if self.n_candidates < 2 or self.max_iterations < 1:
            raise ValueError(f"`n_candidates` must be >= 2 and `max_iterations` >= 1, got {self.n_candidates}, "
                             f"{self.max_iterations}.")


@dataclasses.dataclass(frozen=True)
class DesignResult:
    r"""An optimal design (`design`: rows simulationConditionId, observableId, time) and how it compares.

    `value`, `current_value` (the problem's measurements) and `equally_spaced_value` ($n$ samples
    shared round-robin over the candidates' pairs, $k$ of a pair at $t_{lo} + (t_{hi}-t_{lo})j/k$,
    $j = 1..k$) are **per-sample normalised** $\Psi(M/N)$, $N$ the samples (with the current ones
    if included), so designs of different sizes compare by information per sample, averaged over
    the ensemble if given. Efficiencies: how many of the reference's samples one sample of this
    design is worth (> 1: better): D $\exp((\Psi - \Psi_{ref})/p) = (\det(M/N)/\det(M_{ref}/N_{ref}))^{1/p}$,
    A $\Psi_{ref}/\Psi$, E $\Psi/\Psi_{ref}$. `fim`: the design's FIM at `x` (with the current one if included).
    """

    design: pd.DataFrame
    criterion: str
    method: str
    value: float
    current_value: float
    equally_spaced_value: float
    efficiency_vs_current: float
    efficiency_vs_equally_spaced: float
    fim: np.ndarray
    status: str  # "converged", "max_iterations", "singular" or "failed"
    message: str
    n_iterations: int


def _equally_spaced(candidates: pd.DataFrame, n: int) -> pd.DataFrame:
    ranges = candidates.groupby(_PAIR, sort=False)["time"].agg(["min", "max"])
    counts = np.full(len(ranges), n // len(ranges))
    counts[: n % len(ranges)] += 1
    rows = [(c, o, lo + (hi - lo) * j / k) for ((c, o), (lo, hi)), k in zip(ranges.iterrows(), counts)
            for j in range(1, k + 1)]
    return pd.DataFrame(rows, columns=list(DESIGN_COLUMNS))


def _current_rows(problem: Problem) -> pd.DataFrame | None:
    """The measurements as design rows if `with_design` keeps their noise model, else `None`."""
    rows = problem.measurements[list(DESIGN_COLUMNS)].reset_index(drop=True)
    try:
        copy = with_design(problem, rows)
    except ValueError:  # steady-state (infinite) times
        return None
    fields = ("noise_index", "noise_value", "transformation", "distribution", "observable_parameter_index",
              "observable_parameter_value")
    return rows if all(np.array_equal(np.asarray(getattr(copy, f), float), np.asarray(getattr(problem, f), float),
                                      equal_nan=True) for f in fields if getattr(problem, f) is not None) else None


def _all_fims(problem, thetas, candidates, uniform, config):
    """Row FIMs of candidates + equally spaced rows `(k, N + n, p, p)`, the current FIM `(k, p, p)`."""
    own = _current_rows(problem)
    table, rows = pd.concat([candidates, uniform] + ([] if own is None else [own])), len(candidates) + len(uniform)
    fims = point_terms(designed_objective(problem, table, config, BUCKET), thetas, len(table))[0]
    if own is None:
        return fims, point_terms(Objective.from_problem(problem, config), thetas)[0].sum(axis=1)
    return fims[:, :rows], fims[:, rows:].sum(axis=1)


def _exchange(fims, base, n, criterion, max_iterations):
    """Fedorov exchange from the greedy start of each criterion (`criterion`'s first), the best
    under `criterion` kept; `fims` `(k, N, p, p)`, `base` `(k, p, p)`. Returns `(chosen,
    sweeps, status, message)`, sweeps summed over the starts."""
    runs = [_exchange_from(_greedy(fims, base, n, start), fims, base, criterion, max_iterations)
            for start in (criterion,) + tuple(c for c in CRITERIA if c != criterion)]
    values = [value for value, *_ in runs]
    _, chosen, _, status, message = runs[int(np.argmax(values))]  # first of the best
    return chosen, sum(run[2] for run in runs), status, message


def _greedy(fims, base, n, criterion):
    """n samples, each the candidate that raises the mean criterion most given those before."""
    chosen, m = [], base.copy()
    for _ in range(n):
        chosen.append(int(np.argmax(criteria(m[:, None] + fims, criterion).mean(axis=0))))
        m = m + fims[:, chosen[-1]]
    return chosen


def _exchange_from(chosen, fims, base, criterion, max_iterations):
    """Fedorov exchange from `chosen`: `(value, chosen, sweeps, status, message)`."""
    def scores(m):  # mean criterion of m plus each candidate
        return criteria(m[:, None] + fims, criterion).mean(axis=0)

    chosen = list(chosen)
    m = base + fims[:, chosen].sum(axis=1)
    best = float(criteria(m, criterion).mean())
    for sweep in range(1, max_iterations + 1):
        improved = False
        for position in range(len(chosen)):
            values = scores(m - fims[:, chosen[position]])
            j = int(np.argmax(values))
            if j != chosen[position] and values[j] > best + 1e-12 * (1.0 + abs(best)):
                chosen[position], best, improved = j, float(values[j]), True
                m = base + fims[:, chosen].sum(axis=1)
        if not improved:
            return best, chosen, sweep, "converged", "No exchange improves the criterion."
    return best, chosen, max_iterations, "max_iterations", f"{max_iterations} exchange sweeps reached."


@eqx.filter_jit
def _time_kernel(objective, thetas, weights, grid, owner, time_index, slot, base, criterion):
    """Weighted criterion of `base` + samples' FIM, its gradient in each sample's time (a term moves
    with its own time slot only, replicates share one) and each point's FIM of the samples."""

    def parts(delta):
        times = grid + jnp.concatenate([delta, jnp.zeros(1)])[owner]
        moved = eqx.tree_at(lambda o: (o.times, o.time_index), objective, (times, time_index))
        out = jax.vmap(lambda t: row_parts(moved, t))(thetas)
        return out[:3], out

    tangents, (j_mu, j_s, s, ok) = jax.jacfwd(parts, has_aux=True)(jnp.zeros(slot.shape[0]))
    own = [jnp.moveaxis(d, -1, 2)[:, jnp.arange(slot.shape[0]), slot] for d in tangents]  # at each row's slot
    per_point = jax.vmap(lambda a, b, c: fims_of(a, b, c, objective.distribution))
    fims, fims_dot = jax.jvp(per_point, (j_mu, j_s, s), tuple(own))
    use = (weights > 0) & ok
    m = jnp.where(use[:, None, None], base + fims.sum(axis=1), jnp.eye(base.shape[-1])[None])
    psi = {"D": lambda m: jnp.linalg.slogdet(m)[1], "A": lambda m: -jnp.trace(jnp.linalg.inv(m), axis1=-2, axis2=-1),
           "E": lambda m: jnp.linalg.eigvalsh(m)[..., 0]}[criterion]
    values, pullback = jax.vjp(psi, m)
    (slope,) = pullback(jnp.where(use, weights, 0.0))
    gradient = jnp.einsum("kij,knij->n", slope, jnp.where(use[:, None, None, None], fims_dot, 0.0))
    total = jnp.where(jnp.all(ok | (weights == 0)), jnp.sum(jnp.where(use, weights * values, 0.0)), jnp.nan)
    return total, gradient, jnp.where(ok[:, None, None, None], fims, jnp.nan).sum(axis=1)


def _time_gradient(problem, design, thetas, weights, base, criterion, config):
    """`evaluate(times)`: `_time_kernel` for the rows of `design` moved to `times`."""
    objective = designed_objective(problem, design, config)
    condition, n_conditions = np.asarray(objective.condition_index), len(problem.condition_ids)
    width = int(np.bincount(condition, minlength=n_conditions).max())

    def evaluate(times):  # one slot per distinct (condition, time); grids padded by their last
        pairs, slot = np.unique(np.stack([condition, times], axis=1), axis=0, return_inverse=True)
        slot, first = slot.reshape(-1), np.zeros(n_conditions, dtype=int)
        grid, owner = np.zeros((n_conditions, width)), np.full((n_conditions, width), len(times))
        for c in range(n_conditions):
            members = np.flatnonzero(pairs[:, 0] == c)
            if len(members):
                first[c] = members[0]
                owner[c] = np.concatenate([members, np.full(width - len(members), members[-1])])
                grid[c] = pairs[owner[c], 1]
        arrays = (thetas, weights, grid, owner, slot - first[condition], slot, base)
        return tuple(np.asarray(a) for a in _time_kernel(objective, *map(jnp.asarray, arrays), criterion))

    return evaluate


def _search(problem, candidates, thetas, fims, weights, base, n, options, config):
    """Exchange, then (`gradient`) L-BFGS-B on the times, never ending worse than it started."""
    used = weights > 0
    ridge = RIDGE * np.linalg.eigvalsh(n * fims[used].mean(axis=1) + base[used])[:, -1].max() * np.eye(base.shape[-1])
    chosen, n_iterations, status, message = _exchange(fims[used], base[used] + ridge, n, options.criterion,
                                                      options.max_iterations)
    design = candidates.iloc[chosen].reset_index(drop=True)
    if options.method == "exchange":
        return design, fims[:, chosen].sum(axis=1), status, message, n_iterations
    ranges = candidates.groupby(_PAIR)["time"].agg(["min", "max"])
    bounds = [tuple(ranges.loc[(c, o)]) for c, o in zip(design[_PAIR[0]], design[_PAIR[1]])]
    evaluate = _time_gradient(problem, design, thetas, weights, base + ridge, options.criterion, config)

    def negative(times):
        total, gradient, _ = evaluate(times)
        finite = np.isfinite(total) and np.all(np.isfinite(gradient))
        return (-float(total), -gradient) if finite else (1e100, np.zeros_like(times))

    import scipy.optimize  # here: every job imports fimflow, few need it

    start = design["time"].to_numpy(dtype=np.float64)
    out = scipy.optimize.minimize(negative, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"maxiter": options.max_iterations, "ftol": 1e-15, "gtol": 1e-12})
    times = out.x if negative(out.x)[0] <= negative(start)[0] else start
    status = "max_iterations" if out.status == 1 else "converged"
    return design.assign(time=times), evaluate(times)[2], status, " ".join(str(out.message).split()), int(out.nit)


def optimal_design(problem: Problem, x, *, candidates: pd.DataFrame | None = None,
                   options: DesignOptions = DesignOptions(), points=None,
                   config: SolverConfig = SolverConfig()) -> DesignResult:
    """Choose `options.n_samples` sampling rows maximising the criterion (see module notes).

    **Arguments:** `problem`; `x` its best fit (estimation scale); `candidates` the rows to
    choose from, replicates allowed (default `dense_design(problem, options.n_candidates)`);
    `options`; `points` an optional `(k, n_params)` ensemble over which the criterion is
    averaged instead of taken at `x` (points whose simulation fails are left out, said in
    `message`); `config` the ODE solver settings.

    **Returns:** `DesignResult` (the prior is not part of the FIM); status `"failed"` (NaN values,
    no rows) when the simulation fails at `x` or every point. **Raises:** `ValueError` for a bad
    `x`, `points` or candidate row.
    """
    require_float64()
    x = check_theta(problem, x, "x")
    thetas = x[None] if points is None else np.concatenate([x[None], check_theta(problem, points, "points")])
    candidates = dense_design(problem, options.n_candidates) if candidates is None else check_table(candidates)
    n, p, n_candidates = options.n_samples or problem.n_measurements, problem.n_params, len(candidates)
    criterion = options.criterion
    fims, current = _all_fims(problem, thetas, candidates, _equally_spaced(candidates, n), config)
    ok = np.all(np.isfinite(fims), axis=(1, 2, 3)) & np.all(np.isfinite(current), axis=(1, 2))
    used = ok if points is None else np.concatenate([[False], ok[1:]])
    if not ok[0] or not used.any():
        empty = pd.DataFrame({c: pd.Series(dtype=float if c == "time" else object) for c in DESIGN_COLUMNS})
        return DesignResult(empty, criterion, options.method, *[np.nan] * 5, np.full((p, p), np.nan), "failed", "The "
                            "simulation failed at `x` or every point; check the parameters and `max_steps`.", 0)
    weights, base = used / used.sum(), current * options.include_current
    design, design_fims, status, message, n_iterations = _search(problem, candidates, thetas, fims[:, :n_candidates],
                                                                 weights, base, n, options, config)
    design = design.iloc[np.lexsort((design["time"], design[_PAIR[1]], design[_PAIR[0]]))].reset_index(drop=True)
    total = n + (problem.n_measurements if options.include_current else 0)

    def value(fim, count):  # per-sample normalised criterion, averaged over the points
        return float(np.sum(weights[used] * criteria(fim[used] / count, criterion)))

    chosen_value, current_value = value(base + design_fims, total), value(current, problem.n_measurements)
    uniform_value = value(base + fims[:, n_candidates:].sum(axis=1), total)
    if np.any(np.isneginf(criteria((base + design_fims)[used], "D"))):
        status, message = "singular", (f"The FIM of the chosen {n} samples is singular: increase `n_samples`, set "
                                       "`include_current`, or fix non-identifiable parameters.")
    if points is not None and not np.all(ok[1:]):
        message += f" {int(np.sum(~ok[1:]))} of {len(ok) - 1} ensemble points failed to simulate and were left out."
    efficiencies = [efficiency(chosen_value, v, criterion, p) for v in (current_value, uniform_value)]
    return DesignResult(design, criterion, options.method, chosen_value, current_value, uniform_value,
                        *efficiencies, (base + design_fims)[0], status, message, n_iterations)
