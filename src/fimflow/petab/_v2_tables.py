"""PEtab v2 tables: the files a v2 yaml names, and each table read and checked row by row (file,
row and column named in every error): parameters (with the estimation scale fimflow chooses),
observables in v1 form, the mapping, conditions (changes) and experiments (periods)."""

import math
import os
import re

import numpy as np
import pandas as pd
import yaml

from .. import _columns as C
from .._errors import ProblemFileError
from ..problem import ParameterTable, check_unique, read_tsv, require_columns
from ..problem import V2_PRIOR_CODES, truncation_log_mass
from ._observables import OBSERVABLE_FORMULA, _text

V2_VERSIONS = ("2", "2.0", "2.0.0")
NO_EXPERIMENT = "(no experiment)"
"""The condition id of measurements without an experimentId (simulated from t = 0 without changes)."""
EXPERIMENT_ID = "experimentId"
TARGET_ID = "targetId"
TARGET_VALUE = "targetValue"
OBSERVABLE_PLACEHOLDERS = "observablePlaceholders"
NOISE_PLACEHOLDERS = "noisePlaceholders"
PRIOR_DISTRIBUTION = "priorDistribution"
PRIOR_PARAMETERS = "priorParameters"
NOISE_DISTRIBUTIONS = {  # v2 name -> (v1 observableTransformation, v1 noiseDistribution)
    "normal": ("lin", "normal"),
    "log-normal": ("log", "normal"),
    "laplace": ("lin", "laplace"),
    "log-laplace": ("log", "laplace"),
}
REQUIRED = {
    "experiments": (EXPERIMENT_ID, C.TIME, C.CONDITION_ID),
    "conditions": (C.CONDITION_ID, TARGET_ID, TARGET_VALUE),
    "observables": (C.OBSERVABLE_ID, OBSERVABLE_FORMULA, C.NOISE_FORMULA),
    "measurements": (C.OBSERVABLE_ID, EXPERIMENT_ID, C.TIME, C.MEASUREMENT),
    "parameters": (C.PARAMETER_ID, C.ESTIMATE),
    "mapping": ("petabEntityId", "modelEntityId"),
}
_FILE_KEYS = {
    "conditions": "condition_files",
    "experiments": "experiment_files",
    "measurements": "measurement_files",
    "observables": "observable_files",
    "parameters": "parameter_files",
    "mapping": "mapping_files",
}


def is_petab_v2(path) -> bool:
    """Whether the yaml at `path` declares a PEtab v2 `format_version`."""
    try:
        with open(path) as handle:
            spec = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(spec, dict) and str(spec.get("format_version")) in V2_VERSIONS


def v2_files(path) -> dict:
    """The files a PEtab v2 yaml names, as absolute paths (None for an absent optional table)."""
    with open(path) as handle:
        spec = yaml.safe_load(handle)
    base = os.path.dirname(path)
    models = spec.get("model_files")
    if "problems" in spec and models is None:
        raise ProblemFileError(path, f"format_version {spec.get('format_version')} (PEtab v2) but the v1 layout (`problems`); "
                               "set `format_version: 1`, or convert the problem to v2 (see the README).")
    if not isinstance(models, dict) or len(models) != 1:
        raise ProblemFileError(path, "`model_files` must name exactly one model (id: {language: sbml, location: FILE}).")
    (model_id, model), = models.items()
    if not isinstance(model, dict) or str(model.get("language", "")).lower() != "sbml" or not model.get("location"):
        raise ProblemFileError(path, f"model `{model_id}`: fimflow reads SBML models; give `language: sbml` and `location`.")
    files = {"sbml": os.path.join(base, str(model["location"]))}
    for kind, key in _FILE_KEYS.items():
        names = spec.get(key) or []
        names = names if isinstance(names, list) else [names]
        if len(names) > 1:
            raise ProblemFileError(path, f"`{key}` names {len(names)} files; fimflow reads one of each kind: merge them.")
        if not names and kind in ("measurements", "observables", "parameters"):
            raise ProblemFileError(path, f"missing `{key}`.")
        files[kind] = os.path.join(base, str(names[0])) if names else None
    return files


def choose_scale(lower: float, upper: float, estimate: bool) -> str:
    """The estimation scale fimflow gives a v2 parameter: log10 where both bounds are positive and
    finite (rate constants, concentrations: multistart samples and steps then span decades), lin
    otherwise (offsets, parameters whose range includes 0)."""
    if estimate and 0 < lower < upper < math.inf:
        return "log10"
    return "lin"


def _tables(files) -> dict:
    tables = {}
    for kind, columns in REQUIRED.items():
        if files.get(kind) is None:
            tables[kind] = pd.DataFrame(columns=list(columns), dtype=str)
            continue
        table = read_tsv(files[kind])
        require_columns(table, columns, files[kind])
        tables[kind] = table
    for kind, column in (("observables", C.OBSERVABLE_ID), ("parameters", C.PARAMETER_ID), ("mapping", "petabEntityId")):
        if files.get(kind):
            check_unique(tables[kind], column, files[kind], kind.rstrip("s"))
    return tables


