"""Profile likelihoods: Wald intervals on a linear-Gaussian model, closed-form PK profiles, flat
profiles of a structurally non-identifiable model (also where a parameter dragged along the flat
direction meets its bound), the flat-side rule on hand-made tables, bounds, failed solves, a
better optimum, the points-table round trip, bad arguments, and pyPESTO's profiles of
Boehm_JProteomeRes2014."""

import logging
import os
import time

import diffrax
import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats

import fimflow
from conftest import SHARED
from fimflow.results import _files as _io
from fimflow.fit import FitOptions, batch_kernel
from fimflow.identify._profile_verdict import side_end
from fimflow.identify._profile import (
    ProfileOptions,
    profile_parameter,
    profile_summary,
    profile_threshold,
    summarise_profile,
)

from helpers import load

LINEAR_TRUTH = np.array([1.0, 0.5, -0.03])  # a, b, c of y = a + b t + c t^2
LINEAR_SIGMA = 0.2
LINEAR_TIMES = np.arange(0.0, 11.0)
BOEHM = os.path.join(SHARED, "benchmark_models", "Boehm_JProteomeRes2014", "Boehm_JProteomeRes2014.yaml")
# the small test models are not stiff: an explicit solver compiles in half the time of Kvaerno5
EXPLICIT = fimflow.SolverConfig(rtol=1e-10, atol=1e-12, solver=diffrax.Tsit5())
PARAMETER_HEADER = "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
MEASUREMENT_HEADER = "observableId\tsimulationConditionId\ttime\tmeasurement\tnoiseParameters\n"


class Profiler:
    """A problem with its objective and one compiled kernel shared by all its profiles."""

    def __init__(self, problem, config=EXPLICIT):
        self.problem = problem
        self.objective = fimflow.Objective.from_problem(problem, config)
        self.evaluate = batch_kernel(self.objective, FitOptions())

    def __call__(self, parameter, x, options=ProfileOptions()):
        return profile_parameter(self.problem, parameter, x, objective=self.objective, options=options,
                                 evaluate=self.evaluate)


def write_problem(folder, model, parameters, measurements):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problem.yaml").write_text(
        f"format: fimflow-python-1\nmodel: {model}\nparameters: parameters.tsv\nmeasurements: measurements.tsv\n")
    (folder / "parameters.tsv").write_text(PARAMETER_HEADER + parameters)
    (folder / "measurements.tsv").write_text(MEASUREMENT_HEADER + measurements)
    return fimflow.load_problem(str(folder / "problem.yaml"))


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """Synthetic data of the linear model, its profiler and the least-squares fit (numpy)."""
    design = np.stack([np.ones_like(LINEAR_TIMES), LINEAR_TIMES, LINEAR_TIMES**2], axis=1)
    data = design @ LINEAR_TRUTH + LINEAR_SIGMA * np.random.default_rng(5678).standard_normal(len(LINEAR_TIMES))
    problem = write_problem(
        tmp_path_factory.mktemp("linear"), "linear_model:LinearModel",
        "".join(f"{p}\tlin\t-50\t50\t0\t1\n" for p in ("a", "b", "c")),
        "".join(f"y\tc0\t{t:g}\t{float(m)!r}\t{LINEAR_SIGMA}\n" for t, m in zip(LINEAR_TIMES, data)),
    )
    x_hat = np.linalg.lstsq(design, data, rcond=None)[0]
    fim = design.T @ design / LINEAR_SIGMA**2
    return Profiler(problem), x_hat, fim


@pytest.fixture(scope="module")
def linear_profiles(linear):
    profiler, x_hat, _ = linear
    return {pid: profiler(pid, x_hat) for pid in ("a", "b", "c")}


def pk_closed_form(volume, clearance, t, dose=100.0):
    """C = D/V exp(-(CL/V) t), linear scale."""
    return dose / volume * np.exp(-clearance / volume * t)


def pk_noise_free(name):
    """The PK problem with the closed-form concentrations at its nominal parameters as data."""
    problem = load(name)
    table = problem.parameters
    volume, clearance = table.nominal[[table.ids.index("V"), table.ids.index("CL")]]
    return problem.with_measurements(pk_closed_form(volume, clearance, problem.measurements["time"].to_numpy()))


