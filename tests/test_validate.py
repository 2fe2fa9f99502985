"""Validation: the KL divergence between data distributions against closed forms, scipy's
quadrature and a Monte-Carlo log-likelihood ratio."""

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

import fimflow

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
