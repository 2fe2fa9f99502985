r"""Structural identifiability, numerically: the rank of the sensitivity matrix at random points.

The rank and null space are those of the noise-weighted sensitivity matrix $S$ of a design
(`_sensitivity_rank`, where the default tolerance is measured): $S^\top S$ is the expected Fisher
information, so estimated noise parameters are identified through the spread, not reported as
null directions.

As in Stigter and Molenaar (2015, "A fast algorithm to assess local structural
identifiability", Automatica 58, 118-124) the design is made rich (noise-free expected
information at `n_times` equally spaced times from 0 to the last measured time of every
measured condition and observable, `_sampling.dense_design`) and the rank is taken at random
points $\theta$ (uniform within the bounds on the estimation scale) and at the fit:

- a deficiency that persists at every random point is **structural**, a symmetry of model and
  observation function that no data of this kind resolve. Directions of a symmetry on the
  linear scale turn with $\theta$ ($x\mapsto\lambda x$ has null direction $\propto\theta$), so
  persistence is judged through the deficiency and the parameters taking part: parameter $j$
  takes part at a point when its *share*, the squared norm of row $j$ of an orthonormal null
  basis (whatever the basis), exceeds `participation`. Shares are taken in relative changes
  $d\ln p_j$ (the basis mapped by $\mathrm{diag}(\partial\ln p/\partial\theta)$ and
  re-orthonormalised; a lin-scale parameter equal to 0 keeps its unit): the estimation-scale
  shares when every parameter is log10-scaled, and the same whichever of lin, log, log10 a
  parameter is estimated on (in linear units the PK shares would be $p_j^2/\|p\|^2$, below any
  threshold where one parameter is small). On log scales the null spaces coincide; their
  largest principal angle is reported as a check;
- a deficiency of the *actual* design (the problem's own measurements) at the fit that the
  dense design does not have is **practical**: other measurements would resolve it. (Weak but
  non-zero information is the business of `_identifiability` and profile likelihoods.)

A random point is now and then degenerate itself (a decay over before the second sampling
time; Boehm_JProteomeRes2014 has rank 6 of 9 at 2 of 5 random points, relative singular values
down to 1e-16, and 9 at the others); the smallest deficiency and share over the points keep
such a point from producing a false structural verdict.
"""

import dataclasses
import logging

import numpy as np
import pandas as pd

from .._precision import require_float64
from ..problem import Problem, from_scale
from ..simulate import SolverConfig
from ._sensitivity_rank import RELATIVE_TOLERANCE, design_sensitivities, null_space

IDENTIFIABLE = "identifiable"
STRUCTURALLY_NON_IDENTIFIABLE = "structurally non-identifiable"
PRACTICALLY_NON_IDENTIFIABLE = "practically non-identifiable"
UNDETERMINED = "undetermined"
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StructuralOptions:
    """Settings of `structural_identifiability`.

    **Arguments:**
    - `n_points`: random points (uniform within the bounds on the estimation scale), besides the fit.
    - `n_times`: equally spaced sampling times of the dense design per measured (condition, observable).
    - `relative_tolerance`: singular values $\\sigma_k \\le \\tau\\sigma_1$ count as zero (default
      `RELATIVE_TOLERANCE` = 1e-13, chosen from the measurements in `_sensitivity_rank`).
    - `seed`: seed of `numpy.random.default_rng` drawing the random points.
    - `participation`: share (module doc) above which a parameter takes part in a null space.
    """

    n_points: int = 5
    n_times: int = 50
    relative_tolerance: float = RELATIVE_TOLERANCE
    seed: int = 0
    participation: float = 0.1

    def __post_init__(self):
        for valid, name, requirement in (
            (self.n_points >= 1, "n_points", ">= 1 (random points besides the fit)"),
            (self.n_times >= 2, "n_times", ">= 2 (a dense design needs several times)"),
            (0.0 < self.relative_tolerance < 1.0, "relative_tolerance", "in (0, 1)"),
            (self.seed >= 0, "seed", ">= 0"),
            (0.0 < self.participation < 1.0, "participation", "in (0, 1)"),
        ):
            if not valid:
                raise ValueError(f"`{name}` must be {requirement}, got {getattr(self, name)!r}.")


