"""Numerical structural identifiability: exact symmetries (PK scaling, a Michaelis-Menten
observation scale), identifiable and practically-only non-identifiable designs, finite
differences, failed solves and the tables."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import fimflow
from blowup_model import Blowup
from fimflow.fisher._fisher import fisher_from_sensitivities
from fimflow.problem._problem import ParameterTable
from fimflow.problem._sampling import dense_design, with_design
from fimflow.identify._sensitivity_rank import _own_and_dense, null_space, weighted_sensitivities
from fimflow.identify._structural import (
    IDENTIFIABLE,
    PRACTICALLY_NON_IDENTIFIABLE,
    STRUCTURALLY_NON_IDENTIFIABLE,
    UNDETERMINED,
    StructuralOptions,
    structural_identifiability,
    structural_tables,
)

from helpers import central_difference, load


class ScaledMichaelisMenten(fimflow.AbstractODEModel):
    """x' = -Vmax x/(Km + x), x(0) = x0, observed as s·x: x0, Vmax, Km scale together, s inversely."""

    parameter_names = ("x0", "Vmax", "Km", "s")
    state_names = ("x",)
    observable_names = ("C",)

    def vector_field(self, t, y, theta):
        _, vmax, km, _ = theta
        return -vmax * y / (km + y)

    def initial_state(self, theta):
        return jnp.stack([theta[0]])

    def observables(self, t, y, theta):
        return theta[3] * y


def on_pk_data(model, ids, scales, lower, upper, nominal, noise_index=None):
    """The PK measurements (condition `bolus`, observable `C`, 8 times to 24 h) with another model
    whose parameters are the first `model` ids, in order; `noise_index` makes σ a parameter."""
    problem = load("pk_fixed_dose")
    n_model = len(model.parameter_names)
    table = ParameterTable(ids=tuple(ids), scales=tuple(scales), lower=np.asarray(lower, float),
                           upper=np.asarray(upper, float), nominal=np.asarray(nominal, float),
                           estimate=np.ones(len(ids), dtype=bool))
    replaced = dataclasses.replace(problem, model=model, parameters=table,
                                   condition_parameter_index=np.arange(n_model)[None, :],
                                   condition_parameter_value=np.full((1, n_model), np.nan))
    if noise_index is not None:
        replaced = dataclasses.replace(replaced, noise_index=np.full(problem.n_measurements, noise_index))
    return replaced


def michaelis_menten():
    return on_pk_data(ScaledMichaelisMenten(), ("x0", "Vmax", "Km", "s", "sigma"), ["log10"] * 5,
                      [0.1, 0.01, 0.01, 0.1, 0.01], [100, 100, 100, 100, 10], [10, 2, 5, 1, 0.1], noise_index=4)


@pytest.fixture(scope="module")
def pk_full():
    problem = load("pk_full")
    return problem, structural_identifiability(problem, problem.parameters.nominal_theta())


@pytest.fixture(scope="module")
def pk_fixed_dose():
    problem = load("pk_fixed_dose")
    return problem, structural_identifiability(problem, problem.parameters.nominal_theta())


def test_pk_full_scaling_symmetry_is_structural(pk_full):
    problem, result = pk_full
    assert result.points.shape == (6, 3) and result.ok.all()
    np.testing.assert_array_equal(result.points[0], problem.parameters.nominal_theta())
    lower, upper = problem.parameters.bounds()
    assert np.all((result.points >= lower) & (result.points <= upper))
    np.testing.assert_array_equal(result.ranks, 2)
    for basis in result.null_directions:
        assert basis.shape == (3, 1)
        np.testing.assert_allclose(basis[:, 0], np.ones(3) / np.sqrt(3), atol=1e-6)
    relative = result.singular_values / result.singular_values[:, :1]
    assert relative[:, 2].max() < 1e-15 and relative[:, 1].min() > 1e-12  # measured: 2.9e-16, 2.9e-12
    assert result.structural_deficiency == 1
    verdicts = result.verdicts()
    assert list(verdicts.parameterId) == ["D", "V", "CL"]
    assert list(verdicts.verdict) == [STRUCTURALLY_NON_IDENTIFIABLE] * 3
    np.testing.assert_allclose(verdicts.structural_share, 1 / 3, atol=1e-10)
    # log scale: the null spaces coincide at every point
    np.testing.assert_allclose(result.null_space_angles(), 0.0, atol=1e-6)
    # the eight measured times see the same symmetry
    assert result.data_rank == 2
    np.testing.assert_allclose(result.data_null_directions[:, 0], np.ones(3) / np.sqrt(3), atol=1e-6)


