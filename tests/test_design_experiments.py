"""Designing experiments: candidate second-dose times and dose amounts of the repeated-dosing PK
example (PEtab v2, data/pk_repeated_dose) ranked by the D-criterion, against the closed form of the
one-compartment model with bolus doses (its Fisher information by sympy's derivatives)."""

import os

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import fimflow
from helpers import REPO

PROBLEM = os.path.join(REPO, "data", "pk_repeated_dose", "problem.yaml")


def closed_form_fim(times, tau, dose, x):
    """Expected FIM on the estimation scale (log10 V, log10 CL, log10 sigma) of concentrations
    C(t) = dose/V (exp(-k t) + exp(-k (t - tau)) [t >= tau]), k = CL/V, normal noise sigma."""
    lv, lcl, ls = sp.symbols("lv lcl ls", real=True)
    V, CL, sigma = 10**lv, 10**lcl, 10**ls
    t, T = sp.symbols("t T", real=True)
    k = CL / V
    point = dict(zip((lv, lcl, ls), x))
    fim = np.zeros((3, 3))
    for ti in times:
        mu = dose / V * (sp.exp(-k * t) + (sp.exp(-k * (t - T)) if ti >= tau else 0))
        grad = np.array([float(sp.diff(mu, s).subs({**point, t: ti, T: tau})) for s in (lv, lcl, ls)])
        grad_s = np.array([float(sp.diff(sigma, s).subs(point)) for s in (lv, lcl, ls)])
        s2 = float(sigma.subs(point)) ** 2
        fim += np.outer(grad, grad) / s2 + 2 * np.outer(grad_s, grad_s) / s2
    return fim


@pytest.fixture(scope="module")
def problem():
    return fimflow.load_petab(PROBLEM)


def test_second_dose_time_ranks_as_the_closed_form(problem):
    x = problem.parameters.nominal_theta()
    times = problem.measurements["time"].astype(float).to_numpy()
    grid = np.arange(2.0, 30.0, 2.0)
    ranked = fimflow.rank_experiments(problem, x, "two_doses", pd.DataFrame({"period1.start": grid}))
    current = closed_form_fim(times, 12.0, 100.0, x)
    expected = {tau: np.linalg.slogdet(current + closed_form_fim(times, tau, 100.0, x))[1] for tau in grid}
    for tau, value in zip(ranked["period1.start"], ranked["criterion"]):
        assert value == pytest.approx(expected[tau], abs=1e-6)
    best = max(expected, key=expected.get)
    assert ranked["period1.start"].iloc[0] == best
    # not a flat criterion: the worst candidate has clearly less information
    assert ranked["criterion"].iloc[0] - ranked["criterion"].iloc[-1] > 0.05
    assert list(ranked["rank"]) == list(range(1, len(grid) + 1)) and ranked["efficiency"].iloc[0] == 1.0


def test_dose_amounts_rank_and_add_information_as_the_closed_form(problem):
    x = problem.parameters.nominal_theta()
    times = problem.measurements["time"].astype(float).to_numpy()
    doses = [25.0, 100.0, 400.0]
    fims = fimflow.experiment_fims(problem, x, "two_doses", pd.DataFrame({"dose": doses}))
    for dose, fim in zip(doses, fims):
        np.testing.assert_allclose(fim, closed_form_fim(times, 12.0, dose, x), rtol=1e-6)
    ranked = fimflow.rank_experiments(problem, x, "two_doses", pd.DataFrame({"dose": doses}), include_current=False)
    assert list(ranked["dose"]) == [400.0, 100.0, 25.0]  # a larger dose rises further above the noise


def test_settings_that_are_not_design_settings_are_refused_by_name(problem):
    x = problem.parameters.nominal_theta()
    with pytest.raises(ValueError, match=r"'V' is an estimated parameter"):
        fimflow.rank_experiments(problem, x, "two_doses", pd.DataFrame({"V": [5.0]}))
    with pytest.raises(ValueError, match=r"has no period 2"):
        fimflow.rank_experiments(problem, x, "two_doses", pd.DataFrame({"period2.start": [5.0]}))
    with pytest.raises(ValueError, match=r"neither a fixed parameter"):
        fimflow.rank_experiments(problem, x, "two_doses", pd.DataFrame({"volume": [5.0]}))
    with pytest.raises(ValueError, match=r"unknown experiment 'three_doses'"):
        fimflow.rank_experiments(problem, x, "three_doses", pd.DataFrame({"dose": [5.0]}))
    with pytest.raises(ValueError, match=r"one value per candidate each, got lengths \{'dose': 2, 'period1.start': 1\}"):
        fimflow.check_experiment_settings(problem, "two_doses", {"dose": [1.0, 2.0], "period1.start": [5.0]})
