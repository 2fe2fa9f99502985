r"""Did a design deliver the information it promised? The design criteria and standard errors the
expected FIM $I$ predicts, against those realized by refits of data simulated on the design.

With $C$ the empirical covariance of $N$ refits and $\mu_1..\mu_p$ its generalized eigenvalues
against $I^{-1}$ in the FIM's range (rank $p$; `_spread.generalized_eigenvalues`):

- D ($\log\det I$ over the range): realized $\log\det I - \sum\log\mu_k$, with the bias of a
  sample covariance's log-determinant removed; for normal estimates of covariance $I^{-1}$,
  $\sum_k \log\mu_k$ has mean $\sum_{i=1}^p \psi(\tfrac{N-i}{2}) + p\log\tfrac{2}{N-1}$ and variance
  $\sum_{i=1}^p \psi'(\tfrac{N-i}{2})$ (Wishart), which give the Monte-Carlo interval.
- A ($-\mathrm{tr}\,I^{-1}$): realized $-\mathrm{tr}\,C$, standard error $\sqrt{2\,\mathrm{tr}(I^{-2})/(N-1)}$.
- E ($\lambda_{\min}(I)$): realized $1/\lambda_{\max}(C)$, standard error
  $\lambda_{\min}\sqrt{2/(N-1)}$ (first order; the largest eigenvalue of a sample covariance is
  biased up when the smallest eigenvalues of $I$ are close).
- each parameter's sd: the Cramér–Rao sd against the refits' sd, with the chi-square interval.
"""

import numpy as np
import pandas as pd
from scipy.special import polygamma, psi

from ._spread import MC_LEVEL, _range_basis, crlb_covariance, generalized_eigenvalues, variance_ratio_interval

DESIGN_CHECK_COLUMNS = ("design", "quantity", "predicted", "realized", "mc_low", "mc_high", "within", "n_datasets")


def _row(design, quantity, predicted, realized, se_or_interval, n):
    if isinstance(se_or_interval, tuple):
        low, high = se_or_interval
    else:
        low, high = predicted - 3 * se_or_interval, predicted + 3 * se_or_interval
    within = bool(low <= realized <= high) if np.all(np.isfinite([low, high, realized])) else None
    return (design, quantity, float(predicted), float(realized), float(low), float(high), within, int(n))


def realized_vs_predicted(design: str, estimates: np.ndarray, fim: np.ndarray, parameter_ids, *,
                          tolerance: float = 1e-8) -> pd.DataFrame:
    """Rows `DESIGN_CHECK_COLUMNS` for one design: the D, A and E criteria (in the FIM's range) and
    each identifiable parameter's sd, predicted by `fim` and realized by the refits `estimates`."""
    n = len(estimates)
    lam, vectors, rank = _range_basis(fim, tolerance)
    covariance = np.cov(estimates, rowvar=False).reshape(len(lam), len(lam))
    mu = generalized_eigenvalues(covariance, fim, tolerance)
    i = np.arange(1, rank + 1)
    bias = float(np.sum(psi((n - i) / 2.0)) + rank * np.log(2.0 / (n - 1)))
    log_sd = float(np.sqrt(np.sum(polygamma(1, (n - i) / 2.0))))
    d_predicted = float(np.sum(np.log(lam[:rank])))
    rows = [_row(design, f"D (log det, rank {rank})", d_predicted, d_predicted - (np.sum(np.log(mu)) - bias), log_sd, n)]
    range_vectors = vectors[:, :rank]
    inverse = (range_vectors / lam[:rank]) @ range_vectors.T
    projected = range_vectors.T @ covariance @ range_vectors  # C in the range's coordinates
    rows.append(_row(design, "A (-trace of the covariance)", -float(np.trace(inverse)), -float(np.trace(projected)),
                     float(np.sqrt(2 * np.sum(lam[:rank] ** -2.0) / (n - 1))), n))
    rows.append(_row(design, "E (smallest eigenvalue)", float(lam[rank - 1]),
                     1.0 / float(np.linalg.eigvalsh(projected).max()),
                     float(lam[rank - 1] * np.sqrt(2.0 / (n - 1))), n))
    crlb = np.sqrt(np.diag(crlb_covariance(fim, tolerance)))
    for j, pid in enumerate(parameter_ids):
        if not np.isfinite(crlb[j]):
            continue
        sd = float(np.std(estimates[:, j], ddof=1))
        low, high = variance_ratio_interval(1.0, n, MC_LEVEL)  # where sd^2/crlb^2 falls for an efficient estimator
        rows.append(_row(design, f"sd {pid}", crlb[j], sd, (crlb[j] * np.sqrt(low), crlb[j] * np.sqrt(high)), n))
    return pd.DataFrame(rows, columns=list(DESIGN_CHECK_COLUMNS))


def delivered_information(expected: np.ndarray, observed: np.ndarray, single_dataset_sd=None, *,
                          tolerance: float = 1e-8) -> pd.DataFrame:
    """For the problem's actual data: per eigen-direction $v_k$ of the expected FIM at the fit, the
    observed FIM's $v_k^\\top I_{obs} v_k / \\lambda_k$ (1: the data delivered the information the
    expected FIM, and so the design stage, predicted). `single_dataset_sd`: that ratio's spread
    over single simulated data sets (the faces' `observed_ratio_se` × √N), for the interval."""
    lam, vectors, rank = _range_basis(expected, tolerance)
    rows = []
    for k in range(rank):
        v = vectors[:, k]
        ratio = float(v @ observed @ v / lam[k])
        sd = np.nan if single_dataset_sd is None else float(single_dataset_sd[k])
        rows.append(_row("actual data", f"v{k + 1} observed/expected (eigenvalue {lam[k]:.4g})", 1.0, ratio, sd, 1))
    return pd.DataFrame(rows, columns=list(DESIGN_CHECK_COLUMNS))
