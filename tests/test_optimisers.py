"""The optimisers as small immutable objects (`TrustFIM()`, `LBFGSB()`, `TRF()`) that refuse what
they cannot solve, chosen by name from a config (`FitOptions(method=...)`) or as objects, and
each start's `Status`, written and read back as its plain string."""

import dataclasses
import json

import numpy as np
import pytest

import fimflow
from fimflow import LBFGSB, TRF, FitOptions, Status, TrustFIM
from fimflow.results import read_multistart, write_multistart

from helpers import load

NAMES = {"trust_fim": TrustFIM(), "lbfgsb": LBFGSB(), "trf": TRF()}
REFUSED = r"'trf' is least squares and cannot fit this problem: {}\. Use method 'trust_fim' \(the default\) or 'lbfgsb'\."


def _laplace(problem):
    return dataclasses.replace(problem, distribution=np.ones_like(problem.distribution))


def _with_prior(problem):
    """A normal prior on the estimation scale of the second parameter (V, estimated)."""
    table = problem.parameters
    n = len(table.ids)
    codes, values = np.zeros(n, dtype=int), np.zeros((n, 2))
    codes[1], values[1] = 6, (1.0, 0.5)  # parameterScaleNormal, mean 1, sd 0.5
    return problem.with_parameters(dataclasses.replace(table, prior_codes=codes, prior_parameters=values))


def test_each_optimiser_refuses_only_what_it_cannot_solve():
    problem = load("pk_fixed_dose")
    laplace, prior = _laplace(problem), _with_prior(problem)
    assert not fimflow.Objective.from_problem(laplace).all_normal
    assert fimflow.Objective.from_problem(prior).has_priors
    for optimiser in (TrustFIM(), LBFGSB(), TRF()):
        assert optimiser.check(problem) is None
        assert optimiser.check(fimflow.Objective.from_problem(problem)) is None
    for optimiser in (TrustFIM(), LBFGSB()):
        optimiser.check(laplace)
        optimiser.check(prior)
        fimflow.check_fit_options(prior, FitOptions(optimiser=optimiser))
    with pytest.raises(ValueError, match=REFUSED.format(r"some measurements have non-normal noise \(Laplace\)")):
        TRF().check(laplace)
    with pytest.raises(ValueError, match=REFUSED.format("the parameter table sets objective priors")):
        TRF().check(fimflow.Objective.from_problem(prior))
    both = REFUSED.format(r"some measurements have non-normal noise \(Laplace\) and the parameter table sets objective priors")
    with pytest.raises(ValueError, match=both):
        fimflow.check_fit_options(_with_prior(laplace), FitOptions(optimiser=TRF()))
    with pytest.raises(ValueError, match=both):  # before any start is run
        fimflow.fit_multistart(_with_prior(laplace), problem.parameters.nominal_theta()[None], options=FitOptions(method="trf"))


def test_a_name_gives_the_same_options_as_the_object():
    for name, optimiser in NAMES.items():
        by_name, by_object = FitOptions(method=name), FitOptions(optimiser=optimiser)
        assert by_name == by_object and hash(by_name) == hash(by_object)
        assert by_name.optimiser == optimiser and by_name.method == by_object.method == name == optimiser.name
        assert fimflow.optimiser_from_name(name) == optimiser
        assert dataclasses.replace(FitOptions(max_iterations=7), method=name) == FitOptions(optimiser=optimiser, max_iterations=7)
    assert FitOptions() == FitOptions(method="trust_fim") and FitOptions().optimiser == TrustFIM()
    assert FitOptions(method="trf") != FitOptions(method="lbfgsb")
    assert fimflow.ProfileOptions(fit=FitOptions(optimiser=TrustFIM())).fit.method == "trust_fim"
    with pytest.raises(ValueError, match="trust_fim"):
        fimflow.ProfileOptions(fit=FitOptions(optimiser=LBFGSB()))


def test_an_unknown_name_names_the_choices():
    for call in (lambda: fimflow.optimiser_from_name("bfgs"), lambda: FitOptions(method="bfgs")):
        with pytest.raises(ValueError, match=r"`method` must be one of \('trust_fim', 'lbfgsb', 'trf'\), got 'bfgs'"):
            call()
    with pytest.raises(ValueError, match=r"`optimiser` must be one of TrustFIM\(\), LBFGSB\(\), TRF\(\).*`method`"):
        FitOptions(optimiser="trf")


def test_optimisers_are_frozen_and_hashable():
    assert len({TrustFIM(), TrustFIM(), LBFGSB(), LBFGSB(), TRF()}) == 3
    assert TrustFIM() == TrustFIM() and TrustFIM() != LBFGSB() and LBFGSB() != TRF()
    assert {TrustFIM(): "a", TRF(): "b"}[TRF()] == "b"
    for optimiser in NAMES.values():
        assert isinstance(optimiser, fimflow.AbstractOptimiser)
        with pytest.raises(dataclasses.FrozenInstanceError):
            optimiser.tolerance = 1.0
    options = FitOptions(method="trf")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.optimiser = LBFGSB()
    with pytest.raises(AttributeError):
        options.method = "lbfgsb"
    with pytest.raises(TypeError):
        fimflow.AbstractOptimiser()


