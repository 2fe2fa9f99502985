"""A corpus of broken PEtab v1 problems: each is `data/petab_minimal` with one thing broken.

Every case must be rejected by `fimflow.load_petab` with a `ProblemFileError` whose message
names the file at fault (its name, or for PEtab lint findings the table in words) or the
offending id or text, the row where an id cannot locate the fault, and what is wrong; each
pattern (`msg`) requires those parts, in any order, not just any error.
The valid problem itself: A <-> B (k1, k2), conditions c0/c1 set k2, observables
obs_a = scale_a * A (noise placeholder, `sigma_a` in the measurement table) and
obs_b = B + offset_b (noise `sigma_b`).
"""

import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import fimflow

from helpers import REPO, workflow_rejection

VALID = Path(__file__).resolve().parent / "data" / "petab_minimal"



# ---------------------------------------------------------------- edits (each returns an edit of a problem folder)


def set_cell(name, row, column, value):
    """Set one cell of a TSV table; `row` counts the header as row 1 (as the messages do)."""

    def edit(folder):
        rows = [line.split("\t") for line in (folder / name).read_text().splitlines()]
        assert 2 <= row <= len(rows), f"{name} has no row {row}"
        rows[row - 1][rows[0].index(column)] = value
        (folder / name).write_text("".join("\t".join(r) + "\n" for r in rows))

    return edit


def drop_column(name, column):
    def edit(folder):
        rows = [line.split("\t") for line in (folder / name).read_text().splitlines()]
        j = rows[0].index(column)
        (folder / name).write_text("".join("\t".join(r[:j] + r[j + 1 :]) + "\n" for r in rows))

    return edit


def add_column(name, column, values):
    """Append a column; `values` maps a row (header = 1) to its cell, the others stay empty."""

    def edit(folder):
        rows = [line.split("\t") for line in (folder / name).read_text().splitlines()]
        rows = [rows[0] + [column]] + [r + [values.get(i, "")] for i, r in enumerate(rows[1:], start=2)]
        (folder / name).write_text("".join("\t".join(r) + "\n" for r in rows))

    return edit


def replace(name, old, new, count=1):
    """Replace text in a file (`count=-1`: everywhere); the text must occur, so no case silently does nothing."""

    def edit(folder):
        text = (folder / name).read_text()
        assert old in text, f"{old!r} not in {name}"
        (folder / name).write_text(text.replace(old, new, count))

    return edit


def write(name, text):
    return lambda folder: (folder / name).write_text(text)


def delete(name):
    return lambda folder: (folder / name).unlink()


def math(xml):
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML">{xml}</math>'


K1_LAW = "<ci> k1 </ci>"
BEFORE_REACTIONS = "    <listOfReactions>"
TOTAL = '      <parameter id="total" constant="false"/>\n    </listOfParameters>'
ALGEBRAIC = "<listOfRules><algebraicRule>" + math(
    "<apply><minus/><ci>total</ci><apply><plus/><ci>A</ci><ci>B</ci></apply></apply>"
) + "</algebraicRule></listOfRules>\n"


def event(trigger, delay=""):
    return (
        f'<listOfEvents><event id="pulse" useValuesFromTriggerTime="true">'
        f'<trigger initialValue="true" persistent="true">{math(trigger)}</trigger>{delay}'
        f'<listOfEventAssignments><eventAssignment variable="A">{math("<cn> 1 </cn>")}</eventAssignment>'
        "</listOfEventAssignments></event></listOfEvents>\n"
    )


AT_5 = "<apply><geq/><csymbol encoding='text' definitionURL='http://www.sbml.org/sbml/symbols/time'>t</csymbol><cn> 5 </cn></apply>"
DELAY_CALL = (
    "<apply><csymbol encoding='text' definitionURL='http://www.sbml.org/sbml/symbols/delay'>delay</csymbol>"
    "<ci> A </ci><cn> 1 </cn></apply>"
)

def edits(*steps):
    """Several edits in turn (to break one thing without a side effect elsewhere)."""

    def edit(folder):
        for step in steps:
            step(folder)

    return edit


def msg(where, *what):
    """Pattern: the message names `where` (a file, or the table in words) and every `what`, in any order."""
    return "(?s)^" + "".join(f"(?=.*(?:{w}))" for w in (where, *what))


