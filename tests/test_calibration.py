"""The facade `fimflow.Calibration`: one convention (problem once, `x` on the estimation scale,
solver once), checked against closed forms of the one-compartment model."""

import numpy as np
import pytest

import fimflow
from helpers import load

TIGHT = fimflow.SolverConfig(rtol=1e-10, atol=1e-12)


def test_identifiability_finds_the_scaling_symmetry_with_the_bounds_it_maps_itself():
    """C(t) = D/V exp(-CL/V t) is unchanged by D, V, CL -> aD, aV, aCL: on the log10 scale the
    FIM's null direction is (1, 1, 1)/sqrt(3), every parameter in it with share 1/3."""
    study = fimflow.Calibration(load("pk_full"), solver=TIGHT)
    x = study.x()  # the nominal values, estimation scale
    np.testing.assert_allclose(10.0 ** x, study.problem.parameters.nominal[study.problem.parameters.estimated_index])
    result = study.identifiability(x)
    assert result.analysis.rank == 2
    assert list(result.verdicts["verdict"]) == ["not identifiable"] * 3
    np.testing.assert_allclose(result.verdicts["null_share"], 1 / 3, rtol=1e-6)
    vector = result.null_directions[[f"v_{p}" for p in study.problem.parameter_ids]].to_numpy()[0]
    np.testing.assert_allclose(np.abs(vector), 1 / np.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(result.verdicts["estimate"], x)


def test_identifiable_when_the_dose_is_fixed_and_weak_when_bounds_are_tight():
    """With D fixed, V and CL are identifiable; the Wald interval is judged against the bounds
    on the estimation scale, which the facade takes from the problem (no mapping by hand)."""
    study = fimflow.Calibration(load("pk_fixed_dose"), solver=TIGHT)
    x = study.x()
    fim = study.fisher(x)
    result = study.identifiability(x, fim=fim)
    assert list(result.verdicts["verdict"]) == ["identifiable"] * 2
    se = result.verdicts["standard_error"].to_numpy()
    np.testing.assert_allclose(se, np.sqrt(np.diag(np.linalg.inv(fim.expected))), rtol=1e-10)
    # the same FIM judged with bounds narrower than 2 x 1.96 SE: weakly identifiable
    table = study.problem.parameters
    idx = table.estimated_index
    lower, upper = table.lower.copy(), table.upper.copy()
    lower[idx], upper[idx] = 10.0 ** (x - 1.9 * se), 10.0 ** (x + 1.9 * se)
    import dataclasses
    narrow = fimflow.Calibration(study.problem.with_parameters(dataclasses.replace(table, lower=lower, upper=upper)))
    verdicts = narrow.identifiability(x, fim=fim.expected).verdicts
    assert list(verdicts["verdict"]) == ["weakly identifiable"] * 2


def test_x_is_checked_and_an_empty_time_list_profiles_nothing():
    study = fimflow.Calibration(load("pk_fixed_dose"))
    with pytest.raises(ValueError, match=r"2 estimated parameters \['V', 'CL'\] on the estimation scale"):
        study.fisher(np.zeros(3))
    with pytest.raises(ValueError, match="`which` must be one of"):
        study.identifiability(study.x(), fim=np.eye(2), which="observd")
    spec = study.predictions()[0]
    empty = study.prediction_profiles(study.x(), [spec], times=[])
    assert empty.empty and list(empty.columns) == ["prediction", "time", "value", "lower", "upper", "lower_end",
                                                   "upper_end"]
    assert "pk_fixed_dose" in repr(study)
