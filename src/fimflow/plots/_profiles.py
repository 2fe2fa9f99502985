"""Figures of the likelihood-based analyses: parameter profiles, and prediction bands three ways.

Same conventions as `fimflow.plots`: plain numpy/pandas input, one PNG written atomically per
function, `None` returned.
"""

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._figures import _ids, _panels, _save

_VERDICT_COLOURS = {
    "identifiable": "tab:green",
    "practically non-identifiable": "tab:orange",
    "structurally non-identifiable": "tab:red",
}


def profiles(results, path, *, title: str = "") -> None:
    """One panel per parameter: the profile's NLL rise over the optimum against the parameter
    (estimation scale), the threshold, the confidence bounds and the verdict.

    **Arguments:** `results`: `ProfileResult`s (points with value, delta, status; threshold,
    lower, upper, verdict, better_nll); `path`: the PNG; `title`: figure title.
    """
    fig, axes = _panels(len(results))
    better = False
    for ax, result in zip(axes, results):
        points = result.points.sort_values("value")
        ok = points["status"] != "failed"
        colour = _VERDICT_COLOURS.get(result.verdict, "tab:blue")
        ax.plot(points["value"][ok], points["delta"][ok], "-", color=colour, lw=1.5)
        ax.plot(points["value"][ok], points["delta"][ok], ".", color=colour, ms=3)
        ax.axhline(result.threshold, color="k", ls="--", lw=0.8)
        for bound in (result.lower, result.upper):
            if np.isfinite(bound):
                ax.axvline(bound, color="k", ls=":", lw=0.8)
        at_bound = points[points["status"] == "bound"]
        ax.plot(at_bound["value"], at_bound["delta"], "|", color="k", ms=12)
        top = max(1.5 * result.threshold, float(np.nanmax(points["delta"][ok], initial=0.0)) * 1.05)
        ax.set(title=f"{result.parameter_id}\n{result.verdict}", xlabel="value (estimation scale)",
               ylabel="NLL - NLL at the fit", ylim=(min(-0.05 * top, float(np.nanmin(points["delta"], initial=0.0))), top))
        if result.better_nll is not None:
            better = True
            ax.text(0.5, 0.5, f"BETTER OPTIMUM\nNLL {result.better_nll:.4f}", transform=ax.transAxes, ha="center",
                    color="tab:red", fontsize=10, fontweight="bold")
    handles = [Line2D([], [], color=c, lw=1.5, label=v) for v, c in _VERDICT_COLOURS.items()]
    handles += [Line2D([], [], color="k", ls="--", lw=0.8, label="threshold"),
                Line2D([], [], color="k", ls=":", lw=0.8, label="confidence bound"),
                Line2D([], [], color="k", marker="|", ls="", ms=10, label="parameter bound")]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    _save(fig, path, title + ("  (a profile found a better optimum)" if better else ""))


def prediction_comparison(delta: pd.DataFrame, profiles: pd.DataFrame, ensemble: pd.DataFrame, path, *,
                          title: str = "") -> None:
    """One panel per prediction: the delta-method band, the ensemble band of the profile paths
    and the prediction-profile intervals (error bars at the profiled times).

    **Arguments:** tables with prediction, time, value, lower, upper (delta method: also
    `unbounded`); `path`: the PNG; `title`: figure title.
    """
    predictions = _ids(delta["prediction"])
    fig, axes = _panels(len(predictions))
    for ax, pid in zip(axes, predictions):
        rows = delta[delta["prediction"] == pid].sort_values("time")
        t = rows["time"].to_numpy(dtype=np.float64)
        bounded = ~rows["unbounded"].to_numpy(dtype=bool) if "unbounded" in rows else np.ones(len(t), bool)
        ax.fill_between(t, rows["lower"], rows["upper"], where=bounded, color="C0", alpha=0.2, lw=0)
        ax.plot(t, rows["value"], color="C0", lw=1.5)
        ens = ensemble[ensemble["prediction"] == pid].sort_values("time")
        ax.plot(ens["time"], ens["lower"], color="C1", ls="--", lw=1.2)
        ax.plot(ens["time"], ens["upper"], color="C1", ls="--", lw=1.2)
        prof = profiles[profiles["prediction"] == pid].sort_values("time")
        if len(prof):
            value = prof["value"].to_numpy(dtype=np.float64)
            lower = np.where(np.isfinite(prof["lower"]), prof["lower"], value)
            upper = np.where(np.isfinite(prof["upper"]), prof["upper"], value)
            ax.errorbar(prof["time"], value, yerr=[value - lower, upper - value], fmt="o", color="k", ms=3,
                        capsize=3, lw=1)
            for end, bound, marker in (("lower_end", lower, "v"), ("upper_end", upper, "^")):
                if end in prof:  # an end that did not cross the threshold: the interval is open there
                    open_end = (prof[end] != "crossed").to_numpy()
                    ax.plot(prof["time"].to_numpy()[open_end], bound[open_end], marker, color="C3", ms=6, ls="none")
        ax.set(title=str(pid), xlabel="time", ylabel="value")
    handles = [Line2D([], [], color="C0", lw=1.5, label="best fit"),
               Patch(color="C0", alpha=0.2, label="delta method"),
               Line2D([], [], color="C1", ls="--", lw=1.2, label="profile-path ensemble"),
               Line2D([], [], color="k", marker="o", ms=3, lw=1, label="prediction profile"),
               Line2D([], [], color="C3", marker="^", ms=6, ls="none", label="open end (not crossed)")]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    _save(fig, path, title)
