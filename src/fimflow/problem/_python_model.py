"""Load a problem written as a Python/JAX model plus PEtab-style tables (`problem.yaml`)."""

import logging
import os

import numpy as np
import pandas as pd
import yaml

from .. import _columns as C
from .._errors import FimflowInputError, ModelDefinitionError, ProblemFileError
from ._model import import_model
from ._measurements import MeasurementRows, build_problem, check_time, require_rows
from ._problem import Problem
from ._scales import DISTRIBUTION_CODES, TRANSFORMATION_CODES
from ._tables import (
    check_identifier_column,
    check_unique,
    number_or_id,
    parse_float,
    read_parameter_table,
    read_tsv,
    require_columns,
)

_log = logging.getLogger(__name__)
PROBLEM_KEYS = {"format", "model", "parameters", "measurements", "conditions", "observables"}
PYTHON_FORMAT = "fimflow-python-1"


def read_problem_file(path) -> dict:
    """Read and check the keys of a `problem.yaml` (paths made absolute)."""
    if not os.path.isfile(path):
        raise ProblemFileError(path, "problem file not found.")
    with open(path) as handle:
        try:
            spec = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ProblemFileError(path, f"not valid YAML ({error}).") from error
    if not isinstance(spec, dict):
        raise ProblemFileError(path, "must be a YAML mapping of keys to values.")
    unknown = sorted(set(spec) - PROBLEM_KEYS)
    if unknown:
        raise ProblemFileError(path, f"unknown key(s) {unknown}; allowed: {sorted(PROBLEM_KEYS)}.")
    for key in ("format", "model", "parameters", "measurements"):
        if key not in spec:
            raise ProblemFileError(path, f"missing key `{key}`.")
    if spec["format"] != PYTHON_FORMAT:
        raise ProblemFileError(path, f"`format` must be {PYTHON_FORMAT!r}, got {spec['format']!r}.")
    base = os.path.dirname(os.path.abspath(path))
    for key in ("parameters", "measurements", "conditions", "observables"):
        if key in spec:
            spec[key] = os.path.join(base, str(spec[key]))
    return spec


def is_petab_yaml(path) -> bool:
    """Whether `path` is a PEtab problem yaml (has `format_version`)."""
    try:
        with open(path) as handle:
            spec = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(spec, dict) and "format_version" in spec


def load_python_problem(path, *, problem_id: str | None = None) -> Problem:
    """Load and check a Python-model problem described by a `problem.yaml`
    (`format: fimflow-python-1`).

    The yaml names the model class explicitly (`model: package.module:Class`) and the tables:
    `parameters` (PEtab parameter table), `measurements` (PEtab measurement table),
    optional `conditions` (PEtab condition table: `conditionId` plus one column per model
    parameter set by the condition, numeric or a parameter id) and optional `observables`
    (`observableId`, `noiseFormula` = number or parameter id, `observableTransformation`,
    `noiseDistribution`).

    **Raises:** `ProblemFileError` naming file, row and column for any inconsistency,
    `ModelDefinitionError` when the model cannot be imported.
    """
    spec = read_problem_file(path)
    model = _import_model(spec["model"], str(path))
    parameters = read_parameter_table(spec["parameters"])
    for warning in parameters.warnings:
        _log.warning(warning)
    pids = list(parameters.ids)

    mpath = spec["measurements"]
    table = read_tsv(mpath)
    require_columns(table, C.MEASUREMENT_REQUIRED, mpath)
    condition_ids, cond_index, cond_value = _read_conditions(spec.get("conditions"), model, pids, spec, table)
    noise, transform, distribution = _read_observables(spec.get("observables"), model, pids)

    require_rows(len(table), mpath)
    check_identifier_column(table, C.OBSERVABLE_ID, set(model.observable_names), mpath,
                            "observable", "Use an observable of the model.")
    check_identifier_column(table, C.SIMULATION_CONDITION_ID, set(condition_ids), mpath,
                            "condition", "Define it in the condition table.")
    n = len(table)
    obs = np.array([model.observable_names.index(o.strip()) for o in table[C.OBSERVABLE_ID]])
    cond = np.array([condition_ids.index(c.strip()) for c in table[C.SIMULATION_CONDITION_ID]])
    time = np.array([parse_float(t, mpath, i + 2, C.TIME) for i, t in enumerate(table[C.TIME])])
    values = np.array([parse_float(v, mpath, i + 2, C.MEASUREMENT) for i, v in enumerate(table[C.MEASUREMENT])])
    for i, t in enumerate(time):
        check_time(t, mpath, i + 2)
    noise_index = np.full(n, -1)
    noise_value = np.full(n, np.nan)
    for i in range(n):
        row, o = i + 2, obs[i]
        cell = table[C.NOISE_PARAMETERS].iloc[i].strip() if C.NOISE_PARAMETERS in table.columns else ""
        if cell:
            noise_index[i], noise_value[i] = number_or_id(cell, pids, mpath, row, C.NOISE_PARAMETERS, "noise parameter")
        elif noise[o] is not None:
            noise_index[i], noise_value[i] = noise[o]
        else:
            raise ProblemFileError(
                mpath,
                f"no noise for observable `{model.observable_names[o]}`: fill `noiseParameters` "
                "or give a `noiseFormula` in the observable table.",
                row=row,
                column=C.NOISE_PARAMETERS,
            )
        if noise_index[i] < 0 and not noise_value[i] > 0:
            raise ProblemFileError(mpath, f"noise scale must be > 0, got {noise_value[i]}.", row=row, column=C.NOISE_PARAMETERS)
        if transform[o] != 0 and not values[i] > 0:
            raise ProblemFileError(
                mpath, f"measurement {values[i]} of a log-transformed observable must be > 0.", row=row, column=C.MEASUREMENT
            )
    rows = MeasurementRows(
        table=table.assign(**{C.TIME: time, C.MEASUREMENT: values}),
        condition_index=cond,
        observable_index=obs,
        time=time,
        values=values,
        noise_index=noise_index,
        noise_value=noise_value,
    )
    return build_problem(
        problem_id=problem_id or os.path.basename(os.path.dirname(os.path.abspath(path))),
        model=model,
        parameters=parameters,
        condition_ids=condition_ids,
        condition_parameter_index=cond_index,
        condition_parameter_value=cond_value,
        rows=rows,
        transformation=transform,
        distribution=distribution,
        sources=tuple(spec[k] for k in ("parameters", "measurements", "conditions", "observables") if k in spec),
    )


