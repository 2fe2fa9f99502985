"""Negative log-likelihood against a direct evaluation, and its gradient against finite differences."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import fimflow

from helpers import central_difference, load


def manual_nll(problem, theta):
    table = fimflow.simulate_measurements(problem, theta)
    objective = fimflow.Objective.from_problem(problem)
    sigma = np.asarray(objective.noise(jnp.asarray(theta)))
    return -np.sum(stats.norm.logpdf(table["measurement"], loc=table["simulation"], scale=sigma))


@pytest.mark.parametrize("name", ["pk_fixed_dose", "cascade"])
def test_nll_matches_scipy_normal_density(name):
    problem = load(name)
    theta = problem.parameters.nominal_theta() + 0.05
    assert -fimflow.log_likelihood(problem, theta) == pytest.approx(manual_nll(problem, theta), rel=1e-12)


def test_laplace_and_log10_terms():
    problem = load("pk_fixed_dose")
    n = problem.n_measurements
    laplace = dataclasses.replace(problem, distribution=np.ones(n, dtype=int), transformation=np.full(n, 2))
    theta = problem.parameters.nominal_theta()
    sim = fimflow.simulate_measurements(problem, theta)
    m, y, b = sim["measurement"].to_numpy(), sim["simulation"].to_numpy(), 0.1
    # Laplace on log10 data: density of m = Laplace(log10 m; log10 y, b) / (m ln 10)
    expected = np.sum(np.abs(np.log10(y) - np.log10(m)) / b + np.log(2 * b) + np.log(m * np.log(10)))
    assert -fimflow.log_likelihood(laplace, theta) == pytest.approx(expected, rel=1e-12)


def test_least_squares_residuals_equal_nll_up_to_constant():
    problem = load("cascade")
    objective = fimflow.Objective.from_problem(problem)
    theta0 = jnp.asarray(problem.parameters.nominal_theta())
    both = eqx.filter_jit(lambda o, t: (o.residuals(t), o.nll(t)))
    offset = None
    for shift in (0.0, 0.1, -0.2):
        residuals, nll = both(objective, theta0 + shift)
        difference = 0.5 * float(jnp.sum(residuals**2)) - float(nll)
        offset = difference if offset is None else offset
        assert difference == pytest.approx(offset, abs=1e-8)


def test_nll_gradient_matches_finite_differences():
    problem = load("cascade")
    objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(rtol=1e-11, atol=1e-13))
    theta = problem.parameters.nominal_theta() + 0.03
    gradient = np.asarray(eqx.filter_jit(lambda o, t: jax.jacfwd(o.nll)(t))(objective, jnp.asarray(theta)))
    nll = eqx.filter_jit(lambda o, t: o.nll(t))
    reference = central_difference(lambda x: nll(objective, jnp.asarray(x)), theta, step=1e-5)
    np.testing.assert_allclose(gradient, reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())


def test_x_of_wrong_length_is_refused():
    problem = load("pk_fixed_dose")
    with pytest.raises(ValueError, match="2 estimated parameters"):
        fimflow.log_likelihood(problem, [1.0, 2.0, 3.0])
