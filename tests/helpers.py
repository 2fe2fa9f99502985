"""Model zoo with known answers, and small utilities shared by the tests."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import yaml

import fimflow
from fimflow import AbstractODEModel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIGHT = fimflow.SolverConfig(rtol=1e-10, atol=1e-12)


@eqx.filter_jit
def _predictions_and_jacobian(objective, theta):
    return objective.predictions(theta)[0], jax.jacfwd(lambda t: objective.predictions(t)[0])(theta)


def simulate_petab(path, theta=None, config=TIGHT):
    """A PEtab problem's simulated measurements and their Jacobian w.r.t. the estimated
    parameters (linear scale), at `theta` (default: nominal): problem, objective, y, jacobian."""
    problem = fimflow.load_petab(path)
    objective = fimflow.Objective.from_problem(problem, config)
    theta = jnp.asarray(problem.parameters.nominal_theta() if theta is None else theta)
    y, jac = _predictions_and_jacobian(objective, theta)
    return problem, objective, np.asarray(y), np.asarray(jac)


class Robertson(AbstractODEModel):
    """Robertson's stiff chemical kinetics (rate constants spanning 11 decades)."""

    parameter_names = ("k1", "k2", "k3")
    state_names = ("y1", "y2", "y3")
    observable_names = ("y1", "y3")

    def vector_field(self, t, y, theta):
        k1, k2, k3 = theta
        y1, y2, y3 = y
        return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2**2 - k3 * y2 * y3, k2 * y2**2])

    def initial_state(self, theta):
        return jnp.array([1.0, 0.0, 0.0]) + 0.0 * theta[0]

    def observables(self, t, y, theta):
        return jnp.stack([y[0], y[2]])


def load(name: str) -> fimflow.Problem:
    return fimflow.load_problem(os.path.join(REPO, "data", name, "problem.yaml"), problem_id=name)


def noise_free(problem: fimflow.Problem, config=fimflow.SolverConfig(rtol=1e-11, atol=1e-13)) -> fimflow.Problem:
    """The problem with its data replaced by the simulation at the nominal parameters."""
    return problem.with_measurements(fimflow.simulate_measurements(problem, config=config)["simulation"])


def fix(problem: fimflow.Problem, ids) -> fimflow.Problem:
    """The problem with the parameters `ids` fixed at their nominal values."""
    table = problem.parameters
    estimate = np.array([e and pid not in ids for pid, e in zip(table.ids, table.estimate)])
    return problem.with_parameters(dataclasses.replace(table, estimate=estimate))


def central_difference(fn, x, step=1e-5):
    """Jacobian of `fn` at `x` by central differences (rows: outputs, columns: inputs)."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for j in range(len(x)):
        e = np.zeros_like(x)
        e[j] = step
        columns.append((np.asarray(fn(x + e)) - np.asarray(fn(x - e))) / (2 * step))
    return np.stack(columns, axis=-1)


def stiff_linear_system(ts):
    """y' = A y with eigenvalues −0.5, −20, −3e3, −1e6 (stiffness ratio 2e6) in a skewed basis:
    (A, y0, y(ts) by `scipy.linalg.expm`)."""
    import scipy.linalg

    rng = np.random.default_rng(3)
    basis = np.eye(4) + 0.3 * rng.standard_normal((4, 4))
    matrix = basis @ np.diag([-0.5, -20.0, -3e3, -1e6]) @ np.linalg.inv(basis)
    y0 = np.array([1.0, -2.0, 0.5, 3.0])
    exact = np.stack([scipy.linalg.expm(matrix * t) @ y0 for t in np.asarray(ts)])
    return matrix, y0, exact


SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")
# one JAX compilation cache for every study of a test session: a cached program gives the same
# numbers and saves the compile time of each job of the same model
# (xdist's workers share it through the test run's id)
COMPILE_CACHE = os.path.join(
    tempfile.gettempdir(), f"fimflow-test-jax-cache-{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}"
)


def make_study(root, config: str | None = None, problems=("pk_full", "pk_fixed_dose", "petab_minimal")):
    """A study folder: the tiny test config (or `config` text) and copies of the problems' data
    (from `data/<name>`, or `tests/data/<name>` for test-only problems, at the same path)."""
    root.mkdir(parents=True, exist_ok=True)
    if config is None:
        with open(os.path.join(REPO, ".test", "config", "config.yaml")) as handle:
            config = handle.read()
    (root / "config.yaml").write_text(config + f"\ncompile_cache: {COMPILE_CACHE}\n")
    for name in problems:
        folder = os.path.join("data", name)
        if not os.path.isdir(os.path.join(REPO, folder)):
            folder = os.path.join("tests", "data", name)
        shutil.copytree(os.path.join(REPO, folder), root / folder)
    return root


def snakemake_command(directory, *args, cores: int = 2):
    return [SNAKEMAKE, "--snakefile", os.path.join(REPO, "Snakefile"), "--directory", str(directory),
            "--configfile", os.path.join(str(directory), "config.yaml"), "--cores", str(cores), *args]


def snakemake(directory, *args, timeout=900, env=None):
    """Run snakemake on a study folder; returns the CompletedProcess."""
    return subprocess.run(snakemake_command(directory, *args), capture_output=True, text=True, timeout=timeout, env=env)


def workflow_rejection(tmp_path, problems: dict[str, str]) -> dict[str, str]:
    """`snakemake -n` on a study of the given problems (id -> problem file, relative to
    `tmp_path`): asserts it stops before any job and writes nothing under results/ or logs/;
    returns each problem's part of the error message."""
    config = {"problems": {pid: {"problem": path} for pid, path in problems.items()}, "fit": {"n_starts": 2, "n_shards": 1}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run = subprocess.run(snakemake_command(tmp_path, "-n", cores=1), cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "Job stats" not in output and "rule load_problem" not in output, output[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()
    marks = list(re.finditer(r"problems\.([A-Za-z][A-Za-z0-9_]*): ", output))
    parts = {}
    for mark, following in zip(marks, marks[1:] + [None]):
        parts[mark.group(1)] = output[mark.end():following.start() if following else len(output)]
    return parts
