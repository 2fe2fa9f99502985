"""Figures of a validation study: the refits' spread against the Cramér–Rao ellipses, the KL
divergence against the FIM's quadratic picture, and coverage with its Monte-Carlo error.

Same conventions as `fimflow.plots`: plain arrays and pandas tables in, one PNG written
atomically, `None` returned.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._figures import _panels, _save, series_styles

MAX_PAIRS = 8  # parameters in the pairs plot (those with the largest Cramér–Rao sd beyond are left out)


def validation_pairs(estimates: np.ndarray, theta, crlb: np.ndarray, parameter_ids, path, *, title: str = "") -> None:
    """Pairs plot of the refitted estimates (one dot per data set) with the 95 % Cramér–Rao
    ellipse of each pair (from `crlb`, the inverse FIM; none where a parameter's bound is
    infinite), the truth as a red cross; histograms on the diagonal with the normal density of
    the Cramér–Rao sd. At most `MAX_PAIRS` parameters (the most precisely determined ones)."""
    order = np.argsort(np.where(np.isfinite(np.diag(crlb)), np.diag(crlb) / np.maximum(np.abs(theta), 1), np.inf))
    keep = sorted(order[:MAX_PAIRS])
    p = len(keep)
    fig, axes = plt.subplots(p, p, figsize=(1.9 * p + 1, 1.9 * p + 1), squeeze=False, layout="constrained")
    radius = np.sqrt(5.991)  # chi-square 95 % with 2 degrees of freedom
    circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 120)), np.sin(np.linspace(0, 2 * np.pi, 120))])
    for a, i in enumerate(keep):
        for b, j in enumerate(keep):
            ax = axes[a][b]
            if a == b:
                ax.hist(estimates[:, i], bins=30, density=True, color="0.7")
                sd = np.sqrt(crlb[i, i])
                if np.isfinite(sd) and sd > 0:
                    grid = np.linspace(theta[i] - 4 * sd, theta[i] + 4 * sd, 200)
                    ax.plot(grid, np.exp(-0.5 * ((grid - theta[i]) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), color="tab:blue")
            elif a > b:
                ax.plot(estimates[:, j], estimates[:, i], ".", ms=2, color="0.35", alpha=0.5)
                block = crlb[np.ix_([j, i], [j, i])]
                if np.all(np.isfinite(block)):
                    values, vectors = np.linalg.eigh(block)
                    ellipse = vectors @ (np.sqrt(np.maximum(values, 0))[:, None] * circle) * radius
                    ax.plot(theta[j] + ellipse[0], theta[i] + ellipse[1], color="tab:blue", lw=1.2)
                ax.plot(theta[j], theta[i], "x", color="tab:red", ms=6)
            else:
                ax.set_visible(False)
            if a == p - 1:
                ax.set_xlabel(parameter_ids[j], fontsize=8)
            if b == 0 and a > 0:
                ax.set_ylabel(parameter_ids[i], fontsize=8)
            ax.tick_params(labelsize=6)
    _save(fig, path, title)


def validation_kl(kl: pd.DataFrame, path, *, title: str = "") -> None:
    """KL divergence along each direction against the quadratic picture r²/2 (black), one panel
    for the FIM's eigen-directions and one for the parameter axes; the dotted lines mark the
    band [0.9, 1.1]·r²/2 and the grey line the Wald 95 % reach r = 1.96."""
    kinds = [k for k in ("eigen", "axis") if k in set(kl["kind"])]
    fig, axes = _panels(len(kinds), width=5.2, height=3.8)
    for ax, kind in zip(axes, kinds):
        rows = kl[kl["kind"] == kind]
        names = list(dict.fromkeys(rows["direction"]))
        styles = series_styles(names)
        for name in names:
            line = rows[rows["direction"] == name].sort_values("r")
            ax.plot(line["r"], line["kl"], color=styles[name]["color"], ls=styles[name]["linestyle"],
                    marker=styles[name]["marker"], ms=3, lw=1, label=name)
        grid = np.linspace(rows["r"].min(), rows["r"].max(), 200)
        ax.plot(grid, 0.5 * grid**2, color="k", lw=1.5, label="r²/2")
        for factor in (0.9, 1.1):
            ax.plot(grid, factor * 0.5 * grid**2, color="k", ls=":", lw=0.8)
        for r in (-1.96, 1.96):
            ax.axvline(r, color="0.6", lw=0.8)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set(xlabel="r (Wald units along the direction)", ylabel="KL (nats)",
               title="FIM eigen-directions" if kind == "eigen" else "parameter axes")
        ax.legend(fontsize=6, ncol=2)
    _save(fig, path, title)


def validation_coverage(parameters: pd.DataFrame, predictions: pd.DataFrame, level: float, n: int, path, *,
                        title: str = "") -> None:
    """Left: each parameter's Wald (and profile) coverage with ±3 binomial standard errors around
    the nominal `level`; middle: the variance ratio (empirical / Cramér–Rao) with its 99.7 %
    chi-square interval; right: the delta-method coverage of each named prediction over time."""
    fig, axes = _panels(3 if len(predictions) else 2, width=4.6, height=3.6)
    identifiable = parameters[parameters["identifiable"]]
    x = np.arange(len(identifiable))
    band = 3 * np.sqrt(level * (1 - level) / max(n, 1))
    ax = axes[0]
    ax.axhspan(level - band, level + band, color="0.9")
    ax.axhline(level, color="k", lw=0.8)
    ax.plot(x, identifiable["coverage_wald"], "o", color="tab:blue", label="Wald")
    if identifiable["coverage_profile"].notna().any():
        profile = identifiable["coverage_profile"]
        errors = 3 * np.sqrt(level * (1 - level) / np.maximum(identifiable["n_profile"], 1))
        ax.errorbar(x + 0.15, profile, yerr=errors, fmt="s", color="tab:orange", ms=4, label="profile (±3 se)")
    ax.set_xticks(x, identifiable["parameter"], rotation=60, fontsize=7)
    ax.set(ylabel="coverage", title=f"interval coverage (grey: ±3 se at N={n})")
    ax.legend(fontsize=7)
    ax = axes[1]
    ratios = identifiable["variance_ratio"].to_numpy()
    low = ratios - identifiable["variance_ratio_low"].to_numpy()
    high = identifiable["variance_ratio_high"].to_numpy() - ratios
    ax.errorbar(x, ratios, yerr=[low, high], fmt="o", color="tab:green")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, identifiable["parameter"], rotation=60, fontsize=7)
    ax.set(ylabel="empirical variance / Cramér–Rao", title="variance ratio (99.7 % interval)")
    if len(predictions):
        ax = axes[2]
        names = list(dict.fromkeys(predictions["prediction"]))
        styles = series_styles(names)
        for name in names:
            rows = predictions[predictions["prediction"] == name]
            ax.errorbar(rows["time"], rows["coverage"], yerr=3 * np.sqrt(level * (1 - level) / np.maximum(rows["n"], 1)),
                        fmt=styles[name]["marker"], color=styles[name]["color"], ms=4, label=name)
        ax.axhline(level, color="k", lw=0.8)
        ax.set(xlabel="time", ylabel="coverage", title="delta-method band coverage")
        ax.legend(fontsize=7)
    _save(fig, path, title)
