"""Multistart fitting: seeded starts, recovery of true parameters, failed starts as rows."""

import numpy as np
import pytest

import fimflow
from fimflow._fit import concatenate

from helpers import fix, load, noise_free

SIGMAS = ["sigma_C", "sigma_Kp", "sigma_G"]


def test_latin_hypercube_is_seeded_and_stratified():
    problem = load("cascade")
    a = fimflow.latin_hypercube_starts(problem, 20, seed=3)
    b = fimflow.latin_hypercube_starts(problem, 20, seed=3)
    c = fimflow.latin_hypercube_starts(problem, 20, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    lb, ub = problem.parameters.bounds()
    assert np.all(a > lb) and np.all(a < ub)
    # one point in each of the 20 strata of every coordinate
    strata = np.floor((a - lb) / (ub - lb) * 20).astype(int)
    for j in range(problem.n_params):
        assert sorted(strata[:, j]) == list(range(20))


def test_recovers_true_parameters_of_the_cascade_from_noise_free_data():
    problem = noise_free(fix(load("cascade"), SIGMAS))
    truth = problem.parameters.nominal_theta()
    starts = truth + np.random.default_rng(1).uniform(-0.3, 0.3, size=(2, problem.n_params))
    objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(rtol=1e-10, atol=1e-12))
    result = fimflow.fit_multistart(problem, starts, objective=objective, options=fimflow.FitOptions(method="trf", max_iterations=500))
    best = result.best()
    assert result.status[best] == "converged"
    np.testing.assert_allclose(result.x[best], truth, atol=1e-4)


def test_quasi_newton_recovers_pk_parameters():
    problem = noise_free(load("pk_fixed_dose"))
    starts = np.array([[0.2, -1.0], [2.0, 1.0]])
    result = fimflow.fit_multistart(problem, starts, options=fimflow.FitOptions(method="lbfgsb"))
    assert set(result.status) == {"converged"}
    np.testing.assert_allclose(result.x, np.tile(problem.parameters.nominal_theta(), (2, 1)), atol=1e-4)


def test_pk_fit_recovers_known_answer_and_records_a_failed_start():
    problem = noise_free(load("pk_fixed_dose"))
    truth = problem.parameters.nominal_theta()
    starts = np.array([[0.5, 0.0], [1.5, -0.5]])
    # tiny max_steps: every solve fails, so the start is recorded as failed, not raised
    broken = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(max_steps=1))
    failed = fimflow.fit_multistart(problem, starts[:1], objective=broken)
    assert failed.status == ("failed",) and np.isnan(failed.nll[0])
    with pytest.raises(RuntimeError, match="All 1 starts failed"):
        failed.best()
    result = fimflow.fit_multistart(problem, starts, start_index=[5, 6])
    np.testing.assert_allclose(result.x, np.tile(truth, (2, 1)), atol=1e-6)
    assert list(result.start_index) == [5, 6]
    merged = concatenate([result, failed])
    assert list(merged.start_index) == [0, 5, 6]
    summary = fimflow.best_fit_summary(merged, problem)
    assert summary["n_failed"] == 1 and summary["n_within_tolerance"] == 2


def test_fit_options_are_checked():
    with pytest.raises(ValueError, match="method"):
        fimflow.FitOptions(method="bfgs")
    with pytest.raises(ValueError, match="max_iterations"):
        fimflow.FitOptions(max_iterations=0)
