"""PEtab v1 import: a PEtab problem (yaml + SBML + TSV tables) as a `Problem`.

The tables are read and linted with `petab`, the SBML model with `python-libsbml`
(`_sbml.py`), observable and noise formulas with PEtab's own math grammar
(`petab.v1.math.sympify_petab`, an ANTLR parser: nothing is `eval`'d). Every inconsistency
is a `ProblemFileError` naming the file, the row or id, and what to change.
"""

import logging
import math
import os

import numpy as np
import petab.v1 as petab
import yaml

from .. import _columns as C
from .._errors import ProblemFileError
from ..problem import read_priors
from ..problem import MeasurementRows, build_problem
from ..problem import Problem
from ._sbml import SBMLError, read_sbml
from ._observables import OBSERVABLE_FORMULA, Observables, _text
from ._rows import _defaults, _measurement_rows, _number_or_id, _pack, _quiet_petab
from ._sbml_model import make_sbml_model
from ..problem import check_unique, read_parameter_table, read_tsv, require_columns


_log = logging.getLogger(__name__)


def load_petab(yaml_path, *, problem_id: str | None = None) -> Problem:
    """Load, lint and check a PEtab problem, v1 or v2 (by its `format_version`; v2: see
    `_v2.load_petab_v2`); returns the `Problem` the library works on.

    **Raises:** `ProblemFileError` for a problem that fails `petab` linting, is inconsistent,
    or uses an unsupported feature (the message names the file, row or id, and the fix).
    """
    path = os.path.abspath(str(yaml_path))
    if is_petab_v2(path):
        return load_petab_v2(path, problem_id=problem_id)
    files = petab_files(path)
    # fimflow's own checks first (they name file, row and column), petab's linting last
    required = {
        "conditions": (C.CONDITION_ID,),
        "measurements": C.MEASUREMENT_REQUIRED,
        "observables": (C.OBSERVABLE_ID, OBSERVABLE_FORMULA, C.NOISE_FORMULA),
    }
    for key, columns in required.items():
        table = read_tsv(files[key])
        require_columns(table, columns, files[key])
        if key != "measurements":
            check_unique(table, columns[0], files[key], key[:-1])
    parameters = read_parameter_table(files["parameters"])
    for warning in parameters.warnings:
        _log.warning(warning)
    if not os.path.isfile(files["sbml"]):
        raise ProblemFileError(files["sbml"], "SBML file not found. Check `sbml_files` in the problem yaml.")
    try:
        spec = read_sbml(files["sbml"])
    except SBMLError as error:
        raise ProblemFileError(files["sbml"], f"SBML model: {error}") from error
    problem = _read(path)
    parameters = read_priors(files["parameters"], parameters)
    pids = list(parameters.ids)
    observables = Observables(problem.observable_df, files["observables"], spec, pids)
    extra = [p for p in pids if p not in spec.entities and p in observables.symbols]
    inputs = list(spec.inputs) + extra
    conditions = problem.condition_df
    overridable = _check_condition_columns(conditions, files["conditions"], spec, inputs)
    measurement_model = observables.measurement_model()
    model = make_sbml_model(spec, measurement_model, observables.ids, extra, overridable)
    defaults = _defaults(spec, extra, pids, files)

    table = problem.measurement_df.reset_index(drop=True)
    mpath = files["measurements"]
    rows = _measurement_rows(table, mpath, observables, conditions)
    if model.state_events:
        _refuse_steady_states_with_events(rows, mpath, files["sbml"])
    _lint(problem, path)
    entries = list(dict.fromkeys((r["pre"], r["sim"]) for r in rows))
    sims = [e[1] for e in entries]
    ids = [s if sims.count(s) == 1 else f"{p}:{s}" for p, s in entries]
    cond_rows = {
        c: _condition_row(conditions, c, files["conditions"], model.parameter_names, inputs, overridable, defaults, pids)
        for c in {c for e in entries for c in e if c}
    }
    index = np.array([cond_rows[s][0] for _, s in entries])
    value = np.array([cond_rows[s][1] for _, s in entries])
    pre = np.array([bool(p) for p, _ in entries])
    pre_index = np.array([cond_rows[p][0] if p else cond_rows[s][0] for p, s in entries])
    pre_value = np.array([cond_rows[p][1] if p else cond_rows[s][1] for p, s in entries])

    obs = np.array([observables.ids.index(r["observable"]) for r in rows])
    op_index, op_value = _pack([r["observable_parameters"] for r in rows], measurement_model.n_observable_parameters)
    np_index, np_value = _pack([r["noise_parameters"] for r in rows], measurement_model.n_noise_parameters)
    measurements = MeasurementRows(
        table=table,
        condition_index=np.array([entries.index((r["pre"], r["sim"])) for r in rows]),
        observable_index=obs,
        time=np.array([r["time"] for r in rows]),
        values=np.array([r["measurement"] for r in rows]),
        noise_index=np_index,
        noise_value=np_value,
        observable_parameter_index=op_index,
        observable_parameter_value=op_value,
    )
    return build_problem(
        problem_id=problem_id or os.path.basename(os.path.dirname(path)),
        model=model,
        parameters=parameters,
        condition_ids=ids,
        condition_parameter_index=index,
        condition_parameter_value=value,
        rows=measurements,
        transformation=observables.transformation,
        distribution=observables.distribution,
        sources=[path] + [f for k, f in files.items() if f],
        preequilibration=pre,
        preequilibration_parameter_index=pre_index,
        preequilibration_parameter_value=pre_value,
    )


