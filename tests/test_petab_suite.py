"""The official PEtab v1 test suite (../shared/petab_test_suite/v1.0.0_sbml): chi2, llh and
simulations at the nominal parameters match each case's `_NNNN_solution.yaml`."""

import os

import numpy as np
import pandas as pd
import pytest
import yaml

import fimflow
from conftest import SHARED

SUITE = os.path.join(SHARED, "petab_test_suite", "v1.0.0_sbml")
CASES = sorted(c for c in os.listdir(SUITE) if c.isdigit()) if os.path.isdir(SUITE) else []
pytestmark = pytest.mark.skipif(not CASES, reason=f"the PEtab test suite is not at {SUITE} (a user's clone without ../shared)")


@pytest.mark.parametrize("case", CASES or ["none"])
def test_case(case):
    check_case(case, fimflow.SolverConfig())


# two conditions, or a pre-equilibration: the other way of solving a problem's conditions
BATCHED_CASES = [c for c in ("0002", "0005", "0009", "0010", "0017", "0018") if c in CASES]


@pytest.mark.parametrize("case", BATCHED_CASES or ["none"])
def test_case_with_conditions_batched(case):
    check_case(case, fimflow.SolverConfig(conditions="batched"))


def test_conditions_setting_is_checked():
    with pytest.raises(ValueError, match="`conditions` must be one of"):
        fimflow.SolverConfig(conditions="parallel")


def check_case(case, config):
    folder = os.path.join(SUITE, case)
    with open(os.path.join(folder, f"_{case}_solution.yaml")) as handle:
        solution = yaml.safe_load(handle)
    problem = fimflow.load_petab(os.path.join(folder, f"_{case}.yaml"))

    simulated = fimflow.simulate_measurements(problem, config=config)
    expected = pd.concat([pd.read_csv(os.path.join(folder, f), sep="\t") for f in solution["simulation_files"]])
    assert len(simulated) == len(expected)
    for column in ("observableId", "simulationConditionId"):
        assert list(simulated[column]) == list(expected[column])
    np.testing.assert_allclose(simulated["time"].astype(float), expected["time"].astype(float))
    np.testing.assert_allclose(simulated["simulation"], expected["simulation"], rtol=0, atol=solution["tol_simulations"])

    assert fimflow.log_likelihood(problem, config=config) == pytest.approx(solution["llh"], abs=solution["tol_llh"])
    assert fimflow.chi2(problem, config=config) == pytest.approx(solution["chi2"], abs=solution["tol_chi2"])
