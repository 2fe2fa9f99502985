"""Reading and writing the results files. Every write is atomic (temporary file + rename).

Tables are TSV with a header; small structured results are JSON with a `format` tag and the
fimflow version. No time stamps or host names go into these files, so equal inputs give
byte-identical outputs. What does depend on the run (wall time per start, host, date, library
versions) goes into a separate provenance file (`write_fit_provenance`) and Snakemake's benchmark
files.
"""

import json

import numpy as np
import pandas as pd

from .._atomic import atomic_path as atomic_path
from ..fit import MultistartResult
from ..identify import summarise_profile

VERSION = "0.1.0"
STARTS_FORMAT = "fimflow.multistart/1"
PROVENANCE_FORMAT = "fimflow.fit-provenance/1"


def write_table(path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.17g", na_rep="nan")


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan", "NaN"])


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_json(path, data: dict, *, format: str) -> None:
    """JSON with `format` and `fimflow_version` first; non-finite floats as strings."""
    clash = sorted({"format", "fimflow_version"} & set(data))
    if clash:
        raise ValueError(f"{path}: data must not hold the reserved key(s) {clash} (they would replace the format tag).")
    payload = {"format": format, "fimflow_version": VERSION, **_plain(data)}
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=False)
        handle.write("\n")


def read_json(path, *, format: str) -> dict:
    with open(path) as handle:
        data = json.load(handle)
    if data.get("format") != format:
        raise ValueError(f"{path}: expected format {format!r}, found {data.get('format')!r}.")
    return data


def write_matrix(path, matrix: np.ndarray, ids) -> None:
    """A square matrix labelled by parameter id (first column `parameterId`)."""
    table = pd.DataFrame(np.asarray(matrix), columns=list(ids))
    table.insert(0, "parameterId", list(ids))
    write_table(path, table)


def read_matrix(path) -> tuple[np.ndarray, tuple[str, ...]]:
    table = read_table(path)
    ids = tuple(table["parameterId"])
    if tuple(table.columns[1:]) != ids:
        raise ValueError(f"{path}: row and column labels differ.")
    return table[list(ids)].to_numpy(dtype=np.float64), ids


def write_multistart(path, result: MultistartResult) -> None:
    """One row per start (`MultistartResult.to_frame`): no wall times, they differ between runs
    (see `write_fit_provenance`)."""
    write_table(path, result.to_frame())


def read_multistart(path) -> MultistartResult:
    try:
        return MultistartResult.from_frame(read_table(path))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def write_fit_provenance(path, result: MultistartResult, environment: dict) -> None:
    """How a multistart shard ran: `environment` (host, date, versions) and each start's wall time."""
    starts = [{"start": int(i), "time_s": float(t)} for i, t in zip(result.start_index, result.time_s)]
    write_json(path, {"environment": environment, "starts": starts}, format=PROVENANCE_FORMAT)


def write_profile(path, result, *, flat_tolerance: float) -> None:
    """A profile's points (see `ProfileResult.points`) with what its summary is rebuilt from:
    `parameterId`, `optimum_nll`, `threshold` and `flat_tolerance` repeated on every row."""
    table = result.points.copy()
    for k, (name, value) in enumerate(
        (("parameterId", result.parameter_id), ("optimum_nll", result.optimum_nll),
         ("threshold", result.threshold), ("flat_tolerance", flat_tolerance))
    ):
        table.insert(k, name, value)
    write_table(path, table)


def read_profile(path):
    """The `ProfileResult` of a table written by `write_profile`."""
    table = read_table(path)
    head = table.iloc[0]
    points = table.drop(columns=["parameterId", "optimum_nll", "threshold", "flat_tolerance"])
    return summarise_profile(points, str(head["parameterId"]), float(head["optimum_nll"]), float(head["threshold"]),
                             float(head["flat_tolerance"]))
