"""Batched multistarts: many optimisers, one vectorised evaluation per round."""

import threading
import time

import numpy as np
import pytest
import scipy.optimize

import fimflow
from fimflow.fit import _batch
from fimflow.fit._batch import BatchRunner
from fimflow.fit._multistart import batch_kernel
from helpers import load


def rosenbrock_batch(points):
    """Residuals and Jacobians of the Rosenbrock function, row by row (a stand-in model)."""
    x, y = points[:, 0], points[:, 1]
    r = np.stack([10 * (y - x**2), 1 - x], axis=1)
    jac = np.stack([np.stack([-20 * x, 10 * np.ones_like(x)], 1), np.stack([-np.ones_like(x), 0 * x], 1)], axis=1)
    return r, jac


def least_squares_from(start, evaluate):
    out = scipy.optimize.least_squares(lambda p: evaluate(p)[0], start, jac=lambda p: evaluate(p)[1], method="trf")
    return out.x, out.nfev + out.njev


def test_batched_optimisers_equal_serial_ones_and_share_evaluations():
    starts = np.random.default_rng(3).uniform(-2, 2, size=(7, 2))
    serial = [least_squares_from(s, lambda p: tuple(a[0] for a in rosenbrock_batch(p[None]))) for s in starts]
    runner = BatchRunner(rosenbrock_batch, width=3, isolate=None)  # counts below: no lone evaluations
    batched = runner.run(lambda i, evaluate: least_squares_from(starts[i], evaluate), starts)
    for (x_serial, n_serial), (x_batched, n_batched) in zip(serial, batched):
        np.testing.assert_array_equal(x_batched, x_serial)  # same arithmetic per lane
        assert n_batched == n_serial
    total = sum(n for _, n in serial)
    # every round evaluates up to 3 starts' requests at once
    assert total / 3 <= runner.n_batches < total / 2


def test_a_failing_start_is_its_own_outcome_and_a_failing_batch_stops_the_run():
    def work(i, evaluate):
        if i == 1:
            raise ValueError("start 1 is broken")
        return float(evaluate(np.array([i, 0.0]))[0][1])

    out = BatchRunner(rosenbrock_batch, width=2).run(work, [0, 1, 2, 3])
    assert out[0] == 1.0 and out[2] == -1.0 and out[3] == -2.0
    assert isinstance(out[1], ValueError)

    def broken(points):
        raise FloatingPointError("a bug in the model code")

    with pytest.raises(FloatingPointError, match="a bug"):
        BatchRunner(broken, width=2).run(work, [0, 2, 3])


@pytest.mark.parametrize("method", ["kvaerno5", "rodas5p"])
def test_a_lane_does_not_depend_on_its_position_or_neighbours(method):
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(method=method))
    kernel = batch_kernel(objective, fimflow.FitOptions(method="trf"))  # residuals, Jacobians, objective
    point = problem.parameters.nominal_theta()
    others = point + np.array([[0.3, -0.2], [-0.5, 0.4]])
    first = kernel(np.vstack([point, others]))
    last = kernel(np.vstack([others[::-1], point]))
    for a, b in zip(first, last):
        np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b)[-1])
    r, jacobian, value = first
    assert float(value[0]) == pytest.approx(float(objective.nll(point)), rel=1e-12)
    np.testing.assert_allclose(np.asarray(r)[0], np.asarray(objective.residuals(point)), rtol=1e-12)


