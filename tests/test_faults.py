"""Faults: a study killed with SIGKILL resumes to the same results; failing problems stop alone."""

import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from helpers import make_study, snakemake, snakemake_command

pytestmark = pytest.mark.workflow

CONFIG = """
problems:
  pk_fixed_dose:
    problem: data/pk_fixed_dose/problem.yaml
fit:
  n_starts: 4
  n_shards: 2
  seed: 2
analyses: []
"""

RESULTS = [
    "problem/summary.json", "fit/starts_0.tsv", "fit/starts_1.tsv", "fit/multistart.tsv", "fit/best.json",
    "fisher/expected.tsv", "fisher/observed.tsv", "fisher/eigen.tsv", "fisher/summary.json",
    "identifiability/summary.tsv", "identifiability/null_directions.tsv", "sloppiness/spectrum.tsv",
    "sloppiness/eigenvectors.tsv", "prediction/bands.tsv", "prediction/contributions.tsv",
]


def result_tables(root):
    """Every TSV and JSON result of a study, by path relative to `root`, but the provenance files."""
    paths = [p for suffix in ("tsv", "json") for p in (root / "results").glob(f"**/*.{suffix}")]
    return sorted(str(p.relative_to(root)) for p in paths if "provenance" not in p.parts)


def kill_when_started(directory, log, *args):
    """Start snakemake, SIGKILL its whole process group once `log` (a job's log) exists."""
    process = subprocess.Popen(snakemake_command(directory, *args), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not os.path.exists(directory / log):
        assert process.poll() is None, "snakemake ended before the job to interrupt started"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # inside the job: imports, compilation, fitting
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_study_resumes_to_identical_results(tmp_path):
    reference = make_study(tmp_path / "reference", CONFIG, problems=("pk_fixed_dose",))
    assert snakemake(reference).returncode == 0
    study = make_study(tmp_path / "killed", CONFIG, problems=("pk_fixed_dose",))
    kill_when_started(study, "logs/fit_multistart/pk_fixed_dose_0.log")
    assert not (study / "results/pk_fixed_dose/fit/best.json").exists()
    # a killed writer can leave only a `.tmp-*` file; every file with its final name is whole
    for path in study.glob("results/**/*.tsv"):
        if not path.name.startswith(".tmp-"):
            assert len(pd.read_csv(path, sep="\t")) > 0, path
    assert snakemake(study, "--unlock").returncode == 0  # the killed run's lock, as after a power loss
    run = snakemake(study, "--rerun-incomplete")
    assert run.returncode == 0, run.stderr[-3000:]
    # now kill the Fisher information job and resume again
    kill_when_started(study, "logs/fisher_information/pk_fixed_dose.log", "--forcerun", "fisher_information")
    assert snakemake(study, "--unlock").returncode == 0  # the killed run's lock, as after a power loss
    run = snakemake(study, "--rerun-incomplete")
    assert run.returncode == 0, run.stderr[-3000:]
    # every TSV/JSON result byte for byte: no time stamps, host names or timings inside them
    names = result_tables(reference)
    assert set(f"results/pk_fixed_dose/{name}" for name in RESULTS) <= set(names)
    assert names == result_tables(study)
    for name in names:
        assert (reference / name).read_bytes() == (study / name).read_bytes(), name
    # what depends on the run is kept apart: each start's wall time, the host and the versions
    provenance = json.loads((study / "results/pk_fixed_dose/fit/provenance/starts_1.json").read_text())
    assert [s["start"] for s in provenance["starts"]] == [2, 3]
    assert all(s["time_s"] > 0 for s in provenance["starts"])
    assert provenance["environment"]["host"] and provenance["environment"]["packages"]["jax"]


def test_problem_whose_starts_all_fail_stops_alone(tmp_path):
    config = CONFIG.replace(
        "fit:", "  blowup:\n    problem: data/blowup/problem.yaml\nsolver:\n  max_steps: 2000\nfit:"
    )
    study = make_study(tmp_path, config, problems=("pk_fixed_dose",))
    blowup = study / "data" / "blowup"
    blowup.mkdir()
    (blowup / "problem.yaml").write_text(
        "format: fimflow-python-1\nmodel: blowup_model:Blowup\nparameters: parameters.tsv\nmeasurements: measurements.tsv\n")
    (blowup / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\nk\tlog10\t1\t10\t2\t1\n")
    (blowup / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\ttime\tmeasurement\tnoiseParameters\n"
        "y\tc\t2\t1.5\t0.1\ny\tc\t3\t1.7\t0.1\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    run = snakemake(study, "--keep-going", env=env)
    assert run.returncode != 0
    assert (study / "results/pk_fixed_dose/prediction/bands.png").exists()
    assert not (study / "results/blowup/fit/best.json").exists()
    table = pd.read_csv(study / "results/blowup/fit/starts_0.tsv", sep="\t")
    assert set(table["status"]) == {"failed"}
    log = (study / "logs/gather_multistart/blowup.log").read_text()
    assert "All 4 starts failed" in log and "max_steps" in log