def petab_files(path) -> dict:
    """The files a PEtab yaml names (first of each list), as absolute paths (v1 or v2)."""
    path = os.path.abspath(str(path))
    if not os.path.isfile(path):
        raise ProblemFileError(path, "PEtab problem file not found.")
    if is_petab_v2(path):
        return {kind: file for kind, file in v2_files(path).items() if file}
    try:
        with open(path) as handle:
            spec = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ProblemFileError(path, f"not valid YAML ({error}).") from error
    if not isinstance(spec, dict) or str(spec.get("format_version")) not in ("1", "1.0.0"):
        raise ProblemFileError(path, f"not a PEtab v1 problem (format_version {spec.get('format_version') if isinstance(spec, dict) else None!r}); expected format_version: 1.")
    problems = spec.get("problems")
    if not isinstance(problems, list) or len(problems) != 1 or not isinstance(problems[0], dict):
        raise ProblemFileError(path, "`problems` must be a list with exactly one entry.")
    base = os.path.dirname(path)
    sub = problems[0]

    def one(value, key):
        items = value if isinstance(value, list) else [value]
        if not items or not items[0]:
            raise ProblemFileError(path, f"missing `{key}`.")
        if len(items) > 1 and key in ("sbml_files", "parameter_file"):
            raise ProblemFileError(path, f"`{key}` names {len(items)} files; fimflow reads exactly one.")
        return os.path.join(base, str(items[0]))

    return {
        "parameters": one(spec.get("parameter_file"), "parameter_file"),
        "sbml": one(sub.get("sbml_files"), "sbml_files"),
        "conditions": one(sub.get("condition_files"), "condition_files"),
        "measurements": one(sub.get("measurement_files"), "measurement_files"),
        "observables": one(sub.get("observable_files"), "observable_files"),
    }


def _read(path):
    """The `petab.Problem` of the yaml at `path`. Visualization tables are optional in PEtab
    and fimflow draws none: one that is named but absent is a warning, and the problem loads
    without it."""
    with open(path) as handle:
        config = yaml.safe_load(handle)
    base = os.path.dirname(path)
    for sub in config.get("problems") or []:
        named = sub.get("visualization_files") or []
        named = named if isinstance(named, list) else [named]
        missing = [name for name in named if not os.path.isfile(os.path.join(base, str(name)))]
        if missing:
            _log.warning("%s: the visualization file(s) %s named in `visualization_files` do not exist; loaded "
                         "without them (they are optional: fix the name or drop the entry to silence this).",
                         path, ", ".join(map(str, missing)))
            sub["visualization_files"] = [name for name in named if name not in missing]
    try:
        with _quiet_petab():
            return petab.Problem.from_yaml(config, base_path=base)
    except Exception as error:  # petab raises many types; the message is the useful part
        raise ProblemFileError(path, f"petab cannot read the problem: {type(error).__name__}: {error}") from error


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        errors = [r.getMessage() for r in self.records if r.levelno >= logging.ERROR]
        return errors or [r.getMessage() for r in self.records]


def _lint(problem, path) -> None:
    handler = _Collect()
    logger = logging.getLogger("petab")
    logger.addHandler(handler)
    try:
        with _quiet_petab():
            failed = petab.lint_problem(problem)
    except Exception as error:
        raise ProblemFileError(path, f"petab linting failed: {type(error).__name__}: {error}") from error
    finally:
        logger.removeHandler(handler)
    if failed:
        detail = "; ".join(dict.fromkeys(handler.messages)) or "see the petab log"
        raise ProblemFileError(path, f"the problem fails PEtab linting: {detail}")


def _refuse_steady_states_with_events(rows, path, sbml_path) -> None:
    """Steady states (pre-equilibration, time `inf`) of a model with state-triggered events: PEtab
    v1 does not say whether events fire on the way there, so fimflow refuses the rows."""
    for i, r in enumerate(rows):
        where = ("preequilibrationConditionId", "a pre-equilibration") if r["pre"] else (C.TIME, "a steady-state time (inf)") if math.isinf(r["time"]) else None
        if where:
            raise ProblemFileError(
                path,
                f"{where[1]} with a model whose events are triggered by its states ({os.path.basename(sbml_path)}): "
                "PEtab v1 leaves open whether such events fire on the way to the steady state, and fimflow does "
                "not guess. Simulate the approach to steady state explicitly (a long first period) instead.",
                row=i + 2, column=where[0],
            )


def _check_condition_columns(df, path, spec, inputs) -> list:
    """States set by the condition table (initial values); every column must be settable."""
    overridable = []
    for column in df.columns:
        if column == "conditionName":
            continue
        if column in spec.states or column in spec.initially_assigned:
            overridable.append(column)  # a value that replaces the initial value or assignment
        elif column not in inputs:
            why = "is computed by an assignment rule or initial assignment" if column in spec.entities else "is not an entity of the model"
            raise ProblemFileError(path, f"condition table column `{column}` {why}; a condition can set only parameters, compartments and initial values of species.", column=column)
    return overridable


def _condition_row(df, cid, path, names, inputs, overridable, defaults, pids):
    """Model parameter row (index, value) of condition `cid` (initial values NaN = keep)."""
    row = list(df.index).index(cid) + 2
    index, value = np.full(len(names), -1), np.full(len(names), math.nan)
    for j, name in enumerate(inputs):
        index[j], value[j] = defaults[name]
        if name in df.columns:
            cell = df.loc[cid, name]
            if _text(cell):
                index[j], value[j] = _number_or_id(cell, pids, path, row, name)
    for k, state in enumerate(overridable):
        j = len(inputs) + k
        index[j], value[j] = _number_or_id(df.loc[cid, state], pids, path, row, state, allow_nan=True)
    return index, value


from ._v2 import load_petab_v2  # noqa: E402
from ._v2_tables import is_petab_v2, v2_files  # noqa: E402 (it uses this module's table readers)
