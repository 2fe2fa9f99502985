"""Validation: the KL divergence between data distributions against closed forms, scipy's
quadrature and a Monte-Carlo log-likelihood ratio; the parametric bootstrap (simulated data,
refits, Cramér–Rao, coverage, faces, design check) against a linear-Gaussian model whose MLE is
exactly normal with covariance I^-1, scipy, and synthetic draws."""

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats

import fimflow
from fimflow.validate import (ValidationOptions, generalized_eigenvalues, identifiable_combinations,
                              realized_vs_predicted, simulate_datasets, variance_ratio_interval)

from helpers import REPO

SIGMA = 0.3
TIMES = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0])


def write_problem(folder, noise, distribution="normal", transformation="lin", sigma_row=None):
    """y = a + b t + c t^2 (tests/linear_model.py) measured at TIMES; `noise`: the noiseFormula
    (a number or a parameter id) of the observable."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [("a", "lin", -100, 100, 1.0, 1), ("b", "lin", -100, 100, 0.5, 1), ("c", "lin", -100, 100, 0.1, 1)]
    if sigma_row:
        rows.append(sigma_row)
    (folder / "problem.yaml").write_text(
        "format: fimflow-python-1\nmodel: linear_model:LinearModel\nparameters: parameters.tsv\n"
        "measurements: measurements.tsv\nobservables: observables.tsv\n")
    (folder / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
        + "".join("\t".join(str(v) for v in row) + "\n" for row in rows))
    (folder / "observables.tsv").write_text(
        "observableId\tnoiseFormula\tobservableTransformation\tnoiseDistribution\n"
        f"y\t{noise}\t{transformation}\t{distribution}\n")
    values = 2.0 + 0.5 * TIMES + 0.1 * TIMES**2
    (folder / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\ttime\tmeasurement\n"
        + "".join(f"y\tc\t{float(t)!r}\t{float(m)!r}\n" for t, m in zip(TIMES, values)))
    return fimflow.load_problem(str(folder / "problem.yaml"))


def test_kl_of_a_linear_gaussian_model_is_the_fim_quadratic_form(tmp_path):
    problem = write_problem(tmp_path / "linear", SIGMA)
    objective = fimflow.Objective.from_problem(problem)
    theta = np.array([1.0, 0.5, 0.1])
    design = np.stack([np.ones_like(TIMES), TIMES, TIMES**2], axis=1)
    fim = design.T @ design / SIGMA**2  # closed form
    for delta in (np.array([0.1, -0.05, 0.01]), np.array([2.0, 1.0, -0.3])):  # exact at any distance
        kl = fimflow.kl_divergence(objective, theta, theta + delta)
        assert kl == pytest.approx(0.5 * delta @ fim @ delta, rel=1e-10)


def test_kl_with_estimated_sigma_matches_closed_form_and_monte_carlo(tmp_path):
    problem = write_problem(tmp_path / "sigma", "sd", sigma_row=("sd", "log10", 1e-3, 1e3, SIGMA, 1))
    objective = fimflow.Objective.from_problem(problem)
    theta = np.array([1.0, 0.5, 0.1, np.log10(SIGMA)])
    other = np.array([1.2, 0.45, 0.12, np.log10(0.5)])
    mu = theta[0] + theta[1] * TIMES + theta[2] * TIMES**2
    mu2 = other[0] + other[1] * TIMES + other[2] * TIMES**2
    s, s2 = SIGMA, 0.5
    by_hand = np.sum(np.log(s2 / s) + (s**2 + (mu - mu2) ** 2) / (2 * s2**2) - 0.5)
    kl = fimflow.kl_divergence(objective, theta, other)
    assert kl == pytest.approx(by_hand, rel=1e-10)
    estimate, error = fimflow.monte_carlo_kl(objective, theta, other, 20_000, seed=3)
    assert abs(estimate - kl) <= 3.0 * error, (estimate, kl, error)


@pytest.mark.parametrize("distribution, transformation", [("laplace", "lin"), ("laplace", "log"), ("normal", "log10")])
def test_kl_per_measurement_matches_quadrature(tmp_path, distribution, transformation):
    """One measurement's KL against scipy's integral of p log(p/q) on the transformation scale,
    with noise scales that differ between the two parameter vectors (a noise parameter)."""
    problem = write_problem(tmp_path / "one", "sd", distribution, transformation,
                            sigma_row=("sd", "lin", 1e-3, 10, SIGMA, 1))
    objective = fimflow.Objective.from_problem(problem)
    theta, other = np.array([1.0, 0.5, 0.1, 0.2]), np.array([1.3, 0.4, 0.1, 0.35])
    terms = fimflow.validate.kl_terms(objective, theta, other)
    h = {"lin": lambda v: v, "log": np.log, "log10": np.log10}[transformation]
    law = scipy.stats.laplace if distribution == "laplace" else scipy.stats.norm
    for i in (0, 3, 6):
        mu, mu2 = (h(x[0] + x[1] * TIMES[i] + x[2] * TIMES[i] ** 2) for x in (theta, other))
        p, q = law(mu, theta[3]), law(mu2, other[3])
        reach = 60.0 * max(theta[3], other[3]) + abs(mu - mu2)  # the densities are below e^-60 beyond
        value, _ = scipy.integrate.quad(lambda z: p.pdf(z) * (p.logpdf(z) - q.logpdf(z)), mu - reach, mu + reach,
                                        points=sorted({mu, mu2}), epsabs=1e-13, epsrel=1e-12, limit=400)
        assert terms[i] == pytest.approx(value, rel=1e-8, abs=1e-12)
    estimate, error = fimflow.monte_carlo_kl(objective, theta, other, 20_000, seed=5)
    assert abs(estimate - terms.sum()) <= 3.0 * error


def test_kl_along_directions_of_a_linear_gaussian_model_is_exactly_quadratic(tmp_path):
    problem = write_problem(tmp_path / "linear", SIGMA)
    objective = fimflow.Objective.from_problem(problem)
    design = np.stack([np.ones_like(TIMES), TIMES, TIMES**2], axis=1)
    fim = design.T @ design / SIGMA**2
    table, reach = fimflow.kl_along_directions(objective, np.array([1.0, 0.5, 0.1]), fim, problem.parameter_ids)
    assert len(table) == 6 * 2 * len(fimflow.validate.KL_RADII)
    np.testing.assert_allclose(table["ratio"], 1.0, rtol=1e-10)
    assert all(value == np.inf for value in reach.values())


def pk_kl(x, y, times, sigma=0.1):
    """KL between the PK data distributions at (log10 V, log10 CL) x and y: sum (C_x - C_y)^2 / (2 sigma^2)."""
    def c(z):
        volume, clearance = 10.0 ** np.asarray(z)
        return 100.0 / volume * np.exp(-clearance / volume * times)
    return np.sum((c(x) - c(y)) ** 2) / (2 * sigma**2)


def test_kl_along_directions_follows_the_closed_form_and_finds_where_the_quadratic_stops():
    problem = fimflow.load_problem(f"{REPO}/data/pk_fixed_dose/problem.yaml")
    objective = fimflow.Objective.from_problem(problem)
    times = problem.measurements["time"].to_numpy()
    x = np.log10([10.0, 2.0])
    # the FIM in closed form: J^T J / sigma^2 with J the gradient of C in (log10 V, log10 CL)
    volume, clearance = 10.0, 2.0
    c = 100.0 / volume * np.exp(-clearance / volume * times)
    jacobian = np.log(10.0) * np.stack([c * (clearance / volume * times - 1.0), -c * clearance / volume * times], 1)
    fim = jacobian.T @ jacobian / 0.1**2
    radii = (0.25, 1.0, 4.0, 16.0, 64.0)
    table, reach = fimflow.kl_along_directions(objective, x, fim, problem.parameter_ids, radii=radii)
    lam, vectors = np.linalg.eigh(fim)
    steps = {"v1": vectors[:, 1] / np.sqrt(lam[1]), "v2": vectors[:, 0] / np.sqrt(lam[0]),
             "V": np.array([1.0, 0.0]) / np.sqrt(fim[0, 0]), "CL": np.array([0.0, 1.0]) / np.sqrt(fim[1, 1])}
    for name, step in steps.items():
        rows = table[table["direction"] == name]
        for r, kl in zip(rows["r"], rows["kl"]):
            # the eigenvector's sign is the library's choice: the table's KL is one of the two signs
            by_hand = {pk_kl(x, x + s * r * step, times) for s in (1.0, -1.0)}
            assert any(kl == pytest.approx(v, rel=1e-6) for v in by_hand), (name, r, kl, by_hand)
        ratios = rows["kl"] / (0.5 * rows["r"] ** 2)
        outside = rows.loc[(ratios < 0.9) | (ratios > 1.1), "r"].abs()
        assert reach[name] == (outside.min() if len(outside) else np.inf)
    assert table.loc[table["r"].abs() == 0.25, "ratio"].between(0.97, 1.03).all()  # quadratic near theta
    assert all(np.isfinite(reach[name]) for name in steps)  # and not at 64 Wald units


def test_a_null_direction_has_no_wald_reach():
    problem = fimflow.load_problem(f"{REPO}/data/pk_full/problem.yaml")
    objective = fimflow.Objective.from_problem(problem)
    x = problem.parameters.nominal_theta()  # log10 of D = 100, V = 10, CL = 2
    times = problem.measurements["time"].to_numpy()
    c = 10.0 * np.exp(-0.2 * times)
    jacobian = np.log(10.0) * np.stack([c, c * (0.2 * times - 1.0), -c * 0.2 * times], 1)  # rows sum to 0
    fim = jacobian.T @ jacobian / 0.1**2  # rank 2, null direction (1, 1, 1)/sqrt(3)
    table, reach = fimflow.kl_along_directions(objective, x, fim, problem.parameter_ids)
    assert np.isnan(reach["v3"]) and "v3" not in set(table["direction"])
    assert np.isfinite(table["kl"]).all()


# --- the parametric bootstrap ---------------------------------------------------------------


LINEAR_THETA = np.array([2.0, 0.5, 0.1])
LINEAR_DESIGN = np.stack([np.ones_like(TIMES), TIMES, TIMES**2], axis=1)


@pytest.mark.parametrize("distribution, transformation", [("normal", "lin"), ("laplace", "log"), ("normal", "log10")])
def test_simulated_data_follow_the_noise_model_whatever_the_sharding(tmp_path, distribution, transformation):
    problem = write_problem(tmp_path / "noise", SIGMA, distribution, transformation)
    objective = fimflow.Objective.from_problem(problem)
    values = simulate_datasets(objective, LINEAR_THETA, range(4000), seed=7)
    np.testing.assert_array_equal(simulate_datasets(objective, LINEAR_THETA, [5, 2], seed=7), values[[5, 2]])
    assert not np.array_equal(simulate_datasets(objective, LINEAR_THETA, [5], seed=8)[0], values[5])
    h = {"lin": lambda v: v, "log": np.log, "log10": np.log10}[transformation]
    mean = h(LINEAR_DESIGN @ LINEAR_THETA)
    z = ((h(values) - mean) / SIGMA).ravel()
    law = scipy.stats.laplace if distribution == "laplace" else scipy.stats.norm
    assert scipy.stats.kstest(z, law.cdf).pvalue > 1e-3


@pytest.mark.slow
def test_linear_gaussian_refits_are_efficient_and_their_intervals_cover(tmp_path):
    """y = a + b t + c t^2, known sigma, N = 2000: the MLE is exactly normal with covariance I^-1."""
    problem = write_problem(tmp_path / "linear", SIGMA)
    study = fimflow.Calibration(problem)
    prediction = fimflow.PredictionSpec(id="y_mid", condition="c", times=(1.0, 4.0), observable="y")
    result = study.validate(LINEAR_THETA, options=ValidationOptions(n_datasets=2000, profile_datasets=300),
                            predictions=[prediction])
    summary = result.summary()
    assert summary["n_used"] == 2000
    fim = LINEAR_DESIGN.T @ LINEAR_DESIGN / SIGMA**2
    np.testing.assert_allclose(result.parameters["crlb_sd"], np.sqrt(np.diag(np.linalg.inv(fim))), rtol=1e-8)
    for pid, row in summary["parameters"].items():
        low, high = row["variance_ratio_ci"]
        assert low <= 1.0 <= high, (pid, row)
        assert abs(row["coverage_wald"] - 0.95) <= 0.015, (pid, row)
    # the profile interval of a linear model is the Wald interval: LR = ((x - theta) / se)^2 exactly
    rows = result.estimates.dropna(subset=["lr_a"])
    assert len(rows) == 300
    for pid in problem.parameter_ids:
        wald = ((rows[f"x_{pid}"] - LINEAR_THETA[list(problem.parameter_ids).index(pid)]) / rows[f"se_{pid}"]) ** 2
        np.testing.assert_allclose(rows[f"lr_{pid}"], wald, rtol=1e-6, atol=1e-9)
    # the prediction y(t) = a + b t + c t^2 is linear: its delta band is exact
    assert all(abs(c - 0.95) <= 0.015 for c in result.predictions["coverage"])
    # two faces: the Hessian is the FIM exactly, the score's outer product within MC error
    np.testing.assert_allclose(result.faces["observed_ratio"], 1.0, rtol=1e-8)
    assert (abs(result.faces["score_ratio"] - 1.0) <= 3 * result.faces["score_ratio_se"]).all()
    # generalized eigenvalues of the covariance against I^-1 inside the Marchenko-Pastur range (widened by 3/sqrt(N))
    low, high = summary["covariance"]["expected_range"]
    assert low - 0.07 <= min(summary["covariance"]["generalized_eigenvalues"])
    assert max(summary["covariance"]["generalized_eigenvalues"]) <= high + 0.07
    # the KL table of a linear model is exactly quadratic
    np.testing.assert_allclose(result.kl["ratio"], 1.0, rtol=1e-9)
    check = result.design_check[result.design_check["design"] == "current"]
    assert check["within"].all(), check


def test_variance_ratio_interval_covers_the_truth_at_its_level():
    """Sample variances of normal draws: the 99.7 % interval of the ratio holds 1 in ~99.7 % of
    repetitions (10000 repetitions of n = 50: 30 misses expected, binomial sd 5.5)."""
    rng = np.random.default_rng(0)
    ratios = rng.standard_normal((10_000, 50)).var(axis=1, ddof=1)
    misses = sum(not (lo <= 1.0 <= hi) for lo, hi in (variance_ratio_interval(r, 50) for r in ratios))
    assert 30 - 4 * 5.5 <= misses <= 30 + 4 * 5.5


def test_generalized_eigenvalues_match_scipy_and_the_design_check_sees_lost_information():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    fim = a @ a.T + 0.5 * np.eye(4)
    cov = np.linalg.inv(fim)
    draws = rng.multivariate_normal(np.zeros(4), cov, size=1000)
    empirical = np.cov(draws, rowvar=False)
    expected = scipy.linalg.eigh(empirical, cov, eigvals_only=True)
    np.testing.assert_allclose(np.sort(generalized_eigenvalues(empirical, fim)), np.sort(expected), rtol=1e-10)
    ids = ("p", "q", "r", "s")
    efficient = realized_vs_predicted("current", draws, fim, ids)
    assert efficient["within"].all(), efficient
    wasteful = realized_vs_predicted("current", np.sqrt(1.5) * draws, fim, ids)  # 1.5 x the variance
    d = wasteful[wasteful["quantity"].str.startswith("D")].iloc[0]
    assert d["realized"] == pytest.approx(efficient.iloc[0]["realized"] - 4 * np.log(1.5), rel=1e-10)
    assert not d["within"]


def test_identifiable_combinations_of_a_rank_deficient_fim():
    """A FIM with null direction (1, 1, 1)/sqrt(3) on log10 parameters: the pairwise log ratios
    are the identifiable combinations, their variance ratio against c^T I^+ c."""
    rng = np.random.default_rng(2)
    jacobian = rng.standard_normal((10, 3))
    jacobian -= jacobian.mean(axis=1, keepdims=True)  # rows orthogonal to (1, 1, 1)
    fim = jacobian.T @ jacobian
    theta = np.array([2.0, 1.0, 0.3])
    pseudo = np.linalg.pinv(fim)
    draws = theta + rng.multivariate_normal(np.zeros(3), pseudo, size=2000) + rng.normal(0, 5, (2000, 1))  # + null spread
    combos, spread = identifiable_combinations(draws, theta, fim, ("D", "V", "CL"), ("log10",) * 3)
    assert list(combos["combination"]) == ["log10(D/V)", "log10(D/CL)", "log10(V/CL)"]
    for row in combos.itertuples():
        c = np.array([float(v) for v in row.coefficients.split()])
        assert row.crlb_sd == pytest.approx(np.sqrt(c @ pseudo @ c), rel=1e-8)
        assert row.variance_ratio_low <= 1.0 <= row.variance_ratio_high
    assert len(spread) == 1 and spread["empirical_sd"].iloc[0] == pytest.approx(5 * np.sqrt(3), rel=0.1)


@pytest.mark.slow
def test_pk_full_is_reported_non_identifiable_with_efficient_combinations():
    problem = fimflow.load_problem(f"{REPO}/data/pk_full/problem.yaml")
    study = fimflow.Calibration(problem)
    result = study.validate(problem.parameters.nominal_theta(),
                            options=ValidationOptions(n_datasets=400, profile_datasets=100))
    summary = result.summary()
    assert not summary["structurally_identifiable"]
    assert summary["covariance"]["fim_rank"] == 2 and summary["covariance"]["n_params"] == 3
    assert all(not row["identifiable"] and row["variance_ratio"] is None for row in summary["parameters"].values())
    vector = np.array(summary["null_directions"][0]["vector"])
    assert abs(vector @ np.ones(3)) == pytest.approx(np.sqrt(3), rel=1e-6)
    names = {row["combination"]: row for row in summary["identifiable_combinations"]}
    assert {"log10(D/V)", "log10(V/CL)"} <= set(names)
    for row in names.values():
        assert row["variance_ratio_low"] <= 1.0 <= row["variance_ratio_high"], row
    # a flat profile covers every value: each held refit gets back into the valley (the start moves
    # along the quadratic model's profile path, here the null direction)
    assert all(row["coverage_profile"] == 1.0 and row["n_profile"] == 100 for row in summary["parameters"].values())


def test_per_parameter_counts_estimates_on_a_bound():
    from fimflow.validate import per_parameter

    estimates = np.array([[0.0, 1.0], [0.5, 2.0], [1.0, 1.5], [0.2, 1.0]])
    table = per_parameter(estimates, np.ones((4, 2)), np.array([0.5, 1.5]), np.eye(2), ("p", "q"),
                          bounds=(np.array([0.0, 1.0]), np.array([1.0, 3.0])))
    assert list(table["at_bound"]) == [0.5, 0.5]
    np.testing.assert_allclose(table["variance_ratio"], estimates.var(axis=0, ddof=1))  # I = identity
