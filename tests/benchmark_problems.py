"""The PEtab benchmark problems of ../shared/benchmark_models and the pyPESTO+AMICI reference
numbers of ../shared/reference, for the tests that use them (a user's clone without ../shared
skips those tests with the reason in `SKIP`)."""

import glob
import os

import numpy as np
import pandas as pd
import pytest

import fimflow
from conftest import SHARED

BENCHMARKS = os.path.join(SHARED, "benchmark_models")
REFERENCE = os.path.join(SHARED, "reference")
NAMES = sorted(d for d in os.listdir(BENCHMARKS) if os.path.isdir(os.path.join(BENCHMARKS, d))) if os.path.isdir(BENCHMARKS) else []
SKIP = pytest.mark.skipif(not NAMES, reason=f"the benchmark problems are not at {BENCHMARKS} (a user's clone without ../shared)")


def cases(names, failing: dict) -> list:
    """Test parameters; a known failure runs and must fail (strict xfail, with its reason)."""
    names = list(names) or ["none"]
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=failing[n])) if n in failing else n for n in names]


def with_reference(kind: str) -> list[str]:
    """The problems with a reference file `<kind>_nominal_<problem>.csv` (e.g. kind "grad")."""
    return [n for n in NAMES if os.path.isfile(os.path.join(REFERENCE, f"{kind}_nominal_{n}.csv"))]


_PROBLEMS = {}


def problem(name) -> fimflow.Problem:
    if name not in _PROBLEMS:
        (path,) = glob.glob(os.path.join(BENCHMARKS, name, "*.yaml"))
        _PROBLEMS[name] = fimflow.load_petab(path)
    return _PROBLEMS[name]


def reference_gradient(p: fimflow.Problem) -> pd.DataFrame:
    """`grad_nominal_<problem>.csv` in the order of `p.parameter_ids` (columns x_nominal_scaled,
    grad_nll)."""
    table = pd.read_csv(os.path.join(REFERENCE, f"grad_nominal_{p.id}.csv")).set_index("parameter")
    return table.loc[list(p.parameter_ids)]


def reference_matrix(kind: str, p: fimflow.Problem) -> np.ndarray:
    """The reference matrix `<kind>_nominal_<problem>.csv` (kind "fim" or "hess_fd"), rows and
    columns in the order of `p.parameter_ids`."""
    ids = list(p.parameter_ids)
    table = pd.read_csv(os.path.join(REFERENCE, f"{kind}_nominal_{p.id}.csv"), index_col=0)
    return table.loc[ids, ids].to_numpy(dtype=float)
