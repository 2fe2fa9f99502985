"""Expected and observed Fisher information: finite differences, noise block, agreement, PK rank."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import fimflow
from fimflow.fisher._fisher import to_linear_scale

from helpers import REPO, central_difference, fix, load, noise_free

TIGHT = fimflow.SolverConfig(rtol=1e-11, atol=1e-13)


def test_sensitivities_match_finite_differences():
    problem = load("cascade")
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    theta = problem.parameters.nominal_theta()
    predict = jax.jit(lambda t: objective.predictions(t)[0])
    sens = np.asarray(jax.jit(jax.jacfwd(lambda t: objective.predictions(t)[0]))(jnp.asarray(theta)))
    reference = central_difference(lambda x: predict(jnp.asarray(x)), theta, step=1e-5)
    np.testing.assert_allclose(sens, reference, rtol=1e-5, atol=1e-7 * np.abs(reference).max())


def test_observed_fim_matches_finite_differences_of_gradient():
    problem = load("cascade")
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    theta = problem.parameters.nominal_theta()
    fim = fimflow.fisher_information(problem, theta, objective=objective)
    gradient = jax.jit(jax.jacfwd(objective.nll))
    reference = central_difference(lambda x: gradient(jnp.asarray(x)), theta, step=1e-4)
    reference = 0.5 * (reference + reference.T)
    np.testing.assert_allclose(fim.observed, reference, rtol=1e-4, atol=1e-6 * np.abs(reference).max())


@pytest.mark.parametrize("name", ["pk_fixed_dose", "cascade"])
def test_expected_equals_observed_at_noise_free_data(name):
    problem = noise_free(fix(load(name), ["sigma_C", "sigma_Kp", "sigma_G"]))
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    fim = fimflow.fisher_information(problem, problem.parameters.nominal_theta(), objective=objective)
    assert fim.relative_difference < 1e-8
    np.testing.assert_allclose(fim.observed, fim.expected, rtol=1e-8, atol=1e-8 * np.abs(fim.expected).max())


def test_noise_block_is_analytic():
    # one sigma per observable on log10 scale: I_ss = sum_i 2 (ln 10)^2 over its measurements
    problem = load("cascade")
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    fim = fimflow.fisher_information(problem, problem.parameters.nominal_theta(), objective=objective)
    for k, sigma in enumerate(("sigma_C", "sigma_Kp", "sigma_G")):
        i = problem.parameter_ids.index(sigma)
        n = int(np.sum(problem.observable_index == k))
        assert fim.expected[i, i] == pytest.approx(2 * n * np.log(10) ** 2, rel=1e-12)
        others = [j for j in range(problem.n_params) if j != i]
        np.testing.assert_allclose(fim.expected[i, others], 0.0, atol=1e-12)


def test_expected_fim_matches_an_unsymmetrised_sum_over_measurements():
    # I = J_mu^T diag(1/s^2) J_mu + J_s^T diag(2/s^2) J_s, built here: J_mu by AD of the simulated
    # measurements, J_s from s = 10^sigma (one log10 sigma per observable), no symmetrisation
    problem = load("cascade")
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    theta = problem.parameters.nominal_theta()
    fim = fimflow.fisher_information(problem, theta, objective=objective).expected
    j_mu = np.asarray(jax.jit(jax.jacfwd(lambda t: objective.predictions(t)[0]))(jnp.asarray(theta)))
    column = np.array([problem.parameter_ids.index(s) for s in ("sigma_C", "sigma_Kp", "sigma_G")])[problem.observable_index]
    s = 10.0 ** theta[column]
    j_s = np.zeros_like(j_mu)
    j_s[np.arange(len(s)), column] = s * np.log(10.0)
    reference = j_mu.T @ (j_mu / s[:, None] ** 2) + j_s.T @ (2.0 * j_s / s[:, None] ** 2)
    np.testing.assert_allclose(fim, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())


def test_fims_of_a_reordered_parameter_table_match_closed_forms(tmp_path):
    # pk_fixed_dose with its table rows reordered (CL, D, V): the library must follow the table.
    # C = (D/V) exp(-(CL/V) t): expected FIM J^T J / sigma^2 and observed FIM by central differences
    # of the closed-form NLL gradient (column j = d grad / d theta_j), neither symmetrised
    source = os.path.join(REPO, "data", "pk_fixed_dose")
    for name in ("problem.yaml", "measurements.tsv"):
        shutil.copy(os.path.join(source, name), tmp_path / name)
    table = pd.read_csv(os.path.join(source, "parameters.tsv"), sep="\t").set_index("parameterId")
    table.loc[["CL", "D", "V"]].reset_index().to_csv(tmp_path / "parameters.tsv", sep="\t", index=False)
    problem = fimflow.load_problem(str(tmp_path / "problem.yaml"), problem_id="pk_fixed_dose")
    ids = problem.parameter_ids
    assert ids == ("CL", "V")
    theta = problem.parameters.nominal_theta()
    fim = fimflow.fisher_information(problem, theta, config=TIGHT)
    t, y = problem.measurements["time"].to_numpy(), problem.measurements["measurement"].to_numpy()
    dose, sigma, ln10 = table.loc["D", "nominalValue"], 0.1, np.log(10.0)

    def concentration_and_jacobian(x):
        volume, clearance = 10.0 ** x[ids.index("V")], 10.0 ** x[ids.index("CL")]
        c = dose / volume * np.exp(-clearance / volume * t)
        jac = np.zeros((len(t), len(x)))
        jac[:, ids.index("V")] = c * (-1 + clearance / volume * t) * ln10
        jac[:, ids.index("CL")] = -c * clearance / volume * t * ln10
        return c, jac

    def nll_gradient(x):
        c, jac = concentration_and_jacobian(x)
        return jac.T @ ((c - y) / sigma**2)

    _, jac = concentration_and_jacobian(theta)
    np.testing.assert_allclose(fim.expected, jac.T @ jac / sigma**2, rtol=1e-8)
    observed = central_difference(nll_gradient, theta, step=1e-5)
    np.testing.assert_allclose(fim.observed, observed, rtol=1e-7)
    assert np.abs(fim.observed - fim.expected).max() > 1e-3 * np.abs(fim.expected).max()  # noisy data: they differ


def test_pk_full_is_rank_two_with_scaling_null_direction():
    problem = noise_free(load("pk_full"))
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    fim = fimflow.fisher_information(problem, problem.parameters.nominal_theta(), objective=objective)
    for matrix in (fim.expected, fim.observed):
        analysis = fimflow.eigen_analysis(matrix, problem.parameter_ids)
        assert analysis.rank == 2
        cosine = abs(analysis.null_directions[:, 0] @ (np.ones(3) / np.sqrt(3)))
        assert cosine > 0.999
        verdicts = fimflow.parameter_verdicts(analysis, matrix, *problem.parameters.bounds())
        assert [v["verdict"] for v in verdicts] == ["not identifiable"] * 3


def test_pk_fixed_dose_is_full_rank_and_identifiable():
    problem = noise_free(load("pk_fixed_dose"))
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    fim = fimflow.fisher_information(problem, problem.parameters.nominal_theta(), objective=objective)
    analysis = fimflow.eigen_analysis(fim.expected, problem.parameter_ids)
    assert analysis.rank == 2
    verdicts = fimflow.parameter_verdicts(analysis, fim.expected, *problem.parameters.bounds())
    assert [v["verdict"] for v in verdicts] == ["identifiable"] * 2
    assert all(np.isfinite(v["standard_error"]) and v["standard_error"] < 0.05 for v in verdicts)


def test_pk_fim_matches_closed_form():
    # C = (D/V) exp(-(CL/V) t) with D fixed: dC/dlog10 V and dC/dlog10 CL in closed form
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem, TIGHT)
    theta = problem.parameters.nominal_theta()
    dose, (volume, clearance) = 100.0, 10.0**theta
    t = problem.measurements["time"].to_numpy()
    c = dose / volume * np.exp(-clearance / volume * t)
    ln10 = np.log(10.0)
    d_v = c * (-1 + clearance / volume * t) * ln10
    d_cl = c * (-clearance / volume * t) * ln10
    jac = np.stack([d_v, d_cl], axis=1)
    exact = jac.T @ jac / 0.1**2
    fim = fimflow.fisher_information(problem, theta, objective=objective).expected
    np.testing.assert_allclose(fim, exact, rtol=1e-8)
    linear = to_linear_scale(fim, 10.0**theta, ("log10", "log10"))
    np.testing.assert_allclose(linear, (jac / (np.array([volume, clearance]) * ln10)).T @ (jac / (np.array([volume, clearance]) * ln10)) / 0.01, rtol=1e-8)
