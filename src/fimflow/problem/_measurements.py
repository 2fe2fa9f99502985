"""Parsed measurement rows to a `Problem`: the part both importers share.

The Python-model importer (`_python_model.py`) and the PEtab importer (`fimflow.petab`) read
and check their tables each in its own way (their errors name their files, rows and
columns). Both hand the parsed rows, one entry per row of the measurement table, to
`build_problem` as `MeasurementRows`; it lays out the simulation times per condition
(`time_grid`), gives each measurement the transformation and noise distribution of its
observable and builds the `Problem`. The checks whose messages both importers share are here
too (`require_rows`, `check_time`).
"""

import dataclasses

import numpy as np
import pandas as pd

from .. import _columns as C
from .._errors import ProblemFileError
from ._model import AbstractODEModel
from ._problem import ParameterTable, Problem, time_grid


@dataclasses.dataclass(frozen=True)
class MeasurementRows:
    """The rows of a measurement table, parsed and checked, one entry per row.

    **Fields:**
    - `table`: the measurement table as the `Problem` keeps it (`Problem.measurements`).
    - `condition_index`, `observable_index`: index of each row's condition (into the condition
      ids given to `build_problem`) and observable (into the model's observables).
    - `time`, `values`: measurement time and measured value (linear scale).
    - `noise_index`, `noise_value`: the noise of each row, a problem parameter (index >= 0) or
      the constant value; `(n,)` or, for noise formulas, `(n, k)` placeholder values.
    - `observable_parameter_index`, `observable_parameter_value`: `(n, k)` values of the
      observable placeholders of each row, or `None` (models without placeholders).
    """

    table: pd.DataFrame
    condition_index: np.ndarray
    observable_index: np.ndarray
    time: np.ndarray
    values: np.ndarray
    noise_index: np.ndarray
    noise_value: np.ndarray
    observable_parameter_index: np.ndarray | None = None
    observable_parameter_value: np.ndarray | None = None


def require_rows(n_rows: int, path) -> None:
    """**Raises:** `ProblemFileError` for a measurement table without rows."""
    if n_rows == 0:
        raise ProblemFileError(path, "the measurement table has no rows.")


def check_time(time: float, path, row: int) -> None:
    """**Raises:** `ProblemFileError` naming `row` when a measurement time is negative."""
    if time < 0:
        raise ProblemFileError(path, f"time {time} < 0; simulations start at t = 0.", row=row, column=C.TIME)


def build_problem(
    *,
    problem_id: str,
    model: AbstractODEModel,
    parameters: ParameterTable,
    condition_ids,
    condition_parameter_index: np.ndarray,
    condition_parameter_value: np.ndarray,
    rows: MeasurementRows,
    transformation,
    distribution,
    sources=(),
    preequilibration: np.ndarray | None = None,
    preequilibration_parameter_index: np.ndarray | None = None,
    preequilibration_parameter_value: np.ndarray | None = None,
) -> Problem:
    """The `Problem` of parsed measurement rows and conditions.

    `transformation` and `distribution` are codes per observable of the model
    (`TRANSFORMATION_CODES`, `DISTRIBUTION_CODES`); each measurement gets those of its
    observable. The simulation times of each condition are the sorted unique times of its
    measurements (`time_grid`).
    """
    condition_index = np.asarray(rows.condition_index)
    observable_index = np.asarray(rows.observable_index)
    times, time_index = time_grid(condition_index, np.asarray(rows.time), len(condition_ids))
    return Problem(
        id=problem_id,
        model=model,
        parameters=parameters,
        condition_ids=tuple(condition_ids),
        condition_parameter_index=condition_parameter_index,
        condition_parameter_value=condition_parameter_value,
        times=times,
        measurements=rows.table,
        condition_index=condition_index,
        time_index=time_index,
        observable_index=observable_index,
        values=rows.values,
        noise_index=rows.noise_index,
        noise_value=rows.noise_value,
        transformation=np.array([transformation[o] for o in observable_index]),
        distribution=np.array([distribution[o] for o in observable_index]),
        sources=tuple(sources),
        observable_parameter_index=rows.observable_parameter_index,
        observable_parameter_value=rows.observable_parameter_value,
        preequilibration=preequilibration,
        preequilibration_parameter_index=preequilibration_parameter_index,
        preequilibration_parameter_value=preequilibration_parameter_value,
    )
