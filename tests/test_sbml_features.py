"""SBML and PEtab features against closed-form solutions: events, breakpoints, compartments and
amounts, function definitions, rules, initial assignments, steady states, pre-equilibration.
Sensitivities (forward mode through the solver) against the closed-form derivatives."""

import jax.numpy as jnp
import numpy as np
import pytest

import fimflow
from helpers import simulate_petab
from sbml_builder import measurement, parameter, petab_problem, sbml


def obs(oid, formula, noise="1"):
    return {"observableId": oid, "observableFormula": formula, "noiseFormula": noise}


def test_time_triggered_event_restarts_the_integration(tmp_path):
    """A bolus at `t_dose`: A(t) = e^{-kt} + dose·e^{-k(t - t_dose)}·[t >= t_dose]."""
    model = sbml(species=[("A", 1.0, False, "concentration", "cell")],
                 parameters=[("k", 0.3, True), ("t_dose", 5.0, True), ("dose", 1.0, True)],
                 reactions=[("decay", ["A"], [], "k * A * cell")],
                 events=[("bolus", "time >= t_dose", {"A": "A + dose"})])
    times = [1.0, 4.0, 5.5, 6.0, 10.0]
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A")],
                         measurements=[measurement("obs_A", t) for t in times],
                         parameters=[parameter("k", 0.3), parameter("t_dose", 5.0, upper=20), parameter("dose", 1.0, estimate=0)])
    problem, _, y, jac = simulate_petab(path)
    assert problem.parameter_ids == ("k", "t_dose")
    t, k, td = np.array(times), 0.3, 5.0
    after = t >= td
    expected = np.exp(-k * t) + after * np.exp(-k * (t - td))
    d_k = -t * np.exp(-k * t) - after * (t - td) * np.exp(-k * (t - td))
    d_td = after * k * np.exp(-k * (t - td))
    np.testing.assert_allclose(y, expected, rtol=1e-8)
    np.testing.assert_allclose(jac, np.stack([d_k, d_td], axis=1), rtol=1e-6, atol=1e-9)


def test_time_dependent_piecewise_is_a_breakpoint(tmp_path):
    """dA/dt = r while time < t_b, then 0: A(t) = r·min(t, t_b), dA/dt_b = r·[t > t_b]."""
    model = sbml(species=[("A", 0.0, False, "concentration", "cell")], parameters=[("r", 2.0, True), ("t_b", 2.5, True)],
                 rate_rules=[("A", "piecewise(r, time < t_b, 0)")])
    times = [1.0, 2.0, 3.0, 4.0]
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A")],
                         measurements=[measurement("obs_A", t) for t in times],
                         parameters=[parameter("r", 2.0, estimate=0), parameter("t_b", 2.5, upper=10)])
    problem, _, y, jac = simulate_petab(path)
    assert len(problem.model.spec.breakpoints) == 1
    t = np.array(times)
    np.testing.assert_allclose(y, 2.0 * np.minimum(t, 2.5), rtol=1e-9)
    np.testing.assert_allclose(jac[:, 0], 2.0 * (t > 2.5), atol=1e-7)


@pytest.mark.parametrize("method", fimflow.SOLVER_METHODS)
def test_breakpoints_that_differ_between_conditions_with_sensitivities(tmp_path, method):
    """dA/dt = r·cos(π·time) while time < t_b, then 0, t_b and the last time point set per condition
    (so the solves of the two conditions, batched, differ in both):
    A(t) = r·sin(π·min(t, t_b))/π, dA/dr = sin(π·min(t, t_b))/π. The Rosenbrock solver once
    failed here (a batched value captured as a constant by its derivative rule)."""
    model = sbml(species=[("A", 0.0, False, "concentration", "cell")], parameters=[("r", 2.0, True), ("t_b", 1.0, True)],
                 rate_rules=[("A", "piecewise(r * cos(pi * time), time - t_b < 0, 0)")])
    times = {"c1": [0.25, 0.5, 1.0, 1.5], "c2": [0.3, 0.6, 0.9]}
    t_b = {"c1": 0.4, "c2": 0.75}
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A")],
                         measurements=[measurement("obs_A", t, condition=c) for c, ts in times.items() for t in ts],
                         parameters=[parameter("r", 2.0)],
                         conditions=[{"conditionId": c, "t_b": v} for c, v in t_b.items()])
    _, _, y, jac = simulate_petab(path, config=fimflow.SolverConfig(rtol=1e-10, atol=1e-12, method=method))
    t = np.array([t for ts in times.values() for t in ts])
    switch = np.array([t_b[c] for c, ts in times.items() for _ in ts])
    shape = np.sin(np.pi * np.minimum(t, switch)) / np.pi
    np.testing.assert_allclose(np.asarray(y), 2.0 * shape, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(jac)[:, 0], shape, rtol=1e-7)


@pytest.mark.parametrize("condition", ["time - 1.25 < 0", "2 * time < 2.5", "1.25 > time"])
def test_a_switch_written_as_any_linear_relation_of_time_is_a_breakpoint(tmp_path, condition):
    """dA/dt = 1 until t = 1.25, then 0. sympy turns only some spellings into `time < c`
    (not `time - 1.25 < 0`, as Chen_MSB2009 writes its stimulus): each must give the breakpoint."""
    model = sbml(species=[("A", 0.0, False, "concentration", "cell")], parameters=[("r", 1.0, False)],
                 rate_rules=[("A", f"piecewise(r, {condition}, 0)")])
    times = [1.0, 2.0]
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A")],
                         measurements=[measurement("obs_A", t) for t in times], parameters=[parameter("r", 1.0)])
    problem, _, y, _ = simulate_petab(path)
    breakpoints = np.asarray(problem.model.discontinuities(jnp.ones(1)))
    np.testing.assert_allclose(breakpoints, [1.25], rtol=1e-15)
    np.testing.assert_allclose(y, np.minimum(times, 1.25), rtol=1e-9)  # as for `time < t_b` above