def test_each_kernel_output_named_the_value_is_the_objective():
    """The three kernels compute the objective each their own way (FIM parts, gradient,
    residuals): the output each optimiser names as the value agrees across them."""
    objective = fimflow.Objective.from_problem(load("pk_fixed_dose"))
    thetas = np.array([[0.5, 0.0], [1.5, -0.5]])
    values = {}
    for name, optimiser in NAMES.items():
        out = fimflow.fit.batch_kernel(objective, FitOptions(optimiser=optimiser))(thetas)  # `optimiser.kernel`, stored
        values[name] = np.asarray(optimiser.value(out))
        assert values[name].shape == (2,) and np.all(np.isfinite(values[name]))
    np.testing.assert_allclose(values["lbfgsb"], values["trust_fim"], rtol=1e-12)
    np.testing.assert_allclose(values["trf"], values["trust_fim"], rtol=1e-12)


@pytest.mark.parametrize("name", ["trust_fim", "lbfgsb", "trf"])
def test_a_fit_by_name_is_the_fit_by_object(name):
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    starts = np.array([[0.5, 0.0], [1.5, -0.5]])
    by_name = fimflow.fit_multistart(problem, starts, objective=objective, options=FitOptions(method=name, max_iterations=50))
    by_object = fimflow.fit_multistart(problem, starts, objective=objective,
                                       options=FitOptions(optimiser=NAMES[name], max_iterations=50))
    np.testing.assert_array_equal(by_name.x, by_object.x)
    np.testing.assert_array_equal(by_name.nll, by_object.nll)
    np.testing.assert_array_equal(by_name.n_iterations, by_object.n_iterations)
    assert by_name.status == by_object.status and by_name.message == by_object.message
    assert all(isinstance(s, Status) for s in by_name.status) and set(by_name.status) == {Status.CONVERGED}
    # the optimiser matters: another one stops elsewhere after another number of iterations
    other = "lbfgsb" if name != "lbfgsb" else "trust_fim"
    elsewhere = fimflow.fit_multistart(problem, starts, objective=objective, options=FitOptions(method=other, max_iterations=50))
    assert not np.array_equal(elsewhere.x, by_name.x) or not np.array_equal(elsewhere.n_iterations, by_name.n_iterations)


def test_status_is_its_plain_string():
    assert [s.value for s in Status] == ["converged", "stalled", "max_iterations", "max_time", "failed"]
    for status in Status:
        assert status == status.value and str(status) == status.value and f"{status}" == status.value
        assert f"{status:>16}" == f"{status.value:>16}" and "%s" % status == status.value
        assert json.dumps({"status": status}) == json.dumps({"status": status.value})
        assert Status(status.value) is status
    assert np.asarray(list(Status), dtype=str).tolist() == [s.value for s in Status]


def _result(status):
    n = len(status)
    return fimflow.MultistartResult(
        parameter_ids=("V", "CL"),
        start_index=np.arange(n),
        x0=np.zeros((n, 2)),
        x=np.ones((n, 2)),
        nll=np.array([-1.5, 2.0, 3.0, 4.0, np.nan][:n]),
        status=status,
        message=tuple(f"message {i}" for i in range(n)),
        n_iterations=np.arange(n),
        time_s=np.zeros(n),
    )


def test_status_round_trips_through_the_starts_table(tmp_path):
    result = _result(tuple(Status))
    write_multistart(tmp_path / "starts.tsv", result)
    text = (tmp_path / "starts.tsv").read_text()
    assert "Status." not in text and "CONVERGED" not in text
    assert [line.split("\t")[1] for line in text.splitlines()] == ["status", "converged", "stalled", "max_iterations", "max_time", "failed"]
    back = read_multistart(tmp_path / "starts.tsv")
    assert back.status == tuple(Status) and all(type(s) is Status for s in back.status)
    # plain strings are taken as statuses, and the table is the same byte for byte
    plain = _result(tuple(s.value for s in Status))
    assert all(type(s) is Status for s in plain.status)
    write_multistart(tmp_path / "plain.tsv", plain)
    assert (tmp_path / "plain.tsv").read_bytes() == (tmp_path / "starts.tsv").read_bytes()


def test_an_unknown_status_is_refused(tmp_path):
    with pytest.raises(ValueError, match="crawled"):
        _result(("converged", "crawled"))
    write_multistart(tmp_path / "starts.tsv", _result(("converged", "failed")))
    text = (tmp_path / "starts.tsv").read_text().replace("\tfailed\t", "\tcrawled\t")
    (tmp_path / "starts.tsv").write_text(text)
    with pytest.raises(ValueError, match=r"unknown start status\(es\) \['crawled'\]; known: \['converged'"):
        read_multistart(tmp_path / "starts.tsv")