def test_pk_fixed_dose_is_identifiable(pk_fixed_dose):
    _, result = pk_fixed_dose
    assert result.ok.all()
    np.testing.assert_array_equal(result.ranks, 2)
    assert all(basis.shape == (2, 0) for basis in result.null_directions)
    assert result.structural_deficiency == 0
    assert result.data_rank == 2 and result.data_null_directions.shape == (2, 0)
    verdicts = result.verdicts()
    assert list(verdicts.verdict) == [IDENTIFIABLE] * 2
    np.testing.assert_array_equal(verdicts.structural_share, 0.0)
    np.testing.assert_array_equal(verdicts.practical_share, 0.0)
    assert np.isnan(result.null_space_angles()).all()


@pytest.fixture(scope="module")
def scaled_michaelis_menten():
    problem = michaelis_menten()
    return problem, structural_identifiability(problem, problem.parameters.nominal_theta(),
                                               options=StructuralOptions(n_points=3, n_times=20))


def pk_sensitivities(theta, times, sigma=0.1):
    """Closed form of the noise-weighted sensitivities of C = D/V exp(-CL/V t) (D = 100 fixed) with
    respect to (log10 V, log10 CL)."""
    volume, clearance = 10.0 ** np.asarray(theta)
    rate = clearance / volume
    c = 100.0 / volume * np.exp(-rate * times)
    return np.log(10.0) / sigma * np.stack([c * (rate * times - 1.0), -c * rate * times], axis=1)


def test_pk_singular_values_match_the_closed_form(pk_fixed_dose):
    problem, result = pk_fixed_dose
    dense_times = np.linspace(0.0, 24.0, 50)
    for theta, values in zip(result.points, result.singular_values):
        expected = np.linalg.svd(pk_sensitivities(theta, dense_times), compute_uv=False)
        np.testing.assert_allclose(values, expected, rtol=1e-6)
    own_times = problem.times[0, problem.time_index]
    expected = np.linalg.svd(pk_sensitivities(result.points[0], own_times), compute_uv=False)
    np.testing.assert_allclose(result.data_singular_values, expected, rtol=1e-6)


def test_singular_values_match_finite_differences(scaled_michaelis_menten):
    # with σ estimated (noise rows included), at a random point of the structural run
    problem, result = scaled_michaelis_menten
    # the program of the structural run: own measurements (8 rows) then the dense design
    dense = fimflow.Objective.from_problem(_own_and_dense(problem, dense_design(problem, 20)))
    theta = result.points[1]
    out = weighted_sensitivities(dense, jnp.asarray(theta))
    matrix = np.asarray(out.matrix)
    assert bool(out.ok)
    # differences of the values only (the compiled program also returns them: no second compile)
    s = np.asarray(out.noise)
    j_mu = central_difference(lambda x: weighted_sensitivities(dense, jnp.asarray(x)).locations, theta, step=1e-4)
    j_s = central_difference(lambda x: weighted_sensitivities(dense, jnp.asarray(x)).noise, theta, step=1e-4)
    reference = np.concatenate([j_mu / s[:, None], np.sqrt(2.0) * j_s / s[:, None]])
    np.testing.assert_allclose(matrix, reference, rtol=1e-5, atol=1e-7 * np.abs(reference).max())
    # the run's singular values are those of the dense rows (locations, then noise)
    n, total = problem.n_measurements, len(s)
    dense_rows = np.concatenate([np.arange(n, total), total + np.arange(n, total)])
    values = np.linalg.svd(reference[dense_rows], compute_uv=False)
    np.testing.assert_allclose(result.singular_values[1, :4], values[:4], rtol=1e-6)
    assert result.singular_values[1, 4] < 1e-15 * values[0] and values[4] < 1e-8 * values[0]  # the symmetry
    # SᵀS is the expected Fisher information of `_fisher` (noise block included)
    fim = np.asarray(fisher_from_sensitivities(jnp.asarray(j_mu), jnp.asarray(j_s), jnp.asarray(s), dense.distribution))
    np.testing.assert_allclose(matrix.T @ matrix, fim, rtol=1e-6, atol=1e-8 * np.abs(fim).max())


