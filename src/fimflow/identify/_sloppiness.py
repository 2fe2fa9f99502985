r"""Sloppiness (Gutenkunst et al. 2007): the FIM eigenvalue spectrum over decades.

Eigenvalues normalised by the largest, $\lambda_k/\lambda_1$; a model is "sloppy" when they
spread roughly evenly over many decades. Stiff directions (large $\lambda$) are well
determined, sloppy ones (small $\lambda$) poorly: their standard deviation scales as
$\lambda^{-1/2}$.
"""

import dataclasses

import numpy as np

from ._eigen import EigenAnalysis


@dataclasses.dataclass(frozen=True)
class SloppinessSpectrum:
    parameter_ids: tuple[str, ...]
    eigenvalues: np.ndarray
    normalised: np.ndarray
    decades: float
    stiffest: np.ndarray
    sloppiest: np.ndarray

    @property
    def decades_below_largest(self) -> np.ndarray:
        """$-\\log_{10}(\\lambda_k/\\lambda_1)$; `inf` for numerically zero eigenvalues."""
        with np.errstate(divide="ignore"):
            return np.where(self.normalised > 0, 0.0 - np.log10(np.where(self.normalised > 0, self.normalised, 1.0)), np.inf) + 0.0


def sloppiness_spectrum(analysis: EigenAnalysis) -> SloppinessSpectrum:
    """Normalised spectrum, decades spanned by the positive eigenvalues, stiffest and sloppiest eigenvectors.

    Eigenvalues $\\le 0$ (numerically zero) get normalised value 0 and are left out of the
    decade count; `decades` is $\\log_{10}(\\lambda_{max}/\\lambda_{min}^{+})$.
    """
    values = analysis.eigenvalues
    largest = values[0]
    normalised = np.where(values > 0, values / largest, 0.0) if largest > 0 else np.zeros_like(values)
    positive = values[values > 0]
    decades = float(np.log10(positive.max() / positive.min())) if positive.size else 0.0
    return SloppinessSpectrum(
        parameter_ids=analysis.parameter_ids,
        eigenvalues=values,
        normalised=normalised,
        decades=decades,
        stiffest=analysis.eigenvectors[:, 0],
        sloppiest=analysis.eigenvectors[:, -1],
    )