@pytest.fixture(scope="module")
def pk_full():
    return Profiler(pk_noise_free("pk_full"))


@pytest.fixture(scope="module")
def pk_fixed_dose():
    return Profiler(pk_noise_free("pk_fixed_dose"))


def test_threshold_is_half_the_chi2_quantile():
    assert profile_threshold() == pytest.approx(1.9207294103471672, rel=1e-14)
    assert profile_threshold(0.95, 3) == profile_threshold()
    assert profile_threshold(0.95, 3, simultaneous=True) == pytest.approx(scipy.stats.chi2.ppf(0.95, 3) / 2, rel=1e-14)
    one_sigma = scipy.stats.norm.cdf(1.0) - scipy.stats.norm.cdf(-1.0)  # +-1 sd of a normal: rise 1/2
    assert profile_threshold(one_sigma) == pytest.approx(0.5, rel=1e-12)


def test_linear_gaussian_profiles_equal_wald_intervals(linear, linear_profiles):
    profiler, x_hat, fim = linear
    kernel_fim = np.asarray(profiler.evaluate(x_hat[None, :])[2][0])
    np.testing.assert_allclose(kernel_fim, fim, rtol=1e-9)  # expected FIM = X^T X / sigma^2
    covariance = np.linalg.inv(fim)
    half_width = np.sqrt(scipy.stats.chi2.ppf(0.95, 1) * np.diag(covariance))
    for k, pid in enumerate(("a", "b", "c")):
        result = linear_profiles[pid]
        assert (result.verdict, result.lower_end, result.upper_end) == ("identifiable", "crossed", "crossed")
        assert result.better_nll is None and result.estimate == x_hat[k]
        assert not (result.lower_flat or result.upper_flat) and (result.points["others_at_bound"] == 0).all()
        np.testing.assert_allclose([result.lower, result.upper], [x_hat[k] - half_width[k], x_hat[k] + half_width[k]],
                                   rtol=1e-6, atol=1e-6)
        assert abs(result.lower - (x_hat[k] - half_width[k])) < 1e-8 * half_width[k]
        assert abs(result.upper - (x_hat[k] + half_width[k])) < 1e-8 * half_width[k]
        # the whole profile: delta = (v - x_k)^2 / (2 Sigma_kk), the others on the conditional mean
        points = result.points[result.points["status"] != "failed"]
        v = points["value"].to_numpy()
        np.testing.assert_allclose(points["delta"], (v - x_hat[k]) ** 2 / (2 * covariance[k, k]), atol=1e-8)
        others = [j for j in range(3) if j != k]
        conditional = x_hat[others] + np.outer(v - x_hat[k], covariance[others, k] / covariance[k, k])
        np.testing.assert_allclose(points[["a", "b", "c"]].to_numpy()[:, others], conditional,
                                   atol=1e-7 * np.sqrt(np.diag(covariance))[others].max())
        assert set(result.points["status"]) == {"optimum", "ok", "crossing"}
        assert 3 <= (result.points["direction"] == -1).sum() <= 12 and 3 <= (result.points["direction"] == 1).sum() <= 12


ROUND_TRIP_FIELDS = ("lower", "upper", "lower_end", "upper_end", "lower_flat", "upper_flat", "verdict", "better_nll",
                     "estimate")


def assert_same_result(again, result):
    for field in ROUND_TRIP_FIELDS:
        assert getattr(again, field) == getattr(result, field), field
    pd.testing.assert_frame_equal(again.points, result.points)


