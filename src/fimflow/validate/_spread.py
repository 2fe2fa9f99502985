r"""Is the spread of the refitted estimates what the Fisher information says (Cramér–Rao), and do
the intervals cover?

Over $N$ refits $\hat\theta_b$ of data simulated at $\theta^*$, per parameter: bias, empirical sd,
the Cramér–Rao sd $\sqrt{(I^{-1})_{jj}}$ from the expected FIM at $\theta^*$, and the
**variance ratio** $r = s^2 / (I^{-1})_{jj}$ (1 for an efficient estimator; below 1 only by
Monte-Carlo error or bias) with its chi-square interval: $(N-1)s^2/\sigma^2 \sim \chi^2_{N-1}$ for
normal estimates, so $[r(N-1)/\chi^2_{N-1,1-\alpha/2},\, r(N-1)/\chi^2_{N-1,\alpha/2}]$ at
99.7 % ($\alpha = 0.003$, the "3 standard errors" of a normal). Coverage of each refit's own
Wald interval (and profile interval, where computed) with its binomial standard error
$\sqrt{p(1-p)/N}$ at the nominal $p$.

The whole covariance: the generalized eigenvalues $\mu$ of the empirical covariance $C$ against
$I^{-1}$ in the FIM's range, the eigenvalues of $\Lambda^{1/2}V^\top C V\Lambda^{1/2}$ (all 1 when
efficient; Marchenko–Pastur gives the spread a sample covariance of $N$ draws shows in $p$
dimensions, $[(1-\sqrt{p/N})^2, (1+\sqrt{p/N})^2]$).

A structurally non-identifiable problem has null directions $n$ ($I n = 0$): the data say
nothing along them, so the refits' spread there is set by the start, the optimiser and the
bounds. Reported instead: **identifiable combinations** $c^\top\theta$ with $c \perp$ the null
space, the pairwise ones $\theta_i - a\,\theta_k$ among the parameters of the null space (on a log
scale, $\log(p_i / p_k^a)$), each with its variance ratio against $c^\top I^{+} c$.
"""

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtri

from ..identify import eigen_analysis
from ..predict import delta_method

MC_LEVEL = 0.997  # "within Monte-Carlo error": 3 standard errors of a normal


def variance_ratio_interval(ratio: float, n: int, level: float = MC_LEVEL) -> tuple[float, float]:
    """The chi-square interval of a variance ratio from `n` draws (`n - 1` degrees of freedom)."""
    df = n - 1
    if df < 1 or not np.isfinite(ratio):
        return (np.nan, np.nan)
    tail = (1.0 - level) / 2
    return (ratio * df / stats.chi2.ppf(1.0 - tail, df), ratio * df / stats.chi2.ppf(tail, df))


def coverage_interval(p: float, n: int, *, k: float = 3.0) -> tuple[float, float]:
    """Nominal coverage `p` ± `k` binomial standard errors of a fraction of `n` refits."""
    se = np.sqrt(p * (1 - p) / max(n, 1))
    return (p - k * se, p + k * se)


def _range_basis(fim: np.ndarray, tolerance: float):
    """Eigenvalues (descending), eigenvectors and numerical rank, as the identifiability stage
    computes them (`eigen_analysis`, relative tolerance `tolerance`)."""
    analysis = eigen_analysis(fim, range(len(fim)), relative_tolerance=tolerance)
    return analysis.eigenvalues, analysis.eigenvectors, analysis.rank


def crlb_covariance(fim: np.ndarray, tolerance: float = 1e-8) -> np.ndarray:
    """$I^{-1}$ in the FIM's range; `inf` on the diagonal (and its rows) of a parameter with a
    component along a null direction (its Cramér–Rao bound is infinite)."""
    analysis = eigen_analysis(fim, range(len(fim)), relative_tolerance=tolerance)
    rank, vectors = analysis.rank, analysis.eigenvectors
    inverse = (vectors[:, :rank] / analysis.eigenvalues[:rank]) @ vectors[:, :rank].T
    unbounded = delta_method(np.eye(len(fim)), analysis)[2]  # as the prediction stage flags a null component
    inverse[unbounded, :] = np.inf
    inverse[:, unbounded] = np.inf
    return inverse


def per_parameter(estimates: np.ndarray, standard_errors: np.ndarray, theta, fim, parameter_ids, *,
                  level: float = 0.95, profile_ratios: np.ndarray | None = None, threshold: float = np.nan,
                  observed_fim: np.ndarray | None = None, bounds=None) -> pd.DataFrame:
    """One row per parameter: `mean`, `bias`, `empirical_sd`, `crlb_sd` (expected FIM at theta),
    `crlb_sd_observed` (from `observed_fim`, if given), `variance_ratio` with
    `variance_ratio_low/high` (99.7 %), `coverage_wald` (+ `coverage_wald_se`), `coverage_profile`
    (+ `n_profile`; NaN where not computed), `identifiable` (finite Cramér–Rao bound) and
    `at_bound`, the fraction of estimates on a bound of `bounds` (`(lower, upper)`; there the
    Cramér–Rao bound, a statement about interior optima, need not hold)."""
    n = len(estimates)
    z = float(ndtri(0.5 + level / 2))
    crlb = np.sqrt(np.diag(crlb_covariance(fim)))
    crlb_obs = np.sqrt(np.diag(crlb_covariance(observed_fim))) if observed_fim is not None else np.full(len(theta), np.nan)
    rows = []
    for j, pid in enumerate(parameter_ids):
        x = estimates[:, j]
        sd = float(np.std(x, ddof=1)) if n > 1 else np.nan
        ratio = sd**2 / crlb[j] ** 2 if np.isfinite(crlb[j]) else np.nan
        low, high = variance_ratio_interval(ratio, n)
        inside = np.abs(x - theta[j]) <= z * standard_errors[:, j]
        coverage = float(np.mean(inside)) if n else np.nan
        lr = profile_ratios[:, j] if profile_ratios is not None else np.array([])
        lr = lr[np.isfinite(lr)]
        rows.append({
            "parameter": pid, "truth": float(theta[j]), "mean": float(np.mean(x)), "bias": float(np.mean(x) - theta[j]),
            "empirical_sd": sd, "crlb_sd": float(crlb[j]), "crlb_sd_observed": float(crlb_obs[j]),
            "variance_ratio": ratio, "variance_ratio_low": low, "variance_ratio_high": high,
            "coverage_wald": coverage, "coverage_wald_se": float(np.sqrt(level * (1 - level) / max(n, 1))),
            "coverage_profile": float(np.mean(lr <= threshold)) if lr.size else np.nan, "n_profile": int(lr.size),
            "identifiable": bool(np.isfinite(crlb[j])),
            "at_bound": _at_bound(x, bounds, j),
        })
    return pd.DataFrame(rows)


