"""A problem re-sampled at other times: the measurement design of identifiability and design studies.

A *design* is a table of `(simulationConditionId, observableId, time)` rows. Each row becomes a
measurement that copies the noise model, placeholder overrides, transformation and noise
distribution of the first measurement of the same condition and observable in the problem,
so a new sampling time is measured the way that observable already is.
"""

import dataclasses

import numpy as np
import pandas as pd

from ._problem import Problem

DESIGN_COLUMNS = ("simulationConditionId", "observableId", "time")


def measured_pairs(problem: Problem) -> pd.DataFrame:
    """Each measured (condition, observable) with its first measurement and last finite time."""
    rows = {}
    for i in range(problem.n_measurements):
        key = (int(problem.condition_index[i]), int(problem.observable_index[i]))
        t = float(problem.times[key[0], problem.time_index[i]])
        first, last = rows.get(key, (i, -np.inf))
        rows[key] = (first, max(last, t) if np.isfinite(t) else last)
    return pd.DataFrame(
        [
            {
                "simulationConditionId": problem.condition_ids[c],
                "observableId": problem.observable_ids[o],
                "first_measurement": first,
                "last_time": last,
            }
            for (c, o), (first, last) in sorted(rows.items())
        ]
    )


def dense_design(problem: Problem, n_times: int) -> pd.DataFrame:
    """`n_times` equally spaced times from the start (0, or where the condition's simulation
    starts) to the last finite measured time of each measured (condition, observable)."""
    if n_times < 1:
        raise ValueError(f"`n_times` must be >= 1, got {n_times}.")
    frames = []
    starts = dict(zip(problem.condition_ids, problem.start_times))
    for row in measured_pairs(problem).itertuples():
        start = starts[row.simulationConditionId]
        end = row.last_time if np.isfinite(row.last_time) and row.last_time > start else start + 1.0
        frames.append(
            pd.DataFrame(
                {
                    "simulationConditionId": row.simulationConditionId,
                    "observableId": row.observableId,
                    "time": np.linspace(start, end, n_times),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def with_design(problem: Problem, design: pd.DataFrame) -> Problem:
    """`problem` with its measurements replaced by one per row of `design` (see module doc).

    The measured values are copied from the template measurement (they do not enter the
    expected Fisher information). **Raises:** `ValueError` naming the row whose condition or
    observable is unknown or never measured (there is no noise model to copy), or whose time is
    before its condition's start (0 for most models) or not finite.
    """
    missing = [c for c in DESIGN_COLUMNS if c not in design.columns]
    if missing:
        raise ValueError(f"design table lacks column(s) {missing}; it needs {list(DESIGN_COLUMNS)}.")
    if len(design) == 0:
        raise ValueError("design table has no rows.")
    pairs = measured_pairs(problem)
    template = {
        (r.simulationConditionId, r.observableId): r.first_measurement for r in pairs.itertuples()
    }
    conditions = {c: k for k, c in enumerate(problem.condition_ids)}
    starts = problem.start_times
    rows, times = [], []
    for k, row in enumerate(design.itertuples(index=False)):
        key = (str(row.simulationConditionId), str(row.observableId))
        t = float(row.time)
        if key[0] not in conditions:
            raise ValueError(f"design row {k}: unknown condition {key[0]!r}; known: {list(problem.condition_ids)}.")
        if key not in template:
            raise ValueError(
                f"design row {k}: observable {key[1]!r} is never measured in condition {key[0]!r}, so it has "
                "no noise model to copy; measured pairs: "
                f"{[f'{c}/{o}' for c, o in template]}."
            )
        start = starts[conditions[key[0]]]
        if not (np.isfinite(t) and t >= start):
            raise ValueError(f"design row {k}: time {row.time!r} must be finite and >= {start:g} (where condition "
                             f"{key[0]!r} starts).")
        rows.append(template[key])
        times.append(t)
    rows, times = np.asarray(rows), np.asarray(times)
    condition_index = np.asarray([conditions[str(c)] for c in design["simulationConditionId"]])
    per_condition = [np.unique(times[condition_index == c]) for c in range(len(problem.condition_ids))]
    width = max(len(t) for t in per_condition)
    grid = np.zeros((len(per_condition), width))
    for c, t in enumerate(per_condition):
        if len(t) == 0:
            t = np.zeros(1)
        grid[c] = np.concatenate([t, np.full(width - len(t), t[-1])])
    time_index = np.asarray([np.searchsorted(per_condition[c], t) for c, t in zip(condition_index, times)])
    table = problem.measurements.iloc[rows].reset_index(drop=True).copy()
    table["time"] = times

    def take(array):
        return None if array is None else np.asarray(array)[rows]

    return dataclasses.replace(
        problem,
        times=grid,
        measurements=table,
        condition_index=condition_index,
        time_index=time_index,
        observable_index=np.asarray(problem.observable_index)[rows],
        values=np.asarray(problem.values, dtype=np.float64)[rows],
        noise_index=np.asarray(problem.noise_index)[rows],
        noise_value=np.asarray(problem.noise_value)[rows],
        transformation=np.asarray(problem.transformation)[rows],
        distribution=np.asarray(problem.distribution)[rows],
        observable_parameter_index=take(problem.observable_parameter_index),
        observable_parameter_value=take(problem.observable_parameter_value),
    )
