"""SBML events whose triggers depend on the states (issue 17): located by root finding, the state
reset, the integration restarted; values and forward sensitivities against closed forms and
central differences; several events, an event at the initial time, priorities and
`useValuesFromTriggerTime`, and what fimflow refuses (steady states with such events)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import fimflow
from helpers import simulate_petab
from sbml_builder import measurement, parameter, petab_problem, sbml


def obs(oid, formula):
    return {"observableId": oid, "observableFormula": formula, "noiseFormula": "1"}


def reset_problem(tmp_path, times):
    """dA/dt = -k A, A(0) = 1; when A < c: A = A + a. With r = (c + a)/c, the n-th firing is at
    t_n = ln(r^(n-1)/c)/k and afterwards A(t) = r^n e^(-kt)."""
    model = sbml(species=[("A", 1.0, False, "concentration", "cell")],
                 parameters=[("k", 0.3, True), ("c", 0.5, True), ("a", 1.0, True)],
                 reactions=[("decay", ["A"], [], "k * A * cell")],
                 events=[("refill", "A < c", {"A": "A + a"})])
    return petab_problem(tmp_path, model, observables=[obs("obs_A", "A")],
                         measurements=[measurement("obs_A", t) for t in times],
                         parameters=[parameter("k", 0.3), parameter("c", 0.5, upper=0.9), parameter("a", 1.0)])


def reset_closed_form(k, c, a, t):
    r = (c + a) / c
    n = np.where(t >= np.log(1 / c) / k, np.floor((k * t + np.log(c)) / np.log(r)) + 1, 0)
    value = r**n * np.exp(-k * t)
    jacobian = np.stack([-t * value,                                     # d/dk
                         n * r ** (n - 1) * (-a / c**2) * np.exp(-k * t),  # d/dc
                         n * r ** (n - 1) / c * np.exp(-k * t)], axis=1)   # d/da
    return value, jacobian, n


@pytest.mark.parametrize("method", fimflow.SOLVER_METHODS)
def test_a_state_triggered_reset_matches_its_closed_form_and_derivatives(tmp_path, method):
    times = np.array([1.0, 2.0, 2.5, 3.0, 4.5, 6.0, 10.0])
    config = fimflow.SolverConfig(rtol=1e-10, atol=1e-12, method=method)
    problem, objective, y, jac = simulate_petab(reset_problem(tmp_path, times), config=config)
    assert problem.model.state_events
    value, jacobian, n = reset_closed_form(0.3, 0.5, 1.0, times)
    assert list(n) == [0, 0, 1, 1, 1, 2, 3]  # the test spans three firings
    np.testing.assert_allclose(y, value, rtol=1e-8)
    # the firing times move with k, c and a: the derivative carries the jump condition
    np.testing.assert_allclose(jac, jacobian, rtol=1e-6, atol=1e-9)
    # and central differences of the simulation agree (an independent check of the same derivative)
    theta = jnp.asarray(problem.parameters.nominal_theta())
    predictions = eqx.filter_jit(lambda t: objective.predictions(t)[0])
    h = 1e-5
    central = np.stack([(np.asarray(predictions(theta + h * e)) - np.asarray(predictions(theta - h * e))) / (2 * h)
                        for e in np.eye(len(theta))], axis=1)
    np.testing.assert_allclose(jac, central, rtol=1e-5, atol=1e-7)


def test_several_events_state_and_time_triggered(tmp_path):
    """A decays (k); `A < 1/2` counts into B; at `time >= 5` A is refilled by 1, so the first event
    fires again: at ln2/k and at 5 + ln(2(e^(-5k) + 1))/k. A measurement at 5 sees the refill."""
    model = sbml(species=[("A", 1.0, False, "concentration", "cell"), ("B", 0.0, False, "concentration", "cell")],
                 parameters=[("k", 0.3, True)],
                 reactions=[("decay", ["A"], [], "k * A * cell")],
                 events=[("count", "A < 0.5", {"B": "B + 1"}), ("refill", "time >= 5", {"A": "A + 1"})])
    times = np.array([1.0, 3.0, 5.0, 6.0, 9.0, 12.0])
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A"), obs("obs_B", "B")],
                         measurements=[measurement(o, t) for o in ("obs_A", "obs_B") for t in times],
                         parameters=[parameter("k", 0.3)])
    _, _, y, jac = simulate_petab(path)
    k = 0.3
    after = times >= 5
    a = np.where(after, (np.exp(-5 * k) + 1) * np.exp(-k * (times - 5)), np.exp(-k * times))
    da = np.where(after, -5 * np.exp(-5 * k) * np.exp(-k * (times - 5)) - (times - 5) * a, -times * a)
    b = (times >= np.log(2) / k).astype(float) + (times >= 5 + np.log(2 * (np.exp(-5 * k) + 1)) / k)
    assert list(b) == [0, 1, 1, 1, 2, 2]
    np.testing.assert_allclose(y, np.concatenate([a, b]), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(jac[:, 0], np.concatenate([da, np.zeros_like(b)]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("initial_value", [False, True])
def test_an_event_true_at_the_initial_time_fires_unless_its_initial_value_is_true(tmp_path, initial_value):
    model = sbml(species=[("A", 1.0, False, "concentration", "cell"), ("B", 0.0, False, "concentration", "cell")],
                 parameters=[("k", 0.3, True)],
                 reactions=[("decay", ["A"], [], "k * A * cell")],
                 events=[("start", "A > 0.9", {"B": "B + 10"}, {"initial_value": initial_value})])
    times = np.array([0.0, 1.0, 5.0])
    path = petab_problem(tmp_path, model, observables=[obs("obs_B", "B")],
                         measurements=[measurement("obs_B", t) for t in times], parameters=[parameter("k", 0.3)])
    _, _, y, _ = simulate_petab(path)
    # A only falls: the trigger is never re-armed, so it fires at most once, at t = 0
    np.testing.assert_array_equal(y, np.zeros(3) if initial_value else np.full(3, 10.0))


@pytest.mark.parametrize("first", ["double", "add"])
def test_simultaneous_events_run_by_priority_with_values_from_their_trigger_time(tmp_path, first):
    """Both triggers turn true at t = 1 (A = t): `double` sets C = 2C, `add` sets C = C + 5, each
    computed when the trigger turned true (C = 1): whichever runs last decides C."""
    high, low = ("10", "1") if first == "double" else ("1", "10")
    model = sbml(species=[("C", 1.0, False, "concentration", "cell")],
                 parameters=[("A", 0.0, False), ("k", 0.3, True)], rate_rules=[("A", "1")],
                 events=[("double", "A > 1", {"C": "2 * C"}, {"priority": high}),
                         ("add", "A > 1", {"C": "C + 5"}, {"priority": low})])
    path = petab_problem(tmp_path, model, observables=[obs("obs_C", "C")],
                         measurements=[measurement("obs_C", t) for t in (0.5, 2.0)], parameters=[parameter("k", 0.3)])
    _, _, y, _ = simulate_petab(path)
    np.testing.assert_allclose(y, [1.0, 6.0 if first == "double" else 2.0], rtol=1e-12)


def test_an_event_that_resizes_a_compartment_keeps_the_amounts_of_its_species(tmp_path):
    """SBML: `cell` (size 1) doubles at t = 2. S (a concentration, d[S]/dt = -k S / cell: the
    kinetic law is an amount per time) halves there and then decays at half the rate; N (an
    amount, dN/dt = q) is not touched: S = e^(-kt) before, e^(-2k)/2 e^(-k(t-2)/2) after."""
    model = sbml(species=[("S", 1.0, False, "concentration", "cell"), ("N", 3.0, True, "amount", "cell")],
                 parameters=[("k", 0.4, True), ("q", 0.5, True)],
                 reactions=[("decay", ["S"], [], "k * S"), ("make", [], ["N"], "q")],
                 events=[("resize", "time >= 2", {"cell": "2 * cell"})])
    times = np.array([1.0, 2.0, 3.0, 6.0])
    path = petab_problem(tmp_path, model, observables=[obs("obs_S", "S"), obs("obs_N", "N"), obs("obs_cell", "cell")],
                         measurements=[measurement(o, t) for o in ("obs_S", "obs_N", "obs_cell") for t in times],
                         parameters=[parameter("k", 0.4), parameter("q", 0.5)])
    _, _, y, jac = simulate_petab(path)
    k, after = 0.4, times >= 2
    s = np.where(after, np.exp(-2 * k) / 2 * np.exp(-k * (times - 2) / 2), np.exp(-k * times))
    ds = np.where(after, -(2 + (times - 2) / 2) * s, -times * s)
    np.testing.assert_allclose(y, np.concatenate([s, 3 + 0.5 * times, np.where(after, 2.0, 1.0)]), rtol=1e-8)
    np.testing.assert_allclose(jac[: len(times), 0], ds, rtol=1e-6)


@pytest.mark.parametrize("row, column", [({"preequilibrationConditionId": "c0"}, "preequilibrationConditionId"),
                                         ({"time": float("inf")}, "time")])
def test_steady_states_of_a_model_with_state_triggered_events_are_refused(tmp_path, row, column):
    model = sbml(species=[("A", 1.0, False, "concentration", "cell")], parameters=[("k", 0.3, True)],
                 reactions=[("decay", ["A"], [], "k * A * cell")], events=[("low", "A < 0.5", {"A": "1"})])
    rows = [measurement("obs_A", 1.0), {**measurement("obs_A", 2.0), **row}]
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A")], measurements=rows, parameters=[parameter("k", 0.3)])
    with pytest.raises(fimflow.ProblemFileError, match=rf"measurements\.tsv, row 3, column `{column}`: .*events are triggered by its states"):
        fimflow.load_petab(path)
