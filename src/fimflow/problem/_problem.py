"""`Problem`: the one object that flows through the library, and its parameter table."""

import dataclasses

import numpy as np
import pandas as pd

from ._model import AbstractODEModel
from ._scales import DISTRIBUTION_CODES as DISTRIBUTION_CODES
from ._scales import SCALE_CODES as SCALE_CODES
from ._scales import TRANSFORMATION_CODES as TRANSFORMATION_CODES
from ._scales import from_scale as from_scale
from ._scales import to_scale as to_scale


@dataclasses.dataclass(frozen=True)
class ParameterTable:
    """Problem parameters: ids, scales, bounds and nominal values (linear scale), estimate flags.

    The estimation scale of a parameter is its `scale`; bounds are given on the linear scale as
    in PEtab and mapped to the estimation scale for optimisation.
    """

    ids: tuple[str, ...]
    scales: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    nominal: np.ndarray
    estimate: np.ndarray
    prior_codes: np.ndarray | None = None
    prior_parameters: np.ndarray | None = None
    prior_log_mass: np.ndarray | None = None  # log of each prior's mass within the bounds (v2: truncated there)
    warnings: tuple[str, ...] = ()  # what PEtab accepts but deserves a word (file, row, column)

    @property
    def has_priors(self) -> bool:
        """Whether an estimated parameter has a prior other than flat on its scale."""
        return self.prior_codes is not None and bool(np.any(self.prior_codes[self.estimated_index] != 0))

    @property
    def estimated_ids(self) -> tuple[str, ...]:
        return tuple(i for i, e in zip(self.ids, self.estimate) if e)

    @property
    def estimated_index(self) -> np.ndarray:
        return np.flatnonzero(self.estimate)

    @property
    def estimated_scales(self) -> tuple[str, ...]:
        return tuple(self.scales[i] for i in self.estimated_index)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the estimated parameters on the estimation scale."""
        idx = self.estimated_index
        scales = self.estimated_scales
        return to_scale(self.lower[idx], scales), to_scale(self.upper[idx], scales)

    def nominal_theta(self) -> np.ndarray:
        """Nominal values of the estimated parameters on the estimation scale (-inf or NaN where a
        nominal value has none, e.g. 0 on a log scale: PEtab accepts it, the load warns)."""
        idx = self.estimated_index
        with np.errstate(divide="ignore", invalid="ignore"):
            return to_scale(self.nominal[idx], self.estimated_scales)

    def to_linear(self, theta) -> np.ndarray:
        """Estimated parameters, estimation scale -> linear scale."""
        return from_scale(theta, self.estimated_scales)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "parameterId": self.ids,
                "parameterScale": self.scales,
                "lowerBound": self.lower,
                "upperBound": self.upper,
                "nominalValue": self.nominal,
                "estimate": self.estimate.astype(int),
            }
        )


@dataclasses.dataclass(frozen=True)
class Problem:
    """A calibration problem: model, conditions, measurements, noise model and parameters.

    Measurement arrays are aligned with the rows of `measurements` (a PEtab measurement table).
    Parameter references are indices into `parameters.ids`; `-1` means "use the constant".

    **Fields:**
    - `condition_parameter_index`, `condition_parameter_value`: `(n_conditions,
      n_model_params)`; model parameter $j$ in condition $c$ is problem parameter
      `index[c, j]` or, where that is `-1`, the constant `value[c, j]`.
    - `times`: `(n_conditions, n_times)` sorted simulation times per condition, padded by
      repeating the last time; `time_index` points into it for each measurement.
    - `noise_index`, `noise_value`: the noise scale (σ for normal, b for Laplace) of each
      measurement, a problem parameter or a constant (linear scale).
      For models with noise formulas (PEtab) these are `(n_meas, k)`: the values of the
      formula's `noiseParameter1..k` placeholders.
    - `transformation`, `distribution`: codes per measurement (see `TRANSFORMATION_CODES`,
      `DISTRIBUTION_CODES`).
    - `observable_parameter_index`, `observable_parameter_value`: `(n_meas, k)` values of the
      `observableParameter1..k` placeholders of each measurement (PEtab models), or `None`.
    - `preequilibration`: `(n_conditions,)` whether a condition starts from the steady state
      of another one, whose model parameters are `preequilibration_parameter_index/value`.
    """

    id: str
    model: AbstractODEModel
    parameters: ParameterTable
    condition_ids: tuple[str, ...]
    condition_parameter_index: np.ndarray
    condition_parameter_value: np.ndarray
    times: np.ndarray
    measurements: pd.DataFrame
    condition_index: np.ndarray
    time_index: np.ndarray
    observable_index: np.ndarray
    values: np.ndarray
    noise_index: np.ndarray
    noise_value: np.ndarray
    transformation: np.ndarray
    distribution: np.ndarray
    sources: tuple[str, ...] = ()
    observable_parameter_index: np.ndarray | None = None
    observable_parameter_value: np.ndarray | None = None
    preequilibration: np.ndarray | None = None
    preequilibration_parameter_index: np.ndarray | None = None
    preequilibration_parameter_value: np.ndarray | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What loaded but deserves a word (file, row, column, and why), e.g. a nominal value
        outside its bounds: PEtab accepts it, the import logs it, `problem/summary.json` keeps it."""
        return self.parameters.warnings

    @property
    def parameter_ids(self) -> tuple[str, ...]:
        """Ids of the estimated parameters, in the order of every parameter vector `theta`."""
        return self.parameters.estimated_ids

    @property
    def n_params(self) -> int:
        return len(self.parameter_ids)

    def check_x(self, x) -> np.ndarray:
        """`x` as a float64 array when it holds the estimated parameters (the order of
        `parameter_ids`, estimation scale); a `ValueError` naming them otherwise."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n_params,):
            raise ValueError(
                f"`x` must hold the {self.n_params} estimated parameters "
                f"{list(self.parameter_ids)} on the estimation scale, got shape {x.shape}."
            )
        return x

    @property
    def observable_ids(self) -> tuple[str, ...]:
        return self.model.observable_names

    @property
    def n_measurements(self) -> int:
        return len(self.values)

    @property
    def start_times(self) -> np.ndarray:
        """Where each condition's simulation starts: `model.start_time` of its model parameters
        (0 for most models; a PEtab v2 experiment starts at its first period)."""
        if type(self.model).start_time is AbstractODEModel.start_time:
            return np.zeros(len(self.condition_ids))
        index, value = self.condition_parameter_index, self.condition_parameter_value
        thetas = np.where(index >= 0, self.parameters.nominal[np.maximum(index, 0)], value)
        return np.array([float(self.model.start_time(theta)) for theta in thetas])

    def with_parameters(self, parameters: ParameterTable) -> "Problem":
        """A copy with another parameter table (for example with a parameter fixed)."""
        return dataclasses.replace(self, parameters=parameters)

    def with_measurements(self, values) -> "Problem":
        """A copy with other measured values (same rows), for synthetic data."""
        values = np.asarray(values, dtype=np.float64)
        table = self.measurements.copy()
        table["measurement"] = values
        return dataclasses.replace(self, values=values, measurements=table)


def time_grid(cond, time, n_conditions):
    """Sorted unique times per condition, padded to one width; index of each measurement."""
    grids = [np.unique(time[cond == c]) for c in range(n_conditions)]
    width = max(1, max(len(g) for g in grids))
    times = np.zeros((n_conditions, width))
    for c, grid in enumerate(grids):
        if len(grid):
            times[c, : len(grid)] = grid
            times[c, len(grid):] = grid[-1]
    time_index = np.array([np.searchsorted(grids[c], t) for c, t in zip(cond, time)], dtype=int)
    return times, time_index