def test_estimated_noise_is_identified_through_the_spread(scaled_michaelis_menten):
    _, result = scaled_michaelis_menten
    assert result.ok.all() and result.structural_deficiency == 1
    np.testing.assert_array_equal(result.ranks, 4)
    for basis in result.null_directions:
        np.testing.assert_allclose(basis[:, 0], [0.5, 0.5, 0.5, -0.5, 0.0], atol=1e-6)
    verdicts = result.verdicts()
    assert list(verdicts.verdict) == [STRUCTURALLY_NON_IDENTIFIABLE] * 4 + [IDENTIFIABLE]
    np.testing.assert_allclose(verdicts.structural_share, [0.25] * 4 + [0.0], atol=1e-10)


def test_lin_scale_null_direction_turns_with_theta():
    # on the linear scale the PK symmetry (D, V, CL) -> λ(D, V, CL) has null direction θ/|θ|
    problem = load("pk_full")
    table = dataclasses.replace(problem.parameters, scales=("lin",) * 3)
    problem = problem.with_parameters(table)
    result = structural_identifiability(problem, problem.parameters.nominal_theta(),
                                        options=StructuralOptions(n_points=3))
    assert result.ok.all() and result.structural_deficiency == 1
    for theta, basis in zip(result.points, result.null_directions):
        np.testing.assert_allclose(basis[:, 0], theta / np.linalg.norm(theta), atol=1e-6)
    verdicts = result.verdicts()
    assert list(verdicts.verdict) == [STRUCTURALLY_NON_IDENTIFIABLE] * 3
    # shares in relative changes: the same as on the log scale
    np.testing.assert_allclose(verdicts.structural_share, 1 / 3, atol=1e-10)
    # the null spaces turn with θ: principal angle = angle between θ and the fit
    unit = result.points / np.linalg.norm(result.points, axis=1, keepdims=True)
    np.testing.assert_allclose(result.null_space_angles(), np.arccos(np.clip(unit @ unit[0], -1, 1)), atol=1e-6)


def test_measuring_only_at_time_zero_is_practically_non_identifiable(pk_fixed_dose):
    # C(0) = D/V: a measurement at t = 0 carries no information on CL, the dense design does.
    # (One measurement and 57 dense times: the array shapes of the pk_fixed_dose run, whose
    # compiled program is reused.)
    design = pd.DataFrame({"simulationConditionId": ["bolus"], "observableId": ["C"], "time": [0.0]})
    problem = with_design(load("pk_fixed_dose"), design)
    result = structural_identifiability(problem, problem.parameters.nominal_theta(), options=StructuralOptions(n_times=57))
    assert result.ok.all() and result.structural_deficiency == 0
    np.testing.assert_array_equal(result.ranks, 2)
    for theta, values in zip(result.points, result.singular_values):  # dense design to t = 1
        np.testing.assert_allclose(values, np.linalg.svd(pk_sensitivities(theta, np.linspace(0, 1, 57)), compute_uv=False),
                                   rtol=1e-6)
    assert result.data_rank == 1
    np.testing.assert_allclose(result.data_null_directions[:, 0], [0.0, 1.0], atol=1e-12)
    # S = ln(10)/σ (-C(0), 0) with C(0) = D/V = 10, σ = 0.1
    np.testing.assert_allclose(result.data_singular_values, [100 * np.log(10.0), 0.0], rtol=1e-9, atol=1e-12)
    verdicts = result.verdicts().set_index("parameterId")
    assert verdicts.verdict.to_dict() == {"V": IDENTIFIABLE, "CL": PRACTICALLY_NON_IDENTIFIABLE}
    assert verdicts.practical_share["CL"] == pytest.approx(1.0, abs=1e-12)
    # the random points of the same seed are the same whatever the design
    np.testing.assert_array_equal(result.points, pk_fixed_dose[1].points)


