"""Scaling factors solved in closed form inside the fit (`fit._scalings`): which parameters
qualify, the profile against scipy's bounded minimisation of the full NLL, and fits with and
without it reaching the same optimum."""

import pathlib

import equinox as eqx
import numpy as np
import pytest
import scipy.optimize

import fimflow
from fimflow.fit._scalings import find_scalings, profiled

from sbml_builder import measurement, parameter, petab_problem, sbml

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"
TIMES = [0.5, 1.0, 2.0, 3.0, 5.0, 8.0]
nll = eqx.filter_jit(lambda objective, theta: objective.nll(theta))
complete = eqx.filter_jit(lambda objective, theta: objective.complete(theta))


def decay_problem(tmp_path, *, scale_upper=1e3):
    """A' = -k A, A(0) = a0, observed as
    - obs_s = scale_s · A (normal, lin: profiled),
    - obs_o = 0.2 + scale_o · A (an offset: not homogeneous in scale_o),
    - obs_n = scale_n² · A (not of degree one),
    - obs_l = scale_l · A, log-normal (not the linear closed form),
    - obs_d = scale_d · A with scale_d its noise parameter too."""
    model = sbml(species=[("A", 1.0, False, "concentration", "cell")],
                 parameters=[("k", 0.4, True), ("a0", 1.0, True)],
                 reactions=[("decay", ["A"], [], "k * A")], initial_assignments=[("A", "a0")])
    obs = lambda oid, formula, noise="0.05", transformation="lin": {  # noqa: E731
        "observableId": oid, "observableFormula": formula, "noiseFormula": noise,
        "observableTransformation": transformation, "noiseDistribution": "normal"}
    observables = [obs("obs_s", "observableParameter1_obs_s * A"),
                   obs("obs_o", "0.2 + observableParameter1_obs_o * A"),
                   obs("obs_n", "observableParameter1_obs_n^2 * A"),
                   obs("obs_l", "observableParameter1_obs_l * A", transformation="log"),
                   obs("obs_d", "observableParameter1_obs_d * A", noise="noiseParameter1_obs_d")]
    rng = np.random.default_rng(7)
    truth = {"k": 0.4, "a0": 1.0, "scale_s": 3.0, "scale_o": 2.0, "scale_n": 5.0, "scale_l": 4.0, "scale_d": 6.0}
    rows = []
    for t in TIMES:
        a = np.exp(-truth["k"] * t)
        for oid, value, sd in (("obs_s", truth["scale_s"] * a, 0.05), ("obs_o", 0.2 + truth["scale_o"] * a, 0.05),
                               ("obs_n", truth["scale_n"] ** 2 * a, 0.05),
                               ("obs_l", truth["scale_l"] * a, 0.05), ("obs_d", truth["scale_d"] * a, 0.3)):
            for _ in range(2):
                noisy = value * np.exp(sd * rng.standard_normal()) if oid == "obs_l" else value + sd * rng.standard_normal()
                override = {"observableParameters": f"scale_{oid[-1]}"}
                if oid == "obs_d":
                    override["noiseParameters"] = "scale_d"
                rows.append(measurement(oid, t, noisy, **override))
    parameters = [parameter("k", 0.4, scale="log10", lower=1e-2, upper=1.5),  # A(8) >> atol: obs_l is log-normal
                  parameter("a0", 1.0, estimate=0),
                  parameter("scale_s", 3.0, scale="log10", lower=1e-2, upper=scale_upper),
                  parameter("scale_o", 2.0, scale="log10", lower=1e-2, upper=1e3),
                  parameter("scale_n", 5.0, scale="log10", lower=1e-2, upper=1e3),
                  parameter("scale_l", 4.0, scale="log10", lower=1e-2, upper=1e3),
                  parameter("scale_d", 6.0, scale="log10", lower=1e-2, upper=1e3)]
    path = petab_problem(tmp_path, model, observables=observables, measurements=rows, parameters=parameters)
    problem = fimflow.load_petab(path)
    return problem, fimflow.Objective.from_problem(problem, fimflow.SolverConfig(rtol=1e-11, atol=1e-13))


def test_only_a_pure_scale_with_normal_noise_independent_of_it_is_profiled(tmp_path):
    problem, objective = decay_problem(tmp_path)
    lb, ub = problem.parameters.bounds()
    owner = find_scalings(objective, lb, ub)
    ids = problem.parameter_ids
    observables = np.asarray(problem.observable_ids)[problem.observable_index]
    assert {ids[j] for j in owner[owner >= 0]} == {"scale_s"}
    np.testing.assert_array_equal(owner >= 0, observables == "obs_s")
    held = lb.copy(), ub.copy()
    j = ids.index("scale_s")
    held[0][j] = held[1][j] = lb[j]
    assert not np.any(find_scalings(objective, *held) >= 0)  # a held parameter (a profile point) is not