M, O, P, C, Y, S = "measurements.tsv", "observables.tsv", "parameters.tsv", "conditions.tsv", "problem.yaml", "model.xml"
IN_M = r"measurements\.tsv|[Mm]easurement table"
IN_O = r"observables\.tsv|[Oo]bservables? table"
IN_P = r"parameters\.tsv|[Pp]arameters? table"
IN_C = r"conditions\.tsv|[Cc]ondition table"
IN_S = r"model\.xml|SBML|libSBML"
IN_Y = r"problem\.yaml"

# (id, edit, pattern the message must match). Rows (header = row 1): measurements 2 = obs_a/c0/t0,
# 3 = obs_b/c0/t0 (value -0.128), 4 = obs_a/c0/t1; observables 2 = obs_a, 3 = obs_b;
# parameters 2..6 = k1, scale_a, offset_b, sigma_b, sigma_a; conditions 2 = c0, 3 = c1.
CASES = [
    # --- problem yaml and the files it names
    ("yaml-format-version-2", replace(Y, "format_version: 1", "format_version: 2"), msg(IN_Y, r"format_version 2 \(PEtab v2\) but the v1 layout")),
    ("yaml-no-parameter-file", replace(Y, "parameter_file: parameters.tsv\n", ""), msg(IN_Y, r"missing `parameter_file`")),
    ("yaml-not-yaml", write(Y, "format_version: 1\nproblems: [\n"), msg(IN_Y, r"not valid YAML")),
    ("yaml-two-sbml-files", replace(Y, "  - model.xml\n", "  - model.xml\n  - other.xml\n"), msg(IN_Y, r"`sbml_files` names 2 files")),
    ("missing-observable-file", delete(O), msg(r"observables\.tsv", r"[Nn]o such file|not found")),
    ("missing-sbml-file", delete(S), msg(r"model\.xml", r"[Nn]o such file|not found")),
    # --- measurement table
    ("measurement-missing-time-column", drop_column(M, "time"), msg(IN_M, r"\btime\b", r"missing|requires")),
    ("measurement-unknown-observable", set_cell(M, 4, "observableId", "obs_c"), msg(IN_M, r"obs_c", r"not defined|unknown")),
    ("measurement-unknown-condition", set_cell(M, 4, "simulationConditionId", "c2"), msg(IN_M, r"\bc2\b", r"not specified|unknown")),
    ("measurement-unknown-preequilibration", add_column(M, "preequilibrationConditionId", {4: "steady"}), msg(IN_M, r"steady", r"not specified|unknown")),
    ("measurement-time-not-a-number", set_cell(M, 4, "time", "1h"), msg(IN_M, r"row 4", r"1h")),
    ("measurement-negative-time", set_cell(M, 4, "time", "-1"), msg(IN_M, r"row 4, column `time`: time -1\.0 < 0")),
    ("measurement-value-not-a-number", set_cell(M, 4, "measurement", "n/a"), msg(IN_M, r"row 4", r"measurement")),
    ("measurement-value-empty", set_cell(M, 4, "measurement", ""), msg(IN_M, r"row 4", r"measurement")),
    ("measurement-row-extra-field", replace(M, "0.590\t1\tsigma_a\n", "0.590\t1\tsigma_a\t0.05\n"), msg(IN_M, r"row 4", r"field|column")),
    ("log-observable-nonpositive-measurement", set_cell(O, 3, "observableTransformation", "log"), msg(IN_M, r"obs_b|row 3", r"-0\.128", r"positive|> 0")),
    ("noise-parameters-missing", set_cell(M, 4, "noiseParameters", ""), msg(r"[Nn]oise ?[Pp]arameter", r"obs_a", r"[Ee]xpected 1 but got 0|has 1 placeholder.* gives 0 value")),
    ("noise-parameters-too-many", set_cell(M, 4, "noiseParameters", "sigma_a;0.1"), msg(r"[Nn]oise ?[Pp]arameter", r"obs_a", r"[Ee]xpected 1 but got 2|has 1 placeholder.* gives 2 value")),
    ("noise-parameters-without-placeholder", set_cell(M, 5, "noiseParameters", "0.1"), msg(r"[Nn]oise ?[Pp]arameter", r"obs_b", r"[Ee]xpected 0 but got 1|has 0 placeholder.* gives 1 value")),
    ("observable-parameters-without-placeholder", add_column(M, "observableParameters", {4: "2.0"}), msg(r"[Oo]bservable ?[Pp]arameter", r"obs_a", r"[Ee]xpected 0 but got 1|has 0 placeholder.* gives 1 value")),
    ("noise-parameter-unknown-id", set_cell(M, 4, "noiseParameters", "sigma_x"), msg(r"sigma_x", r"[Mm]issing parameter|neither a number nor a parameter")),
    # --- observable table
    ("observable-formula-undefined-parameter", set_cell(O, 3, "observableFormula", "B + offset_b + background"), msg(r"background", r"[Mm]issing parameter|neither model entities")),
    ("observable-formula-malformed", set_cell(O, 2, "observableFormula", "scale_a * (A +"), msg(r"scale_a \* \(A \+", r"[Ss]yntax error|cannot parse")),
    ("observable-formula-unknown-function", set_cell(O, 2, "observableFormula", "hill(A, 2)"), msg(r"hill", r"[Uu]nknown function|unsupported")),
    # the noise of obs_b becomes a number; sigma_b leaves the parameter table so that nothing else is wrong
    ("noise-formula-negative-number", edits(set_cell(O, 3, "noiseFormula", "-0.5"), replace(P, "sigma_b\tlog10\t0.001\t10\t0.1\t1\n", "")), msg(IN_O, r"obs_b|row 3", r"-0\.5|negative|positive|> 0")),
    ("noise-formula-zero", edits(set_cell(O, 3, "noiseFormula", "0"), replace(P, "sigma_b\tlog10\t0.001\t10\t0.1\t1\n", "")), msg(IN_O, r"obs_b|row 3", r"zero|positive|> 0")),
    ("noise-distribution-poisson", set_cell(O, 3, "noiseDistribution", "poisson"), msg(IN_O, r"poisson")),
    ("observable-transformation-sqrt", set_cell(O, 3, "observableTransformation", "sqrt"), msg(IN_O, r"sqrt")),
    ("placeholder-numbering-gap", set_cell(O, 2, "noiseFormula", "noiseParameter2_obs_a"), msg(r"noiseParameter2_obs_a", r"[Nn]on-consecutive|numbered 1\.\.n")),
    ("observable-duplicate-id", set_cell(O, 3, "observableId", "obs_a"), msg(IN_O, r"obs_a", r"[Nn]on-unique|duplicate")),
    ("observable-id-is-model-species", edits(set_cell(O, 2, "observableId", "A"), replace(M, "obs_a", "A", -1)), msg(r"\bA\b", r"[Oo]bservable", r"model|species|shadow|clash")),
    # --- parameter table
    ("parameter-scale-ln", set_cell(P, 2, "parameterScale", "ln"), msg(r"\bln\b", r"lin, log,? (or )?log10")),
    ("parameter-lower-above-upper", set_cell(P, 3, "lowerBound", "20"), msg(r"scale_a", r"lowerBound.*(greater|>).*upperBound")),
    ("parameter-infinite-upper-bound", set_cell(P, 3, "upperBound", "inf"), msg(IN_P, r"scale_a", r"finite|bound")),
    ("parameter-log-scale-nonpositive-bound", set_cell(P, 4, "parameterScale", "log10"), msg(r"offset_b", r"log10", r"positive|> 0")),
    ("parameter-estimate-yes", set_cell(P, 2, "estimate", "yes"), msg(r"estimate", r"yes")),
    ("parameter-duplicate-id", set_cell(P, 6, "parameterId", "sigma_b"), msg(r"parameterId|" + IN_P, r"sigma_b", r"unique|duplicate")),
    ("parameter-missing-column", drop_column(P, "upperBound"), msg(IN_P, r"upperBound", r"requires|missing")),
    ("parameter-is-model-species", replace(P, "sigma_a\t", "A\tlin\t0\t2\t1\t1\nsigma_a\t"), msg(r"\bA\b", r"species|model entit|not allowed")),
    # --- condition table
    ("condition-column-not-model-entity", replace(C, "\tk2\n", "\tk3\n"), msg(IN_C, r"\bk3\b", r"unknown|not an entity")),
    ("condition-value-not-number-or-parameter", set_cell(C, 3, "k2", "fast"), msg(r"\bfast\b", r"[Mm]issing parameter|neither a number")),
    # k2 set nowhere: neither by a condition nor a value in the model
    ("model-parameter-without-value", edits(drop_column(C, "k2"), replace(S, '<parameter id="k2" value="0.6" constant="true"/>', '<parameter id="k2" constant="true"/>')), msg(r"\bk2\b", r"no value|not set|missing|undefined")),
    # --- SBML model
    ("sbml-not-xml", write(S, "A -> B; k1*A\nB -> A; k2*B\n"), msg(r"model\.xml", r"could not be loaded|not XML|XML")),
    ("sbml-unknown-mathml-element", replace(S, "<times/>", "<frobnicate/>"), msg(IN_S, r"frobnicate|MathML|math")),
    ("sbml-undefined-ci", replace(S, K1_LAW, "<ci> k3 </ci>"), msg(IN_S, r"'k3'|`k3`|\bk3\b", r"not the id|undefined")),
    ("sbml-species-without-initial-value", replace(S, ' initialConcentration="0"', ""), msg(IN_S, r"\bB\b", r"initial")),
    ("sbml-algebraic-rule", edits(replace(S, "    </listOfParameters>", TOTAL), replace(S, BEFORE_REACTIONS, ALGEBRAIC + BEFORE_REACTIONS)), msg(r"model\.xml: SBML model: algebraic rules")),
    ("sbml-event-with-delay", replace(S, "  </model>", event(AT_5, f"<delay>{math('<cn> 1 </cn>')}</delay>") + "  </model>"), msg(r"model\.xml: SBML model: event `pulse`: delayed events are not supported")),
    # an equality never turns from false to true at a located time (state-triggered relations load: issue 17)
    ("sbml-equality-trigger", replace(S, "  </model>", event("<apply><eq/><ci> A </ci><cn> 0.5 </cn></apply>") + "  </model>"), msg(r"model\.xml: SBML model: event `pulse`: trigger .*: only relations \(<, <=, >, >=\)")),
    ("sbml-delay-call", replace(S, K1_LAW, DELAY_CALL), msg(r"model\.xml", r"`delay`", r"unsupported|not supported")),
]


