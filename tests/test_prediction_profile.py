"""Prediction profile likelihood and ensemble bands: exact on a linear-Gaussian model, checked
against scipy's constrained optimiser on the PK model, failed solves recorded as statuses."""

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from scipy.stats import chi2, norm

import fimflow
from fimflow.predict._ensemble import ensemble_bands, ensemble_from_profiles
from fimflow.predict._prediction_profile import PredictionProfileOptions, prediction_profile, prediction_profile_bands

from helpers import central_difference, load

SIGMA = 0.2
TIMES = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0])
THRESHOLD = chi2.ppf(0.95, 1) / 2


def write_problem(folder, model, parameters, measurements):
    """A `fimflow-python-1` problem in `folder` from the model reference and table rows."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problem.yaml").write_text(
        f"format: fimflow-python-1\nmodel: {model}\nparameters: parameters.tsv\nmeasurements: measurements.tsv\n")
    (folder / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
        + "".join("\t".join(str(v) for v in row) + "\n" for row in parameters))
    (folder / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\ttime\tmeasurement\tnoiseParameters\n"
        + "".join(f"y\tc\t{t!r}\t{m!r}\t{SIGMA}\n" for t, m in measurements))
    return fimflow.load_problem(str(folder / "problem.yaml"))


def linear_problem(folder):
    """y = a + b t with Gaussian noise (sigma 0.2) at TIMES: the problem, the exact least-squares
    fit and the covariance sigma^2 (X^T X)^-1."""
    y = 1.0 + 0.5 * TIMES + np.random.default_rng(1).normal(0.0, SIGMA, TIMES.size)
    problem = write_problem(folder, "linear_prediction_model:LinearTrend",
                            [("a", "lin", -100, 100, 1.0, 1), ("b", "lin", -100, 100, 0.5, 1)],
                            [(float(t), float(m)) for t, m in zip(TIMES, y)])
    design = np.stack([np.ones_like(TIMES), TIMES], axis=1)
    return problem, np.linalg.lstsq(design, y, rcond=None)[0], SIGMA**2 * np.linalg.inv(design.T @ design)


def test_linear_model_profile_equals_delta_method(tmp_path):
    problem, x_best, covariance = linear_problem(tmp_path / "linear")
    spec = fimflow.PredictionSpec(id="y", condition="c", times=(3.0, 10.0), observable="y")
    profile = prediction_profile(problem, spec, 10.0, x_best)
    # by hand: Var(a + b t*) = v^T cov v, v = (1, t*)
    v = np.array([1.0, 10.0])
    sd = np.sqrt(v @ covariance @ v)
    centre, z = v @ x_best, norm.ppf(0.975)
    assert profile.value == pytest.approx(centre, rel=1e-12)
    assert (profile.lower_end, profile.upper_end) == ("crossed", "crossed")
    np.testing.assert_allclose([profile.lower, profile.upper], [centre - z * sd, centre + z * sd], rtol=1e-8)
    np.testing.assert_allclose(profile.upper - profile.lower, 2 * z * sd, rtol=1e-6)
    # every point is exactly on the quadratic profile (g - g_best)^2 / (2 sd^2), whatever sigma_v
    points = profile.points
    assert set(points["status"]) <= {"converged", "best_fit"} and points["delta"].min() == 0.0
    np.testing.assert_allclose(points["delta"], (points["prediction_value"] - centre) ** 2 / (2 * sd**2),
                               rtol=1e-8, atol=1e-12)
    assert np.all(np.diff(points["prediction_value"]) >= 0)
    assert points["delta"].max() > THRESHOLD and len(points) < 2 * 30


def test_linear_bands_bounded_path_and_better_optimum(tmp_path, caplog):
    problem, x_best, covariance = linear_problem(tmp_path / "linear")
    spec = fimflow.PredictionSpec(id="y", condition="c", times=(2.0, 10.0), observable="y")
    # lower bounds half a standard error below the fit. Downwards the walk ends at their corner,
    # inside the confidence region: that end is "failed" (not crossed) at a_min + 10 b_min.
    # Upwards a falls (a and b are anticorrelated) and reaches a_min before the crossing: then
    # g = a_min + 10 b fixes b, and the crossing solves a quadratic in g.
    corner = x_best - 0.5 * np.sqrt(np.diag(covariance))
    fim = np.linalg.inv(covariance)
    assert 0.5 * (corner - x_best) @ fim @ (corner - x_best) < THRESHOLD
    table = dataclasses.replace(problem.parameters, lower=corner)
    bands = prediction_profile_bands(problem.with_parameters(table), [spec], x_best, times=[10.0])
    assert list(bands["time"]) == [10.0]
    row = bands.iloc[0]
    assert (row["lower_end"], row["upper_end"]) == ("failed", "crossed")
    assert row["lower"] == pytest.approx(corner[0] + 10 * corner[1], rel=1e-9)
    d0, e = np.array([corner[0] - x_best[0], -corner[0] / 10 - x_best[1]]), np.array([0.0, 0.1])
    upper = max(np.roots([0.5 * e @ fim @ e, d0 @ fim @ e, 0.5 * d0 @ fim @ d0 - THRESHOLD]).real)
    assert row["upper"] == pytest.approx(upper, rel=1e-8)
    v = np.array([1.0, 10.0])
    assert row["upper"] < v @ x_best + norm.ppf(0.975) * np.sqrt(v @ covariance @ v)  # the bound shortens it
    # one step per direction: both ends "max_points", each step a quarter of the signed-root threshold
    short = prediction_profile(problem, spec, 10.0, x_best, options=PredictionProfileOptions(max_points=1))
    walked = short.points[short.points["direction"] != "best"]
    assert (short.lower_end, short.upper_end) == ("max_points", "max_points") and len(walked) == 2
    assert [short.lower, short.upper] == [walked["prediction_value"].min(), walked["prediction_value"].max()]
    np.testing.assert_allclose(walked["delta"], (np.sqrt(2 * THRESHOLD) / 4) ** 2 / 2, rtol=1e-5)
    # a range of one sd: each side ends "max_range" at its first point at least one sd away
    sd = np.sqrt(v @ covariance @ v)
    near = prediction_profile(problem, spec, 10.0, x_best, options=PredictionProfileOptions(max_range=1.0))
    walked = near.points[near.points["direction"] != "best"]
    assert (near.lower_end, near.upper_end) == ("max_range", "max_range")
    for end, side in ((near.lower, "lower"), (near.upper, "upper")):
        distance = np.sort(abs(walked.loc[walked["direction"] == side, "prediction_value"].to_numpy() - near.value))
        assert abs(end - near.value) == distance[-1] and 1.0 <= distance[-1] / sd < 2.0 and np.all(distance[:-1] < sd)
    assert walked["delta"].max() < THRESHOLD
    # a centre that is not the optimum (two standard errors off in b): lower points, a warning
    off = x_best + np.array([0.0, 2.0 * np.sqrt(covariance[1, 1])])
    with caplog.at_level(logging.WARNING, logger="fimflow.predict._prediction_profile"):
        profile = prediction_profile(problem, spec, 2.0, off)
    assert "better optimum" in caplog.text
    assert profile.points["delta"].min() < -1.0


def pk_concentration(x, t):
    """C = (D/V) exp(-(CL/V) t) with D = 100 and its gradient in (log10 V, log10 CL)."""
    volume, clearance = 10.0 ** np.asarray(x)
    c = 100.0 / volume * np.exp(-clearance / volume * t)
    return c, np.log(10.0) * np.stack([c * (clearance / volume * t - 1.0), -c * clearance / volume * t], axis=-1)


@pytest.fixture(scope="module")
def pk():
    """PK with the dose known, fitted in closed form (least squares from three starts), and the
    prediction profile of C at t = 20."""
    problem = load("pk_fixed_dose")
    t, m = problem.measurements["time"].to_numpy(), problem.values
    fits = [
        scipy.optimize.least_squares(lambda x: (pk_concentration(x, t)[0] - m) / 0.1, x0,
                                     jac=lambda x: pk_concentration(x, t)[1] / 0.1, bounds=problem.parameters.bounds(),
                                     xtol=1e-15, ftol=1e-15, gtol=1e-15)
        for x0 in fimflow.latin_hypercube_starts(problem, 3, seed=0)
    ]
    x_best = min(fits, key=lambda f: f.cost).x
    spec = fimflow.PredictionSpec(id="C", condition="bolus", times=(2.0, 20.0), observable="C")
    nll_best = -fimflow.log_likelihood(problem, x_best)
    return problem, x_best, nll_best, spec, prediction_profile(problem, spec, 20.0, x_best)


def test_pk_profile_points_are_constrained_optima(pk):
    problem, x_best, nll_best, spec, profile = pk
    # delta method in closed form: FIM = J^T J / sigma^2 at the measurement times
    _, jacobian = pk_concentration(x_best, problem.measurements["time"].to_numpy())
    centre, gradient = pk_concentration(x_best, 20.0)
    sd = np.sqrt(gradient @ np.linalg.solve(jacobian.T @ jacobian / 0.1**2, gradient))
    assert profile.value == pytest.approx(centre, rel=1e-7)  # the ODE solve against the closed form
    assert (profile.lower_end, profile.upper_end) == ("crossed", "crossed")
    assert profile.lower < profile.value < profile.upper
    # same scale as the delta method, skewed upwards (C is convex in log CL)
    z = norm.ppf(0.975)
    lower_shift, upper_shift = (profile.lower - (centre - z * sd)) / sd, (profile.upper - (centre + z * sd)) / sd
    assert 0.0 < lower_shift < 0.3 and 0.0 < upper_shift < 0.3, (lower_shift, upper_shift)
    points = profile.points
    assert points["nll"].min() >= nll_best - 1e-8
    assert np.all(points.loc[points["direction"] != "best", "status"] == "converged")
    # independent check of one point: SLSQP on the log-likelihood with the equality constraint
    inside = points[(points["delta"] < THRESHOLD) & (points["direction"] == "upper")]
    point = inside.loc[inside["delta"].idxmax()]
    z_point = point["prediction_value"]

    def nll(x):
        return -fimflow.log_likelihood(problem, x)

    result = scipy.optimize.minimize(
        nll, x_best, jac=lambda x: central_difference(nll, x, step=1e-6), method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda x: pk_concentration(x, 20.0)[0] - z_point,
                      "jac": lambda x: pk_concentration(x, 20.0)[1]}],
        options={"ftol": 1e-13, "maxiter": 200},
    )
    assert result.success, result.message
    assert pk_concentration(result.x, 20.0)[0] == pytest.approx(z_point, rel=1e-9)
    assert result.fun == pytest.approx(point["nll"], abs=1e-5)
    np.testing.assert_allclose(result.x, point[list(problem.parameter_ids)].to_numpy(dtype=float), atol=1e-4)


def test_refinement_stops_at_a_penalised_fit_that_did_not_converge(pk, monkeypatch):
    """Points of unconverged fits are not on the profile: the crossing is not refined on them
    (before: 30 secant steps per side on optimiser noise, Boehm_JProteomeRes2014 256 s)."""
    from fimflow.predict import _prediction_profile as module

    problem, x_best, _, spec, exact = pk
    rng, exact_minimize = np.random.default_rng(0), module.trust_region_minimize

    def unconverged(*args, **kwargs):  # an optimiser that stops off the profile, as on a hard problem
        out = exact_minimize(*args, **kwargs)
        return dataclasses.replace(out, x=out.x + rng.normal(0.0, 1e-4, out.x.shape), status="max_iterations")

    monkeypatch.setattr(module, "trust_region_minimize", unconverged)
    options = PredictionProfileOptions(max_points=8)
    profile = prediction_profile(problem, spec, 20.0, x_best, options=options)
    points = profile.points[profile.points["direction"] != "best"]
    assert set(points["status"]) == {"max_iterations"}
    assert (profile.lower_end, profile.upper_end) == ("crossed", "crossed")
    for direction in ("lower", "upper"):  # walk points plus at most one refinement point per side
        assert (points["direction"] == direction).sum() <= options.max_points + 1
    # the crossing interpolated between the last points is still near the exact one
    np.testing.assert_allclose([profile.lower, profile.upper], [exact.lower, exact.upper], rtol=1e-2)


def test_ensemble_bands(pk):
    problem, x_best, _, spec, profile = pk
    members = ensemble_from_profiles(profile.points, problem.parameter_ids, profile.threshold)
    assert len(members) == int(np.sum(profile.points["delta"] <= profile.threshold)) > 6
    # members that are all the best fit (as many as below, one compiled program): the band collapses
    single = ensemble_bands(problem, [spec], np.tile(x_best, (len(members), 1)), x_best)
    # (the members and the best fit are lanes of one batch: round-off apart)
    np.testing.assert_allclose(single["lower"], single["value"], rtol=1e-14)
    np.testing.assert_allclose(single["upper"], single["value"], rtol=1e-14)
    assert list(single["n_members"]) == [len(members)] * 2 and list(single["n_failed"]) == [0, 0]
    bands = ensemble_bands(problem, [spec], members, x_best)
    assert np.all(bands["lower"] <= bands["value"]) and np.all(bands["value"] <= bands["upper"])
    assert np.all(bands["lower"] < bands["upper"])
    np.testing.assert_allclose(bands["value"], single["value"], rtol=1e-14)
    # at t = 20 the members are the prediction profile's own points within the threshold: the
    # ensemble reproduces their predictions (another program, solved to t = 2 and 20: the ODE
    # tolerance apart), inside the profile interval
    at = bands.set_index("time").loc[20.0]
    inside = profile.points.loc[profile.points["delta"] <= profile.threshold, "prediction_value"]
    np.testing.assert_allclose([at["lower"], at["upper"]], [inside.min(), inside.max()], rtol=1e-8)
    assert profile.lower * (1 - 1e-8) <= at["lower"] and at["upper"] <= profile.upper * (1 + 1e-8)
    assert at["upper"] - at["lower"] > 0.95 * (profile.upper - profile.lower)


def test_ensemble_from_profiles_keeps_rows_within_threshold():
    frames = [
        pd.DataFrame({"V": [1.0, 1.1, 1.2, 1.3], "CL": [0.3, 0.2, 0.1, 0.0], "delta": [0.0, 1.0, 2.5, np.nan]}),
        pd.DataFrame({"CL": [0.3, 0.5], "V": [1.0, 0.9], "delta": [0.0, 1.9]}),
    ]
    members = ensemble_from_profiles(frames, ("V", "CL"), THRESHOLD)
    np.testing.assert_array_equal(members, [[1.0, 0.3], [1.1, 0.2], [0.9, 0.5]])
    assert ensemble_from_profiles(frames[0], ("V", "CL"), -1.0).shape == (0, 2)
    with pytest.raises(ValueError, match=r"profile table 2 lacks column\(s\) \['CL'\]"):
        ensemble_from_profiles([*frames, pd.DataFrame({"V": [1.0], "delta": [0.0]})], ("V", "CL"), THRESHOLD)
    with pytest.raises(ValueError, match="`threshold` must be a finite number"):
        ensemble_from_profiles(frames, ("V", "CL"), np.nan)


def test_ensemble_drops_members_whose_solve_fails(tmp_path):
    # y' = k y^2, y(0) = 1: y = 1/(1 - k t) blows up at t = 1/k
    problem = write_problem(tmp_path / "blowup", "blowup_model:Blowup", [("k", "lin", 0, 10, 0.05, 1)],
                            [(1.0, 1.05), (2.0, 1.1)])
    objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(max_steps=2000))
    spec = fimflow.PredictionSpec(id="y", condition="c", times=(5.0, 1.0), state="y")
    bands = ensemble_bands(problem, [spec], np.array([[0.1], [0.5], [0.02]]), np.array([0.05]), objective=objective)
    assert list(bands["time"]) == [1.0, 5.0]
    assert list(bands["n_members"]) == [2, 2] and list(bands["n_failed"]) == [1, 1]
    exact = lambda k, t: 1.0 / (1.0 - k * t)  # noqa: E731
    np.testing.assert_allclose(bands["value"], [exact(0.05, 1.0), exact(0.05, 5.0)], rtol=1e-6)
    np.testing.assert_allclose(bands["lower"], [exact(0.02, 1.0), exact(0.02, 5.0)], rtol=1e-6)
    np.testing.assert_allclose(bands["upper"], [exact(0.1, 1.0), exact(0.1, 5.0)], rtol=1e-6)


def test_bad_input_is_rejected():
    problem = load("pk_fixed_dose")
    x = problem.parameters.nominal_theta()
    good = fimflow.PredictionSpec(id="C", condition="bolus", times=(1.0, 20.0), observable="C")
    oral = fimflow.PredictionSpec(id="x", condition="oral", times=(1.0,), observable="C")
    with pytest.raises(ValueError, match="unknown condition 'oral'"):
        prediction_profile(problem, oral, 1.0, x)
    with pytest.raises(ValueError, match="'A' is not an observable"):
        prediction_profile(problem, dataclasses.replace(good, observable="A"), 1.0, x)
    with pytest.raises(ValueError, match=r"time 5\.0 is not one of its `times` \[1\.0, 20\.0\]"):
        prediction_profile(problem, good, 5.0, x)
    with pytest.raises(ValueError, match="`x_best` must hold the 2 estimated parameters"):
        prediction_profile(problem, good, 1.0, x[:1])
    with pytest.raises(ValueError, match="lies outside the bounds"):
        prediction_profile(problem, good, 1.0, x + 10.0)
    with pytest.raises(ValueError, match=r"`times` \[7\.0\] belong to no prediction"):
        prediction_profile_bands(problem, [good], x, times=[1.0, 7.0])
    with pytest.raises(ValueError, match=r"`members` must be an \(n_members, 2\) array"):
        ensemble_bands(problem, [good], x, x)
    with pytest.raises(ValueError, match="unknown condition"):
        ensemble_bands(problem, [oral], x[None, :], x)
    with pytest.raises(ValueError, match="`level` must be in"):
        PredictionProfileOptions(level=1.5)
    with pytest.raises(ValueError, match="`relative_penalty` must be in"):
        PredictionProfileOptions(relative_penalty=0.0)
