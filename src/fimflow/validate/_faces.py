r"""The two faces of the Fisher information: at the true $\theta^*$,
$I(\theta^*) = \mathrm{E}[s s^\top] = \mathrm{E}[-\nabla^2 \log p]$, $s$ the score. Over $N$ data
sets simulated at $\theta^*$ the mean score outer product and the mean observed FIM (the NLL's
Hessian) each estimate the expected FIM; per eigen-direction $v_k$ of $I$ the ratios
$v_k^\top \bar S v_k/\lambda_k$ and $v_k^\top \bar H v_k/\lambda_k$ are 1 up to Monte-Carlo error
(the standard error of a mean over data sets). A ratio of the observed face far from 1 means the
model's curvature is not the expected FIM's (strong nonlinearity at this noise level); of the
score face, that the expected FIM itself is wrong (a bug or a noise model that is not the data's).
"""

import numpy as np
import pandas as pd

from ..identify import eigen_analysis

FACE_COLUMNS = ("direction", "eigenvalue", "score_ratio", "score_ratio_se", "observed_ratio", "observed_ratio_se")


def two_faces(scores: np.ndarray, hessians: np.ndarray, fim: np.ndarray, *, tolerance: float = 1e-8):
    """`(table, summary)` from the scores `(N, p)` and observed FIMs `(N, p, p)` at theta*.

    `table`: per eigen-direction of `fim` (largest first) `eigenvalue` and both ratios with their
    standard errors (for a null direction, $\\lambda \\le$ `tolerance` × the largest, the ratios are
    the raw quadratic forms, which should be ~0). `summary`: the relative Frobenius differences
    of the mean score outer product and of the mean observed FIM from `fim`, and `n_datasets`."""
    n = len(scores)
    analysis = eigen_analysis(fim, range(len(fim)), relative_tolerance=tolerance)
    lam, vectors = analysis.eigenvalues, analysis.eigenvectors
    rows = []
    for k in range(len(lam)):
        v = vectors[:, k]
        score_terms = (scores @ v) ** 2
        observed_terms = np.einsum("i,nij,j->n", v, hessians, v)
        scale = lam[k] if k < analysis.rank else 1.0
        rows.append((f"v{k + 1}", float(lam[k]), score_terms.mean() / scale, score_terms.std(ddof=1) / np.sqrt(n) / scale,
                     observed_terms.mean() / scale, observed_terms.std(ddof=1) / np.sqrt(n) / scale))
    outer = scores.T @ scores / n
    mean_hessian = hessians.mean(axis=0)
    norm = np.linalg.norm(fim)
    summary = {"n_datasets": int(n),
               "score_relative_difference": float(np.linalg.norm(outer - fim) / norm),
               "observed_relative_difference": float(np.linalg.norm(mean_hessian - fim) / norm)}
    return pd.DataFrame(rows, columns=list(FACE_COLUMNS)), summary
