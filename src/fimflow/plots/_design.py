"""Figure of the sampling design: chosen times over the sensitivity curves.

Same conventions as `fimflow.plots`: plain pandas input, one PNG written atomically, `None`
returned.
"""

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ._figures import _panels, _save, series_styles

_PAIR = ["simulationConditionId", "observableId"]


def design(chosen: pd.DataFrame, curves: pd.DataFrame, measurements: pd.DataFrame, path, *, title: str = "") -> None:
    """One panel per measured (condition, observable): the noise-weighted sensitivity of the
    observable to each parameter over the candidate times, the chosen sampling times (red
    triangles, stacked for replicates) and the current measurement times (grey ticks).

    **Arguments:** `chosen`: design rows (simulationConditionId, observableId, time);
    `curves`: `sensitivity_curves` output (…, time, parameterId, sensitivity);
    `measurements`: the problem's measurement table; `path`: the PNG; `title`: figure title.
    """
    pairs = list(dict.fromkeys(map(tuple, curves[_PAIR].to_numpy())))
    fig, axes = _panels(len(pairs), width=4.6)
    parameters = list(dict.fromkeys(curves["parameterId"]))
    styles = series_styles(parameters)
    for ax, (condition, observable) in zip(axes, pairs):
        rows = curves[(curves["simulationConditionId"] == condition) & (curves["observableId"] == observable)]
        for parameter in parameters:
            line = rows[rows["parameterId"] == parameter].sort_values("time")
            ax.plot(line["time"], line["sensitivity"], color=styles[parameter]["color"],
                    ls=styles[parameter]["linestyle"], lw=1.2)
        low, high = ax.get_ylim()
        picked = chosen[(chosen["simulationConditionId"] == condition) & (chosen["observableId"] == observable)]
        times, counts = np.unique(picked["time"].to_numpy(dtype=np.float64), return_counts=True)
        for t, count in zip(times, counts):
            ax.plot(np.full(count, t), low + (np.arange(count) + 0.5) * 0.04 * (high - low), "^", color="tab:red", ms=6)
        own = measurements[(measurements["simulationConditionId"] == condition)
                           & (measurements["observableId"] == observable)]["time"].to_numpy(dtype=np.float64)
        own = own[np.isfinite(own)]
        ax.plot(own, np.full(own.size, high - 0.03 * (high - low)), "|", color="0.4", ms=10)
        ax.set(title=f"{observable} in {condition}", xlabel="time", ylabel="∂h/∂θ / σ", ylim=(low, high))
    handles = [Line2D([], [], color=styles[p]["color"], ls=styles[p]["linestyle"], lw=1.2, label=p) for p in parameters]
    handles += [Line2D([], [], color="tab:red", marker="^", ls="", label="chosen sample"),
                Line2D([], [], color="0.4", marker="|", ls="", ms=10, label="current measurement")]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    _save(fig, path, title)


def experiment_ranking(ranking: pd.DataFrame, path, *, title: str = "") -> None:
    """The design criterion of each candidate experiment over its setting (one panel per setting
    column of `ranking`, the `rank_experiments` table), the best candidate marked in red."""
    settings = [c for c in ranking.columns if c not in ("criterion", "efficiency", "rank")]
    fig, axes = _panels(len(settings), width=4.6)
    for ax, setting in zip(axes, settings):
        ordered = ranking.sort_values(setting)
        ax.plot(ordered[setting], ordered["criterion"], "o-", color="0.3", ms=3, lw=1)
        best = ranking.iloc[0]
        ax.plot([best[setting]], [best["criterion"]], "o", color="tab:red", ms=7, label="best")
        ax.set(xlabel=setting, ylabel="criterion (current data + candidate)")
        ax.legend(fontsize=8)
    _save(fig, path, title)