def _at_bound(x, bounds, j) -> float:
    if bounds is None or not len(x):
        return np.nan
    lower, upper = (float(b[j]) for b in bounds)
    return float(np.mean((np.abs(x - lower) <= 1e-8 * (1 + abs(lower))) | (np.abs(x - upper) <= 1e-8 * (1 + abs(upper)))))


def generalized_eigenvalues(covariance: np.ndarray, fim: np.ndarray, tolerance: float = 1e-8) -> np.ndarray:
    """Eigenvalues (descending) of the empirical covariance against $I^{-1}$ in the FIM's range."""
    lam, vectors, rank = _range_basis(fim, tolerance)
    root = vectors[:, :rank] * np.sqrt(lam[:rank])
    return np.sort(np.linalg.eigvalsh(root.T @ covariance @ root))[::-1]


def marchenko_pastur_range(p: int, n: int) -> tuple[float, float]:
    """Where the eigenvalues of a sample covariance of `n` draws in `p` dimensions fall when the
    truth is the identity (large `n`, `p`)."""
    ratio = np.sqrt(p / max(n, 1))
    return ((1 - ratio) ** 2, (1 + ratio) ** 2)


def _label(i: str, k: str, a: float, scales) -> str:
    coefficient = "" if abs(a - 1) < 1e-6 else f"{a:.4g}*"
    if scales is not None and scales[0] == scales[1] and scales[0] in ("log", "log10"):
        power = "" if not coefficient else f"^{a:.4g}"
        return f"{scales[0]}({i}/{k}{power})"
    return f"{i} - {coefficient}{k}"


def identifiable_combinations(estimates: np.ndarray, theta, fim, parameter_ids, scales=None, *,
                              tolerance: float = 1e-8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For a FIM with null directions: `(combinations, null_spread)`.

    `combinations`: one row per pairwise combination $c^\\top\\theta = \\theta_i - a\\theta_k$ orthogonal to
    the null space (parameters `i`, `k` with a component along it), with `combination` (its
    label; `log(i/k)` for two log-scale parameters and $a = 1$), `coefficients`, `empirical_sd`,
    `crlb_sd` ($\\sqrt{c^\\top I^+ c}$), `variance_ratio` and its interval. `null_spread`: per null
    direction its `vector`, `eigenvalue`, the refits' `empirical_sd` along it and their
    `mean_offset` from theta along it. Both empty for a full-rank FIM."""
    lam, vectors, rank = _range_basis(fim, tolerance)
    null = vectors[:, rank:]
    if null.shape[1] == 0:
        return pd.DataFrame(), pd.DataFrame()
    pseudo = (vectors[:, :rank] / lam[:rank]) @ vectors[:, :rank].T
    projector = null @ null.T
    support = [j for j in range(len(theta)) if np.linalg.norm(null[j]) > 1e-6]
    n = len(estimates)
    rows = []
    for a_index, i in enumerate(support):
        for k in support[a_index + 1:]:
            pi, pk = projector[:, i], projector[:, k]
            a = float(pi @ pk / (pk @ pk))
            c = np.zeros(len(theta))
            c[i], c[k] = 1.0, -a
            if np.linalg.norm(projector @ c) > 1e-6 * np.linalg.norm(c):
                continue  # not orthogonal to every null direction: not identifiable
            values = estimates @ c
            crlb = float(np.sqrt(c @ pseudo @ c))
            sd = float(np.std(values, ddof=1)) if n > 1 else np.nan
            ratio = sd**2 / crlb**2
            low, high = variance_ratio_interval(ratio, n)
            pair_scales = (scales[i], scales[k]) if scales is not None else None
            rows.append({"combination": _label(parameter_ids[i], parameter_ids[k], a, pair_scales),
                         "coefficients": " ".join(f"{v:+.6g}" for v in c), "truth": float(c @ theta),
                         "mean": float(values.mean()), "empirical_sd": sd, "crlb_sd": crlb,
                         "variance_ratio": ratio, "variance_ratio_low": low, "variance_ratio_high": high})
    spread = [{"direction": f"null{m + 1}", "vector": [float(v) for v in null[:, m]],
               "eigenvalue": float(lam[rank + m]), "empirical_sd": float(np.std(estimates @ null[:, m], ddof=1)),
               "mean_offset": float(np.mean((estimates - theta) @ null[:, m]))}
              for m in range(null.shape[1])]
    return pd.DataFrame(rows), pd.DataFrame(spread)