def test_summarise_round_trips_through_tsv(linear_profiles, pk_full, tmp_path):
    cut = pk_full("CL", pk_full.problem.parameters.nominal_theta())  # a flat side cut by a bound, others_at_bound > 0
    for result in (*linear_profiles.values(), cut):
        path = tmp_path / f"{result.parameter_id}.tsv"
        result.points.to_csv(path, sep="\t", index=False)
        for points in (result.points, pd.read_csv(path, sep="\t")):
            assert_same_result(summarise_profile(points, result.parameter_id, result.optimum_nll, result.threshold,
                                                 result.flat_tolerance), result)
        _io.write_profile(tmp_path / "io.tsv", result, flat_tolerance=result.flat_tolerance)
        assert_same_result(_io.read_profile(tmp_path / "io.tsv"), result)
    assert list(cut.points.columns) == ["value", "nll", "delta", "direction", "status", "n_iterations",
                                        "others_at_bound", "bound_parameters", "D", "V", "CL"]
    summary = profile_summary([*linear_profiles.values(), cut])
    assert list(summary["parameterId"]) == ["a", "b", "c", "CL"]
    assert list(summary.columns) == ["parameterId", "estimate", "lower", "upper", "lower_end", "upper_end",
                                     "lower_flat", "upper_flat", "verdict", "threshold", "better_nll", "n_points"]
    assert list(summary["lower_flat"]) == [False, False, False, True] and summary["upper_flat"].iloc[3]
    summary = summary.iloc[:3]
    assert summary["better_nll"].isna().all() and (summary["lower"] < summary["estimate"]).all()


def hand_made(lower, upper, optimum_others=0):
    """A points table: the optimum at 0 (NLL 10) and, per side, rows (value, delta, status, others_at_bound)."""
    def ids(n):  # the first n of the other parameters q0, q1, ... are at a bound
        return ",".join(f"q{i}" for i in range(n))

    rows = [(0.0, 10.0, 0.0, 0, "optimum", 0, optimum_others, ids(optimum_others), 0.0)]
    for direction, side in ((-1, lower), (1, upper)):
        rows += [(v, 10.0 + d, d, direction, status, 2, others, ids(others), v) for v, d, status, others in side]
    return pd.DataFrame.from_records(rows, columns=["value", "nll", "delta", "direction", "status", "n_iterations",
                                                    "others_at_bound", "bound_parameters", "p"])


def test_flat_side_rule_on_hand_made_tables():
    threshold, tolerance = profile_threshold(), 1e-3
    # flat, then a rise once another parameter reaches its bound (others_at_bound 0 -> 1), crossing
    cut = [(1.0, 0.0, "ok", 0), (2.0, 5e-4, "ok", 0), (2.5, 0.3, "ok", 1), (2.8, threshold, "crossing", 1),
           (2.9, 2.5, "ok", 1)]
    # the same values rising with nobody at a bound: a (shallow) data-driven profile
    rise = [(v, d, status, 0) for v, d, status, _ in cut]
    crossed = [(-0.5, 0.5, "ok", 0), (-0.8, threshold, "crossing", 0), (-0.9, 2.4, "ok", 0)]
    flat_to_bound = [(-1.0, 1e-5, "ok", 0), (-2.0, -2e-5, "bound", 0)]
    cases = [  # lower, upper -> lower_flat, upper_flat, verdict
        (crossed, cut, False, True, "practically non-identifiable"),
        (crossed, rise, False, False, "identifiable"),
        (flat_to_bound, cut, True, True, "structurally non-identifiable"),
        (flat_to_bound, rise, True, False, "practically non-identifiable"),
        # cut at once: no flat point beyond the optimum, but another parameter is at a bound all along
        # that side (bound-limited: its rise is the bound's doing), so the flat lower side decides
        (flat_to_bound, cut[2:], True, False, "structurally non-identifiable"),
        (crossed, cut[2:], False, False, "identifiable"),
        # a rise of 2e-3 before the bound is met ends the flat stretch
        (flat_to_bound, [cut[0], (2.0, 2e-3, "ok", 0), *cut[2:]], True, False, "practically non-identifiable"),
        # flat until max_points (no bound, no crossing), and flat until a failed solve
        (flat_to_bound[:1], cut[:2], True, True, "structurally non-identifiable"),
        (flat_to_bound, [*cut[:2], (3.0, np.nan, "failed", 0)], True, False, "practically non-identifiable"),
        (flat_to_bound, [*cut[:2], (3.0, np.nan, "failed", 1)], True, True, "structurally non-identifiable"),
    ]
    for lower, upper, lower_flat, upper_flat, verdict in cases:
        result = summarise_profile(hand_made(lower, upper), "p", 10.0, threshold, tolerance)
        assert (result.lower_flat, result.upper_flat, result.verdict) == (lower_flat, upper_flat, verdict), (lower, upper)
    result = summarise_profile(hand_made(crossed, cut), "p", 10.0, threshold, tolerance)
    assert (result.lower, result.upper, result.lower_end, result.upper_end) == (-0.8, 2.8, "crossed", "crossed")
    # a parameter at its bound already at the optimum: only a further one ends the flat stretch
    shifted = [(v, d, status, others + 1) for v, d, status, others in cut]
    assert summarise_profile(hand_made(flat_to_bound, cut, 1), "p", 10.0, threshold, tolerance).upper_flat is False
    assert summarise_profile(hand_made(flat_to_bound, shifted, 1), "p", 10.0, threshold, tolerance).upper_flat is True