@dataclasses.dataclass(frozen=True)
class StructuralResult:
    """Ranks and null spaces of the dense design at the fit (row 0 of `points`) and at random
    points, and of the actual design at the fit (`data_*`).

    Where a solve failed (`ok` false) `singular_values` are NaN, `ranks` -1 and
    `null_directions` empty `(n_params, 0)`; `data_rank` is -1 when the fit's solve failed.
    Null directions are orthonormal columns, each with its largest entry positive.
    """

    parameter_ids: tuple[str, ...]
    scales: tuple[str, ...]
    points: np.ndarray
    ok: np.ndarray
    singular_values: np.ndarray
    ranks: np.ndarray
    null_directions: tuple[np.ndarray, ...]
    data_rank: int
    data_null_directions: np.ndarray
    data_singular_values: np.ndarray
    relative_tolerance: float
    participation: float

    @property
    def random_ok(self) -> np.ndarray:
        """Rows of the random points whose solve succeeded."""
        return 1 + np.flatnonzero(self.ok[1:])

    @property
    def structural_deficiency(self) -> int:
        """Smallest rank deficiency over the successful random points (-1 if none succeeded)."""
        rows = self.random_ok
        return int(np.min(len(self.parameter_ids) - self.ranks[rows])) if rows.size else -1

    def structural_shares(self) -> np.ndarray:
        """Each parameter's share of the null space, smallest over the successful random points
        (NaN if none succeeded)."""
        rows = self.random_ok
        if not rows.size:
            return np.full(len(self.parameter_ids), np.nan)
        return np.min([_shares(self.null_directions[k], self.points[k], self.scales) for k in rows], axis=0)

    def practical_shares(self) -> np.ndarray:
        """Each parameter's share of the actual design's null space at the fit (NaN if that failed)."""
        if self.data_rank < 0:
            return np.full(len(self.parameter_ids), np.nan)
        return _shares(self.data_null_directions, self.points[0], self.scales)

    def null_space_angles(self) -> np.ndarray:
        """Largest principal angle (radians) between each point's null space and the fit's; NaN
        where either is empty or failed. Zero for the symmetries of log-scale parameters."""
        from scipy.linalg import subspace_angles  # here: every job imports fimflow (0.2 s)

        reference = self.null_directions[0]
        angles = np.full(len(self.points), np.nan)
        for k, basis in enumerate(self.null_directions):
            if basis.shape[1] and reference.shape[1]:
                angles[k] = float(np.max(subspace_angles(basis, reference)))
        return angles

    def verdicts(self) -> pd.DataFrame:
        """One row per parameter: `parameterId`, `verdict`, `structural_share`, `practical_share`.

        "structurally non-identifiable" when the parameter takes part in the null space at every
        successful random point (`structural_share` > `participation`), else "practically
        non-identifiable" when it takes part in the actual design's null space at the fit,
        "identifiable" when neither, "undetermined" when the solves needed failed.
        """
        structural, practical = self.structural_shares(), self.practical_shares()
        verdicts = [_verdict(s, p, self.participation) for s, p in zip(structural, practical)]
        return pd.DataFrame({"parameterId": list(self.parameter_ids), "verdict": verdicts,
                             "structural_share": structural, "practical_share": practical})


def _verdict(structural: float, practical: float, participation: float) -> str:
    if np.isnan(structural):
        return UNDETERMINED
    if structural > participation:
        return STRUCTURALLY_NON_IDENTIFIABLE
    if np.isnan(practical):
        return UNDETERMINED
    return PRACTICALLY_NON_IDENTIFIABLE if practical > participation else IDENTIFIABLE


def _shares(null_basis: np.ndarray, theta: np.ndarray, scales) -> np.ndarray:
    """Squared row norms of the null basis `(n_params, k)` at `theta` in relative changes (module doc)."""
    if null_basis.shape[1] == 0:
        return np.zeros(null_basis.shape[0])
    factor = np.array([
        np.log(10.0) if scale == "log10" else 1.0 if scale == "log" or p == 0.0 else 1.0 / abs(p)
        for p, scale in zip(from_scale(theta, scales), scales)
    ])
    orthonormal, _ = np.linalg.qr(factor[:, None] * null_basis)
    return np.sum(orthonormal**2, axis=1)


def _analyse(matrix: np.ndarray | None, n: int, relative_tolerance: float, label: str):
    """`null_space` of a sensitivity matrix; NaN singular values, rank -1 and no directions for None."""
    if matrix is None:
        return np.full(n, np.nan), -1, np.zeros((n, 0))
    singular_values, rank, basis = null_space(matrix, relative_tolerance)
    _log.info("%s: rank %d of %d, smallest relative singular value %.3g", label, rank, n,
              singular_values[-1] / singular_values[0] if singular_values[0] > 0 else np.nan)
    return singular_values, rank, basis