def _import_model(reference, source):
    """`import_model`, with any error of the user's model code (an abstract class, a module
    that fails to import, a relative or empty module name) as a `ModelDefinitionError`."""
    try:
        return import_model(reference, source=source)
    except FimflowInputError:
        raise
    except Exception as error:
        raise ModelDefinitionError(
            f"{source}: cannot load the model {reference!r} named in `model` "
            f"({type(error).__name__}: {error}). Name a concrete fimflow.AbstractODEModel "
            "subclass as 'package.module:ClassName'."
        ) from error


def _read_conditions(path, model, pids, spec, measurements):
    """Model parameter of each condition: (condition ids, index array, value array).

    Without a condition table the conditions are those named in the `measurements` table.
    """
    names = model.parameter_names
    if path is None:
        ids = sorted({c.strip() for c in measurements[C.SIMULATION_CONDITION_ID]})
        table = pd.DataFrame({C.CONDITION_ID: ids}).astype(str)
    else:
        table = read_tsv(path)
        require_columns(table, (C.CONDITION_ID,), path)
        check_unique(table, C.CONDITION_ID, path, "condition")
        for column in table.columns:
            if column != C.CONDITION_ID and column not in names:
                raise ProblemFileError(
                    path, f"column `{column}` is not a parameter of the model {list(names)}.", column=column
                )
    ids = [c.strip() for c in table[C.CONDITION_ID]]
    index = np.full((len(ids), len(names)), -1)
    value = np.full((len(ids), len(names)), np.nan)
    for j, name in enumerate(names):
        if name in table.columns:
            for c, cell in enumerate(table[name]):
                index[c, j], value[c, j] = number_or_id(cell, pids, path, c + 2, name, "value")
        elif name in pids:
            index[:, j] = pids.index(name)
        else:
            raise ProblemFileError(
                spec["parameters"],
                f"model parameter `{name}` is neither in the parameter table nor set by the "
                "condition table. Add a row for it.",
            )
    return ids, index, value


def _read_observables(path, model, pids):
    """Per observable: default noise (index, value) or None, transformation and distribution codes."""
    n = len(model.observable_names)
    noise = [None] * n
    transform = [0] * n
    distribution = [0] * n
    if path is None:
        return noise, transform, distribution
    table = read_tsv(path)
    require_columns(table, (C.OBSERVABLE_ID,), path)
    check_identifier_column(table, C.OBSERVABLE_ID, set(model.observable_names), path,
                            "observable", "Use an observable of the model.")
    check_unique(table, C.OBSERVABLE_ID, path, "observable")
    for i, rec in enumerate(table.to_dict("records")):
        row, o = i + 2, model.observable_names.index(rec[C.OBSERVABLE_ID].strip())
        if rec.get(C.NOISE_FORMULA, "").strip():
            noise[o] = number_or_id(rec[C.NOISE_FORMULA], pids, path, row, C.NOISE_FORMULA, "noise formula")
            if noise[o][0] < 0 and not noise[o][1] > 0:
                raise ProblemFileError(path, f"noise scale must be > 0, got {noise[o][1]}.", row=row, column=C.NOISE_FORMULA)
        t = rec.get(C.OBSERVABLE_TRANSFORMATION, "").strip() or "lin"
        d = rec.get(C.NOISE_DISTRIBUTION, "").strip() or "normal"
        if t not in TRANSFORMATION_CODES:
            raise ProblemFileError(path, f"transformation {t!r} is not one of lin, log, log10.", row=row, column=C.OBSERVABLE_TRANSFORMATION)
        if d not in DISTRIBUTION_CODES:
            raise ProblemFileError(path, f"noise distribution {d!r} is not one of normal, laplace.", row=row, column=C.NOISE_DISTRIBUTION)
        transform[o], distribution[o] = TRANSFORMATION_CODES[t], DISTRIBUTION_CODES[d]
    return noise, transform, distribution
