"""PEtab v2 problems beyond the conformance suite: v1 problems converted with petab's own
converter (`petab.v2.petab1to2`) give the v1 log-likelihood and the same fit."""

import logging
import os
import warnings

import numpy as np
import pytest

import fimflow
from conftest import SHARED

MODELS = os.path.join(SHARED, "benchmark_models")


def convert(name, folder):
    """`name` of the shared benchmark problems converted to PEtab v2 in `folder`; its yaml."""
    from petab.v2.petab1to2 import petab1to2

    source = os.path.join(MODELS, name, f"{name}.yaml")
    if not os.path.isfile(source):
        pytest.skip(f"{source} is not there (a user's clone without ../shared)")
    logging.getLogger("petab").setLevel(logging.ERROR)  # the converter's notes on unused conditions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # petab 0.8's converter calls pandas APIs pandas deprecates
        petab1to2(source, folder)
    return source, os.path.join(folder, f"{name}.yaml")


@pytest.mark.parametrize("name", ["Boehm_JProteomeRes2014", "Fujita_SciSignal2010"])
def test_converted_problem_has_the_v1_log_likelihood(name, tmp_path):
    v1_yaml, v2_yaml = convert(name, tmp_path)
    v1, v2 = fimflow.load_petab(v1_yaml), fimflow.load_petab(v2_yaml)
    assert v2.parameter_ids == v1.parameter_ids
    assert v2.parameters.estimated_scales == v1.parameters.estimated_scales  # log10 where v1 had it: bounds > 0
    assert fimflow.log_likelihood(v2) == pytest.approx(fimflow.log_likelihood(v1), rel=1e-10)
    np.testing.assert_array_equal(v2.values, v1.values)


def test_fit_of_converted_boehm_reaches_the_v1_optimum(tmp_path):
    v1_yaml, v2_yaml = convert("Boehm_JProteomeRes2014", tmp_path)
    v1, v2 = fimflow.load_petab(v1_yaml), fimflow.load_petab(v2_yaml)
    lb, ub = v1.parameters.bounds()
    near = v1.parameters.nominal_theta() + np.random.default_rng(0).uniform(-0.3, 0.3, size=(2, v1.n_params))
    starts = np.vstack([np.clip(near, lb, ub), fimflow.latin_hypercube_starts(v1, 2, seed=2)])
    options = fimflow.FitOptions(threads=1)
    one, two = fimflow.fit_multistart(v1, starts, options=options), fimflow.fit_multistart(v2, starts, options=options)
    assert np.nanmin(two.nll) == pytest.approx(np.nanmin(one.nll), abs=1e-6)
    assert np.nanmin(one.nll) < 138.23  # the published optimum (NLL 138.222): the fit is not a trivial match


def test_infinite_bounds_load_and_refuse_start_sampling_by_name():
    yaml_path = os.path.join(SHARED, "petab_test_suite", "v2.0.0_sbml", "0025", "_0025.yaml")
    if not os.path.isfile(yaml_path):
        pytest.skip("the PEtab v2 suite is not there")
    problem = fimflow.load_petab(yaml_path)  # PEtab v2 accepts estimated parameters without bounds
    assert np.isinf(problem.parameters.bounds()[0][problem.parameter_ids.index("p_normal")])
    with pytest.raises(ValueError, match=r"'p_normal'.*infinite bound"):
        fimflow.latin_hypercube_starts(problem, 3, seed=0)


@pytest.mark.parametrize("kind, a, b, dist", [
    ("normal", 4.0, 2.0, lambda st: st.norm(4, 2)),
    ("laplace", 3.0, 5.0, lambda st: st.laplace(3, 5)),
    ("log-normal", 0.5, 0.8, lambda st: st.lognorm(0.8, scale=np.exp(0.5))),
    ("log-laplace", 0.5, 0.8, lambda st: st.loglaplace(1 / 0.8, scale=np.exp(0.5))),
    ("cauchy", 3.0, 5.0, lambda st: st.cauchy(3, 5)),
    ("chisquare", 4.0, 0.0, lambda st: st.chi2(4)),
    ("exponential", 3.0, 0.0, lambda st: st.expon(scale=3)),
    ("gamma", 3.0, 5.0, lambda st: st.gamma(3, scale=5)),
    ("rayleigh", 3.0, 0.0, lambda st: st.rayleigh(scale=3)),
    ("log-uniform", 0.5, 8.0, lambda st: st.loguniform(0.5, 8)),
    ("uniform", 1.0, 7.0, lambda st: st.uniform(1, 6)),
])
def test_v2_prior_densities_truncated_at_the_bounds_match_scipy(kind, a, b, dist):
    import scipy.stats as st

    from fimflow.problem import prior_nll
    from fimflow.problem._priors import V2_PRIOR_CODES, truncation_log_mass

    code = V2_PRIOR_CODES[kind][0]
    lower, upper = 0.7, 6.5
    reference = dist(st)
    mass = reference.cdf(upper) - reference.cdf(lower)
    for x in (1.0, 2.5, 6.0):
        nll = float(prior_nll(np.array([x]), np.array([x]), np.array([code]), np.array([[a, b]]),
                              np.array([truncation_log_mass(code, a, b, lower, upper)])))
        assert nll == pytest.approx(-(reference.logpdf(x) - np.log(mass)), rel=1e-12, abs=1e-13)