def _check_inputs(problem: Problem, x_best) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = problem.n_params
    if n == 0:
        raise ValueError(f"problem {problem.id!r} estimates no parameter; set `estimate` to 1 for some.")
    x_best = np.asarray(x_best, dtype=np.float64)
    if x_best.shape != (n,) or not np.all(np.isfinite(x_best)):
        raise ValueError(f"`x_best` must hold {n} finite values (the estimated parameters on the estimation "
                         f"scale), got shape {x_best.shape}: {x_best}.")
    lower, upper = problem.parameters.bounds()
    bad = [pid for pid, lo, hi in zip(problem.parameter_ids, lower, upper) if not (np.isfinite(lo) and np.isfinite(hi))]
    if bad:
        raise ValueError(f"parameters {bad} need finite bounds on their estimation scale to draw random points.")
    return x_best, lower, upper


def structural_identifiability(problem: Problem, x_best, *, config: SolverConfig = SolverConfig(),
                               options: StructuralOptions = StructuralOptions()) -> StructuralResult:
    """Numerical structural and practical identifiability (module doc).

    **Arguments:**
    - `problem`: the calibration problem; its measured (condition, observable) pairs and their
      noise models define the dense design.
    - `x_best`: the fit, estimated parameters on the estimation scale.

    Other arguments:
    - `config`: how the ODEs are solved.
    - `options`: `StructuralOptions`.

    **Returns:** `StructuralResult` with `1 + options.n_points` points (row 0 the fit); points
    whose solve fails are recorded (`ok` false) and skipped.

    **Raises:** `ValueError` when the problem estimates nothing, `x_best` has the wrong shape or
    is not finite, or a bound is infinite on the estimation scale.
    """
    require_float64()
    x_best, lower, upper = _check_inputs(problem, x_best)
    n, tol = problem.n_params, options.relative_tolerance
    rng = np.random.default_rng(options.seed)
    points = np.vstack([x_best[None, :], lower + rng.random((options.n_points, n)) * (upper - lower)])
    evaluate = design_sensitivities(problem, options.n_times, config)
    analyses, data = [], None
    for k, x in enumerate(points):
        label = "fit" if k == 0 else f"random point {k}"
        dense, own = evaluate(x, label, k == 0)
        analyses.append(_analyse(dense, n, tol, f"dense design, {label}"))
        data = _analyse(own, n, tol, "actual design, fit") if k == 0 else data
    singular_values, ranks, bases = zip(*analyses)
    return StructuralResult(
        parameter_ids=problem.parameter_ids, scales=problem.parameters.estimated_scales, points=points,
        ok=np.array(ranks) >= 0, singular_values=np.array(singular_values), ranks=np.array(ranks),
        null_directions=tuple(bases), data_rank=data[1], data_null_directions=data[2], data_singular_values=data[0],
        relative_tolerance=tol, participation=options.participation,
    )


def structural_tables(result: StructuralResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The result as two tables.

    **Returns:** the points table (`point`, `kind` "fit" or "random", `ok`, `rank`,
    `singular_value_1..n`, `null_angle_to_fit` (radians, `null_space_angles`), then one column of
    values per parameter id) and the directions table (`design`: "dense", or "actual" for the
    problem's own measurements at the fit (`point` 0); `point`, `direction`, then one column per
    parameter id holding the null vector).

    **Raises:** `ValueError` when a parameter id equals one of the other column names.
    """
    ids = list(result.parameter_ids)
    singular = [f"singular_value_{k + 1}" for k in range(len(ids))]
    clash = sorted({"point", "kind", "ok", "rank", "null_angle_to_fit", "design", "direction", *singular} & set(ids))
    if clash:
        raise ValueError(f"parameter ids {clash} clash with the column names of the structural tables; rename them.")
    points = pd.DataFrame({
        "point": np.arange(len(result.points)), "kind": ["fit"] + ["random"] * (len(result.points) - 1),
        "ok": result.ok, "rank": result.ranks, **dict(zip(singular, result.singular_values.T)),
        "null_angle_to_fit": result.null_space_angles(), **dict(zip(ids, result.points.T)),
    })
    blocks = [("dense", k, basis) for k, basis in enumerate(result.null_directions)]
    blocks.append(("actual", 0, result.data_null_directions))
    rows = [{"design": design, "point": k, "direction": j, **dict(zip(ids, basis[:, j]))}
            for design, k, basis in blocks for j in range(basis.shape[1])]
    return points, pd.DataFrame(rows, columns=["design", "point", "direction", *ids])
