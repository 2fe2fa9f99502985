"""Optimal design of sampling times: analytic optima of exponential decay, criterion values by
hand, candidate FIMs against the FIM of the same rows, comparisons, ensembles and bad input."""

import numpy as np
import pandas as pd
import pytest

import fimflow
from fimflow.design._criteria import candidate_fims, design_criterion, sensitivity_curves
from fimflow.design._criteria import fims_of as _fims_of
from fimflow.design._sampling_times import DesignOptions, _time_gradient, optimal_design
from fimflow.fisher._fisher import expected_fisher_information, fisher_from_sensitivities
from fimflow.problem._sampling import dense_design, with_design

from helpers import fix, load

LN10 = np.log(10.0)
TIGHT = fimflow.SolverConfig(rtol=1e-11, atol=1e-13)
K = 0.2  # CL/V at nominal: C(t) = (D/V) exp(-K t) with D = 100, V = 10, CL = 2, sigma = 0.1


def concentration(t):
    return 10.0 * np.exp(-K * np.asarray(t, dtype=np.float64))


def gradients(t):
    """dC/dlog10 V and dC/dlog10 CL (closed form), rows per time."""
    c = concentration(t)
    return np.stack([c * (-1.0 + K * t) * LN10, c * (-K * t) * LN10], axis=-1)


def fim_clearance(t):
    """FIM of one sample at t for log10 CL alone: (dC/dlog10 CL)^2 / sigma^2."""
    return gradients(np.atleast_1d(t))[:, 1] ** 2 / 0.1**2


@pytest.fixture(scope="module")
def pk():
    return load("pk_fixed_dose")  # D fixed: V and CL estimated (log10)


def test_single_sample_is_at_v_over_cl(pk):
    problem = fix(pk, ["V"])
    x = problem.parameters.nominal_theta()
    grid = np.linspace(0.0, 24.0, 101)
    exchange = optimal_design(problem, x, options=DesignOptions(n_samples=1), config=TIGHT)
    assert exchange.design["time"].tolist() == [grid[np.argmin(np.abs(grid - 5.0))]]  # 5.04
    assert exchange.value == pytest.approx(np.log(fim_clearance(5.04)[0]), rel=1e-9)
    gradient = optimal_design(problem, x, options=DesignOptions(n_samples=1, method="gradient"), config=TIGHT)
    assert gradient.design["time"].iloc[0] == pytest.approx(5.0, abs=1e-4)
    by_hand = (10.0 * np.exp(-1.0) * LN10) ** 2 / 0.01  # dC/dlog10 CL at t = V/CL = 5
    np.testing.assert_allclose(gradient.fim, [[by_hand]], rtol=1e-8)
    assert gradient.value == pytest.approx(np.log(by_hand), rel=1e-10) and gradient.value > exchange.value
    # current: the 8 measured times; equally spaced with one sample: t = 24; per sample, p = 1
    current = np.log(fim_clearance(pk.measurements["time"].to_numpy()).sum() / 8)
    assert gradient.current_value == pytest.approx(current, rel=1e-8)
    assert gradient.equally_spaced_value == pytest.approx(np.log(fim_clearance(24.0)[0]), rel=1e-8)
    assert gradient.efficiency_vs_current == pytest.approx(np.exp(np.log(by_hand) - current), rel=1e-7)
    # the time gradient through the solver: d/dt log F(t) = 2/t - 2K
    design = pd.DataFrame({"simulationConditionId": ["bolus"], "observableId": ["C"], "time": [4.0]})
    evaluate = _time_gradient(problem, design, x[None], np.ones(1), np.zeros((1, 1, 1)), "D", TIGHT)
    value, slope, _ = evaluate(np.array([4.0]))
    assert value == pytest.approx(np.log(fim_clearance(4.0)[0]), rel=1e-9)
    assert slope[0] == pytest.approx(2 / 4.0 - 2 * K, rel=1e-6)


