"""A Python model is code: an edit of a user's model (outside fimflow, on PYTHONPATH) changes the
key of every stored traced program and re-runs the workflow's jobs of that problem; a touch does
neither. The numbers after an edit equal a direct library call that uses no store."""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import fimflow
from fimflow.results import _files as _io
from fimflow.simulate import _programs as _programs
from fimflow.fisher._fisher import expected_fisher_information
from fimflow.provenance import model_fingerprint, source_fingerprint
from helpers import REPO, make_study, snakemake

MODEL = '''"""A one-compartment PK model kept outside fimflow (a user's package)."""

import jax.numpy as jnp

import fimflow
from .rates import elimination


class PK(fimflow.AbstractODEModel):
    parameter_names = ("D", "V", "CL")
    state_names = ("C",)
    observable_names = ("C",)

    def vector_field(self, t, y, theta):
        _, volume, clearance = theta
        return -elimination(clearance, volume) * y

    def initial_state(self, theta):
        dose, volume, _ = theta
        return jnp.stack([dose / volume])

    def observables(self, t, y, theta):
        return y
'''
RATES = '''def elimination(clearance, volume):
    return clearance / volume
'''
# the edit: a saturating elimination term, in the vector field (a different, longer text: Python's
# bytecode cache checks the source's size and mtime)
EDITED_VECTOR_FIELD = "-elimination(clearance, volume) * y / (1.0 + 0.5 * y)"


def write_package(root, name):
    """`root/name/` = a model module and a helper module of the same top-level package."""
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(MODEL)
    (package / "rates.py").write_text(RATES)
    return package


def edit_vector_field(package):
    path = package / "model.py"
    path.write_text(path.read_text().replace("-elimination(clearance, volume) * y", EDITED_VECTOR_FIELD))


def import_fresh(name, root, module="model"):
    """Import `name.module` (`name` alone: `module=None`) again from its (edited) source, as a new
    process would."""
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    importlib.invalidate_caches()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"{name}.{module}" if module else name)


def test_source_fingerprint_follows_the_package_source_not_its_timestamps(tmp_path):
    package = write_package(tmp_path, "userpk_fingerprint")
    import_fresh("userpk_fingerprint", tmp_path)
    first = source_fingerprint("userpk_fingerprint.model")
    assert first == source_fingerprint("userpk_fingerprint")  # the whole top-level package
    os.utime(package / "model.py", (1, 1))  # a touch (any new time stamp): same source
    assert source_fingerprint("userpk_fingerprint.model") == first
    (package / "rates.py").write_text(RATES.replace("clearance / volume", "clearance / volume / 2"))
    helper_edited = source_fingerprint("userpk_fingerprint.model")  # a helper module beside the model
    assert helper_edited != first
    (package / "notes.py").write_text("# a new module of the package\n")
    assert source_fingerprint("userpk_fingerprint.model") not in (first, helper_edited)


def test_a_single_module_model_is_keyed_by_its_own_file(tmp_path):
    (tmp_path / "lonemodel_fp.py").write_text(MODEL.replace("from .rates import elimination", "elimination = lambda c, v: c / v"))
    (tmp_path / "unrelated_fp.py").write_text("x = 1\n")
    module = import_fresh("lonemodel_fp", tmp_path, module=None)
    first = model_fingerprint(module.PK())
    (tmp_path / "unrelated_fp.py").write_text("x = 2\n")  # another file of the folder: not the model
    assert model_fingerprint(module.PK()) == first
    (tmp_path / "lonemodel_fp.py").write_text((tmp_path / "lonemodel_fp.py").read_text() + "\n# edited\n")
    assert model_fingerprint(module.PK()) != first


def test_fimflow_and_sbml_models_are_covered_by_the_library_fingerprint():
    problem = fimflow.load_problem(os.path.join(REPO, "data/pk_fixed_dose/problem.yaml"))
    assert model_fingerprint(problem.model) is None
    petab = fimflow.load_problem(os.path.join(REPO, "tests/data/petab_minimal/problem.yaml"))
    assert model_fingerprint(petab.model) is None


def user_problem(tmp_path, name):
    """pk_fixed_dose's tables with the model `name.model:PK` (a package under tmp_path)."""
    data = tmp_path / "problem"
    data.mkdir()
    for table in ("parameters.tsv", "measurements.tsv"):
        shutil.copyfile(os.path.join(REPO, "data/pk_fixed_dose", table), data / table)
    spec = {"format": "fimflow-python-1", "model": f"{name}.model:PK", "parameters": "parameters.tsv",
            "measurements": "measurements.tsv"}
    (data / "problem.yaml").write_text(yaml.safe_dump(spec))
    return data / "problem.yaml"


