"""A corpus of broken PEtab v2 problems: each is `data/petab_v2_minimal` with one thing broken.

Every case must be refused by `fimflow.load_petab` with a `ProblemFileError` naming the file,
the row and column where a table is at fault, and what is wrong (`msg`: all parts, any order).
The valid problem: A <-> B (k1, k2); experiment e_slow pre-equilibrates at k2 = 0.1 (c_rest) and
runs at k2 = 0.3 (c_slow); e_dose runs at k2 = 0.6 (c_fast) and gets a dose of A at t = 5
(c_dose: A + dose); obs_a = scale * A (placeholders scale, sigma), obs_b = B + offset_b, log-normal.
"""

import re
import shutil
from pathlib import Path

import pytest

import fimflow
from helpers import workflow_rejection
from test_bad_petab import add_column, edits, msg, replace, set_cell, write

VALID = Path(__file__).resolve().parent / "data" / "petab_v2_minimal"
M, O, P, C, E, Y, S = ("measurements.tsv", "observables.tsv", "parameters.tsv", "conditions.tsv", "experiments.tsv",
                       "problem.yaml", "model.xml")
IN_M, IN_O, IN_P = r"measurements\.tsv", r"observables\.tsv", r"parameters\.tsv"
IN_C, IN_E, IN_Y = r"conditions\.tsv", r"experiments\.tsv", r"problem\.yaml"
MAPPING = "petabEntityId\tmodelEntityId\nrate\tk9\n"

# Rows (header = row 1): experiments 2 = e_slow/-inf, 3 = e_slow/0, 4 = e_dose/0, 5 = e_dose/5;
# conditions 2 = c_rest, 3 = c_slow, 4 = c_fast, 5 = c_dose; parameters 2 = k1 ... 7 = dose;
# observables 2 = obs_a, 3 = obs_b; measurements 2 = obs_a/e_slow/0.
CASES = [
    ("measurement-missing-experiment", set_cell(M, 2, "experimentId", "e_none"), msg(IN_M, r"row 2, column `experimentId`", r"e_none", r"unknown experiment")),
    ("measurement-unknown-observable", set_cell(M, 2, "observableId", "obs_c"), msg(IN_M, r"row 2", r"obs_c", r"unknown observable")),
    ("measurement-placeholder-count", set_cell(M, 2, "observableParameters", "scale_a;2"), msg(IN_M, r"row 2, column `observableParameters`", r"1 placeholder")),
    ("experiment-unknown-condition", set_cell(E, 5, "conditionId", "c_none"), msg(IN_E, r"row 5, column `conditionId`", r"c_none", r"unknown condition")),
    ("experiment-period-before-previous", set_cell(E, 5, "time", "-2"), msg(IN_E, r"row 5, column `time`", r"e_dose", r"comes after")),
    ("experiment-preequilibration-not-first", edits(set_cell(E, 2, "time", "0"), set_cell(E, 3, "time", "-inf")), msg(IN_E, r"row 3, column `time`", r"pre-equilibration period \(-inf\) must come first")),
    ("experiment-time-not-a-number", set_cell(E, 5, "time", "soon"), msg(IN_E, r"row 5, column `time`", r"soon")),
    ("experiment-time-inf", set_cell(E, 5, "time", "inf"), msg(IN_E, r"row 5, column `time`", r"finite or -inf")),
    ("experiment-empty-id", set_cell(E, 5, "experimentId", ""), msg(IN_E, r"row 5, column `experimentId`", r"empty experimentId")),
    ("condition-unknown-target", set_cell(C, 4, "targetId", "k3"), msg(IN_C, r"row 4, column `targetId`", r"`k3`", r"not an entity")),
    ("condition-bad-math", set_cell(C, 5, "targetValue", "A + (dose"), msg(IN_C, r"row 5, column `targetValue`", r"cannot parse")),
    ("condition-math-unknown-id", set_cell(C, 5, "targetValue", "A + dos"), msg(IN_C, r"row 5, column `targetValue`", r"\['dos'\]")),
    ("condition-target-in-parameter-table", set_cell(C, 4, "targetId", "k1"), msg(IN_C, r"row 4, column `targetId`", r"`k1` is a parameter of the parameter table")),
    ("condition-empty-value", set_cell(C, 5, "targetValue", ""), msg(IN_C, r"row 5, column `targetValue`", r"empty targetValue")),
    ("condition-target-twice-in-a-period", replace(C, "c_dose\tA\tA + dose\n", "c_dose\tA\tA + dose\nc_dose\tA\t1.0\n"), msg(IN_C, r"row 6, column `targetId`", r"changes `A` twice")),
    ("mapping-to-unknown-model-entity", edits(write("mapping.tsv", MAPPING), replace(Y, "observable_files:", "mapping_files:\n- mapping.tsv\nobservable_files:")),
     msg(r"mapping\.tsv", r"row 2, column `modelEntityId`", r"`k9` is not an entity")),
    ("parameter-estimate-maybe", set_cell(P, 2, "estimate", "maybe"), msg(IN_P, r"row 2, column `estimate`", r"true or false")),
    ("parameter-lower-above-upper", set_cell(P, 3, "lowerBound", "20"), msg(IN_P, r"row 3, column `lowerBound`", r"below upperBound")),
    ("parameter-prior-unknown", edits(add_column(P, "priorDistribution", {2: "beta"}), add_column(P, "priorParameters", {2: "1;2"})), msg(IN_P, r"row 2, column `priorDistribution`", r"'beta'")),
    ("parameter-prior-parameter-count", edits(add_column(P, "priorDistribution", {2: "normal"}), add_column(P, "priorParameters", {2: "1"})), msg(IN_P, r"row 2, column `priorParameters`", r"takes 2 number")),
    ("observable-noise-distribution", set_cell(O, 3, "noiseDistribution", "poisson"), msg(IN_O, r"row 3, column `noiseDistribution`", r"poisson")),
    ("observable-placeholder-repeated", set_cell(O, 2, "observablePlaceholders", "scale;scale"), msg(IN_O, r"row 2, column `observablePlaceholders`", r"repeat")),
    ("yaml-two-models", replace(Y, "    location: model.xml\n", "    location: model.xml\n  other:\n    language: sbml\n    location: model.xml\n"), msg(IN_Y, r"exactly one model")),
    ("yaml-no-measurement-files", replace(Y, "measurement_files:\n- measurements.tsv\n", ""), msg(IN_Y, r"missing `measurement_files`")),
    ("measurement-before-experiment-start", set_cell(E, 4, "time", "0.5"), msg(IN_M, r"row 14, column `time`", r"before experiment 'e_dose' starts \(t = 0.5")),
    ("pre-equilibration-math-unknown-id", set_cell(C, 2, "targetValue", "0.1 * kk1"), msg(IN_C, r"row 2, column `targetValue`", r"\['kk1'\]")),
]


