r"""What a profile's points say: how each side ended, whether it is flat, and the verdict.

A structurally non-identifiable parameter has a flat profile (Raue et al. 2009, Bioinformatics
25:1923): the data determine a combination of it with others, and the re-optimised parameters
follow that null direction while the NLL stays at its optimum. With bounded parameters a
parameter dragged along the null direction may reach its bound; from there on the NLL rises
because of the bound, not the data, and the profile may cross the threshold. Such a bound ends
the flat stretch, not the non-identifiability, so each point records which other estimated
parameters sit at a bound (`bound_parameters`, comma-separated ids; `others_at_bound` counts
them), and a side is *flat* when

- every point of the side from the optimum outward, up to (excluding) the first point where a
  parameter not at a bound at the optimum has reached one, has $|\delta| <$ `flat_tolerance`,
- that stretch holds at least one point beyond the optimum, and
- either another parameter's bound ends it, or the side ends without it (at the profiled
  parameter's own bound or after `max_points`; not crossed and not failed).

A side is *bound-limited* when it has no point beyond the optimum (the profiled parameter sits
at its own bound) or another parameter sits at a bound at every point beyond the optimum: its
rise, if any, is the bound's doing and says nothing about the data (seen when a multistart of a
structurally non-identifiable model ends with a parameter at its bound: the flat direction is
blocked on that side from the start).

Verdicts: a side flat and the other flat or bound-limited: structurally non-identifiable (the
confidence bounds stay what the crossings say); otherwise both sides crossed and neither flat:
identifiable (another parameter at a bound during a crossing does not change this: it is common
at optima of real problems); otherwise practically non-identifiable.
"""

import enum

import numpy as np
import pandas as pd


class ProfileEnd(str, enum.Enum):
    """How one side of a profile ended. A `str`: it equals, prints and is written as its plain
    value, e.g. `"crossed"`."""

    CROSSED = "crossed"  # the threshold was crossed: the side's value is a confidence bound
    BOUND = "bound"  # the parameter's bound was reached below the threshold
    MAX_POINTS = "max_points"  # the side's points were spent below the threshold
    FAILED = "failed"  # a re-optimisation failed

    __str__ = str.__str__  # "crossed", not "ProfileEnd.CROSSED"
    __format__ = str.__format__


ENDS = tuple(end.value for end in ProfileEnd)
SUMMARY_COLUMNS = ("parameterId", "estimate", "lower", "upper", "lower_end", "upper_end", "lower_flat", "upper_flat",
                   "verdict", "threshold", "better_nll", "n_points")
VERDICTS = ("identifiable", "practically non-identifiable", "structurally non-identifiable")
AT_BOUND = 1e-9  # a parameter within this fraction of its bound range of a bound sits at it
_FLAT_ENDS = ("bound", "max_points")  # ends of a side that is flat throughout


def others_at_bound(x: np.ndarray, k: int, lb: np.ndarray, ub: np.ndarray, ids) -> str:
    """Comma-separated ids of the parameters of `x` other than `k` within `AT_BOUND`·(ub - lb)
    of a bound ("" if none)."""
    near = np.minimum(x - lb, ub - x) <= AT_BOUND * (ub - lb)
    near[k] = False
    return ",".join(str(i) for i, n in zip(ids, near) if n)


def _bound_sets(rows: pd.DataFrame) -> list[set]:
    """The set of other parameters at a bound at each row (from `bound_parameters`, else anonymous
    sets of size `others_at_bound`)."""
    if "bound_parameters" in rows.columns:
        return [set(filter(None, str(v).split(","))) for v in rows["bound_parameters"]]
    return [set(range(int(n))) for n in rows["others_at_bound"]]


def side_end(points: pd.DataFrame, direction: int) -> tuple[ProfileEnd, float]:
    """How one side of a profile ended and its confidence bound (+-inf unless crossed)."""
    side = points[points["direction"] == direction]
    for status, end in (("crossing", ProfileEnd.CROSSED), ("bound", ProfileEnd.BOUND), ("failed", ProfileEnd.FAILED)):
        if status in set(side["status"]):
            crossed = end == ProfileEnd.CROSSED
            return end, float(side.loc[side["status"] == "crossing", "value"].iloc[0]) if crossed else direction * np.inf
    return ProfileEnd.MAX_POINTS, direction * np.inf


def _outward(points: pd.DataFrame, direction: int) -> tuple[pd.Series, pd.DataFrame]:
    optimum = points[points["direction"] == 0].iloc[0]
    side = points[points["direction"] == direction]
    side = side.iloc[np.argsort(direction * side["value"].to_numpy(dtype=np.float64), kind="stable")]
    return optimum, side


def side_flat(points: pd.DataFrame, direction: int, end: str, flat_tolerance: float) -> bool:
    """Whether one side of a profile is flat (module notes); `points` with its optimum row."""
    optimum, side = _outward(points, direction)
    at_optimum = _bound_sets(optimum.to_frame().T)[0]
    raised = np.array([bool(s - at_optimum) for s in _bound_sets(side)], dtype=bool)
    cut = bool(raised.any())
    stretch = side.iloc[: int(np.argmax(raised)) if cut else len(side)]
    beyond = direction * (stretch["value"].to_numpy(dtype=np.float64) - float(optimum["value"])) > 0.0
    below = np.abs(stretch["delta"].to_numpy(dtype=np.float64)) < flat_tolerance  # NaN (failed) is not below
    return bool(beyond.any() and below.all() and (cut or end in _FLAT_ENDS))


def side_limited(points: pd.DataFrame, direction: int) -> bool:
    """Whether one side is bound-limited (module notes)."""
    optimum, side = _outward(points, direction)
    beyond = direction * (side["value"].to_numpy(dtype=np.float64) - float(optimum["value"])) > 0.0
    pinned = np.array([bool(s) for s in _bound_sets(side)], dtype=bool)
    return bool(np.all(pinned[beyond]))


def verdict(lower_end: str, upper_end: str, lower_flat: bool, upper_flat: bool, lower_limited: bool = False,
            upper_limited: bool = False) -> str:
    """`VERDICTS` from how the sides ended, whether they are flat and whether bound-limited."""
    if (lower_flat or upper_flat) and (lower_flat or lower_limited) and (upper_flat or upper_limited):
        return VERDICTS[2]
    if lower_end == upper_end == "crossed" and not (lower_flat or upper_flat):
        return VERDICTS[0]
    return VERDICTS[1]


def profile_summary(results) -> pd.DataFrame:
    """One row per profiled parameter: `parameterId`, `estimate`, `lower`, `upper`,
    `lower_end`, `upper_end`, `lower_flat`, `upper_flat`, `verdict`, `threshold`, `better_nll`
    (NaN when none), `n_points`."""
    records = [(r.parameter_id, r.estimate, r.lower, r.upper, r.lower_end, r.upper_end, r.lower_flat, r.upper_flat,
                r.verdict, r.threshold, np.nan if r.better_nll is None else r.better_nll, len(r.points))
               for r in results]
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))
