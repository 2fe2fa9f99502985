"""A PEtab v2 problem through the workflow: the repeated-dosing PK example (data/pk_repeated_dose,
two bolus doses as periods) fitted, and its second-dose time designed by the `design` analysis's
candidate experiments; a bad candidate setting is refused before any job."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

import fimflow
from helpers import make_study, snakemake, snakemake_command

pytestmark = pytest.mark.workflow

TIMES = [1, 2, 4, 6, 8, 12, 16, 24]
CONFIG = {
    "problems": {"pk_repeated_dose": {"problem": "data/pk_repeated_dose/problem.yaml",
                                      "experiment_design": {"experiment": "two_doses", "settings": {"period1.start": TIMES}}}},
    "fit": {"n_starts": 4, "n_shards": 1},
    "analyses": ["design"],
}


def test_v2_problem_fits_and_ranks_its_candidate_experiments(tmp_path):
    root = make_study(tmp_path / "study", yaml.safe_dump(CONFIG), problems=("pk_repeated_dose",))
    run = snakemake(root, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    results = root / "results" / "pk_repeated_dose"
    best = json.loads((results / "fit" / "best.json").read_text())
    assert best["parameter_ids"] == ["V", "CL", "sigma_c"] and best["scales"] == ["log10"] * 3  # chosen: bounds > 0
    ranking = pd.read_csv(results / "design" / "experiments.tsv", sep="\t")
    assert sorted(ranking["period1.start"]) == TIMES and list(ranking["rank"]) == list(range(1, len(TIMES) + 1))
    # the library at the same best fit gives the same ranking (the job is thin glue)
    problem = fimflow.load_petab(root / "data" / "pk_repeated_dose" / "problem.yaml")
    expected = fimflow.rank_experiments(problem, np.array(best["x"]), "two_doses", pd.DataFrame({"period1.start": TIMES}))
    np.testing.assert_allclose(ranking["criterion"], expected["criterion"], rtol=1e-10)
    summary = json.loads((results / "design" / "experiments.json").read_text())
    assert summary["best"] == {"period1.start": expected["period1.start"].iloc[0]}
    assert (results / "design" / "experiments.png").stat().st_size > 0


def test_a_setting_the_experiment_lacks_is_refused_before_any_job(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["problems"]["pk_repeated_dose"]["experiment_design"]["settings"] = {"period3.start": [5]}
    root = make_study(tmp_path / "study", yaml.safe_dump(config), problems=("pk_repeated_dose",))
    run = subprocess.run(snakemake_command(root, "-n", cores=1), cwd=root, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "problems.pk_repeated_dose" in output and "has no period 3" in output, output[-3000:]
    assert not (root / "results").exists()
