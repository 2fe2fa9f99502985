"""Delta-method prediction uncertainty and its eigen-direction shares."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import fimflow

from helpers import REPO, central_difference, load, noise_free

TIGHT = fimflow.SolverConfig(rtol=1e-11, atol=1e-13)


def analysed(problem):
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    theta = problem.parameters.nominal_theta()
    fim = fimflow.fisher_information(problem, theta, objective=objective).expected
    return objective, theta, fim, fimflow.eigen_analysis(fim, problem.parameter_ids)


def test_variance_and_shares_match_a_finite_difference_gradient_and_an_eigen_decomposition():
    # independent of the prediction code: Tp by fimflow.simulate with the model parameters taken
    # from the problem's tables, its gradient by central differences, I^-1 by a solve and the
    # eigenpairs by an eigen-decomposition here
    problem = load("cascade")
    objective, theta, fim, analysis = analysed(problem)
    spec = fimflow.PredictionSpec(id="g", condition="mid_dose", times=(1.0, 10.0, 30.0), state="Tp")
    values, gradient = fimflow.prediction_and_gradient(objective, theta, spec, problem)
    variance, shares, unbounded = fimflow.delta_method(gradient, analysis)
    assert analysis.rank == problem.n_params and not unbounded.any()

    folder = os.path.join(REPO, "data", "cascade")
    table = pd.read_csv(os.path.join(folder, "parameters.tsv"), sep="\t").set_index("parameterId")
    ligand = pd.read_csv(os.path.join(folder, "conditions.tsv"), sep="\t").set_index("conditionId").loc["mid_dose", "L"]
    assert set(table.loc[list(problem.parameter_ids), "parameterScale"]) == {"log10"}
    model, tp = problem.model, problem.model.state_names.index("Tp")
    solve = jax.jit(lambda q: fimflow.simulate(model, q, jnp.asarray(spec.times), TIGHT)[0][:, tp])

    def tp_of(x):
        linear = dict(zip(problem.parameter_ids, 10.0 ** np.asarray(x)))
        q = [ligand if name == "L" else linear.get(name, table.loc[name, "nominalValue"]) for name in model.parameter_names]
        return np.asarray(solve(jnp.asarray(q, dtype=jnp.float64)))

    np.testing.assert_allclose(values, tp_of(theta), rtol=1e-10)
    reference = central_difference(tp_of, theta, step=1e-5)
    np.testing.assert_allclose(gradient, reference, rtol=1e-7, atol=1e-8 * np.abs(reference).max())
    direct = np.einsum("ij,ij->i", reference, np.linalg.solve(fim, reference.T).T)
    np.testing.assert_allclose(variance, direct, rtol=1e-7)
    eigenvalues, eigenvectors = np.linalg.eigh(fim)
    order = np.argsort(eigenvalues)[::-1]
    expected_shares = (reference @ eigenvectors[:, order]) ** 2 / eigenvalues[order]
    np.testing.assert_allclose(shares / direct[:, None], expected_shares / direct[:, None], rtol=1e-7, atol=1e-9)


def test_pk_concentration_is_bounded_although_parameters_are_not():
    # C(t) depends on D/V and CL/V only: its gradient is orthogonal to the null direction
    problem = noise_free(load("pk_full"))
    objective, theta, fim, analysis = analysed(problem)
    assert analysis.rank == 2
    spec = fimflow.PredictionSpec(id="c", condition="bolus", times=(0.0, 3.0, 30.0), observable="C")
    bands, contributions = fimflow.prediction_bands(problem, theta, [spec], analysis, objective=objective)
    assert not bands["unbounded"].any() and np.all(np.isfinite(bands["std"]))
    assert np.all(bands["lower"] < bands["value"]) and np.all(bands["value"] < bands["upper"])
    # closed form, no fimflow: C = (D/V) exp(-(CL/V) t), FIM J^T J / sigma^2 of the measurement
    # times, variance by its pseudo-inverse, shares (v_k . grad C)^2 / lambda_k of its two
    # non-zero eigenpairs
    assert problem.parameter_ids == ("D", "V", "CL")
    ln10, sigma = np.log(10.0), 0.1

    def concentration_and_gradient(t):
        dose, volume, clearance = 10.0**theta
        c = dose / volume * np.exp(-clearance / volume * t)
        return c, np.stack([c * ln10, c * (-1 + clearance / volume * t) * ln10, -c * clearance / volume * t * ln10], axis=1)

    _, jac = concentration_and_gradient(problem.measurements["time"].to_numpy())
    exact = jac.T @ jac / sigma**2
    value, gradient = concentration_and_gradient(np.array(spec.times))
    np.testing.assert_allclose(bands["value"], value, rtol=1e-9)
    variance = np.einsum("ij,ij->i", gradient, gradient @ np.linalg.pinv(exact, rcond=1e-10, hermitian=True))
    np.testing.assert_allclose(bands["variance"], variance, rtol=1e-8)
    eigenvalues, eigenvectors = np.linalg.eigh(exact)
    shares = (gradient @ eigenvectors[:, [2, 1]]) ** 2 / eigenvalues[[2, 1]]  # the two largest, descending
    table = contributions.pivot(index="time", columns="direction")
    np.testing.assert_allclose(table["share"].to_numpy(), shares, rtol=1e-8)
    np.testing.assert_allclose(table["fraction"].to_numpy(), shares / variance[:, None], rtol=1e-8)


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
