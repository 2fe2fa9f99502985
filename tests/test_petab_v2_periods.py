"""PEtab v2 experiments beyond the conformance suite, against closed forms: a simulation that
starts later than 0 (time-dependent dynamics and SBML time events around the start), and a
pre-equilibration that fires the model's events on the way to its steady state and hands its
triggers' values on to the simulation."""

import numpy as np
import pytest

import fimflow
from helpers import TIGHT, simulate_petab
from sbml_builder import petab_v2_problem, sbml


def obs(oid, formula):
    return {"observableId": oid, "observableFormula": formula, "noiseFormula": "1", "noiseDistribution": "normal"}


def meas(oid, experiment, time):
    return {"observableId": oid, "experimentId": experiment, "time": time, "measurement": 1.0}


def par(pid, nominal):
    # lower bound 0: estimated on the linear scale (v2 leaves the scale to the tool), so the
    # Jacobian's column is d/dk itself
    return {"parameterId": pid, "lowerBound": 0, "upperBound": 10, "nominalValue": nominal, "estimate": "true"}


def predictions(path):
    problem, _, y, jac = simulate_petab(path, config=TIGHT)
    return problem, y, jac


def late_start_problem(tmp_path, measurements):
    """dA/dt = -k t A from A = 2 at t0 = 5: A = 2 exp(-k (t^2 - 25)/2). N counts events: `time >= 2`
    (true before the start; initialValue false: fires at the start, +1), `time >= 3` (initialValue
    true: does not), `time >= 8` (+10)."""
    model = sbml(species=[("A", 2.0, False, "concentration", "cell"), ("N", 0.0, False, "concentration", "cell")],
                 parameters=[("k", 0.1, True)], rate_rules=[("A", "-k * time * A")],
                 events=[("early", "time >= 2", {"N": "N + 1"}, {"initial_value": False}),
                         ("quiet", "time >= 3", {"N": "N + 100"}, {"initial_value": True}),
                         ("later", "time >= 8", {"N": "N + 10"})])
    return petab_v2_problem(tmp_path, model, observables=[obs("obs_A", "A"), obs("obs_N", "N")],
                            measurements=measurements, parameters=[par("k", 0.1)],
                            experiments=[{"experimentId": "late", "time": 5.0, "conditionId": ""}])


def test_a_simulation_that_starts_later_matches_its_closed_form(tmp_path):
    times = np.array([5.0, 6.0, 9.0])
    rows = [meas("obs_A", "late", t) for t in times] + [meas("obs_N", "late", t) for t in (5.0, 7.9, 9.0)]
    problem, y, jac = predictions(late_start_problem(tmp_path, rows))
    k = 0.1
    a = 2 * np.exp(-k * (times**2 - 25) / 2)
    np.testing.assert_allclose(y[:3], a, rtol=1e-8)
    np.testing.assert_allclose(jac[:3, 0], -(times**2 - 25) / 2 * a, rtol=1e-6)
    np.testing.assert_array_equal(y[3:], [1.0, 1.0, 11.0])
    # predictions and designs begin at the start; a plot's curve has no values before it
    assert problem.start_times.tolist() == [5.0]
    assert {spec.times[0] for spec in fimflow.default_predictions(problem)} == {5.0}
    assert fimflow.dense_design(problem, 4)["time"].min() == 5.0
    curves = fimflow.simulate_curves(problem, config=TIGHT, n_points=19)
    a_curve = curves[curves["observableId"] == "obs_A"]
    before = a_curve["time"] < 5.0
    assert before.any() and a_curve["simulation"][before].isna().all()
    np.testing.assert_allclose(a_curve["simulation"][~before], 2 * np.exp(-k * (a_curve["time"][~before] ** 2 - 25) / 2), rtol=1e-8)


def test_a_measurement_before_its_experiment_starts_is_refused(tmp_path):
    path = late_start_problem(tmp_path, [meas("obs_A", "late", 6.0), meas("obs_A", "late", 4.0)])
    with pytest.raises(fimflow.ProblemFileError, match=r"measurements\.tsv, row 3, column `time`: time 4 is before experiment 'late' starts \(t = 5"):
        fimflow.load_petab(path)