def test_better_optimum_is_reported(linear, caplog):
    profiler, x_hat, fim = linear
    start = x_hat + np.array([0.0, 0.5, 0.0]) * np.sqrt(np.diag(np.linalg.inv(fim)))  # a worse "best fit"
    with caplog.at_level(logging.WARNING, logger="fimflow.identify._profile"):
        result = profiler("a", start, ProfileOptions(max_points=3))
    optimum = result.optimum_nll
    assert result.better_nll is not None and result.better_nll < optimum - 1e-3
    assert result.points["delta"].min() < 0
    assert any("found a better fit" in r.message and "a =" in r.message for r in caplog.records)


def test_pk_full_profiles_are_flat(pk_full):
    # D, V and CL enter only as D/V and CL/V: the profile moves along (1, 1, 1) on log10 scale
    problem = pk_full.problem
    x = problem.parameters.nominal_theta()
    for pid in problem.parameter_ids:
        result = pk_full(pid, x, ProfileOptions(max_points=4))
        assert result.verdict == "structurally non-identifiable" and result.lower_flat and result.upper_flat
        assert (result.lower_end, result.upper_end) == ("max_points", "max_points")
        assert (result.points["others_at_bound"] == 0).all()
        assert (result.lower, result.upper) == (-np.inf, np.inf)
        assert np.abs(result.points["delta"]).max() < 1e-9
        assert np.ptp(result.points["value"]) == pytest.approx(8 * 0.4, rel=1e-12)  # 4 steps of max_step each way
        vectors = result.points[["D", "V", "CL"]].to_numpy()
        np.testing.assert_allclose(vectors - vectors[:, :1], np.tile(x - x[0], (len(vectors), 1)), atol=1e-6)


def closed_form_profile(problem, k, value):
    """The PK profile at `value` of parameter `k`: the closed form's NLL (sigma 0.1, no constant
    terms) minimised over the other two within their bounds by L-BFGS-B, started on the flat
    direction (1, 1, 1) from the nominal values."""
    t, data = problem.measurements["time"].to_numpy(), problem.values
    x, (lb, ub) = problem.parameters.nominal_theta(), problem.parameters.bounds()
    others = [j for j in range(3) if j != k]

    def nll(z):
        dose, volume, clearance = 10.0 ** np.insert(z, k, value)
        return 0.5 * np.sum(((pk_closed_form(volume, clearance, t, dose) - data) / 0.1) ** 2)

    start = np.clip(x[others] + (value - x[k]), lb[others], ub[others])
    fit = scipy.optimize.minimize(nll, start, method="L-BFGS-B", bounds=list(zip(lb[others], ub[others])),
                                  options={"ftol": 1e-15, "gtol": 1e-12})
    return fit.fun