def test_fit_is_the_same_whatever_the_batch_size():
    problem = load("pk_fixed_dose")
    starts = fimflow.latin_hypercube_starts(problem, 5, seed=4)
    one = fimflow.fit_multistart(problem, starts, options=fimflow.FitOptions(batch_size=1))
    three = fimflow.fit_multistart(problem, starts, options=fimflow.FitOptions(batch_size=3))
    np.testing.assert_allclose(three.x, one.x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(three.nll, one.nll, rtol=1e-10)
    assert three.status == one.status


def test_concurrent_groups_give_the_same_results_as_one():
    """Two groups of lanes evaluating at the same time: each start's result is unchanged
    (bitwise), whatever lane and group it ran in, and the groups share the work."""
    starts = np.random.default_rng(5).uniform(-2, 2, size=(11, 2))
    one = BatchRunner(rosenbrock_batch, width=2, groups=1, isolate=None)
    two = BatchRunner(rosenbrock_batch, width=2, groups=2, isolate=None)
    first = one.run(lambda i, evaluate: least_squares_from(starts[i], evaluate), starts)
    second = two.run(lambda i, evaluate: least_squares_from(starts[i], evaluate), starts)
    for (x_one, n_one), (x_two, n_two) in zip(first, second):
        np.testing.assert_array_equal(x_two, x_one)
        assert n_two == n_one
    assert two.n_batches > one.n_batches / 2  # each group's rounds carry at most 2 starts


@pytest.mark.parametrize("method", ["kvaerno5", "rodas5p"])
def test_fit_is_bitwise_the_same_with_one_or_two_threads(method):
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(method=method))
    starts = fimflow.latin_hypercube_starts(problem, 5, seed=6)
    options = dict(method="trust_fim", batch_size=2)
    one = fimflow.fit_multistart(problem, starts, objective=objective, options=fimflow.FitOptions(**options, threads=1))
    two = fimflow.fit_multistart(problem, starts, objective=objective, options=fimflow.FitOptions(**options, threads=2))
    np.testing.assert_array_equal(two.x, one.x)
    np.testing.assert_array_equal(two.nll, one.nll)
    assert two.status == one.status and set(one.status) == {"converged"}


@pytest.mark.parametrize("isolate", [_batch.ISOLATE, None])
def test_a_slow_start_does_not_hold_back_its_batch_mates(isolate):
    """Start 0's evaluations 5..8 take 0.3 s, everything else about 1 ms. Isolated, start 1 shares
    one slow batch (the one that shows the slowness), then goes on without start 0; without
    isolation it waits for all four. The numbers are the same either way."""
    shared, lock = [], threading.Lock()

    def evaluate_batch(points):
        slow = points[(points[:, 0] == 0) & (points[:, 1] >= 5) & (points[:, 1] <= 8)]
        time.sleep(0.3 if len(slow) else 0.001)
        with lock:
            if len(slow) and np.any(points[:, 0] == 1):
                shared.append(points.copy())
        return (points.sum(axis=1),)

    def work(i, evaluate):
        return [float(evaluate(np.array([i, k], dtype=np.float64))[0]) for k in range(10 if i == 0 else 60)]

    runner = BatchRunner(evaluate_batch, width=2, isolate=isolate)
    out = runner.run(work, [0, 1])
    assert out == [[float(k) for k in range(10)], [1.0 + k for k in range(60)]]
    if isolate is None:
        assert len(shared) == 4 and runner.n_alone == 0
    else:
        assert len(shared) == 1
        assert runner.n_alone >= 4  # start 0's slow evaluations ran alone


def test_lone_evaluations_give_bitwise_the_same_fit(monkeypatch):
    """Lanes sent to run alone (forced here: every batch counts as slow, so after the group's first
    batches every evaluation runs alone) get bitwise the numbers they would get in a batch: the
    compiled program is the same, every row holds the lane's point and the lane's own row is read."""
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    starts = fimflow.latin_hypercube_starts(problem, 4, seed=8)
    options = fimflow.FitOptions(method="trust_fim", batch_size=2, threads=1)
    runners = []

    def runner(isolate):
        def make(*args, **kwargs):
            runners.append(BatchRunner(*args, **kwargs, isolate=isolate))
            return runners[-1]
        return make

    monkeypatch.setattr(fimflow.fit._multistart, "BatchRunner", runner(None))
    batched = fimflow.fit_multistart(problem, starts, objective=objective, options=options)
    monkeypatch.setattr(_batch, "ISOLATE_MIN_S", -np.inf)
    monkeypatch.setattr(fimflow.fit._multistart, "BatchRunner", runner(0.0))
    mixed = fimflow.fit_multistart(problem, starts, objective=objective, options=options)
    # how many evaluations run alone depends on thread timing (a lane left alone in its group runs
    # one-lane batches, which are never split); that some do is what matters here
    assert runners[0].n_alone == 0 and runners[1].n_alone > 0
    np.testing.assert_array_equal(mixed.x, batched.x)
    np.testing.assert_array_equal(mixed.nll, batched.nll)
    assert mixed.status == batched.status and set(batched.status) == {"converged"}
