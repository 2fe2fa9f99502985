"""Delta-method prediction uncertainty and its eigen-direction shares."""

import numpy as np
import pytest

import fimflow

from helpers import load, noise_free

TIGHT = fimflow.SolverConfig(rtol=1e-11, atol=1e-13)


def analysed(problem):
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    theta = problem.parameters.nominal_theta()
    fim = fimflow.fisher_information(objective, theta, problem.parameter_ids).expected
    return objective, theta, fim, fimflow.eigen_analysis(fim, problem.parameter_ids)


def test_variance_equals_sum_of_shares_and_inverse_fim():
    problem = load("cascade")
    objective, theta, fim, analysis = analysed(problem)
    spec = fimflow.PredictionSpec(id="g", condition="mid_dose", times=(1.0, 10.0, 30.0), state="Tp")
    values, gradient = fimflow.prediction_and_gradient(objective, theta, spec, problem)
    variance, shares, unbounded = fimflow.delta_method(gradient, analysis)
    assert analysis.rank == problem.n_params and not unbounded.any()
    np.testing.assert_allclose(variance, shares.sum(axis=1), rtol=1e-12)
    direct = np.einsum("ij,ij->i", gradient, np.linalg.solve(fim, gradient.T).T)
    np.testing.assert_allclose(variance, direct, rtol=1e-6)


def test_pk_concentration_is_bounded_although_parameters_are_not():
    # C(t) depends on D/V and CL/V only: its gradient is orthogonal to the null direction
    problem = noise_free(load("pk_full"))
    objective, theta, fim, analysis = analysed(problem)
    assert analysis.rank == 2
    spec = fimflow.PredictionSpec(id="c", condition="bolus", times=(0.0, 3.0, 30.0), observable="C")
    bands, contributions = fimflow.prediction_bands(objective, theta, [spec], analysis, problem)
    assert not bands["unbounded"].any() and np.all(np.isfinite(bands["std"]))
    assert np.all(bands["lower"] < bands["value"]) and np.all(bands["value"] < bands["upper"])
    total = contributions.groupby("time")["fraction"].sum()
    np.testing.assert_allclose(total.to_numpy(), 1.0, rtol=1e-10)


def test_gradient_along_null_direction_is_unbounded():
    analysis = fimflow.eigen_analysis(np.diag([4.0, 1.0, 0.0]), ("a", "b", "c"))
    gradient = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    variance, shares, unbounded = fimflow.delta_method(gradient, analysis)
    assert list(unbounded) == [False, True]
    assert variance[0] == pytest.approx(1 / 4 + 4 / 1) and np.isinf(variance[1])


def test_prediction_spec_is_checked():
    problem = load("pk_fixed_dose")
    with pytest.raises(ValueError, match="exactly one"):
        fimflow.PredictionSpec(id="x", condition="bolus", times=(1.0,))
    with pytest.raises(ValueError, match="unknown condition"):
        fimflow.check_prediction(problem, fimflow.PredictionSpec(id="x", condition="oral", times=(1.0,), observable="C"))
    with pytest.raises(ValueError, match="not a state"):
        fimflow.check_prediction(problem, fimflow.PredictionSpec(id="x", condition="bolus", times=(1.0,), state="A"))