def test_pk_full_profiles_cut_by_bounds_are_structural(pk_full):
    # default options: each profile follows (1, 1, 1) on log10 scale until a parameter meets a bound.
    # D down to its bound 0 (V reaches -1 there): flat. D up: CL reaches its bound 2 at D = 3.699,
    # beyond it the NLL rises (the bound, not the data) and crosses. Likewise V up (CL), CL down
    # (D at 0 from CL = -1.699). CL up reaches its own bound with D, V inside: flat throughout.
    problem = pk_full.problem
    x = problem.parameters.nominal_theta()
    expected = {"D": ("bound", "crossed", (2.0, 4.0)), "V": ("bound", "crossed", (1.0, 3.0)),
                "CL": ("crossed", "bound", (-2.0, np.log10(2.0) - 2.0))}
    for k, (pid, (lower_end, upper_end, bracket)) in enumerate(expected.items()):
        result = pk_full(pid, x)
        assert result.verdict == "structurally non-identifiable" and result.lower_flat and result.upper_flat, pid
        assert (result.lower_end, result.upper_end) == (lower_end, upper_end)
        points = result.points
        crossed = -1 if lower_end == "crossed" else 1
        inside = points[points["others_at_bound"] == 0]
        assert np.abs(inside["delta"]).max() < 1e-9
        assert (points.loc[points["status"] == "bound", "value"] == (0.0, -1.0, 2.0)[k]).all()
        # the rise begins where one other parameter sits at its bound
        rising = points[(points["direction"] == crossed) & (points["delta"] > 1e-3)]
        assert len(rising) >= 3 and (rising["others_at_bound"] >= 1).all()
        reference = scipy.optimize.brentq(lambda v: closed_form_profile(problem, k, v) - profile_threshold(), *bracket,
                                          xtol=1e-12)
        bound = result.upper if crossed == 1 else result.lower
        assert bound == pytest.approx(reference, abs=1e-6)
        assert (result.lower if crossed == 1 else result.upper) == -crossed * np.inf


def test_pk_fixed_dose_profiles_match_closed_form(pk_fixed_dose):
    problem = pk_fixed_dose.problem
    x = problem.parameters.nominal_theta()
    t, data = problem.measurements["time"].to_numpy(), problem.values

    def nll(z):  # sigma 0.1, without the constant terms
        return 0.5 * np.sum(((pk_closed_form(*10.0 ** np.asarray(z), t) - data) / 0.1) ** 2)

    for k, pid in enumerate(problem.parameter_ids):
        result = pk_fixed_dose(pid, x)
        assert (result.verdict, result.lower_end, result.upper_end) == ("identifiable", "crossed", "crossed")
        assert (result.lower_flat, result.upper_flat) == (False, False)
        assert result.lower < result.estimate == x[k] < result.upper

        def profile(v):
            other = scipy.optimize.minimize_scalar(
                lambda w: nll(np.insert([w], k, v)), bounds=(x[1 - k] - 0.1, x[1 - k] + 0.1), method="bounded",
                options={"xatol": 1e-12})
            return other.fun

        for bound, inside in ((result.lower, x[k] - 1e-4), (result.upper, x[k] + 1e-4)):
            outside = x[k] + 2.0 * (bound - x[k])
            reference = scipy.optimize.brentq(lambda v: profile(v) - profile_threshold(), inside, outside, xtol=1e-13)
            assert bound == pytest.approx(reference, abs=1e-7)


def test_failed_solves_end_the_side(tmp_path):
    # y' = k y^2, y(0) = 1 blows up at t = 1/k: with data at t = 1.5, every k > 2/3 fails to solve
    problem = write_problem(tmp_path / "blowup", "blowup_model:Blowup", "k\tlin\t0.01\t1\t0.5\t1\n",
                            "y\tc\t1.5\t4.0\t1e4\n")
    profiler = Profiler(problem, fimflow.SolverConfig(max_steps=2000, solver=diffrax.Tsit5()))
    result = profiler("k", np.array([0.5]), ProfileOptions(max_points=20, min_step=1e-3))
    upper = result.points[result.points["direction"] == 1]
    assert result.upper_end == "failed" and result.upper == np.inf
    assert upper["status"].iloc[-1] == "failed" and np.isnan(upper["nll"].iloc[-1])
    assert 2 / 3 < upper["value"].iloc[-1] < 2 / 3 + 0.1 and (upper["value"].iloc[:-1] < 2 / 3).all()
    # the lower side is flat to k's bound; a side ended by a failed solve is flat only if another
    # parameter's bound ended its flat stretch (there is none), so the verdict is practical
    assert result.lower_end == "bound" and result.lower_flat and not result.upper_flat
    assert np.abs(result.points["delta"]).max() < 1e-3 and result.verdict == "practically non-identifiable"


