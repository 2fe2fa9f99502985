r"""Figures of the workflow: one function per figure, each writing one PNG.

Every function takes plain numpy arrays or pandas tables (no JAX), draws with matplotlib's
non-interactive "Agg" backend, writes the PNG atomically (temporary file + rename, at 120 dpi
with a tight bounding box), closes the figure and returns `None`.
"""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .._atomic import atomic_path  # noqa: E402

_STATUS_COLOURS = {"converged": "tab:blue", "stalled": "tab:olive", "max_iterations": "tab:orange", "max_time": "tab:purple",
                   "failed": "tab:red"}


def _save(fig, path, title: str) -> None:
    """Add the title, write `fig` to `path` atomically and close it."""
    try:
        if title:
            fig.suptitle(title)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)


_LINE_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")


def series_styles(names) -> dict:
    """A distinct style per series name: the ten default colours, then the same colours with the
    next line style and marker (names 0-9 solid with circles, 10-19 dashed with squares, ...), so
    that 13 parameters never share a look. Each style: `color`, `linestyle`, `marker`."""
    return {name: {"color": f"C{k % 10}", "linestyle": _LINE_STYLES[(k // 10) % len(_LINE_STYLES)],
                   "marker": _MARKERS[(k // 10) % len(_MARKERS)]}
            for k, name in enumerate(names)}


def _panels(n: int, *, width=4.2, height=3.2):
    """A figure with `n` panels on a grid of up to 3 columns; returns (figure, list of axes)."""
    ncols = min(3, max(n, 1))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if n == 0:
        fig.text(0.5, 0.5, "nothing to plot", ha="center", va="center")
    return fig, list(axes.flat[:n])


def _ids(*columns) -> list:
    """Distinct values of the given columns, in order of first appearance."""
    return list(dict.fromkeys(v for column in columns for v in column))


def waterfall(nll, status, path, *, title: str = "") -> None:
    """Multistart waterfall: sorted final NLLs, shifted so that the best is 1, on a log axis.

    **Arguments:**

    - `nll`: final negative log-likelihood per start; NaN (or ±inf) for failed starts.
    - `status`: one of "converged", "stalled", "max_iterations", "max_time", "failed" per start.
    - `path`: the PNG to write.
    - `title`: figure title.
    """
    nll = np.asarray(nll, dtype=np.float64)
    status = np.asarray(status, dtype=str)
    finite = np.isfinite(nll)
    order = np.argsort(nll[finite], kind="stable")
    values, kinds = nll[finite][order], status[finite][order]
    n_lost = int((~finite).sum())
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    if values.size:
        best = values[0]
        shifted = values - best + 1.0
        rank = np.arange(1, values.size + 1)
        ax.plot(rank, shifted, color="0.8", lw=1, zorder=1)
        for kind in _ids(_STATUS_COLOURS, kinds):
            mask = kinds == kind
            if mask.any():
                colour = _STATUS_COLOURS.get(kind, "tab:gray")
                ax.scatter(rank[mask], shifted[mask], s=22, color=colour, zorder=2,
                           label=f"{kind} ({mask.sum()})")
        ax.axhline(1.1, ls="--", color="k", lw=1, label="within 0.1 of the best")
        within = int((values - best <= 0.1).sum())
        text = f"{within} of {nll.size} starts within 0.1 of the best (NLL = {best:.6g})"
        ax.set_xlim(0.5, values.size + 0.5)
    else:
        text = f"none of {nll.size} starts reached a finite NLL"
    if n_lost:
        ax.plot([], [], "x", color="tab:red", label=f"no finite NLL ({n_lost}, not shown)")
        text += f"\n{n_lost} failed start(s) without a finite NLL"
    ax.set_yscale("log")
    ax.set_title(text, fontsize=9)
    ax.set(xlabel="rank of start (sorted by final NLL)", ylabel="NLL − best NLL + 1")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    _save(fig, path, title)


def fit_vs_data(measurements: pd.DataFrame, curves: pd.DataFrame, path, *, title: str = "") -> None:
    """Measurements (dots) and simulated curves at the best fit (lines), one panel per observable.

    **Arguments:**

    - `measurements`: columns observableId, simulationConditionId, time, measurement.
    - `curves`: columns observableId, simulationConditionId, time, simulation (dense in time).
    - `path`: the PNG to write.
    - `title`: figure title.
    """
    observables = _ids(measurements["observableId"], curves["observableId"])
    conditions = _ids(measurements["simulationConditionId"], curves["simulationConditionId"])
    styles = series_styles(conditions)
    fig, axes = _panels(len(observables))
    for ax, obs in zip(axes, observables):
        for cond in conditions:
            curve = curves[(curves["observableId"] == obs) & (curves["simulationConditionId"] == cond)]
            curve = curve.sort_values("time")
            data = measurements[(measurements["observableId"] == obs)
                                & (measurements["simulationConditionId"] == cond)]
            style = styles[cond]
            ax.plot(curve["time"], curve["simulation"], color=style["color"], ls=style["linestyle"], lw=1.5)
            ax.plot(data["time"], data["measurement"], style["marker"], ms=4, color=style["color"])
        ax.set(title=str(obs), xlabel="time", ylabel="value")
    if conditions:
        handles = [Line2D([], [], color=styles[c]["color"], ls=styles[c]["linestyle"], marker=styles[c]["marker"], ms=4,
                          label=str(c)) for c in conditions]
        fig.legend(handles=handles, title="condition\n(dots: data, lines: fit)",
                   loc="outside right upper", fontsize=8)
    _save(fig, path, title)


def fim_spectrum(eigenvalues, path, *, labels=("expected",), rank_tolerance: float = 1e-8,
                 title: str = "") -> None:
    r"""Eigenvalue ladders $\lambda_k/\lambda_{max}$ on a log axis, one column per FIM.

    **Arguments:**

    - `eigenvalues`: list of 1-D arrays, one per FIM (e.g. expected and observed).
    - `path`: the PNG to write.
    - `labels`: one name per array.
    - `rank_tolerance`: relative tolerance below which a direction counts as rank-deficient.
    - `title`: figure title.

    Non-positive (or non-finite) eigenvalues are drawn as triangles at the bottom of the axis.
    """
    arrays = [np.asarray(v, dtype=np.float64).ravel() for v in eigenvalues]
    if len(labels) != len(arrays):
        raise ValueError(f"{len(arrays)} eigenvalue arrays but {len(labels)} labels.")
    normalised = []
    for values in arrays:
        largest = np.max(values, initial=-np.inf, where=np.isfinite(values))
        keep = np.isfinite(values) & (values > 0) & (largest > 0)
        normalised.append((values[keep] / largest if largest > 0 else values[keep], int((~keep).sum())))
    smallest = min([rank_tolerance, *(r.min() for r, _ in normalised if r.size)])
    floor = smallest / 10.0
    fig, ax = plt.subplots(figsize=(2.5 + 1.6 * len(arrays), 4.8), layout="constrained")
    for i, ((ratios, n_bad), label) in enumerate(zip(normalised, labels)):
        ax.hlines(ratios, i - 0.3, i + 0.3, color=f"C{i}", lw=1.5)
        if n_bad:
            ax.plot(np.linspace(i - 0.2, i + 0.2, n_bad), np.full(n_bad, floor * 2.0), "v",
                    color="tab:red", ms=7, label=f"{label}: {n_bad} eigenvalue(s) ≤ 0")
    ax.axhline(rank_tolerance, ls=":", color="k", lw=1, label=f"rank tolerance {rank_tolerance:.0e}")
    ax.set_yscale("log")
    ax.set_ylim(floor, 3.0)
    ax.set_xlim(-0.6, len(arrays) - 0.4)
    ax.set_xticks(range(len(arrays)), [f"{lab}\n(n = {v.size})" for lab, v in zip(labels, arrays)])
    ax.set_ylabel(r"$\lambda_k\,/\,\lambda_{\max}$")
    fig.legend(loc="outside lower center", fontsize=8)
    _save(fig, path, title)


def eigenvectors(vectors, eigenvalues, parameter_ids, path, *, title: str = "") -> None:
    """Heatmap of squared eigenvector entries: the share of each parameter in each direction.

    **Arguments:**

    - `vectors`: (n_params, n_directions), columns are eigenvectors by decreasing eigenvalue.
    - `eigenvalues`: the matching eigenvalues (extra trailing values are ignored).
    - `parameter_ids`: one id per row of `vectors`.
    - `path`: the PNG to write.
    - `title`: figure title.
    """
    share = np.asarray(vectors, dtype=np.float64) ** 2
    values = np.asarray(eigenvalues, dtype=np.float64).ravel()
    n_params, n_dirs = share.shape
    fig, ax = plt.subplots(figsize=(2.8 + 0.8 * n_dirs, 1.6 + 0.4 * n_params), layout="constrained")
    image = ax.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues", aspect="auto")
    ax.set_xticks(range(n_dirs), [f"λ{j + 1}\n{values[j]:.1e}" for j in range(n_dirs)], fontsize=8)
    ax.set_yticks(range(n_params), [str(p) for p in parameter_ids], fontsize=8)
    for i, j in zip(*np.nonzero(share > 0.1)):
        ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                color="white" if share[i, j] > 0.6 else "black")
    ax.set(xlabel="direction (eigenvalue)", ylabel="parameter")
    fig.colorbar(image, ax=ax, label="share of parameter in direction")
    _save(fig, path, title)


def prediction_bands(bands: pd.DataFrame, path, *, title: str = "") -> None:
    """Predictions with their uncertainty bands, one panel per prediction.

    **Arguments:**

    - `bands`: columns prediction, time, value, lower, upper, unbounded (bool). Where
        `unbounded` is true no band is drawn and the point is marked with a red cross.
    - `path`: the PNG to write.
    - `title`: figure title.
    """
    predictions = _ids(bands["prediction"])
    fig, axes = _panels(len(predictions))
    any_unbounded = False
    for ax, pid in zip(axes, predictions):
        rows = bands[bands["prediction"] == pid].sort_values("time")
        t = rows["time"].to_numpy(dtype=np.float64)
        value = rows["value"].to_numpy(dtype=np.float64)
        lower = rows["lower"].to_numpy(dtype=np.float64)
        upper = rows["upper"].to_numpy(dtype=np.float64)
        unbounded = rows["unbounded"].to_numpy(dtype=bool)
        bounded = ~unbounded & np.isfinite(lower) & np.isfinite(upper)
        ax.fill_between(t, np.where(bounded, lower, value), np.where(bounded, upper, value),
                        where=bounded, color="C0", alpha=0.25, lw=0)
        ax.plot(t, value, color="C0", lw=1.5)
        if unbounded.any():
            any_unbounded = True
            ax.plot(t[unbounded], value[unbounded], "x", color="tab:red", ms=7)
            ax.text(0.98, 0.97, f"unbounded by the data\nat {unbounded.sum()} of {t.size} times",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8, color="tab:red",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ax.set(title=str(pid), xlabel="time", ylabel="value")
    handles = [Line2D([], [], color="C0", lw=1.5, label="prediction"),
               Patch(color="C0", alpha=0.25, label="uncertainty band")]
    if any_unbounded:
        handles.append(Line2D([], [], color="tab:red", marker="x", ls="", label="unbounded by the data"))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    _save(fig, path, title)


def contributions(contributions: pd.DataFrame, path, *, title: str = "") -> None:
    """Share of each FIM direction in the prediction variance over time (stacked areas).

    **Arguments:**

    - `contributions`: columns prediction, time, direction (int, 1-based), fraction (sums to 1
        per prediction and time).
    - `path`: the PNG to write.
    - `title`: figure title.
    """
    predictions = _ids(contributions["prediction"])
    directions = sorted(_ids(contributions["direction"]))
    cmap = plt.cm.tab10 if len(directions) <= 10 else plt.cm.tab20
    colours = {d: cmap(i % cmap.N) for i, d in enumerate(directions)}
    fig, axes = _panels(len(predictions))
    for ax, pid in zip(axes, predictions):
        rows = contributions[contributions["prediction"] == pid]
        table = rows.pivot_table(index="time", columns="direction", values="fraction",
                                 aggfunc="sum", fill_value=0.0).sort_index()
        fractions = np.nan_to_num(table.to_numpy(dtype=np.float64).T)
        ax.stackplot(table.index.to_numpy(dtype=np.float64), fractions,
                     colors=[colours[d] for d in table.columns])
        ax.set(title=str(pid), xlabel="time", ylabel="share of prediction variance", ylim=(0.0, 1.0))
    if directions:
        handles = [Patch(color=colours[d], label=f"direction {d}") for d in directions]
        fig.legend(handles=handles, title="FIM direction", loc="outside right upper", fontsize=8)
    _save(fig, path, title)