def _parameters(table, path) -> ParameterTable:
    ids, scales, lower, upper, nominal, estimate = [], [], [], [], [], []
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2
        pid = _text(rec[C.PARAMETER_ID])
        flag = _text(rec[C.ESTIMATE]).lower()
        if flag not in ("true", "false", "1", "0"):
            raise ProblemFileError(path, f"`estimate` must be true or false, got {rec[C.ESTIMATE]!r}.", row=row, column=C.ESTIMATE)
        est = flag in ("true", "1")
        values = {}
        for column in (C.LOWER_BOUND, C.UPPER_BOUND, C.NOMINAL_VALUE):
            text = _text(rec.get(column))
            if not text:
                if est and column != C.NOMINAL_VALUE or not est and column == C.NOMINAL_VALUE:
                    raise ProblemFileError(path, f"`{column}` is required for {'an estimated' if est else 'a fixed'} parameter.", row=row, column=column)
                values[column] = math.nan
                continue
            try:
                values[column] = float(text)
            except ValueError:
                raise ProblemFileError(path, f"expected a number, got {text!r}.", row=row, column=column) from None
        lo, hi = values[C.LOWER_BOUND], values[C.UPPER_BOUND]
        if est and not lo < hi:
            raise ProblemFileError(path, f"lowerBound {lo} must be below upperBound {hi}.", row=row, column=C.LOWER_BOUND)
        ids.append(pid)
        estimate.append(est)
        lower.append(lo)
        upper.append(hi)
        nominal.append(values[C.NOMINAL_VALUE])
        scales.append(choose_scale(lo, hi, est))
    codes, values, log_mass = _priors(table, path, lower, upper, estimate)
    return ParameterTable(
        ids=tuple(ids), scales=tuple(scales), lower=np.array(lower), upper=np.array(upper),
        nominal=np.array(nominal), estimate=np.array(estimate, dtype=bool),
        prior_codes=codes, prior_parameters=values, prior_log_mass=log_mass,
    )


def _priors(table, path, lower, upper, estimate):
    """Prior codes, parameters and truncation log-masses of a v2 parameter table (None without
    priors). A v2 prior is of the linear value, truncated at the parameter's bounds; once any
    parameter has one, the others are uniform within their bounds (the posterior of PEtab v2)."""
    if PRIOR_DISTRIBUTION not in table.columns or not any(_text(v) for v in table[PRIOR_DISTRIBUTION]):
        return None, None, None
    n = len(lower)
    codes, values, log_mass = np.zeros(n, dtype=int), np.zeros((n, 2)), np.zeros(n)
    for i, rec in enumerate(table.to_dict("records")):
        row, kind = i + 2, _text(rec.get(PRIOR_DISTRIBUTION))
        if not estimate[i]:
            continue
        if not kind:
            if math.isfinite(lower[i]) and math.isfinite(upper[i]):
                codes[i], values[i] = 1, (lower[i], upper[i])
            continue
        if kind not in V2_PRIOR_CODES:
            raise ProblemFileError(path, f"unknown prior distribution {kind!r}; one of {sorted(V2_PRIOR_CODES)}.", row=row, column=PRIOR_DISTRIBUTION)
        code, count = V2_PRIOR_CODES[kind]
        text = _text(rec.get(PRIOR_PARAMETERS))
        try:
            numbers = [float(v) for v in text.split(";")] if text else []
        except ValueError:
            numbers = None
        if numbers is None or len(numbers) != count:
            raise ProblemFileError(path, f"a {kind} prior takes {count} number(s) separated by ';', got {text!r}.", row=row, column=PRIOR_PARAMETERS)
        a, b = (numbers + [0.0])[:2]
        positive = [b] if count == 2 and code not in (1, 13) else [a] if count == 1 else [a, b] if code == 13 else []
        if any(not v > 0 for v in positive) or (code in (1, 13) and not a < b):
            raise ProblemFileError(path, f"invalid {kind} prior parameters {text!r} (scales must be > 0, a uniform's lower "
                                   "end below its upper end, a log-uniform's ends > 0).", row=row, column=PRIOR_PARAMETERS)
        codes[i], values[i] = code, (a, b)
        log_mass[i] = truncation_log_mass(code, a, b, lower[i], upper[i])
    return codes, values, log_mass