def test_bad_arguments_name_the_problem(linear):
    profiler, x_hat, _ = linear
    with pytest.raises(ValueError, match="`parameter` 'd' is not an estimated parameter"):
        profiler("d", x_hat)
    with pytest.raises(ValueError, match=r"`x_best` must have shape \(3,\)"):
        profiler("a", x_hat[:2])
    with pytest.raises(ValueError, match=r"outside the bounds .* \['b'\]"):
        profiler("a", x_hat + np.array([0.0, 100.0, 0.0]))
    with pytest.raises(ValueError, match="`max_points` must be >= 1"):
        ProfileOptions(max_points=0)
    with pytest.raises(ValueError, match="`min_step` <= `max_step`"):
        ProfileOptions(min_step=0.5, max_step=0.1)
    with pytest.raises(ValueError, match="'trust_fim'"):
        ProfileOptions(fit=FitOptions(method="lbfgsb"))
    with pytest.raises(ValueError, match="`level` must be in"):
        profile_threshold(1.5)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['status'\]"):
        summarise_profile(pd.DataFrame({"value": [0.0], "nll": [1.0], "delta": [0.0], "direction": [0],
                                        "n_iterations": [0], "others_at_bound": [0], "bound_parameters": [""]}),
                          "a", 1.0, 1.92, 1e-3)


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isfile(BOEHM), reason=f"Boehm_JProteomeRes2014 is not at {BOEHM} (a clone without ../shared)")
def test_boehm_profiles_match_pypesto():
    tic = time.perf_counter()
    problem = fimflow.load_petab(BOEHM)
    profiler = Profiler(problem, fimflow.SolverConfig())
    fit = fimflow.fit_multistart(problem, problem.parameters.nominal_theta()[None, :], objective=profiler.objective)
    x = fit.x[fit.best()]
    results = {pid: profiler(pid, x) for pid in ("k_phos", "k_imp_homo", "k_exp_hetero")}
    phos = results["k_phos"]
    assert phos.verdict == "identifiable"
    assert phos.lower == pytest.approx(4.111, abs=0.005) and phos.upper == pytest.approx(4.291, abs=0.005)
    assert results["k_imp_homo"].upper_end == "bound" and results["k_imp_homo"].upper == np.inf
    assert results["k_exp_hetero"].lower_end == "bound" and results["k_exp_hetero"].lower == -np.inf
    for pid in ("k_imp_homo", "k_exp_hetero"):
        assert results[pid].verdict == "practically non-identifiable"
    for result in results.values():
        assert result.better_nll is None
        assert result.verdict != "structurally non-identifiable"
        assert not (result.lower_flat or result.upper_flat), result.parameter_id
    logging.getLogger(__name__).info("Boehm profiles: %.1f s", time.perf_counter() - tic)


def test_profile_ends_are_an_enum_written_as_plain_words(tmp_path):
    """A side's end is a `ProfileEnd`; tables and logs carry the plain word."""
    points = pd.DataFrame({"direction": [-1, -1, 1, 1], "status": ["ok", "crossing", "ok", "bound"],
                           "value": [0.0, -1.0, 0.5, 2.0]})
    lower = side_end(points, -1)
    upper = side_end(points, 1)
    assert lower == (fimflow.ProfileEnd.CROSSED, -1.0) and upper == (fimflow.ProfileEnd.BOUND, np.inf)
    assert f"{lower[0]} {upper[0]}" == "crossed bound" and lower[0] == "crossed"
    table = pd.DataFrame({"lower_end": [lower[0]], "upper_end": [upper[0]]})
    table.to_csv(tmp_path / "ends.tsv", sep="\t", index=False)
    assert (tmp_path / "ends.tsv").read_text() == "lower_end\tupper_end\ncrossed\tbound\n"
    assert side_end(points[points["direction"] == 1].assign(status="ok"), 1)[0] is fimflow.ProfileEnd.MAX_POINTS