@pytest.mark.parametrize("scale_upper", [1e3, 2.5])  # the second bound cuts the optimum (about 3)
def test_the_profile_is_the_bounded_minimum_over_the_scale(tmp_path, scale_upper):
    problem, objective = decay_problem(tmp_path, scale_upper=scale_upper)
    lb, ub = problem.parameters.bounds()
    profile, lower, upper = profiled(objective, lb, ub)
    j = problem.parameter_ids.index("scale_s")
    held = np.flatnonzero(lower == upper)
    assert held.tolist() == [j] and upper[j] == ub[j]  # held at its upper bound (linear value > 0)
    np.testing.assert_array_equal(np.delete(lower, j), np.delete(lb, j))
    rng = np.random.default_rng(3)
    points = [np.asarray(problem.parameters.nominal_theta())]  # k at its true value: the best scale is about 3
    for _ in range(3):
        theta = lb + rng.uniform(0.2, 0.8, len(lb)) * (ub - lb)
        theta[problem.parameter_ids.index("k")] = np.log10(rng.uniform(0.2, 0.8))
        points.append(theta)
    for number, theta in enumerate(points):

        def full(value):
            point = theta.copy()
            point[j] = value
            return float(nll(objective, point))

        best = scipy.optimize.minimize_scalar(full, bounds=(lb[j], ub[j]), method="bounded",
                                              options={"xatol": 1e-12})
        at_bound = min((full(lb[j]), lb[j]), (full(ub[j]), ub[j]))
        reference_value, reference_x = min((best.fun, best.x), at_bound)
        assert float(nll(profile, theta)) == pytest.approx(reference_value, rel=1e-10, abs=1e-10)
        completed = np.asarray(complete(profile, theta))
        assert completed[j] == pytest.approx(reference_x, abs=1e-5)
        np.testing.assert_array_equal(np.delete(completed, j), np.delete(theta, j))
        assert float(nll(objective, completed)) == pytest.approx(reference_value, rel=1e-10, abs=1e-10)
        if number == 0:
            at_upper = completed[j] == pytest.approx(np.log10(scale_upper), abs=1e-12)
            assert at_upper == (scale_upper < 3)


def test_fits_with_and_without_the_closed_form_reach_the_same_optimum(tmp_path):
    problem, objective = decay_problem(tmp_path)
    starts = fimflow.latin_hypercube_starts(problem, 4, seed=2)
    with_profile = fimflow.fit_multistart(problem, starts, objective=objective,
                                          options=fimflow.FitOptions(profile_scalings=True))
    without = fimflow.fit_multistart(problem, starts, objective=objective,
                                     options=fimflow.FitOptions(profile_scalings=False))
    a, b = with_profile.best(), without.best()
    assert with_profile.nll[a] == pytest.approx(without.nll[b], abs=1e-6)
    np.testing.assert_allclose(with_profile.x[a], without.x[b], atol=1e-4)
    for x, value in zip(with_profile.x, with_profile.nll):  # the reported NLL is the full one at x
        assert float(nll(objective, x)) == pytest.approx(value, rel=1e-10, abs=1e-9)


@pytest.mark.skipif(not (SHARED / "benchmark_models").is_dir(), reason="needs ../shared")
def test_fujita_has_three_profiled_scalings_and_its_profile_lies_below_the_nominal_nll():
    problem = fimflow.load_problem(SHARED / "benchmark_models/Fujita_SciSignal2010/Fujita_SciSignal2010.yaml")
    objective = fimflow.Objective.from_problem(problem)
    lb, ub = problem.parameters.bounds()
    owner = find_scalings(objective, lb, ub)
    counts = {problem.parameter_ids[j]: int(np.sum(owner == j)) for j in np.unique(owner[owner >= 0])}
    observables = np.asarray(problem.observable_ids)[problem.observable_index]
    assert counts == {f"scaling_{o}": int(np.sum(observables == o)) for o in ("pAkt_tot", "pEGFR_tot", "pS6_tot")}
    profile = profiled(objective, lb, ub)[0]
    theta = np.asarray(problem.parameters.nominal_theta())
    assert float(nll(profile, theta)) <= float(nll(objective, theta))
    assert float(nll(objective, np.asarray(complete(profile, theta)))) == pytest.approx(
        float(nll(profile, theta)), rel=1e-10)


def test_refits_of_other_data_complete_each_start_with_its_own_data(tmp_path):
    """`fit_multistart(..., values=)` (the validation's refits): each start's closed-form
    scaling comes from its own data set, so the reported NLL is the full NLL of that data at the
    reported estimate, and the optimum is that of a fit without the closed form."""
    problem, objective = decay_problem(tmp_path)
    rng = np.random.default_rng(11)
    values = np.stack([problem.values, problem.values * (1.0 + 0.05 * rng.standard_normal(problem.n_measurements))])
    starts = np.tile(np.asarray(problem.parameters.nominal_theta()), (2, 1))
    fits = {profile: fimflow.fit_multistart(problem, starts, objective=objective, values=values,
                                            options=fimflow.FitOptions(profile_scalings=profile))
            for profile in (True, False)}
    for i in range(2):
        own = eqx.tree_at(lambda o: o.values, objective, values[i])
        assert float(nll(own, fits[True].x[i])) == pytest.approx(fits[True].nll[i], rel=1e-10, abs=1e-9)
        assert fits[True].nll[i] == pytest.approx(fits[False].nll[i], abs=1e-6)
    assert fits[True].nll[0] != pytest.approx(fits[True].nll[1], abs=1e-3)  # the two data sets differ