def test_an_edited_model_gets_a_new_program_from_the_store(tmp_path, monkeypatch):
    """The stored FIM program of the edited model is not the old one: it equals a direct call."""
    monkeypatch.setattr(_programs, "_store", lambda: str(tmp_path / "store"))
    package = write_package(tmp_path, "userpk_store")
    import_fresh("userpk_store", tmp_path)
    path = user_problem(tmp_path, "userpk_store")
    problem = fimflow.load_problem(path)
    x = problem.parameters.nominal_theta()
    before = np.asarray(_programs.stored_call(expected_fisher_information, fimflow.Objective.from_problem(problem), x))
    assert len(list((tmp_path / "store").glob("*.jaxexport"))) == 1

    edit_vector_field(package)
    import_fresh("userpk_store", tmp_path)
    problem = fimflow.load_problem(path)
    objective = fimflow.Objective.from_problem(problem)
    after = np.asarray(_programs.stored_call(expected_fisher_information, objective, x))
    direct = np.asarray(expected_fisher_information(objective, x))  # traced here, no store
    np.testing.assert_allclose(after, direct, rtol=1e-12)
    assert not np.allclose(after, before, rtol=1e-3)
    assert len(list((tmp_path / "store").glob("*.jaxexport"))) == 2  # a new key, a new program


def test_a_model_without_a_source_file_is_never_stored(tmp_path, monkeypatch):
    """A class defined in a notebook (no file to hash): the store is skipped, never trusted."""
    monkeypatch.setattr(_programs, "_store", lambda: str(tmp_path / "store"))
    write_package(tmp_path, "userpk_nosource")
    module = import_fresh("userpk_nosource", tmp_path)
    problem = fimflow.load_problem(user_problem(tmp_path, "userpk_nosource"))
    monkeypatch.setattr(module, "__file__", None)
    monkeypatch.setattr(module, "__spec__", None)
    package = sys.modules["userpk_nosource"]
    monkeypatch.setattr(package, "__path__", [])
    monkeypatch.setattr(package, "__file__", None)
    objective = fimflow.Objective.from_problem(problem)
    fisher = _programs.stored_call(expected_fisher_information, objective, problem.parameters.nominal_theta())
    assert np.all(np.isfinite(fisher))
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").glob("*.jaxexport"))


# ---------------------------------------------------------------- the workflow


def ran_jobs(output: str) -> set[str]:
    """Rules of the jobs a snakemake run started."""
    return set(re.findall(r"^(?:local)?rule (\w+):", output, flags=re.MULTILINE))


@pytest.mark.workflow
def test_workflow_reruns_a_problem_whose_model_code_was_edited(tmp_path):
    models = tmp_path / "models"
    package = write_package(models, "userpk_study")
    config = ("problems:\n  user_pk:\n    problem: data/user_pk/problem.yaml\n    analyses: []\n"
              "fit:\n  n_starts: 2\n  n_shards: 1\n  seed: 1\n")
    root = make_study(tmp_path / "study", config=config, problems=())
    (root / "data").mkdir()
    user_problem(root / "data", "userpk_study").parent.rename(root / "data" / "user_pk")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(models), os.environ.get("PYTHONPATH", "")]))

    first = snakemake(root, timeout=1200, env=env)
    assert first.returncode == 0, first.stderr[-5000:]
    fim_path = root / "results/user_pk/fisher/expected.tsv"
    before = _io.read_matrix(fim_path)[0]
    summary = json.loads((root / "results/user_pk/problem/summary.json").read_text())
    assert summary["model"] == "userpk_study.model:PK" and summary["model_code"]

    os.utime(package / "model.py")  # a touch: nothing to do
    touched = snakemake(root, "--dry-run", env=env)
    assert "Nothing to be done" in touched.stdout + touched.stderr, touched.stdout[-3000:]

    edit_vector_field(package)
    second = snakemake(root, timeout=1200, env=env)
    assert second.returncode == 0, second.stderr[-5000:]
    output = second.stdout + second.stderr
    assert {"load_problem", "fit_multistart", "fisher_information", "predict"} <= ran_jobs(output), output[-3000:]
    assert "Params have changed" in output  # snakemake's log line saying why
    after = _io.read_matrix(fim_path)[0]
    assert not np.allclose(after, before, rtol=1e-3)
    assert json.loads((root / "results/user_pk/problem/summary.json").read_text())["model_code"] != summary["model_code"]
    assert "tracing" in (root / "logs/fisher_information/user_pk.log").read_text()  # the store missed

    third = snakemake(root, env=env)
    assert third.returncode == 0 and "Nothing to be done" in third.stdout + third.stderr

    # a direct library call in a fresh process, no store, at the workflow's best fit
    code = ("import sys, json, numpy as np, fimflow\n"
            "from fimflow.fisher._fisher import expected_fisher_information\n"
            "p = fimflow.load_problem(sys.argv[1])\n"
            "x = np.array(json.load(open(sys.argv[2]))['x'])\n"
            "print(json.dumps(np.asarray(expected_fisher_information(fimflow.Objective.from_problem(p), x)).tolist()))\n")
    direct = subprocess.run([sys.executable, "-c", code, str(root / "data/user_pk/problem.yaml"),
                             str(root / "results/user_pk/fit/best.json")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert direct.returncode == 0, direct.stderr[-3000:]
    np.testing.assert_allclose(after, np.array(json.loads(direct.stdout)), rtol=1e-12)