def _observable_frame(table, path) -> tuple[pd.DataFrame, dict]:
    """The observable table in v1 form: named placeholders renamed to `observableParameterK_id` /
    `noiseParameterK_id`, the merged noise distribution split into transformation and distribution."""
    rows, renames = [], {}
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2
        oid = _text(rec[C.OBSERVABLE_ID])
        out = {C.OBSERVABLE_ID: oid}
        for column, placeholder_column, kind in (
            (OBSERVABLE_FORMULA, OBSERVABLE_PLACEHOLDERS, "observableParameter"),
            (C.NOISE_FORMULA, NOISE_PLACEHOLDERS, "noiseParameter"),
        ):
            names = [n.strip() for n in _text(rec.get(placeholder_column)).split(";") if n.strip()]
            if len(set(names)) != len(names):
                raise ProblemFileError(path, f"placeholders of `{oid}` repeat a name: {names}.", row=row, column=placeholder_column)
            formula = _text(rec.get(column))
            for k, name in enumerate(names, start=1):
                new = f"{kind}{k}_{oid}"
                renames[(oid, new)] = name
                formula = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w])", new, formula)
            out[column] = formula
            out[f"_{placeholder_column}"] = names
        distribution = _text(rec.get(C.NOISE_DISTRIBUTION)) or "normal"
        if distribution not in NOISE_DISTRIBUTIONS:
            raise ProblemFileError(path, f"noise distribution {distribution!r} is not one of {list(NOISE_DISTRIBUTIONS)}.",
                                   row=row, column=C.NOISE_DISTRIBUTION)
        out[C.OBSERVABLE_TRANSFORMATION], out[C.NOISE_DISTRIBUTION] = NOISE_DISTRIBUTIONS[distribution]
        rows.append(out)
    frame = pd.DataFrame(rows, columns=[C.OBSERVABLE_ID, OBSERVABLE_FORMULA, C.NOISE_FORMULA, C.OBSERVABLE_TRANSFORMATION,
                                        C.NOISE_DISTRIBUTION]).set_index(C.OBSERVABLE_ID)
    return frame, renames


def _mapping(table, path, spec) -> dict:
    """PEtab id -> model entity id (rows with an empty modelEntityId only annotate)."""
    out = {}
    for i, rec in enumerate(table.to_dict("records")):
        model_id = _text(rec.get("modelEntityId"))
        if model_id:
            if model_id not in spec.entities:
                raise ProblemFileError(path, f"modelEntityId `{model_id}` is not an entity of the model.", row=i + 2, column="modelEntityId")
            out[_text(rec["petabEntityId"])] = model_id
    return out


def _conditions(table, path, mapping, spec, inputs, pids=()) -> dict:
    """conditionId -> list of (model target, value cell, row); each target settable and not a
    parameter of the parameter table (`pids`: PEtab v2 lets a value come from one table only)."""
    out: dict = {}
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2
        cid = _text(rec[C.CONDITION_ID])
        if not cid:
            raise ProblemFileError(path, "empty conditionId.", row=row, column=C.CONDITION_ID)
        target = _text(rec[TARGET_ID])
        if target in pids:
            raise ProblemFileError(path, f"target `{target}` is a parameter of the parameter table; a condition cannot change "
                                   "it. Change a model parameter whose value is that parameter instead, or drop its row "
                                   "from the parameter table.", row=row, column=TARGET_ID)
        target = mapping.get(target, target)
        if not (target in inputs or target in spec.states or target in spec.initially_assigned):
            why = ("is computed by an assignment rule" if target in spec.entities
                   else "is not an entity of the model (nor mapped to one in the mapping table)")
            raise ProblemFileError(path, f"target `{_text(rec[TARGET_ID])}` {why}; a condition can change parameters, "
                                   "compartments and species.", row=row, column=TARGET_ID)
        changes = out.setdefault(cid, [])
        if any(t == target for t, _, _ in changes):
            raise ProblemFileError(path, f"condition `{cid}` changes `{target}` twice.", row=row, column=TARGET_ID)
        changes.append((target, rec[TARGET_VALUE], row))
    return out


def _experiments(table, path, conditions) -> dict:
    """experimentId -> (pre-equilibration condition ids, [(time, condition ids), ...] by time)."""
    out: dict = {}
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2
        eid = _text(rec[EXPERIMENT_ID])
        if not eid:
            raise ProblemFileError(path, "empty experimentId.", row=row, column=EXPERIMENT_ID)
        text = _text(rec[C.TIME])
        try:
            time = float(text)
        except ValueError:
            raise ProblemFileError(path, f"period start time must be a number or -inf, got {text!r}.", row=row, column=C.TIME) from None
        if math.isnan(time) or time == math.inf:
            raise ProblemFileError(path, f"period start time must be finite or -inf, got {text!r}.", row=row, column=C.TIME)
        cids = [c.strip() for c in _text(rec[C.CONDITION_ID]).split(";") if c.strip()]
        for cid in cids:
            if cid not in conditions:
                raise ProblemFileError(path, f"unknown condition {cid!r}; define it in the condition table.", row=row, column=C.CONDITION_ID)
        pre, periods = out.setdefault(eid, ([], []))
        if time == -math.inf:
            if periods:
                raise ProblemFileError(path, f"experiment `{eid}`: the pre-equilibration period (-inf) must come first.", row=row, column=C.TIME)
            pre.extend(cids)
            pre.append(None)  # marks that the experiment has a pre-equilibration, even without changes
        elif periods and time < periods[-1][0]:
            raise ProblemFileError(path, f"experiment `{eid}`: period at {time:g} comes after the period at {periods[-1][0]:g}; "
                                   "list an experiment's periods in time order.", row=row, column=C.TIME)
        elif periods and time == periods[-1][0]:
            periods[-1][1].extend(cids)  # conditions applied at the same time act together
        else:
            periods.append((time, list(cids)))
    return {e: ([c for c in pre if c], bool(pre), periods) for e, (pre, periods) in out.items()}