@pytest.fixture
def problem_copy(tmp_path):
    shutil.copytree(VALID, tmp_path / "problem")
    return tmp_path / "problem"


def test_valid_copy_loads(problem_copy):
    problem = fimflow.load_petab(problem_copy / Y)
    assert problem.condition_ids == ("e_slow", "e_dose")
    assert problem.parameter_ids == ("k1", "scale_a", "offset_b", "sigma_b", "sigma_a")


@pytest.mark.parametrize("edit, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_problem_is_rejected(problem_copy, edit, pattern):
    edit(problem_copy)
    before = sorted(p.name for p in problem_copy.iterdir())
    with pytest.raises(fimflow.ProblemFileError, match=pattern):
        fimflow.load_petab(problem_copy / Y)
    assert sorted(p.name for p in problem_copy.iterdir()) == before  # nothing written


@pytest.mark.workflow
def test_the_workflow_rejects_every_case_before_any_job(tmp_path):
    """The whole v2 corpus as one study: every case named with its message, no job, nothing written."""
    problems = {}
    for case_id, edit, _ in CASES:
        folder = tmp_path / "data" / case_id
        shutil.copytree(VALID, folder)
        edit(folder)
        problems[case_id.replace("-", "_")] = str((folder / Y).relative_to(tmp_path))
    parts = workflow_rejection(tmp_path, problems)
    assert set(parts) == set(problems)
    for case_id, _, pattern in CASES:
        assert re.search(pattern, parts[case_id.replace("-", "_")]), (case_id, parts[case_id.replace("-", "_")])