def test_failed_solves_are_recorded_and_skipped():
    # y' = k y², y(0) = 1 blows up at t = 1/k: the dense design to 24 h fails exactly where k > 1/24
    problem = on_pk_data(Blowup(), ("k",), ["log10"], [1e-3], [1.0], [0.01])
    result = structural_identifiability(problem, np.array([-2.0]), config=fimflow.SolverConfig(max_steps=2000))
    k = 10.0 ** result.points[:, 0]
    np.testing.assert_array_equal(result.ok, k * 24.0 < 1.0)
    assert result.ok[0] and not result.ok.all() and result.ok[1:].any()  # seed 0 gives both kinds
    assert np.isnan(result.singular_values[~result.ok]).all() and (result.ranks[~result.ok] == -1).all()
    assert (result.ranks[result.ok] == 1).all() and result.structural_deficiency == 0
    assert list(result.verdicts().verdict) == [IDENTIFIABLE]
    points, _ = structural_tables(result)
    assert list(points.ok) == list(result.ok) and points.singular_value_1[~result.ok].isna().all()


def test_all_random_points_failing_is_undetermined():
    problem = on_pk_data(Blowup(), ("k",), ["log10"], [0.1], [1.0], [0.5])
    result = structural_identifiability(problem, np.array([-2.0]), config=fimflow.SolverConfig(max_steps=2000),
                                        options=StructuralOptions(n_points=2))
    assert list(result.ok) == [True, False, False]
    assert result.structural_deficiency == -1
    assert list(result.verdicts().verdict) == [UNDETERMINED]


def test_tables(pk_full):
    _, result = pk_full
    points, directions = structural_tables(result)
    assert list(points.columns) == ["point", "kind", "ok", "rank", "singular_value_1", "singular_value_2",
                                    "singular_value_3", "null_angle_to_fit", "D", "V", "CL"]
    assert list(points.kind) == ["fit"] + ["random"] * 5 and list(points["rank"]) == [2] * 6
    np.testing.assert_array_equal(points[["D", "V", "CL"]].to_numpy(), result.points)
    np.testing.assert_array_equal(points.singular_value_3, result.singular_values[:, 2])
    assert list(directions.columns) == ["design", "point", "direction", "D", "V", "CL"]
    assert list(directions.design) == ["dense"] * 6 + ["actual"] and list(directions.point) == [0, 1, 2, 3, 4, 5, 0]
    np.testing.assert_allclose(directions[["D", "V", "CL"]].to_numpy(), 1 / np.sqrt(3), atol=1e-6)


def test_null_space_of_known_matrices():
    values, rank, basis = null_space(np.array([[1.0, 0.0, 0.0], [0.0, 1e-14, 0.0]]), 1e-13)
    np.testing.assert_array_equal(values, [1.0, 1e-14, 0.0])
    assert rank == 1
    np.testing.assert_allclose(np.abs(basis.T @ basis), np.eye(2), atol=1e-15)
    np.testing.assert_allclose(np.sum(basis**2, axis=1), [0.0, 1.0, 1.0], atol=1e-15)
    # sign convention: the largest entry (the first of equal ones) positive
    _, _, basis = null_space(np.array([[1.0, 1.0, 1.0, -1.0]]), 1e-13)
    assert basis.shape == (4, 3)
    for column in basis.T:
        first = np.flatnonzero(np.abs(column) >= (1 - 1e-8) * np.abs(column).max())[0]
        assert column[first] > 0
    assert null_space(np.zeros((3, 2)), 1e-13)[1] == 0


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(n_points=0), "`n_points` must be >= 1"),
        (dict(n_times=1), "`n_times` must be >= 2"),
        (dict(relative_tolerance=0.0), "`relative_tolerance` must be in"),
        (dict(participation=1.5), "`participation` must be in"),
        (dict(seed=-1), "`seed` must be >= 0"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        StructuralOptions(**options)


def test_bad_inputs_raise():
    problem = load("pk_fixed_dose")
    with pytest.raises(ValueError, match=r"`x_best` must hold 2 finite values .* got shape \(3,\)"):
        structural_identifiability(problem, np.zeros(3))
    with pytest.raises(ValueError, match="`x_best` must hold 2 finite values"):
        structural_identifiability(problem, np.array([1.0, np.nan]))
    table = dataclasses.replace(problem.parameters, estimate=np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="estimates no parameter"):
        structural_identifiability(problem.with_parameters(table), np.zeros(0))