def pre_equilibration_problem(tmp_path):
    """dA/dt = k (1 - A), A = 0 at the pre-equilibration's start; `A > 1/2` adds 1 to B. The
    pre-equilibration crosses it once (B = 1, steady A = 1). `reset` starts its simulation from
    A = 0 (the trigger turns false) and crosses again at ln 2 / k; `keep` does not: its trigger is
    still true from the pre-equilibration, so nothing fires at the start."""
    model = sbml(species=[("A", 0.0, False, "concentration", "cell")],
                 parameters=[("k", 0.3, True), ("B", 0.0, False)], rate_rules=[("A", "k * (1 - A)")],
                 events=[("half", "A > 0.5", {"B": "B + 1"})])
    rows = [meas("obs_A", "reset", 1.0)] + [meas("obs_B", e, t) for e in ("reset", "keep") for t in (0.0, 5.0, np.inf)]
    return petab_v2_problem(
        tmp_path, model, observables=[obs("obs_A", "A"), obs("obs_B", "B")], measurements=rows, parameters=[par("k", 0.3)],
        conditions=[{"conditionId": "restart", "targetId": "A", "targetValue": 0.0}],
        experiments=[{"experimentId": "reset", "time": -np.inf, "conditionId": ""},
                     {"experimentId": "reset", "time": 0.0, "conditionId": "restart"},
                     {"experimentId": "keep", "time": -np.inf, "conditionId": ""}],
    )


def test_a_pre_equilibration_fires_events_and_hands_on_its_triggers(tmp_path):
    problem, y, jac = predictions(pre_equilibration_problem(tmp_path))
    assert problem.model.state_events
    k = 0.3
    np.testing.assert_allclose(y, [1 - np.exp(-k), 1, 2, 2, 1, 1, 1], rtol=1e-8)
    np.testing.assert_allclose(jac[0, 0], np.exp(-k), rtol=1e-6)  # dA(1)/dk = t e^(-kt)


def test_math_in_a_pre_equilibration_change_is_applied_at_its_start_and_persists(tmp_path):
    """dA/dt = s - r A from A = 1. The pre-equilibration sets `s = 2 s0` and `B = 3 s0` (math; at an
    experiment's start v2 allows parameter-table ids and time only); its steady state is
    A = 2 s0 / r. The simulation sets r = 2 and keeps s = 2 s0: A(t) = (2 s0 / r) e^{-2t} +
    s0 (1 - e^{-2t}), B = 3 s0 throughout. An experiment without it keeps s = 1 and B = 0."""
    model = sbml(species=[("A", 1.0, False, "concentration", "cell"), ("B", 0.0, False, "concentration", "cell")],
                 parameters=[("r", 0.5, True), ("s", 1.0, True)], rate_rules=[("A", "s - r * A")])
    times = [0.0, 0.5, 2.0, np.inf]
    rows = [meas(o, e, t) for e in ("withpre", "plain") for o in ("obs_A", "obs_B") for t in times]
    path = petab_v2_problem(
        tmp_path, model, observables=[obs("obs_A", "A"), obs("obs_B", "B")], measurements=rows, parameters=[par("s0", 0.4)],
        conditions=[{"conditionId": "pre", "targetId": "s", "targetValue": "2 * s0"},
                    {"conditionId": "pre", "targetId": "B", "targetValue": "3 * s0"},
                    {"conditionId": "go", "targetId": "r", "targetValue": 2.0}],
        experiments=[{"experimentId": "withpre", "time": -np.inf, "conditionId": "pre"},
                     {"experimentId": "withpre", "time": 0.0, "conditionId": "go"},
                     {"experimentId": "plain", "time": 0.0, "conditionId": "go"}],
    )
    _, y, jac = predictions(path)
    s0, r = 0.4, 0.5
    decay = np.exp(-2 * np.array(times))
    a_pre = (2 * s0 / r) * decay + s0 * (1 - decay)
    a_plain = decay + 0.5 * (1 - decay)
    expected = np.concatenate([a_pre, np.full(4, 3 * s0), a_plain, np.zeros(4)])
    np.testing.assert_allclose(y, expected, rtol=1e-8, atol=1e-12)
    d_pre = (2 / r) * decay + (1 - decay)
    np.testing.assert_allclose(jac[:, 0], np.concatenate([d_pre, np.full(4, 3.0), np.zeros(8)]), rtol=1e-6, atol=1e-9)
