r"""Local identifiability from the eigen-decomposition of the Fisher information.

A direction $v$ with $v^\top I v \approx 0$ leaves the likelihood flat to second order: the
parameters with large entries in $v$ are not identifiable from these data (structurally, if
the direction persists for any data of this design). Standard errors are the square roots of
the diagonal of $I^{-1}$ (Cramér–Rao).
"""

import dataclasses

import numpy as np

IDENTIFIABLE = "identifiable"
NOT_IDENTIFIABLE = "not identifiable"
WEAKLY_IDENTIFIABLE = "weakly identifiable"


@dataclasses.dataclass(frozen=True)
class EigenAnalysis:
    """Eigenvalues (descending) and eigenvectors (columns) of a FIM, with its numerical rank."""

    parameter_ids: tuple[str, ...]
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    rank: int
    relative_tolerance: float

    @property
    def null_directions(self) -> np.ndarray:
        """Eigenvectors (columns) of the eigenvalues below the rank tolerance."""
        return self.eigenvectors[:, self.rank :]


def eigen_analysis(fim: np.ndarray, parameter_ids, *, relative_tolerance: float = 1e-8) -> EigenAnalysis:
    """Symmetric eigen-decomposition, sorted by decreasing eigenvalue.

    The numerical rank counts eigenvalues $\\lambda > \\tau\\,\\lambda_{max}$ with
    $\\tau$ = `relative_tolerance` (default $10^{-8}$: a direction $10^4$ times less certain than
    the best one). Each eigenvector's sign is fixed so that its largest entry is positive.
    """
    fim = 0.5 * (np.asarray(fim) + np.asarray(fim).T)
    values, vectors = np.linalg.eigh(fim)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    largest = max(values[0], 0.0)
    rank = int(np.sum(values > relative_tolerance * largest)) if largest > 0 else 0
    return EigenAnalysis(tuple(parameter_ids), values, vectors, rank, relative_tolerance)


def participating(vector: np.ndarray, parameter_ids, *, threshold: float = 0.1) -> list[str]:
    """Parameters whose squared entry in a unit vector exceeds `threshold` (its share)."""
    return [p for p, v in zip(parameter_ids, vector) if v**2 > threshold]


def parameter_verdicts(analysis: EigenAnalysis, fim: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                       *, threshold: float = 0.1) -> list[dict]:
    """One row per parameter: verdict, standard error and the null directions it takes part in.

    - `not identifiable`: its squared share in some null direction exceeds `threshold`;
    - `weakly identifiable`: the Wald 95% interval ($\\pm 1.96$ SE) is wider than the bounds;
    - `identifiable` otherwise.
    """
    ids = analysis.parameter_ids
    null = analysis.null_directions
    if analysis.rank > 0:
        kept = analysis.eigenvectors[:, : analysis.rank]
        inverse = (kept / analysis.eigenvalues[: analysis.rank]) @ kept.T
    else:
        inverse = np.full_like(np.asarray(fim), np.inf)
    rows = []
    for i, pid in enumerate(ids):
        shares = null[i, :] ** 2 if null.size else np.zeros(0)
        directions = [int(analysis.rank + k) for k in np.flatnonzero(shares > threshold)]
        standard_error = float(np.sqrt(inverse[i, i])) if not directions and inverse[i, i] >= 0 else np.inf
        if directions:
            verdict = NOT_IDENTIFIABLE
        elif 2 * 1.96 * standard_error > upper[i] - lower[i]:
            verdict = WEAKLY_IDENTIFIABLE
        else:
            verdict = IDENTIFIABLE
        rows.append(
            {
                "parameterId": pid,
                "verdict": verdict,
                "standard_error": standard_error,
                "null_share": float(shares.sum()) if shares.size else 0.0,
                "null_directions": ",".join(str(d) for d in directions),
            }
        )
    return rows
