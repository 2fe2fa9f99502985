"""`fimflow.workflow`: every setting of the config schema reaches an option object; the job
preamble; the best-fit hand-off between rules."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import fimflow
from fimflow import results
from fimflow.workflow import StudyOptions, job_environment, options_from_config, start_job
from helpers import REPO, load

SCHEMA = os.path.join(REPO, "workflow", "schemas", "config.schema.yaml")
# read by the Snakefile itself, not by a script: how the starts are cut into jobs, which FIM file
# the identifiability rule takes
LAYOUT_ONLY = {("fit", "n_shards"), ("identifiability", "fim")}


def schema_sections() -> dict[str, dict]:
    with open(SCHEMA) as handle:
        schema = yaml.safe_load(handle)
    return {name: spec["properties"] for name, spec in schema["properties"].items()
            if spec.get("type") == "object" and "properties" in spec and name != "problems"}


def defaults() -> dict:
    return {section: {key: spec.get("default") for key, spec in keys.items()}
            for section, keys in schema_sections().items()}


def another_value(spec: dict, value):
    if "enum" in spec:
        return next(v for v in spec["enum"] if v != value)
    if spec.get("type") == "boolean":
        return not value
    if value is None:
        return 1.5
    if spec.get("type") == "integer":
        return value + 3
    return value * 0.5


def test_every_setting_of_the_schema_reaches_the_options():
    base = defaults()
    reference = options_from_config(base)
    sections = schema_sections()
    checked = 0
    for section, keys in sections.items():
        for key, spec in keys.items():
            if (section, key) in LAYOUT_ONLY:
                continue
            changed = {name: dict(values) for name, values in base.items()}
            changed[section][key] = another_value(spec, base[section][key])
            assert options_from_config(changed) != reference, f"{section}.{key} changes no option"
            checked += 1
    assert checked >= 25


def test_config_values_land_where_they_belong():
    config = defaults()
    config["fit"].update(method="lbfgsb", max_iterations=7, n_starts=9, seed=4, tolerance=0.3)
    config["design"].update(n_samples=0)
    config["identifiability"].update(participation=0.2)
    config["prediction"].update(level=0.9, profile_max_range=10.0)
    options = options_from_config(config, threads=1)
    assert isinstance(options.fit.optimiser, fimflow.LBFGSB) and options.fit.max_iterations == 7
    assert options.fit.threads == 1 and (options.n_starts, options.seed, options.tolerance) == (9, 4, 0.3)
    assert options.design.n_samples is None  # 0 in the config: as many as the problem has measurements
    assert options.structural.participation == 0.2 and options.participation == 0.2
    assert options.prediction_profiles.level == 0.9 and options.prediction_profiles.max_range == 10.0
    assert options.level == 0.9
    # a section that is absent keeps the library's default
    assert options_from_config({}) == StudyOptions()
    with pytest.raises(ValueError, match="trust_fim"):
        options_from_config({"fit": {"method": "newton"}})


def test_the_schema_defaults_are_the_library_defaults():
    """A study run without a setting and a notebook call without it agree."""
    options = options_from_config(defaults())
    plain = StudyOptions()
    for name in ("solver", "fit", "n_starts", "seed", "tolerance", "rank_tolerance", "participation", "profiles",
                 "structural", "design", "prediction_profiles", "level", "profile_points"):
        assert getattr(options, name) == getattr(plain, name), name


def test_start_job_logs_to_the_file_and_warns_when_programs_cannot_be_cached(tmp_path):
    """In a fresh process, as a job: logging and stderr go to the log file, float64 is on, the
    compilation cache is set, and a missing `EQX_ON_ERROR=nan` is named."""
    code = ("import sys, jax, numpy as np\n"
            "from fimflow.workflow import start_job\n"
            "log = start_job(sys.argv[1], sys.argv[2])\n"
            "log.info('hello from the job, %s', jax.numpy.zeros(1).dtype)\n"
            "print('to stderr', file=sys.stderr)\n"
            "print(jax.config.jax_compilation_cache_dir)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "EQX_"))}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "logs" / "job.log"), str(tmp_path / "cache")],
                         capture_output=True, text=True, env=dict(env, EQX_ON_ERROR="raise"), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    text = (tmp_path / "logs" / "job.log").read_text()
    assert "hello from the job, float64" in text and "to stderr" in text
    assert "EQX_ON_ERROR is not 'nan'" in text
    assert run.stdout.strip() == str(tmp_path / "cache") and (tmp_path / "cache").is_dir()
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "job2.log"), str(tmp_path / "cache")],
                         capture_output=True, text=True, env=dict(env, **job_environment()), timeout=300)
    assert run.returncode == 0 and "EQX_ON_ERROR" not in (tmp_path / "job2.log").read_text()


def test_best_fit_round_trips_through_its_file(tmp_path):
    problem = load("pk_fixed_dose")
    study = fimflow.Calibration(problem)
    fit = study.fit(n_starts=2, seed=1)
    best = study.best(fit)
    path = tmp_path / "best.json"
    results.write_best_fit(path, best)
    data = json.loads(path.read_text())
    assert data["format"] == "fimflow.best/1" and data["status"] in ("converged", "max_iterations")
    back = results.read_best_fit(path)
    assert back.parameter_ids == problem.parameter_ids == tuple(data["parameter_ids"])
    np.testing.assert_array_equal(back.x, fit.x[np.nanargmin(fit.nll)])
    assert back.nll == np.nanmin(fit.nll) and back.start == fit.start_index[np.nanargmin(fit.nll)]
    np.testing.assert_allclose(back.x_linear, 10.0 ** back.x, rtol=1e-15)  # both parameters log10
    # the facade takes the record where it takes x
    assert study.log_likelihood(back) == pytest.approx(-back.nll, rel=1e-10)
    with pytest.raises(ValueError, match="estimation scale"):
        study.x(np.zeros(5))
    with pytest.raises(ValueError, match="x_linear"):
        fimflow.BestFit.from_dict({k: v for k, v in data.items() if k != "x_linear"})