@pytest.fixture
def problem_copy(tmp_path):
    shutil.copytree(VALID, tmp_path / "problem")
    return tmp_path / "problem"


def test_valid_copy_loads(problem_copy):
    problem = fimflow.load_petab(problem_copy / Y)
    assert problem.parameters.ids == ("k1", "scale_a", "offset_b", "sigma_b", "sigma_a")
    assert problem.condition_ids == ("c0", "c1")


# what PEtab's linter accepts loads, with a warning (the pattern) in the log and the problem's summary
WARNED = [
    ("parameter-nominal-outside-bounds", set_cell(P, 3, "nominalValue", "50"),
     msg(IN_P, r"row 3, column nominalValue", r"`scale_a`", r"50", r"outside its bounds")),
]


@pytest.mark.parametrize("edit, pattern", [c[1:] for c in WARNED], ids=[c[0] for c in WARNED])
def test_what_petab_accepts_loads_with_a_warning(problem_copy, edit, pattern, caplog):
    edit(problem_copy)
    with caplog.at_level(logging.WARNING, logger="fimflow"):
        problem = fimflow.load_petab(problem_copy / Y)
    (warning,) = problem.warnings
    assert re.search(pattern, warning), warning
    assert warning in caplog.text and fimflow.problem_summary(problem)["warnings"] == [warning]
    assert np.isfinite(fimflow.log_likelihood(problem))  # at the nominal values, outside the bounds


