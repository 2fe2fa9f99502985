"""Reading and checking the TSV tables of a problem (PEtab columns), with precise errors."""

import math
import os

import numpy as np
import pandas as pd

from .. import _columns as C
from .._errors import ProblemFileError
from ._problem import ParameterTable


def read_tsv(path) -> pd.DataFrame:
    """Read a TSV table as strings (values are parsed and checked by the callers)."""
    if not os.path.isfile(path):
        raise ProblemFileError(path, "file not found. Check the path in the problem file.")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except UnicodeDecodeError as error:
        raise ProblemFileError(path, f"not a readable TSV table ({error}).") from error
    if not any(line.strip() for line in lines):
        raise ProblemFileError(path, "the file is empty; a table needs a tab-separated header row.")
    first = next(i for i, line in enumerate(lines) if line.strip())  # pandas skips blank lines
    header = lines[first].split("\t")
    for row, line in enumerate(lines[first + 1 :], start=first + 2):
        fields = line.split("\t")
        if line.strip() and len(fields) > len(header):
            # pandas would shift surplus fields into an index or report only a line number
            raise ProblemFileError(
                path,
                f"{len(fields)} tab-separated fields but the header has {len(header)} "
                f"{[c.strip() for c in header]}. Remove the extra tab(s) or name the extra column(s).",
                row=row,
            )
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ProblemFileError(path, f"not a readable TSV table ({error}).") from error
    table.columns = [str(c).strip() for c in table.columns]
    return table.fillna("")


def require_columns(table: pd.DataFrame, columns, path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ProblemFileError(
            path,
            f"missing column(s) {', '.join(f'`{c}`' for c in missing)}; "
            f"the table has {list(table.columns)}. Add them (tab-separated header).",
        )


def parse_float(text: str, path, row: int, column: str, *, allow_inf: bool = False) -> float:
    """A float from a table cell; the error names file, row (header = row 1) and column."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ProblemFileError(
            path, f"expected a number, got {text!r}.", row=row, column=column
        ) from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ProblemFileError(path, f"expected a finite number, got {text!r}.", row=row, column=column)
    return value


def number_or_id(text: str, known_ids, path, row: int, column: str, what: str):
    """A cell holding either a number or a parameter id: returns (index, value)."""
    text = str(text).strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ProblemFileError(path, f"{what} must be a finite number or a parameter id, got {text!r}.", row=row, column=column)
        return -1, value
    if text not in known_ids:
        raise ProblemFileError(
            path,
            f"{what} {text!r} is neither a number nor a parameter of the parameter table. "
            "Add it to the parameter table or give a number.",
            row=row,
            column=column,
        )
    return known_ids.index(text), math.nan


def read_parameter_table(path) -> ParameterTable:
    """Read and check a PEtab parameter table.

    **Raises:** `ProblemFileError` for missing columns, duplicate ids, unknown scales, an
    `estimate` other than 0/1, and for estimated parameters `lowerBound >= upperBound`, infinite
    bounds or non-positive bounds of log-scaled parameters. An estimated parameter's nominal
    value outside its bounds or not positive on a log scale is a warning (`ParameterTable.warnings`),
    as PEtab accepts it.
    """
    table = read_tsv(path)
    require_columns(table, C.PARAMETER_REQUIRED, path)
    ids, scales, lower, upper, nominal, estimate, warnings = [], [], [], [], [], [], []
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2
        pid = rec[C.PARAMETER_ID].strip()
        if not pid.isidentifier():
            raise ProblemFileError(path, f"parameter id {pid!r} is not a valid identifier.", row=row, column=C.PARAMETER_ID)
        if pid in ids:
            raise ProblemFileError(path, f"duplicate parameter id `{pid}`.", row=row, column=C.PARAMETER_ID)
        scale = rec[C.PARAMETER_SCALE].strip()
        if scale not in C.SCALES:
            raise ProblemFileError(
                path, f"scale {scale!r} of `{pid}` is not one of lin, log, log10.", row=row, column=C.PARAMETER_SCALE
            )
        lo = parse_float(rec[C.LOWER_BOUND], path, row, C.LOWER_BOUND, allow_inf=True)
        hi = parse_float(rec[C.UPPER_BOUND], path, row, C.UPPER_BOUND, allow_inf=True)
        nom = parse_float(rec[C.NOMINAL_VALUE], path, row, C.NOMINAL_VALUE)
        est = rec[C.ESTIMATE].strip()
        if est not in ("0", "1"):
            raise ProblemFileError(path, f"`estimate` of `{pid}` must be 0 or 1, got {est!r}.", row=row, column=C.ESTIMATE)
        if est == "1":
            if not lo < hi:
                raise ProblemFileError(
                    path,
                    f"parameter `{pid}` has lowerBound {lo} >= upperBound {hi}; make lowerBound < upperBound.",
                    row=row,
                    column=C.LOWER_BOUND,
                )
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ProblemFileError(
                    path,
                    f"estimated parameter `{pid}` needs finite bounds, got [{lo}, {hi}].",
                    row=row,
                    column=C.LOWER_BOUND if not math.isfinite(lo) else C.UPPER_BOUND,
                )
            if scale != "lin" and lo <= 0:
                raise ProblemFileError(
                    path,
                    f"parameter `{pid}` has lower bound {lo} but scale `{scale}`; "
                    "log-scaled parameters need lower > 0.",
                    row=row,
                    column=C.LOWER_BOUND,
                )
            # PEtab accepts both (nominal values are on the linear scale, where the model still
            # simulates): a warning, and only this parameter's estimation-scale value is undefined
            where = f"{path}, row {row}, column {C.NOMINAL_VALUE}"
            if scale != "lin" and not nom > 0:
                warnings.append(f"{where}: nominal value {nom} of estimated parameter `{pid}` has no value on its "
                                f"scale `{scale}` (the model simulates at it; its {scale} value is undefined).")
            elif not lo <= nom <= hi:
                warnings.append(f"{where}: nominal value {nom} of estimated parameter `{pid}` lies outside its "
                                f"bounds [{lo}, {hi}] (starts and fits stay within the bounds).")
        # bounds and nominal values of fixed parameters are not checked against their scale
        # (PEtab does not: a fixed parameter is used at its nominal value, on the linear scale)
        ids.append(pid)
        scales.append(scale)
        lower.append(lo)
        upper.append(hi)
        nominal.append(nom)
        estimate.append(est == "1")
    if not any(estimate):
        raise ProblemFileError(path, "no parameter has estimate = 1; nothing to calibrate.")
    return ParameterTable(
        ids=tuple(ids),
        scales=tuple(scales),
        lower=np.array(lower),
        upper=np.array(upper),
        nominal=np.array(nominal),
        estimate=np.array(estimate, dtype=bool),
        warnings=tuple(warnings),
    )


def check_identifier_column(table: pd.DataFrame, column: str, allowed, path, what: str, fix: str) -> None:
    """Every cell of `column` must be in `allowed`; the error names the first bad row."""
    for i, value in enumerate(table[column]):
        if value.strip() not in allowed:
            raise ProblemFileError(
                path,
                f"unknown {what} {value!r}; known: {sorted(allowed)}. {fix}",
                row=i + 2,
                column=column,
            )


def check_unique(table, column, path, what):
    """Ids in `column` must be unique; the error names the row of the repeat."""
    seen = set()
    for i, value in enumerate(table[column]):
        if value.strip() in seen:
            raise ProblemFileError(path, f"duplicate {what} id {value.strip()!r}.", row=i + 2, column=column)
        seen.add(value.strip())
