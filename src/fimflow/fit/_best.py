"""The best fit of a multistart (`BestFit`): the hand-off from the fit to every later stage."""

import dataclasses

import numpy as np

from ..problem import Problem

# the fields in the order of `results/{problem}/fit/best.json`
_FIELDS = ("parameter_ids", "scales", "x", "x_linear", "nll", "start", "status", "n_starts", "n_failed",
           "n_within_tolerance", "tolerance", "at_bounds")


@dataclasses.dataclass(frozen=True)
class BestFit:
    """The best start of a multistart and how many starts reached it.

    - `x`: the estimated parameters on the **estimation scale** (the order of `parameter_ids`),
      what every later stage takes; `x_linear` the same on the linear scale.
    - `nll`: its negative log-likelihood (plus the negative log prior when the problem has priors).
    - `start`, `status`: which start it came from and how that start ended.
    - `n_starts`, `n_failed`, `n_within_tolerance` (starts within `tolerance` of `nll`).
    - `at_bounds`: parameters within 1e-6 of their range from a bound.
    """

    parameter_ids: tuple[str, ...]
    scales: tuple[str, ...]
    x: np.ndarray
    x_linear: np.ndarray
    nll: float
    start: int
    status: str
    n_starts: int
    n_failed: int
    n_within_tolerance: int
    tolerance: float
    at_bounds: tuple[str, ...]

    def to_dict(self) -> dict:
        """The fields as plain data, in the order of `best.json`."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict) -> "BestFit":
        """The record of `to_dict`'s data (extra keys, such as a file's format tag, ignored)."""
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise ValueError(f"a best fit needs the key(s) {missing}.")
        return cls(
            parameter_ids=tuple(data["parameter_ids"]), scales=tuple(data["scales"]),
            x=np.asarray(data["x"], dtype=np.float64), x_linear=np.asarray(data["x_linear"], dtype=np.float64),
            nll=float(data["nll"]), start=int(data["start"]), status=str(data["status"]),
            n_starts=int(data["n_starts"]), n_failed=int(data["n_failed"]),
            n_within_tolerance=int(data["n_within_tolerance"]), tolerance=float(data["tolerance"]),
            at_bounds=tuple(data["at_bounds"]),
        )


def best_fit(result, problem: Problem, *, tolerance: float = 0.1) -> BestFit:
    """The best start of `result` (a `MultistartResult`), its parameters on both scales and the
    convergence counts. A start counts as reaching the best when its NLL is within `tolerance`
    of the lowest. **Raises:** `RuntimeError` when every start failed."""
    best = result.best()
    finite = np.isfinite(result.nll)
    lower, upper = problem.parameters.bounds()
    x = result.x[best]
    return BestFit(
        parameter_ids=tuple(result.parameter_ids),
        scales=tuple(problem.parameters.estimated_scales),
        x=x,
        x_linear=problem.parameters.to_linear(x),
        nll=float(result.nll[best]),
        start=int(result.start_index[best]),
        status=str(getattr(result.status[best], "value", result.status[best])),
        n_starts=result.n_starts,
        n_failed=int(np.sum(~finite)),
        n_within_tolerance=int(np.sum(finite & (result.nll <= result.nll[best] + tolerance))),
        tolerance=tolerance,
        at_bounds=tuple(pid for pid, value, lo, hi in zip(result.parameter_ids, x, lower, upper)
                        if min(value - lo, hi - value) < 1e-6 * (hi - lo)),
    )