@pytest.mark.parametrize("edit, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_problem_is_rejected(problem_copy, edit, pattern):
    edit(problem_copy)
    with pytest.raises(fimflow.ProblemFileError, match=pattern):
        fimflow.load_petab(problem_copy / Y)


@pytest.mark.workflow
def test_the_workflow_rejects_every_case_before_any_job(tmp_path):
    """The whole corpus as one study: every case named with its message, no job, nothing written."""
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


def test_a_missing_optional_visualization_table_is_a_warning(tmp_path, caplog):
    """PEtab's visualization tables are optional: one named in the yaml but absent loads with a
    warning naming it (before: petab's FileNotFoundError stopped the load)."""
    source = os.path.join(REPO, "tests", "data", "petab_minimal")
    for name in os.listdir(source):
        shutil.copy(os.path.join(source, name), tmp_path / name)
    spec = yaml.safe_load((tmp_path / "problem.yaml").read_text())
    spec["problems"][0]["visualization_files"] = ["visualization_specification.tsv"]
    (tmp_path / "problem.yaml").write_text(yaml.safe_dump(spec))
    reference = fimflow.log_likelihood(fimflow.load_petab(os.path.join(source, "problem.yaml")))
    with caplog.at_level(logging.WARNING, logger="fimflow.petab._import"):
        problem = fimflow.load_petab(str(tmp_path / "problem.yaml"))
    assert "visualization_specification.tsv" in caplog.text and "optional" in caplog.text
    assert fimflow.log_likelihood(problem) == reference
