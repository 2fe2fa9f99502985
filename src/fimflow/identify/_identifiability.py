"""Local identifiability at the best fit as tables: per-parameter verdicts and the null
directions of the FIM (`Identifiability`), and the sloppiness tables (`Sloppiness`)."""

import dataclasses

import numpy as np
import pandas as pd

from ._eigen import EigenAnalysis, eigen_analysis, parameter_verdicts, participating
from ._sloppiness import SloppinessSpectrum, sloppiness_spectrum


@dataclasses.dataclass(frozen=True)
class Identifiability:
    """What the FIM at `x` says about each parameter.

    - `analysis`: the eigen-analysis (`EigenAnalysis`) it is read from.
    - `verdicts`: one row per parameter (`parameterId`, `estimate` on the estimation scale,
      `verdict`, `standard_error`, `null_share`, `null_directions`; see `parameter_verdicts`).
    - `null_directions`: one row per eigen-direction beyond the rank (`direction`, `eigenvalue`,
      `relative_eigenvalue`, the `parameters` taking part, and the vector's entries `v_<id>`).
    """

    analysis: EigenAnalysis
    verdicts: pd.DataFrame
    null_directions: pd.DataFrame


def identifiability(fim, parameter_ids, x, lower, upper, *, rank_tolerance: float = 1e-8,
                    participation: float = 0.1) -> Identifiability:
    """Verdicts and null directions of the Fisher information `fim` (estimation scale) at `x`,
    with the bounds `lower`, `upper` on the estimation scale (a Wald interval wider than them is
    "weakly identifiable"). `rank_tolerance`: eigenvalues below it times the largest are null;
    `participation`: the squared share above which a parameter takes part in a direction."""
    fim = np.asarray(fim, dtype=np.float64)
    ids = tuple(parameter_ids)
    analysis = eigen_analysis(fim, ids, relative_tolerance=rank_tolerance)
    verdicts = pd.DataFrame(parameter_verdicts(analysis, fim, np.asarray(lower), np.asarray(upper),
                                               threshold=participation))
    verdicts.insert(1, "estimate", np.asarray(x, dtype=np.float64))
    rows = []
    for k in range(analysis.rank, len(ids)):
        vector = analysis.eigenvectors[:, k]
        rows.append({"direction": k + 1, "eigenvalue": analysis.eigenvalues[k],
                     "relative_eigenvalue": analysis.eigenvalues[k] / analysis.eigenvalues[0],
                     "parameters": ",".join(participating(vector, ids, threshold=participation)),
                     **{f"v_{p}": v for p, v in zip(ids, vector)}})
    columns = ["direction", "eigenvalue", "relative_eigenvalue", "parameters", *(f"v_{p}" for p in ids)]
    return Identifiability(analysis, verdicts, pd.DataFrame(rows, columns=columns))


@dataclasses.dataclass(frozen=True)
class Sloppiness:
    """The FIM's spectrum over decades (`spectrum`) and its eigen-analysis (`analysis`)."""

    analysis: EigenAnalysis
    spectrum: SloppinessSpectrum

    def to_frame(self) -> pd.DataFrame:
        """One row per eigen-direction: `direction`, `eigenvalue`, `normalised`, `decades_below_largest`."""
        s = self.spectrum
        return pd.DataFrame({"direction": range(1, len(s.parameter_ids) + 1), "eigenvalue": s.eigenvalues,
                             "normalised": s.normalised, "decades_below_largest": s.decades_below_largest})

    def eigenvectors_frame(self) -> pd.DataFrame:
        """The eigenvectors as columns `v1..vn` (largest eigenvalue first), one row per parameter."""
        ids = self.analysis.parameter_ids
        vectors = pd.DataFrame(self.analysis.eigenvectors, columns=[f"v{k + 1}" for k in range(len(ids))])
        vectors.insert(0, "parameterId", list(ids))
        return vectors


def sloppiness(fim, parameter_ids, *, rank_tolerance: float = 1e-8) -> Sloppiness:
    """The sloppiness spectrum of the Fisher information `fim` (see `sloppiness_spectrum`)."""
    analysis = eigen_analysis(np.asarray(fim, dtype=np.float64), tuple(parameter_ids), relative_tolerance=rank_tolerance)
    return Sloppiness(analysis, sloppiness_spectrum(analysis))
