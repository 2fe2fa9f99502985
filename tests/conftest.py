"""Numerical strictness for every test: float64, rank promotion raises."""

import os

os.environ.setdefault("EQX_ON_ERROR", "nan")  # as in the workflow's jobs (before equinox is imported)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


@pytest.fixture
def rng():
    return np.random.default_rng(5678)


# Slowest modules first: with `--dist loadfile` xdist hands out files in collection order, so the
# long ones (real snakemake runs, a SLURM cluster, large benchmark models) start at once and the
# short ones fill the gaps.
SLOW_FIRST = ("test_slurm.py", "test_faults.py", "test_workflow.py", "test_petab_benchmarks.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within a module is kept
