"""Numerical strictness for every test: float64, rank promotion raises."""

import os

os.environ.setdefault("EQX_ON_ERROR", "nan")  # as in the workflow's jobs (before equinox is imported)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from helpers import COMPILE_CACHE  # noqa: E402
from fimflow import setup_jax  # noqa: E402

# The studies' stored traced programs (`fimflow-programs/` in the compilation cache folder,
# StableHLO compiled in this process) serve the unit tests too: a model a study job traced is not
# traced again (CI time; same numbers). JAX's cache of compiled executables is off in the test
# processes: jaxlib 0.10.2 crashed a test worker when writing one (`executable.serialize()`,
# segmentation fault: stop 35's CI, a local run at 1c5fa88) and when reading one a study job
# had written (`deserialize_executable`, Aborted: two local runs on 12-06, the same test, both
# after that worker had compiled many programs), and a crashed worker ends the
# run. The workflow's jobs, each a fresh process, keep both caches.
setup_jax(COMPILE_CACHE)
jax.config.update("jax_enable_compilation_cache", False)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the reference data beside the checkout (FIMFLOW_SHARED moves it: the test of the CI guard below)
SHARED = os.environ.get("FIMFLOW_SHARED") or os.path.join(os.path.dirname(REPO), "shared")
SHARED_PARTS = ("benchmark_models", "benchmark_collection", "reference", "petab_test_suite")


def pytest_configure(config):
    """In CI the outside references must be there: without them every reference test would skip
    and the suite pass having checked nothing against them. A user's clone still skips them."""
    missing = [part for part in SHARED_PARTS if not os.path.isdir(os.path.join(SHARED, part))]
    if os.environ.get("CI") and missing:
        raise pytest.UsageError(
            f"CI is set but the reference data are missing: {', '.join(missing)} not found in {SHARED}. "
            "CI must run the reference tests (PEtab suite, benchmark models, AMICI references): put the "
            "shared/ folder beside the checkout (or point FIMFLOW_SHARED at it)."
        )


@pytest.fixture
def rng():
    return np.random.default_rng(5678)


# Slowest modules first: with `--dist loadfile --no-loadscope-reorder` xdist hands out files in
# collection order (two to each worker at the start), so the long ones (real snakemake runs, a SLURM
# cluster, large benchmark models) start at once and the short ones fill the gaps.
SLOW_FIRST = ("test_workflow.py", "test_slurm.py", "test_faults.py", "test_benchmark_derivatives.py", "test_install.py",
              "test_readme.py", "test_petab_collection.py",
              "test_petab_benchmarks.py",
              "test_model_code.py")


SLOW_MARKERS = ("workflow", "slurm")  # real snakemake studies and clusters are slow by nature


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)

    def rank(item):
        name = os.path.basename(str(item.fspath))
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within a module is kept