def test_design_criterion_by_hand():
    m = np.array([[2.0, 1.0], [1.0, 2.0]])  # det 3, inverse [[2, -1], [-1, 2]] / 3, eigenvalues 1, 3
    assert design_criterion(m, "D") == pytest.approx(np.log(3.0), rel=1e-14)
    assert design_criterion(m, "A") == pytest.approx(-4.0 / 3.0, rel=1e-14)
    assert design_criterion(m, "E") == pytest.approx(1.0, rel=1e-14)
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert design_criterion(singular, "D") == -np.inf and design_criterion(singular, "A") == -np.inf
    assert design_criterion(singular, "E") == pytest.approx(0.0, abs=1e-15)


def test_candidate_fims_sum_to_the_fim_of_the_same_rows(pk, rng):
    x = pk.parameters.nominal_theta() + np.array([0.05, -0.1])
    rows = pd.DataFrame({"simulationConditionId": "bolus", "observableId": "C",
                         "time": np.concatenate([rng.uniform(0.0, 24.0, 98), [3.0, 3.0]])})
    fims = candidate_fims(pk, x, rows)
    assert fims.shape == (100, 2, 2)
    # `fisher_information(...).expected` is this function (without the observed FIM's compile)
    reference = np.asarray(expected_fisher_information(fimflow.Objective.from_problem(with_design(pk, rows)), x))
    np.testing.assert_allclose(fims.sum(axis=0), reference, rtol=1e-10, atol=0)
    # one row against the closed form (at nominal), and the noise-weighted sensitivities
    nominal = pk.parameters.nominal_theta()
    g = gradients(rows["time"].to_numpy())
    exact = g[:, :, None] * g[:, None, :] / 0.01  # at the default solver tolerances (rtol 1e-8)
    np.testing.assert_allclose(candidate_fims(pk, nominal, rows), exact, rtol=1e-5, atol=1e-6 * np.abs(exact).max())
    curves = sensitivity_curves(pk, nominal, rows)
    assert list(curves.columns) == ["simulationConditionId", "observableId", "time", "parameterId", "sensitivity"]
    np.testing.assert_allclose(curves["sensitivity"].to_numpy(), (g / 0.1).reshape(-1), rtol=1e-5,
                               atol=1e-6 * np.abs(g).max())
    # the per-row terms, noise block included (normal 2/s^2, Laplace 1/s^2), sum to `_fisher`'s formula
    j_mu, j_s, s = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)), rng.uniform(0.5, 2.0, 7)
    codes = np.array([0, 1, 0, 1, 0, 0, 1])
    np.testing.assert_allclose(np.asarray(_fims_of(j_mu, j_s, s, codes)).sum(axis=0),
                               np.asarray(fisher_from_sensitivities(j_mu, j_s, s, codes)), rtol=1e-13)


def test_optimal_designs_beat_equally_spaced_and_current(pk):
    x = pk.parameters.nominal_theta()
    d = optimal_design(pk, x, options=DesignOptions(n_samples=4))
    # analytic D-optimum of C = A exp(-k t): half the samples at t = 0, half at 1/k = V/CL = 5
    assert d.design["time"].tolist() == [0.0, 0.0, 5.04, 5.04]
    g = gradients(np.array([0.0, 0.0, 5.04, 5.04]))
    assert d.value == pytest.approx(np.log(np.linalg.det(g.T @ g / 0.01 / 4)), rel=1e-8)
    assert d.value > d.equally_spaced_value and d.value > d.current_value
    assert d.efficiency_vs_current > 1.0 and d.efficiency_vs_equally_spaced > 1.0
    assert d.status == "converged"
    results = {"D": d} | {c: optimal_design(pk, x, options=DesignOptions(criterion=c, n_samples=4)) for c in ("A", "E")}
    for criterion, result in results.items():
        assert result.value >= result.equally_spaced_value and result.value >= result.current_value, criterion
        assert result.efficiency_vs_current >= 1.0 and result.efficiency_vs_equally_spaced >= 1.0, criterion
        for other in results.values():  # each criterion's design is the best under that criterion
            assert result.value >= design_criterion(other.fim / 4, criterion) - 1e-12 * abs(result.value)