def test_a_switch_at_the_last_time_point_does_not_stall_the_solver(tmp_path):
    """dA/dt = r·A while time < t_end, then -A, measured up to t_end itself: the right-hand side
    at t_end is the one from before the switch (else every step ending there fails its error
    test and the steps halve towards t_end, as with Fujita_SciSignal2010's input at 3600)."""
    model = sbml(species=[("A", 1.0, False, "concentration", "cell")], parameters=[("r", 0.5, True), ("t_end", 4.0, True)],
                 rate_rules=[("A", "piecewise(r * A, time < t_end, -A)")])
    times = [1.0, 2.0, 3.0, 4.0]
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A")],
                         measurements=[measurement("obs_A", t) for t in times],
                         parameters=[parameter("r", 0.5), parameter("t_end", 4.0, estimate=0, upper=10)])
    _, _, y, jac = simulate_petab(path, config=fimflow.SolverConfig(rtol=1e-10, atol=1e-12, max_steps=2000))
    t = np.array(times)
    np.testing.assert_allclose(np.asarray(y), np.exp(0.5 * t), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(jac)[:, 0], t * np.exp(0.5 * t), rtol=1e-6)


def test_amounts_concentrations_and_compartment_sizes(tmp_path):
    """X (concentration, initial amount 4 in V) and Y (amount, hasOnlySubstanceUnits) decay with k;
    condition c1 sets V = 4: X starts at 4/V, Y at 3 in both."""
    model = sbml(compartments=[("V", 2.0)],
                 species=[("X", 4.0, False, "amount", "V"), ("Y", 3.0, True, "amount", "V")],
                 parameters=[("k", 0.5, True)],
                 reactions=[("x_decay", ["X"], [], "k * X * V"), ("y_decay", ["Y"], [], "k * Y")])
    times = [0.0, 1.0, 3.0]
    rows = [measurement(o, t, condition=c) for c in ("c0", "c1") for o in ("obs_X", "obs_Y") for t in times]
    path = petab_problem(tmp_path, model, observables=[obs("obs_X", "X"), obs("obs_Y", "Y")], measurements=rows,
                         parameters=[parameter("k", 0.5)],
                         conditions=[{"conditionId": "c0", "V": 2.0}, {"conditionId": "c1", "V": 4.0}])
    _, _, y, jac = simulate_petab(path)
    t = np.array(times)
    decay = np.exp(-0.5 * t)
    expected = np.concatenate([2 * decay, 3 * decay, 1 * decay, 3 * decay])
    np.testing.assert_allclose(y, expected, rtol=1e-8)
    np.testing.assert_allclose(jac[:, 0], -np.tile(t, 4) * expected, rtol=1e-6, atol=1e-10)


def test_rules_functions_steady_state_and_preequilibration(tmp_path):
    """A <-> B with a function definition in a kinetic law, an initial assignment (A0 = 2·a0),
    an assignment rule (total = A + B), a `time = inf` measurement, and pre-equilibration
    under k1_pre with B re-initialised to 0 (A keeps its steady-state value)."""
    model = sbml(species=[("A", 0.0, False, "concentration", "cell"), ("B", 0.0, False, "concentration", "cell")],
                 parameters=[("k1", 0.8, True), ("k2", 0.6, True), ("a0", 0.5, True), ("total", 0.0, False)],
                 functions=[("mass_action", "lambda(rate, x, rate * x)")],
                 reactions=[("forward", ["A"], ["B"], "mass_action(k1, A) * cell"), ("backward", ["B"], ["A"], "k2 * B * cell")],
                 initial_assignments=[("A", "2 * a0")], assignment_rules=[("total", "A + B")])
    rows = [measurement("obs_B", float("inf")), measurement("obs_total", 3.0),
            measurement("obs_A", 2.0, condition="c1", preequilibrationConditionId="pre")]
    path = petab_problem(tmp_path, model, observables=[obs("obs_A", "A"), obs("obs_B", "B"), obs("obs_total", "total")],
                         measurements=rows,
                         parameters=[parameter("k1", 0.8), parameter("k2", 0.6), parameter("a0", 0.5, estimate=0)],
                         conditions=[{"conditionId": "c0", "B": float("nan")}, {"conditionId": "pre", "B": float("nan")},
                                     {"conditionId": "c1", "B": 0.0}])
    problem, _, y, jac = simulate_petab(path)
    k1, k2 = 0.8, 0.6
    # c0: total = 2·a0 = 1 conserved; B_ss = k1/(k1+k2)
    b_ss = k1 / (k1 + k2)
    # c1 after pre-equilibration (same k1, k2 here): A_pre = k2/(k1+k2), B reset to 0, total A_pre
    a_pre = k2 / (k1 + k2)
    a_ss = k2 / (k1 + k2) * a_pre
    a_2 = a_ss + (a_pre - a_ss) * np.exp(-(k1 + k2) * 2.0)
    np.testing.assert_allclose(y, [b_ss, 1.0, a_2], rtol=1e-7)
    np.testing.assert_allclose(jac[0], [k2 / (k1 + k2) ** 2, -k1 / (k1 + k2) ** 2], rtol=1e-5)
    assert list(problem.preequilibration) == [c == "c1" for c in problem.condition_ids]
