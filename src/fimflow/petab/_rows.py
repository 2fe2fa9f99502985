"""Table cells and measurement rows as both PEtab importers (v1 `_import`, v2 `_v2`) read them:
a number or parameter id, a measurement row with its placeholder values, each checked with the
file, row and column named; and petab's deprecation noise kept out of the user's log."""

import contextlib
import math
import warnings

import numpy as np

from .. import _columns as C
from .._errors import ProblemFileError
from ..problem import check_time, require_rows
from ._observables import _text
from ._sbml_model import START_SUFFIX

PREEQ = "preequilibrationConditionId"
OBSERVABLE_PARAMETERS = "observableParameters"


@contextlib.contextmanager
def _quiet_petab():
    """petab 0.8 calls pandas APIs that pandas deprecates: not the user's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _number_or_id(cell, pids, path, row, column, allow_nan=False):
    if isinstance(cell, (int, float, np.number)):
        if math.isnan(cell) and allow_nan:
            return -1, math.nan
        if math.isfinite(cell):
            return -1, float(cell)
        raise ProblemFileError(path, f"expected a finite number or parameter id, got {cell!r}.", row=row, column=column)
    text = _text(cell)
    try:
        number = float(text)
    except ValueError:
        if text in pids:
            return pids.index(text), math.nan
        raise ProblemFileError(path, f"{text!r} is neither a number nor a parameter of the parameter table.", row=row, column=column) from None
    return _number_or_id(number, pids, path, row, column, allow_nan)


def _measurement_rows(table, path, observables, conditions) -> list:
    rows = []
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2
        oid = _text(rec[C.OBSERVABLE_ID])
        if oid not in observables.ids:
            raise ProblemFileError(path, f"unknown observable {oid!r}; define it in the observable table.", row=row, column=C.OBSERVABLE_ID)
        o = observables.ids.index(oid)
        sim = _text(rec[C.SIMULATION_CONDITION_ID])
        pre = _text(rec.get(PREEQ))
        for column, cid in ((C.SIMULATION_CONDITION_ID, sim), (PREEQ, pre)):
            if cid and cid not in conditions.index:
                raise ProblemFileError(path, f"unknown condition {cid!r}; define it in the condition table.", row=row, column=column)
        time = _float(rec[C.TIME], path, row, C.TIME, allow_inf=True)
        check_time(time, path, row)
        value = _float(rec[C.MEASUREMENT], path, row, C.MEASUREMENT)
        if observables.transformation[o] != 0 and not value > 0:
            raise ProblemFileError(path, f"measurement {value} of log-transformed observable `{oid}` must be > 0.", row=row, column=C.MEASUREMENT)
        overrides = {}
        for column, placeholders in (
            (OBSERVABLE_PARAMETERS, observables.observable_placeholders[o]),
            (C.NOISE_PARAMETERS, observables.noise_placeholders[o]),
        ):
            cell = rec.get(column)
            parts = [] if not _text(cell) else ([cell] if isinstance(cell, (int, float)) else _text(cell).split(";"))
            if len(parts) != len(placeholders):
                raise ProblemFileError(
                    path,
                    f"observable `{oid}` has {len(placeholders)} placeholder(s) {list(placeholders)} "
                    f"but this row gives {len(parts)} value(s) {parts}; give one per placeholder, separated by ';'.",
                    row=row, column=column,
                )
            overrides[column] = [_number_or_id(p, observables.pids, path, row, column) for p in parts]
            if column == C.NOISE_PARAMETERS and getattr(observables.noise_exprs[o], "name", None) in placeholders:
                for k, v in overrides[column]:
                    if k < 0 and not v > 0:
                        raise ProblemFileError(path, f"noise scale {v} of `{oid}` must be > 0.", row=row, column=column)
        rows.append({
            "observable": oid, "sim": sim, "pre": pre, "time": time, "measurement": value,
            "observable_parameters": overrides[OBSERVABLE_PARAMETERS],
            "noise_parameters": overrides[C.NOISE_PARAMETERS],
        })
    require_rows(len(rows), path)
    return rows


def _float(cell, path, row, column, allow_inf=False) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise ProblemFileError(path, f"expected a number, got {cell!r}.", row=row, column=column) from None
    if math.isnan(value) or (math.isinf(value) and not (allow_inf and value > 0)):
        raise ProblemFileError(path, f"expected a finite number{' or inf' if allow_inf else ''}, got {cell!r}.", row=row, column=column)
    return value


def _pack(lists, width):
    """Per-measurement (index, value) lists padded to `width` columns."""
    index = np.full((len(lists), width), -1)
    value = np.full((len(lists), width), math.nan)
    for i, items in enumerate(lists):
        for j, (k, v) in enumerate(items):
            index[i, j], value[i, j] = k, v
    return index, value


def _defaults(spec, extra, pids, files, held=()) -> dict:
    """Value of each model input without a condition's change: (index, value). An input
    `<p>__start` of a parameter `p` in `held` (PEtab v2: changed during the simulation) takes
    `p`'s value."""
    out = {}
    originals = {p + START_SUFFIX: p for p in held}
    for name, value in zip(spec.inputs, spec.input_values):
        source = originals.get(name, name)
        if source in pids:
            out[name] = (pids.index(source), math.nan)
        elif math.isnan(value):
            raise ProblemFileError(files["sbml"], f"parameter `{source}` has no value; set it in the model or add it to the parameter table.")
        else:
            out[name] = (-1, value)
    for name in extra:
        out[name] = (pids.index(name), math.nan)
    return out