def test_sequential_and_robust_design(pk):
    x = pk.parameters.nominal_theta()
    current = candidate_fims(pk, x, pd.concat([pk.measurements, dense_design(pk, 101)]))[:8].sum(axis=0)
    sequential = optimal_design(pk, x, options=DesignOptions(n_samples=2, include_current=True))
    assert sequential.value == pytest.approx(design_criterion(sequential.fim / 10, "D"), rel=1e-12)
    added = sequential.fim - current  # two samples: rank <= 2, positive semi-definite
    assert np.linalg.eigvalsh(added).min() > -1e-8 * np.abs(added).max()
    points = x + np.array([[0.0, 0.0], [0.1, 0.0], [0.0, -0.1]])
    robust = optimal_design(pk, x, options=DesignOptions(n_samples=4), points=points)
    times = robust.design["time"].to_numpy()
    grid = dense_design(pk, 101)  # the candidates: their FIMs share the compiled program
    index = [int(np.argmin(np.abs(grid["time"].to_numpy() - t))) for t in times]
    by_point = [design_criterion(candidate_fims(pk, p, grid)[index].sum(axis=0) / 4, "D") for p in points]
    assert robust.value == pytest.approx(np.mean(by_point), rel=1e-8)
    assert times[0] == 0.0 and times[-1] > 3.0
    # a point whose sensitivities overflow (V = 1e-300) is left out with a message; at x it fails
    bad = np.array([-300.0, x[1]])
    with_bad = optimal_design(pk, x, options=DesignOptions(n_samples=4), points=np.vstack([points, bad]))
    assert "1 of 4 ensemble points failed" in with_bad.message
    assert with_bad.value == pytest.approx(robust.value, rel=1e-12)
    failed = optimal_design(pk, bad, options=DesignOptions(n_samples=4))
    assert failed.status == "failed" and np.isnan(failed.value) and len(failed.design) == 0


def test_fewer_samples_than_parameters_is_singular_not_an_error(pk):
    x = pk.parameters.nominal_theta()
    alone = optimal_design(pk, x, options=DesignOptions(n_samples=1))
    assert alone.status == "singular" and alone.value == -np.inf and "increase `n_samples`" in alone.message
    assert alone.efficiency_vs_current == 0.0
    # the ridge ranks rank-one designs by |grad C|^2: the most sensitive time of the grid
    grid = np.linspace(0.0, 24.0, 101)
    assert alone.design["time"].tolist() == [grid[np.argmax(np.sum(gradients(grid) ** 2, axis=1))]]
    added = optimal_design(pk, x, options=DesignOptions(n_samples=1, include_current=True))
    assert added.status == "converged" and added.value == pytest.approx(design_criterion(added.fim / 9, "D"), rel=1e-12)


def test_bad_input_is_rejected(pk):
    x = pk.parameters.nominal_theta()
    with pytest.raises(ValueError, match="`criterion` must be one of"):
        DesignOptions(criterion="G")
    with pytest.raises(ValueError, match="`criterion` must be one of"):
        design_criterion(np.eye(2), "T")
    with pytest.raises(ValueError, match="`n_samples` must be an integer >= 1"):
        DesignOptions(n_samples=0)
    with pytest.raises(ValueError, match="`method` must be one of"):
        DesignOptions(method="anneal")
    unmeasured = pd.DataFrame({"simulationConditionId": ["bolus"], "observableId": ["AUC"], "time": [1.0]})
    with pytest.raises(ValueError, match="design row 0: observable 'AUC' is never measured"):
        optimal_design(pk, x, candidates=unmeasured)
    with pytest.raises(ValueError, match="design row 0: observable 'AUC' is never measured"):
        candidate_fims(pk, x, unmeasured)
    with pytest.raises(ValueError, match="`candidates` must be a non-empty table"):
        optimal_design(pk, x, candidates=unmeasured.iloc[:0])
    with pytest.raises(ValueError, match="`x` must be finite with shape"):
        optimal_design(pk, x[:1])
    with pytest.raises(ValueError, match="`points` must be finite with shape"):
        optimal_design(pk, x, points=np.zeros((2, 3)))
