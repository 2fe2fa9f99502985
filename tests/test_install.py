"""`pip install .` alone gives a working library, and the test suite refuses to run in CI without
the outside references."""

import os
import shutil
import subprocess
import sys

import pytest

import fimflow
from conftest import SHARED
from helpers import REPO

BOEHM = "Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml"
# the README's reference of the benchmark collection (and of ../shared/benchmark_models/README.md)
BOEHM_LLH = -138.22199693517703

USE = f"""
import sys
import fimflow  # nothing else: float64 must be on, PEtab import must work
problem = fimflow.load_petab(sys.argv[1])
llh = fimflow.log_likelihood(problem)
assert abs(llh - {BOEHM_LLH}) <= 1e-6 * abs({BOEHM_LLH}), llh
pk = fimflow.load_problem(sys.argv[2])
starts = fimflow.latin_hypercube_starts(pk, 2, seed=1)
fits = fimflow.fit_multistart(pk, starts)
best = fits.x[fits.nll.argmin()]
fim = fimflow.fisher_information(pk, best)
from fimflow import plots

plots.waterfall(fits.nll, fits.status, sys.argv[3])
print("llh", llh, "fim", fim.expected.tolist())
"""


def network() -> bool:
    """Whether pip reaches its package index (as configured on this machine)."""
    run = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "flatbuffers", "--disable-pip-version-check"],
                         capture_output=True, text=True, timeout=120)
    return run.returncode == 0


@pytest.mark.slow
def test_pip_install_alone_gives_a_working_library(tmp_path):
    """A fresh venv, `pip install . -c requirements.lock` (the lock as constraints only: what
    pyproject.toml leaves out stays out), then load_petab, log_likelihood, a fit, the FIM and a plot
    with only `import fimflow`."""
    if not os.environ.get("CI") and not network():
        pytest.skip("no package index reachable (CI always runs this test)")
    source = tmp_path / "source"  # what the package is built from, without the checkout's build state
    shutil.copytree(os.path.join(REPO, "src"), source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy(os.path.join(REPO, name), source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ".",
                              "-c", "requirements.lock"], cwd=source, capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    boehm = os.path.join(SHARED, "benchmark_models", BOEHM)
    if not os.path.isfile(boehm):
        boehm = os.path.join(REPO, "data", BOEHM)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "EQX_", "PYTHON"))}
    run = subprocess.run([python, "-c", USE, boehm, os.path.join(REPO, "data/pk_fixed_dose/problem.yaml"),
                          str(tmp_path / "waterfall.png")], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-5000:]
    assert "llh" in run.stdout and (tmp_path / "waterfall.png").stat().st_size > 0
    freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    installed = {line.split("==")[0].lower() for line in freeze.splitlines() if "==" in line}
    assert "petab" in installed and not {"snakemake", "pytest"} & installed  # extras stay out of a plain install


def test_ci_without_the_reference_data_fails_at_collection(tmp_path):
    """CI set and ../shared absent: the suite stops with a message saying so; without CI the
    reference tests skip with their reason."""
    command = [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "--collect-only", "-q",
               os.path.join(REPO, "tests", "test_petab_suite.py")]
    env = dict(os.environ, FIMFLOW_SHARED=str(tmp_path / "absent"), CI="true")
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode != 0
    assert "CI is set but the reference data are missing" in run.stdout + run.stderr
    env.pop("CI")
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]


def test_import_fimflow_switches_float64_on_and_an_explicit_off_is_named():
    """The README's notebook lines run without an enable call; JAX_ENABLE_X64=0 stops with the fix."""
    code = ("import fimflow, jax, numpy as np\n"
            "p = fimflow.load_problem('data/pk_fixed_dose/problem.yaml')\n"
            "llh = fimflow.log_likelihood(p)\n"
            "assert jax.numpy.zeros(1).dtype == np.float64\n"
            "print(repr(llh))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    in_float64 = fimflow.log_likelihood(fimflow.load_problem(os.path.join(REPO, "data/pk_fixed_dose/problem.yaml")))
    assert float(run.stdout) == pytest.approx(in_float64, rel=1e-12)  # float32 would be off by ~1e-7
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env=dict(env, JAX_ENABLE_X64="0"), timeout=300)
    assert run.returncode != 0
    assert "fimflow needs float64, but the environment sets JAX_ENABLE_X64=0" in run.stderr
    assert "fimflow.enable_float64()" in run.stderr
