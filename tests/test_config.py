"""The config schema accepts the shipped configs and rejects bad ones; a dry run stops on bad data.

The dry-run tests start real `snakemake -n` processes (about 5 s each), three in all.
"""

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

import fimflow

from helpers import workflow_rejection

fimflow.enable_float64()

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"


def _config_files() -> list[Path]:
    """YAML configs under config/ and .test/ (profiles and problem files left out)."""
    files = []
    for top in (ROOT / "config", ROOT / ".test"):
        if not top.is_dir():
            continue
        for path in sorted([*top.rglob("*.yaml"), *top.rglob("*.yml")]):
            parts = path.relative_to(top).parts
            if any("profile" in part for part in parts[:-1]):
                continue
            if top.name == ".test" and "config" not in parts[:-1] and not path.name.startswith("config"):
                continue  # e.g. problem.yaml of test data
            files.append(path)
    return files


CONFIG_FILES = _config_files()


def _base_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


# ---------------------------------------------------------------- (a) shipped configs


def test_config_files_found():
    assert ROOT / "config" / "config.yaml" in CONFIG_FILES


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[str(p.relative_to(ROOT)) for p in CONFIG_FILES])
def test_shipped_config_is_valid(path):
    config = yaml.safe_load(path.read_text())
    validate(config, SCHEMA)
    # defaults are filled in, as the workflow relies on them
    assert config["fit"]["n_shards"] >= 1 and config["identifiability"]["fim"] in ("expected", "observed")


def test_default_config_problems_load_and_predictions_check():
    """What the workflow's start-up check does, for the shipped study (run from the repo root)."""
    config = _base_config()
    validate(config, SCHEMA)
    for problem_id, spec in config["problems"].items():
        problem = fimflow.load_problem(ROOT / spec["problem"], problem_id=problem_id)
        assert problem.id == problem_id
        for prediction in spec.get("predictions", []):
            fimflow.check_prediction(problem, fimflow.PredictionSpec(**prediction))


# ---------------------------------------------------------------- (b) schema rejects bad configs


def _unknown_top_level(c):
    c["fitting"] = {"n_starts": 3}


def _unknown_fit_key(c):
    c["fit"]["n_start"] = 3


def _zero_starts(c):
    c["fit"]["n_starts"] = 0


def _zero_rtol(c):
    c["solver"]["rtol"] = 0


def _bad_method(c):
    c["fit"]["method"] = "bfgs"


def _problem_without_problem(c):
    del c["problems"]["pk_full"]["problem"]


def _prediction_with_observable_and_state(c):
    c["problems"]["cascade"]["predictions"][1]["state"] = "G"


def _no_problems(c):
    c["problems"] = {}


def _bad_problem_id(c):
    c["problems"]["1st"] = {"problem": "data/pk_full/problem.yaml"}


def _negative_prediction_time(c):
    c["problems"]["pk_full"]["predictions"][0]["times"] = [0, -1]


def _problem_analysis_unknown(c):
    c["problems"]["pk_full"]["analyses"] = ["profile"]


def _level_one(c):
    c["prediction"] = {"level": 1}


def _validation_one_dataset(c):
    c["problems"]["pk_full"]["validation"] = {"n_datasets": 1}


def _validation_unknown_key(c):
    c["validation"] = {"n_dataset": 100}


BAD_CONFIGS = [
    ("unknown_top_level_key", _unknown_top_level, ["'fitting' was unexpected"]),
    ("unknown_fit_key", _unknown_fit_key, ["'n_start' was unexpected", "['fit']"]),
    ("fit_n_starts_zero", _zero_starts, ["0 is less than the minimum of 1", "n_starts"]),
    ("solver_rtol_zero", _zero_rtol, ["0 is less than or equal to the minimum of 0", "rtol"]),
    ("fit_method_bfgs", _bad_method, ["'bfgs' is not one of ['trust_fim', 'lbfgsb', 'trf']", "method"]),
    ("problem_without_problem", _problem_without_problem, ["'problem' is a required property", "pk_full"]),
    ("prediction_observable_and_state", _prediction_with_observable_and_state,
     ["'observable': 'G_obs'", "'state': 'G'", "is valid under each of"]),
    ("no_problems", _no_problems, ["problems"]),
    ("problem_id_not_identifier", _bad_problem_id, ["'1st'"]),
    ("prediction_negative_time", _negative_prediction_time, ["-1 is less than the minimum of 0", "times"]),
    ("problem_analysis_unknown", _problem_analysis_unknown,
     ["'profile' is not one of ['profiles', 'structural', 'prediction_profiles', 'design', 'validation']", "analyses"]),
    ("prediction_level_one", _level_one, ["1 is greater than or equal to the maximum of 1", "level"]),
    ("validation_one_dataset", _validation_one_dataset, ["1 is less than the minimum of 2", "n_datasets"]),
    ("validation_unknown_key", _validation_unknown_key, ["'n_dataset' was unexpected", "validation"]),
]


@pytest.mark.parametrize("mutate, tokens", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_rejected(mutate, tokens):
    config = _base_config()
    mutate(config)
    with pytest.raises(Exception, match="Error validating config") as info:
        validate(copy.deepcopy(config), SCHEMA)
    message = str(info.value)
    for token in tokens:
        assert token in message, f"{token!r} not in\n{message}"


# ---------------------------------------------------------------- (c) dry run stops before any job


def _copy_problem(tmp_path: Path, source: str, name: str) -> Path:
    folder = tmp_path / "data" / name
    shutil.copytree(ROOT / "data" / source, folder)
    return folder


def _set_cell(path: Path, row: int, column: str, value: str) -> None:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    rows[row - 1][rows[0].index(column)] = value
    path.write_text("".join("\t".join(r) + "\n" for r in rows))


def _missing_file(tmp_path):
    return "ghost", "data/ghost/problem.yaml", ["ghost/problem.yaml", "not found"]


def _bad_bounds(tmp_path):
    folder = _copy_problem(tmp_path, "cascade", "cascade_bad")
    _set_cell(folder / "parameters.tsv", 3, "upperBound", "0.0001")  # k_off: lower 0.001
    return "cascade_bad", "data/cascade_bad/problem.yaml", ["parameters.tsv", "row 3", "lowerBound", "upperBound"]


def _unknown_observable(tmp_path):
    folder = _copy_problem(tmp_path, "pk_fixed_dose", "pk_bad")
    _set_cell(folder / "measurements.tsv", 4, "observableId", "C_plasma")
    return "pk_bad", "data/pk_bad/problem.yaml", ["measurements.tsv", "row 4", "observableId", "C_plasma"]


DRY_RUNS = [("missing_problem_file", _missing_file), ("lower_bound_not_below_upper", _bad_bounds),
            ("unknown_observable", _unknown_observable)]


@pytest.mark.workflow
@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake is not installed in .venv")
@pytest.mark.parametrize("make_bad", [d[1] for d in DRY_RUNS], ids=[d[0] for d in DRY_RUNS])
def test_dry_run_stops_on_bad_problem(tmp_path, make_bad):
    _copy_problem(tmp_path, "pk_fixed_dose", "good")
    bad_id, bad_path, tokens = make_bad(tmp_path)
    # stops before any job: nothing planned, nothing written (asserted by `workflow_rejection`)
    parts = workflow_rejection(tmp_path, {"good": "data/good/problem.yaml", bad_id: bad_path})
    assert set(parts) == {bad_id}, parts  # the good problem is not reported
    for token in tokens:
        assert token in parts[bad_id], f"{token!r} not in\n{parts[bad_id]}"
