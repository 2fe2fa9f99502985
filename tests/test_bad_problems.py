"""A corpus of bad problem inputs: each is a good example problem with one thing broken.

Every case must be rejected by `fimflow.load_problem` with the exact error class, and the
message must name the file (basename), the row ("row N", header = row 1) where there is one,
and the column or key at fault.
"""

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

import fimflow

from helpers import workflow_rejection

fimflow.enable_float64()

DATA = Path(__file__).resolve().parents[1] / "data"


# ---------------------------------------------------------------- editing helpers


def _read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def _write_tsv(path: Path, rows: list[list[str]]) -> None:
    path.write_text("".join("\t".join(row) + "\n" for row in rows))


def set_cell(name: str, row: int, column: str, value: str) -> Callable[[Path], None]:
    """Set one cell; `row` counts the header as row 1 (as the error messages do)."""

    def mutate(folder: Path) -> None:
        rows = _read_tsv(folder / name)
        j = rows[0].index(column)
        assert row >= 2 and row <= len(rows), "case refers to a row the table lacks"
        rows[row - 1][j] = value
        _write_tsv(folder / name, rows)

    return mutate


def drop_column(name: str, column: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        rows = _read_tsv(folder / name)
        j = rows[0].index(column)
        _write_tsv(folder / name, [r[:j] + r[j + 1 :] for r in rows])

    return mutate


def add_column(name: str, column: str, value: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        rows = _read_tsv(folder / name)
        _write_tsv(folder / name, [rows[0] + [column]] + [r + [value] for r in rows[1:]])

    return mutate


def append_row(name: str, **fields: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        rows = _read_tsv(folder / name)
        assert set(fields) <= set(rows[0])
        rows.append([fields.get(c, "") for c in rows[0]])
        _write_tsv(folder / name, rows)

    return mutate


def drop_row(name: str, row: int) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        rows = _read_tsv(folder / name)
        del rows[row - 1]
        _write_tsv(folder / name, rows)

    return mutate


def keep_rows(name: str, n: int) -> Callable[[Path], None]:
    """Keep the first `n` lines (header included)."""

    def mutate(folder: Path) -> None:
        _write_tsv(folder / name, _read_tsv(folder / name)[:n])

    return mutate


def write_text(name: str, text: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / name).write_text(text)

    return mutate


def remove_file(name: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / name).unlink()

    return mutate


def set_key(key: str, value) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        spec = yaml.safe_load((folder / "problem.yaml").read_text())
        spec[key] = value
        (folder / "problem.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    return mutate


def del_key(key: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        spec = yaml.safe_load((folder / "problem.yaml").read_text())
        del spec[key]
        (folder / "problem.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    return mutate


def both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        for m in mutations:
            m(folder)

    return mutate


# ---------------------------------------------------------------- the corpus

PFE = fimflow.ProblemFileError
MDE = fimflow.ModelDefinitionError
MEAS = "measurements.tsv"
PARS = "parameters.tsv"
CONDS = "conditions.tsv"
OBS = "observables.tsv"
YAML = "problem.yaml"


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    base: str  # example folder under data/
    mutate: Callable[[Path], None]
    error: type
    file: str  # basename the message must name
    row: int | None = None
    tokens: tuple[str, ...] = ()  # column / key / value the message must name

    @property
    def column(self) -> str | None:
        """The column a row-level ProblemFileError must carry (first token)."""
        if self.row is None or self.error is not PFE or not self.tokens[0].isidentifier():
            return None
        return self.tokens[0]


CASES = [
    # --- measurement table
    Case("measurement_missing_column", "pk_fixed_dose", drop_column(MEAS, "time"), PFE, MEAS, None, ("`time`",)),
    Case("measurement_unknown_observable", "pk_fixed_dose", set_cell(MEAS, 3, "observableId", "Cp"), PFE, MEAS, 3,
         ("observableId", "Cp")),
    Case("measurement_unknown_condition", "cascade", set_cell(MEAS, 4, "simulationConditionId", "no_dose"), PFE, MEAS, 4,
         ("simulationConditionId", "no_dose")),
    Case("measurement_non_numeric_time", "pk_fixed_dose", set_cell(MEAS, 5, "time", "two"), PFE, MEAS, 5, ("time", "two")),
    Case("measurement_negative_time", "pk_fixed_dose", set_cell(MEAS, 6, "time", "-1"), PFE, MEAS, 6, ("time", "-1")),
    Case("measurement_infinite_time", "cascade", set_cell(MEAS, 7, "time", "inf"), PFE, MEAS, 7, ("time",)),
    Case("measurement_nan", "pk_fixed_dose", set_cell(MEAS, 4, "measurement", "NaN"), PFE, MEAS, 4, ("measurement", "NaN")),
    Case("measurement_empty", "cascade", set_cell(MEAS, 9, "measurement", ""), PFE, MEAS, 9, ("measurement",)),
    Case("measurement_unknown_noise_parameter", "pk_fixed_dose", set_cell(MEAS, 3, "noiseParameters", "sigma_X"), PFE,
         MEAS, 3, ("noiseParameters", "sigma_X")),
    Case("measurement_noise_zero", "pk_fixed_dose", set_cell(MEAS, 4, "noiseParameters", "0"), PFE, MEAS, 4,
         ("noiseParameters", "> 0")),
    Case("measurement_noise_negative", "pk_fixed_dose", set_cell(MEAS, 8, "noiseParameters", "-0.1"), PFE, MEAS, 8,
         ("noiseParameters", "> 0")),
    Case("measurement_noise_infinite", "pk_fixed_dose", set_cell(MEAS, 2, "noiseParameters", "inf"), PFE, MEAS, 2,
         ("noiseParameters", "finite")),
    Case("measurement_noise_missing", "pk_fixed_dose", set_cell(MEAS, 5, "noiseParameters", ""), PFE, MEAS, 5,
         ("noiseParameters", "noiseFormula")),
    Case("measurement_log_transform_nonpositive", "cascade",
         both(set_cell(OBS, 2, "observableTransformation", "log10"), set_cell(MEAS, 4, "measurement", "0")),
         PFE, MEAS, 4, ("measurement", "log")),
    Case("measurement_no_rows", "pk_fixed_dose", keep_rows(MEAS, 1), PFE, MEAS, None, ("no rows",)),
    Case("measurement_extra_field", "pk_fixed_dose", set_cell(MEAS, 2, "noiseParameters", "0.1\t7"), PFE, MEAS, 2,
         ("header has 5",)),
    Case("measurement_extra_field_later_row", "pk_fixed_dose", set_cell(MEAS, 6, "noiseParameters", "0.1\t7"), PFE,
         MEAS, 6, ("header has 5",)),
    Case("measurement_empty_file", "pk_fixed_dose", write_text(MEAS, ""), PFE, MEAS, None, ("empty",)),
    # --- parameter table
    Case("parameter_missing_column", "pk_fixed_dose", drop_column(PARS, "estimate"), PFE, PARS, None, ("`estimate`",)),
    Case("parameter_duplicate_id", "pk_fixed_dose",
         append_row(PARS, parameterId="V", parameterScale="log10", lowerBound="0.1", upperBound="1000",
                    nominalValue="10", estimate="1"), PFE, PARS, 5, ("parameterId", "duplicate", "V")),
    Case("parameter_invalid_id", "pk_fixed_dose",
         append_row(PARS, parameterId="2V", parameterScale="lin", lowerBound="0", upperBound="1", nominalValue="0.5",
                    estimate="0"), PFE, PARS, 5, ("parameterId", "2V")),
    Case("parameter_bad_scale", "pk_fixed_dose", set_cell(PARS, 3, "parameterScale", "ln"), PFE, PARS, 3,
         ("parameterScale", "ln")),
    Case("parameter_lower_equals_upper", "pk_fixed_dose", set_cell(PARS, 3, "lowerBound", "1000"), PFE, PARS, 3,
         ("lowerBound", "upperBound")),
    Case("parameter_lower_above_upper", "cascade", set_cell(PARS, 5, "upperBound", "0.001"), PFE, PARS, 5,
         ("lowerBound", "upperBound")),
    Case("parameter_log_scale_lower_zero", "pk_fixed_dose", set_cell(PARS, 4, "lowerBound", "0"), PFE, PARS, 4,
         ("lowerBound", "log10")),
    Case("parameter_log_scale_lower_negative", "cascade",
         both(set_cell(PARS, 2, "parameterScale", "log"), set_cell(PARS, 2, "lowerBound", "-1")), PFE, PARS, 2,
         ("lowerBound", "log")),
    Case("parameter_infinite_bound_estimated", "pk_fixed_dose", set_cell(PARS, 3, "upperBound", "inf"), PFE, PARS, 3,
         ("upperBound", "finite")),
    Case("parameter_non_numeric_bound", "cascade", set_cell(PARS, 8, "lowerBound", "small"), PFE, PARS, 8,
         ("lowerBound", "small")),
    Case("parameter_nominal_nan", "pk_fixed_dose", set_cell(PARS, 4, "nominalValue", "nan"), PFE, PARS, 4,
         ("nominalValue",)),
    Case("parameter_estimate_not_binary", "pk_fixed_dose", set_cell(PARS, 3, "estimate", "yes"), PFE, PARS, 3,
         ("estimate", "yes")),
    Case("parameter_estimate_two", "cascade", set_cell(PARS, 10, "estimate", "2"), PFE, PARS, 10, ("estimate", "'2'")),
    Case("parameter_none_estimated", "pk_fixed_dose",
         both(set_cell(PARS, 3, "estimate", "0"), set_cell(PARS, 4, "estimate", "0")), PFE, PARS, None, ("estimate",)),
    Case("parameter_model_parameter_missing", "pk_fixed_dose", drop_row(PARS, 2), PFE, PARS, None,
         ("`D`", "condition table")),
    Case("parameter_model_parameter_missing_with_conditions", "cascade", drop_row(PARS, 14), PFE, PARS, None,
         ("`T_tot`",)),
    # --- condition table
    Case("condition_column_not_model_parameter", "cascade", add_column(CONDS, "dose", "1"), PFE, CONDS, None,
         ("`dose`",)),
    Case("condition_unknown_parameter_id", "cascade", set_cell(CONDS, 3, "L", "L_mid"), PFE, CONDS, 3, ("L", "L_mid")),
    Case("condition_nan_value", "cascade", set_cell(CONDS, 2, "L", "nan"), PFE, CONDS, 2, ("L", "nan")),
    Case("condition_empty_value", "cascade", set_cell(CONDS, 4, "L", ""), PFE, CONDS, 4, ("L",)),
    Case("condition_duplicate_id", "cascade", set_cell(CONDS, 3, "conditionId", "low_dose"), PFE, CONDS, 3,
         ("conditionId", "low_dose")),
    Case("condition_missing_id_column", "cascade", drop_column(CONDS, "conditionId"), PFE, CONDS, None,
         ("`conditionId`",)),
    # --- observable table
    Case("observable_unknown_noise_distribution", "cascade", set_cell(OBS, 3, "noiseDistribution", "cauchy"), PFE, OBS,
         3, ("noiseDistribution", "cauchy")),
    Case("observable_unknown_transformation", "cascade", set_cell(OBS, 4, "observableTransformation", "log2"), PFE, OBS,
         4, ("observableTransformation", "log2")),
    Case("observable_unknown_observable", "cascade", set_cell(OBS, 3, "observableId", "Kpp_obs"), PFE, OBS, 3,
         ("observableId", "Kpp_obs")),
    Case("observable_duplicate_id", "cascade", set_cell(OBS, 4, "observableId", "C_obs"), PFE, OBS, 4,
         ("observableId", "C_obs")),
    Case("observable_noise_formula_unknown_id", "cascade", set_cell(OBS, 2, "noiseFormula", "sigma_c"), PFE, OBS, 2,
         ("noiseFormula", "sigma_c")),
    Case("observable_noise_formula_zero", "cascade", set_cell(OBS, 3, "noiseFormula", "0"), PFE, OBS, 3,
         ("noiseFormula", "> 0")),
    Case("observable_noise_formula_negative", "cascade", set_cell(OBS, 4, "noiseFormula", "-0.5"), PFE, OBS, 4,
         ("noiseFormula", "> 0")),
    # --- problem.yaml
    Case("yaml_unknown_key", "cascade", set_key("sbml", "model.xml"), PFE, YAML, None, ("sbml",)),
    Case("yaml_missing_key_parameters", "pk_fixed_dose", del_key("parameters"), PFE, YAML, None, ("`parameters`",)),
    Case("yaml_missing_key_model", "cascade", del_key("model"), PFE, YAML, None, ("`model`",)),
    Case("yaml_wrong_format", "pk_fixed_dose", set_key("format", "petab-1"), PFE, YAML, None, ("format", "petab-1")),
    Case("yaml_not_a_mapping", "pk_fixed_dose", write_text(YAML, "- format\n- model\n"), PFE, YAML, None, ("mapping",)),
    Case("yaml_invalid", "pk_fixed_dose", write_text(YAML, "format: [unclosed\n"), PFE, YAML, None, ("YAML",)),
    Case("yaml_missing_file", "pk_fixed_dose", remove_file(YAML), PFE, YAML, None, ("not found",)),
    Case("yaml_missing_table_file", "pk_fixed_dose", set_key("measurements", "nowhere.tsv"), PFE, "nowhere.tsv", None,
         ("not found",)),
    Case("yaml_deleted_conditions_file", "cascade", remove_file(CONDS), PFE, CONDS, None, ("not found",)),
    # --- model reference (ModelDefinitionError, naming problem.yaml and `model`)
    Case("model_reference_no_colon", "pk_fixed_dose", set_key("model", "fimflow.models.OneCompartmentPK"), MDE, YAML,
         None, ("`model`", "fimflow.models.OneCompartmentPK")),
    Case("model_reference_two_colons", "pk_fixed_dose", set_key("model", "fimflow:models:OneCompartmentPK"), MDE, YAML,
         None, ("`model`",)),
    Case("model_reference_not_a_string", "pk_fixed_dose", set_key("model", 42), MDE, YAML, None, ("`model`", "42")),
    Case("model_reference_empty_module", "pk_fixed_dose", set_key("model", ":OneCompartmentPK"), MDE, YAML, None,
         ("`model`",)),
    Case("model_reference_relative_module", "pk_fixed_dose", set_key("model", ".models:OneCompartmentPK"), MDE, YAML,
         None, ("`model`", ".models")),
    Case("model_module_missing", "pk_fixed_dose", set_key("model", "fimflow.no_such_models:OneCompartmentPK"), MDE, YAML,
         None, ("`model`", "fimflow.no_such_models")),
    Case("model_class_missing", "cascade", set_key("model", "fimflow.models:NoSuchCascade"), MDE, YAML, None,
         ("`model`", "NoSuchCascade")),
    Case("model_class_not_an_ode_model", "pk_fixed_dose", set_key("model", "fimflow:Problem"), MDE, YAML, None,
         ("fimflow:Problem", "AbstractODEModel")),
    Case("model_not_a_class", "pk_fixed_dose", set_key("model", "fimflow:load_problem"), MDE, YAML, None,
         ("fimflow:load_problem", "AbstractODEModel")),
    Case("model_class_abstract", "pk_fixed_dose", set_key("model", "fimflow:AbstractODEModel"), MDE, YAML, None,
         ("`model`", "AbstractODEModel")),
]

CASE_IDS = [case.id for case in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


def _build(case: Case, tmp_path: Path) -> Path:
    folder = tmp_path / case.base
    shutil.copytree(DATA / case.base, folder)
    case.mutate(folder)
    return folder / "problem.yaml"


@pytest.mark.parametrize("base", ["cascade", "pk_fixed_dose"])
def test_good_examples_load(tmp_path, base):
    """The unbroken copies load, so each case below fails for its one breakage only."""
    shutil.copytree(DATA / base, tmp_path / base)
    problem = fimflow.load_problem(tmp_path / base / "problem.yaml")
    assert problem.id == base


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bad_problem_is_rejected(tmp_path, case):
    path = _build(case, tmp_path)
    with pytest.raises(fimflow.FimflowInputError) as info:
        fimflow.load_problem(path)
    error = info.value
    message = str(error)
    assert type(error) is case.error, f"{type(error).__name__}: {message}"
    assert case.file in message
    if case.row is not None:
        assert f"row {case.row}" in message
        assert f"row {case.row + 1}" not in message
    else:
        assert ", row " not in message
    for token in case.tokens:
        assert token in message, f"{token!r} not in {message!r}"
    if case.error is PFE:
        assert Path(error.path).name == case.file
        assert error.row == case.row
        if case.column is not None:
            assert error.column == case.column


def test_pk_full_with_missing_shared_measurements(tmp_path):
    """pk_full names ../pk_fixed_dose/measurements.tsv: without that folder the error names it."""
    shutil.copytree(DATA / "pk_full", tmp_path / "pk_full")
    with pytest.raises(fimflow.ProblemFileError) as info:
        fimflow.load_problem(tmp_path / "pk_full" / "problem.yaml")
    assert "pk_fixed_dose" in str(info.value) and MEAS in str(info.value)
    shutil.copytree(DATA / "pk_fixed_dose", tmp_path / "pk_fixed_dose")
    set_cell(MEAS, 3, "time", "-2")(tmp_path / "pk_fixed_dose")
    with pytest.raises(fimflow.ProblemFileError) as info:
        fimflow.load_problem(tmp_path / "pk_full" / "problem.yaml")
    assert info.value.row == 3 and info.value.column == "time"
    assert os.path.samefile(info.value.path, tmp_path / "pk_fixed_dose" / MEAS)


def test_model_module_that_fails_on_import(tmp_path, monkeypatch):
    """Errors of the user's model module (not ImportError) are ModelDefinitionErrors too."""
    (tmp_path / "broken_model_module.py").write_text("raise RuntimeError('boom in model module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "pk"
    shutil.copytree(DATA / "pk_fixed_dose", folder)
    set_key("model", "broken_model_module:Model")(folder)
    with pytest.raises(fimflow.ModelDefinitionError) as info:
        fimflow.load_problem(folder / "problem.yaml")
    message = str(info.value)
    assert YAML in message and "`model`" in message and "boom in model module" in message


# what PEtab accepts loads: with a warning naming file, row, column and why (the Case's `error`
# is unused; `tokens` must be in the warning), or silently
WARNED = [
    Case("parameter_nominal_outside_bounds", "pk_fixed_dose", set_cell(PARS, 4, "nominalValue", "500"), None, PARS, 4,
         ("nominalValue", "500", "`CL`", "outside its bounds")),
    Case("parameter_log_scale_nominal_zero", "pk_fixed_dose", set_cell(PARS, 3, "nominalValue", "0"), None, PARS, 3,
         ("nominalValue", "`V`", "log10", "undefined")),
]
SILENT = [
    # a fixed parameter is used at its nominal value on the linear scale: its scale is not checked
    Case("parameter_fixed_log_scale_nonpositive_nominal", "pk_fixed_dose", set_cell(PARS, 2, "nominalValue", "0"), None,
         PARS, 2),
]


@pytest.mark.parametrize("case", WARNED + SILENT, ids=[case.id for case in WARNED + SILENT])
def test_what_petab_accepts_loads_with_a_warning(tmp_path, case, caplog):
    path = _build(case, tmp_path)
    with caplog.at_level(logging.WARNING, logger="fimflow"):
        problem = fimflow.load_problem(path)
    if case in SILENT:
        assert problem.warnings == () and not caplog.records
        assert np.isfinite(fimflow.log_likelihood(problem))  # a dose of 0: nothing absorbed, still a likelihood
        return
    (warning,) = problem.warnings
    assert f"{case.file}, row {case.row}, column {case.tokens[0]}" in warning
    for token in case.tokens:
        assert token in warning, f"{token!r} not in {warning!r}"
    assert warning in caplog.text
    assert fimflow.problem_summary(problem)["warnings"] == [warning]


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


def test_rows_without_trailing_empty_fields_load(tmp_path):
    """Editors strip trailing tabs: short rows mean empty trailing cells, not an error."""
    folder = tmp_path / "cascade"
    shutil.copytree(DATA / "cascade", folder)
    text = (folder / MEAS).read_text()
    assert "\t\n" in text
    (folder / MEAS).write_text(text.replace("\t\n", "\n"))
    problem = fimflow.load_problem(folder / "problem.yaml")
    reference = fimflow.load_problem(DATA / "cascade" / "problem.yaml")
    assert (problem.noise_index == reference.noise_index).all()
    assert (problem.values == reference.values).all()


@pytest.mark.workflow
def test_the_workflow_rejects_every_case_before_any_job(tmp_path):
    """The whole corpus as one study: the workflow's check (the loader, at parse time) names
    every case with its file and row, and no job runs: nothing is written for any problem."""
    problems = {}
    for case in CASES:
        path = _build(case, tmp_path / "data" / case.id)
        problems[case.id] = str(path.relative_to(tmp_path))
    parts = workflow_rejection(tmp_path, problems)
    assert set(parts) == set(problems)
    for case in CASES:
        part = parts[case.id]
        assert case.file in part, (case.id, part)
        if case.row is not None:
            assert f"row {case.row}" in part, (case.id, part)
        for token in case.tokens:
            assert token in part, (case.id, token, part)
