"""Multistart fitting: seeded starts, recovery of true parameters, failed starts as rows."""

import dataclasses
import os
import shutil

import numpy as np
import pytest

import fimflow
from fimflow.fit._multistart import concatenate

from helpers import REPO, fix, load, noise_free

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


def test_least_squares_refuses_what_it_cannot_solve():
    """`trf` minimises a sum of squares: Laplace noise or priors are refused with the reason and
    the fix (it used to switch to L-BFGS-B silently); normal noise without priors is accepted."""
    problem = load("pk_fixed_dose")
    trf = fimflow.FitOptions(method="trf")
    fimflow.check_fit_options(problem, trf)
    laplace = dataclasses.replace(problem, distribution=np.ones_like(problem.distribution))
    with pytest.raises(ValueError, match=r"'trf' is least squares .*non-normal noise.*Use method 'trust_fim'"):
        fimflow.fit_multistart(laplace, problem.parameters.nominal_theta()[None], options=trf)
    fimflow.check_fit_options(laplace, fimflow.FitOptions(method="lbfgsb"))


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
    best = fimflow.best_fit(merged, problem)
    assert best.n_failed == 1 and best.n_within_tolerance == 2 and best.start in (5, 6)


@pytest.mark.parametrize("method", ["trust_fim", "lbfgsb"])
def test_a_spent_time_budget_keeps_the_lowest_point_evaluated(method):
    problem = noise_free(load("pk_fixed_dose"))
    starts = np.array([[0.5, 0.0], [1.5, -0.5]])
    objective = fimflow.Objective.from_problem(problem)
    # a budget spent before the first step: each start ends at its start point, its NLL recorded
    spent = fimflow.FitOptions(method=method, max_time_s=1e-9)
    result = fimflow.fit_multistart(problem, starts, objective=objective, options=spent)
    assert result.status == ("max_time", "max_time")
    assert list(result.n_iterations) == [1, 1]  # evaluations: the start point only
    np.testing.assert_array_equal(result.x, starts)
    start_nll = [float(objective.nll(np.asarray(x))) for x in starts]
    np.testing.assert_allclose(result.nll, start_nll, rtol=1e-12)
    assert all("Time budget of 1e-09 s spent" in m for m in result.message)
    # a budget that is not reached changes nothing
    free = fimflow.fit_multistart(problem, starts, objective=objective, options=fimflow.FitOptions(method=method))
    ample = fimflow.fit_multistart(problem, starts, objective=objective,
                                   options=fimflow.FitOptions(method=method, max_time_s=3600.0))
    np.testing.assert_array_equal(ample.x, free.x)
    assert ample.status == free.status


def test_fit_options_are_checked():
    with pytest.raises(ValueError, match="method"):
        fimflow.FitOptions(method="bfgs")
    with pytest.raises(ValueError, match="max_iterations"):
        fimflow.FitOptions(max_iterations=0)
    with pytest.raises(ValueError, match="max_time_s"):
        fimflow.FitOptions(max_time_s=0.0)


def _minimal_petab_variant(tmp_path, laplace_and_prior: bool) -> fimflow.Problem:
    source = os.path.join(REPO, "tests", "data", "petab_minimal")
    target = tmp_path / ("variant" if laplace_and_prior else "plain")
    shutil.copytree(source, target)
    if laplace_and_prior:
        observables = (target / "observables.tsv").read_text().replace("sigma_b\tnormal", "sigma_b\tlaplace")
        (target / "observables.tsv").write_text(observables)
        lines = (target / "parameters.tsv").read_text().splitlines()
        lines[0] += "\tobjectivePriorType\tobjectivePriorParameters"
        lines[1:] = [line + ("\tparameterScaleNormal\t0;0.5" if line.startswith("k1") else "\t\t") for line in lines[1:]]
        (target / "parameters.tsv").write_text("\n".join(lines) + "\n")
    return fimflow.load_problem(target / "problem.yaml")


@pytest.mark.parametrize("laplace_and_prior", [False, True], ids=["normal_estimated_noise", "laplace_and_prior"])
def test_fisher_trust_region_reaches_the_quasi_newton_optimum(tmp_path, laplace_and_prior):
    """The default optimiser (trust region with the expected FIM and its noise block, a secant
    correction near the optimum) reaches the optimum L-BFGS-B finds at tight tolerances, with
    estimated noise, Laplace noise and a prior."""
    problem = _minimal_petab_variant(tmp_path, laplace_and_prior)
    starts = fimflow.latin_hypercube_starts(problem, 3, seed=11)
    fisher = fimflow.fit_multistart(problem, starts, options=fimflow.FitOptions(method="trust_fim"))
    quasi = fimflow.fit_multistart(problem, starts, options=fimflow.FitOptions(method="lbfgsb", ftol=1e-14, gtol=1e-9))
    assert set(fisher.status) == {"converged"}
    assert fisher.nll[fisher.best()] <= quasi.nll[quasi.best()] + 1e-7
    np.testing.assert_allclose(fisher.x[fisher.best()], quasi.x[quasi.best()], atol=2e-3)


def _linear_problem(tmp_path):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from test_validate import write_problem

    return write_problem(tmp_path / "linear", 0.3)


@pytest.mark.parametrize("method", ["trust_fim", "lbfgsb", "trf"])
def test_each_start_fits_its_own_data_and_equal_bounds_hold_a_parameter(tmp_path, method):
    """Refits of other data through one program (`values=`) against least squares in closed form
    (y = a + b t + c t^2 with known sigma), free and with b held by equal bounds."""
    from test_validate import TIMES

    problem = _linear_problem(tmp_path)
    design = np.stack([np.ones_like(TIMES), TIMES, TIMES**2], axis=1)
    rng = np.random.default_rng(4)
    values = design @ np.array([2.0, 0.5, 0.1]) + 0.3 * rng.standard_normal((3, TIMES.size))
    options = fimflow.FitOptions(method=method, max_iterations=200)
    starts = np.tile([1.0, 0.0, 0.0], (3, 1))
    result = fimflow.fit_multistart(problem, starts, values=values, options=options)
    exact = np.linalg.lstsq(design, values.T, rcond=None)[0].T
    np.testing.assert_allclose(result.x, exact, rtol=1e-6, atol=1e-7)
    if method == "trf":
        return  # least squares needs lower < upper
    lb, ub = problem.parameters.bounds()
    lb[1] = ub[1] = 0.7
    held = fimflow.fit_multistart(problem, np.tile([1.0, 0.7, 0.0], (3, 1)), values=values, options=options,
                                  bounds=(lb, ub))
    free = design[:, [0, 2]]
    constrained = np.linalg.lstsq(free, (values - 0.7 * TIMES).T, rcond=None)[0].T
    np.testing.assert_allclose(held.x[:, 1], 0.7, rtol=0, atol=0)
    np.testing.assert_allclose(held.x[:, [0, 2]], constrained, rtol=1e-6, atol=1e-7)


def test_values_of_the_wrong_shape_are_refused(tmp_path):
    problem = _linear_problem(tmp_path)
    with pytest.raises(ValueError, match=r"`values` must be shaped \(n_starts, n_measurements\) = \(2, 7\)"):
        fimflow.fit_multistart(problem, np.zeros((2, 3)), values=np.zeros((2, 6)))
