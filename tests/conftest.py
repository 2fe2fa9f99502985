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
