"""The official PEtab v2 test suite (../shared/petab_test_suite/v2.0.0_sbml): chi2, llh and
simulations at the nominal parameters match each case's `_NNNN_solution.yaml`, all 31 cases."""

import os

import numpy as np
import pandas as pd
import pytest
import yaml

import fimflow
from conftest import SHARED
from fimflow.petab._v2 import NO_EXPERIMENT
from fimflow.problem import prior_nll

SUITE = os.path.join(SHARED, "petab_test_suite", "v2.0.0_sbml")
CASES = sorted(c for c in os.listdir(SUITE) if c.isdigit()) if os.path.isdir(SUITE) else []
pytestmark = pytest.mark.skipif(not CASES, reason=f"the PEtab v2 test suite is not at {SUITE} (a user's clone without ../shared)")

TIGHT = fimflow.SolverConfig(rtol=1e-10, atol=1e-12)
"""Every case at these tolerances. At the default (rtol 1e-8) all but 0023 match too; 0023's event
fires where the vector field switches (`p <= 500`), a switch fimflow's solver steps across rather
than locating it as a root, so the state after the event is 1500 + 1.5e-6 (rtol 1e-8 of 500): within
the case's simulation tolerance (1e-3), but with residuals of 1498 that moves its llh by 4.5e-3
(tolerance 1e-3)."""


@pytest.mark.parametrize("case", CASES or ["none"])
def test_case(case):
    folder = os.path.join(SUITE, case)
    with open(os.path.join(folder, f"_{case}_solution.yaml")) as handle:
        solution = yaml.safe_load(handle)
    problem = fimflow.load_petab(os.path.join(folder, f"_{case}.yaml"))

    simulated = fimflow.simulate_measurements(problem, config=TIGHT)
    expected = pd.concat([pd.read_csv(os.path.join(folder, f), sep="\t") for f in solution["simulation_files"]])
    assert len(simulated) == len(expected)
    assert list(simulated["observableId"]) == list(expected["observableId"])
    assert list(simulated["simulationConditionId"]) == [NO_EXPERIMENT if pd.isna(e) else e for e in expected["experimentId"]]
    np.testing.assert_allclose(simulated["time"].astype(float), expected["time"].astype(float))
    np.testing.assert_allclose(simulated["simulation"], expected["simulation"], rtol=0, atol=solution["tol_simulations"])

    assert fimflow.log_likelihood(problem, config=TIGHT) == pytest.approx(solution["llh"], abs=solution["tol_llh"])
    assert fimflow.chi2(problem, config=TIGHT) == pytest.approx(solution["chi2"], abs=solution["tol_chi2"])
    if "log_prior" in solution:
        table = problem.parameters
        theta = table.nominal_theta()
        x = table.to_linear(theta)
        est = table.estimated_index
        for k, pid in enumerate(problem.parameter_ids):
            one = slice(k, k + 1)
            log_prior = -float(prior_nll(theta[one], x[one], table.prior_codes[est][one], table.prior_parameters[est][one],
                                         table.prior_log_mass[est][one]))
            assert log_prior == pytest.approx(solution["log_prior"][pid], rel=0, abs=max(solution["tol_log_prior"], 4e-15)), pid
        objective = fimflow.Objective.from_problem(problem, TIGHT)
        posterior = -float(objective.objective(theta))
        assert posterior == pytest.approx(solution["unnorm_log_posterior"], abs=solution["tol_unnorm_log_posterior"])
