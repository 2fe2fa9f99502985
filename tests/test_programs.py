"""Traced programs stored between processes: same numbers, no second trace, keys that tell inputs apart."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import fimflow
from fimflow.simulate import _programs as _programs
from fimflow.fisher._fisher import expected_fisher_information
from fimflow.fit import batch_kernel
from fimflow.fit._optimisers import _batch_fisher
from helpers import REPO, load


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(_programs, "_store", lambda: str(tmp_path))
    return tmp_path


def test_a_stored_program_gives_the_traced_numbers_and_is_not_traced_again(store, monkeypatch):
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    thetas = fimflow.latin_hypercube_starts(problem, 3, seed=1)
    direct = [np.asarray(a) for a in _batch_fisher(objective, thetas)]
    first = _programs.stored_program("fisher", _batch_fisher, objective, thetas)(thetas)
    assert len(list(store.glob("*.jaxexport"))) == 1

    def no_trace(*args, **kwargs):
        raise AssertionError("traced again")

    monkeypatch.setattr(_programs.jax.export, "export", no_trace)
    monkeypatch.setattr(_programs, "_LOADED", type(_programs._LOADED)())  # as in a new process: from the store
    again = _programs.stored_program("fisher", _batch_fisher, objective, thetas)(thetas)
    for a, b, c in zip(direct, first, again):
        np.testing.assert_array_equal(np.asarray(c), np.asarray(b))  # the stored program: bitwise
        # the data are constants of the stored program (XLA may fold them): round-off apart
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-13, atol=1e-13 * np.max(np.abs(a)))


def test_a_program_jax_cannot_store_runs_unstored(store, monkeypatch):
    """`jax.export` refuses some programs (a custom call without compatibility guarantees, such
    as LAPACK's): the study goes on with the traced program, and nothing is stored."""
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    thetas = fimflow.latin_hypercube_starts(problem, 2, seed=2)

    def refuse(*args, **kwargs):
        raise ValueError("Cannot serialize code with custom calls whose targets have no compatibility guarantees.")

    monkeypatch.setattr(_programs.jax.export, "export", refuse)
    got = _programs.stored_program("fisher", _batch_fisher, objective, thetas)(thetas)
    for a, b in zip(_batch_fisher(objective, thetas), got):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-13, atol=1e-13 * np.max(np.abs(np.asarray(a))))
    assert not list(store.glob("*.jaxexport"))


@pytest.mark.parametrize("stored", [True, False])
def test_a_repeated_call_in_one_process_reuses_its_program(stored, tmp_path, monkeypatch):
    """A loop of `stored_call`s (a prediction profile's steps) neither traces, deserialises nor
    compiles again; other data are another program."""
    monkeypatch.setattr(_programs, "_store", lambda: str(tmp_path) if stored else None)
    monkeypatch.setattr(_programs, "_LOADED", type(_programs._LOADED)())
    traces = []

    def fisher(objective, x):
        traces.append(1)  # runs at trace time only
        return expected_fisher_information(objective, x)

    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    x = problem.parameters.nominal_theta()
    first = np.asarray(_programs.stored_call(fisher, objective, x))
    n_traces = len(traces)

    def fail(*args, **kwargs):
        raise AssertionError("loaded again")

    monkeypatch.setattr(_programs.jax.export, "deserialize", fail)
    monkeypatch.setattr(_programs.jax.export, "export", fail)
    for factor in (1.0, 1.1, 0.9):
        again = np.asarray(_programs.stored_call(fisher, fimflow.Objective.from_problem(problem), x * factor))
    assert len(traces) == n_traces
    np.testing.assert_allclose(again, expected_fisher_information(objective, x * 0.9), rtol=1e-12)
    assert not np.allclose(again, first, rtol=1e-3)
    other = fimflow.Objective.from_problem(problem.with_measurements(problem.values * 1.01))
    monkeypatch.undo()  # the other data trace a program of their own
    monkeypatch.setattr(_programs, "_store", lambda: None)
    _programs.stored_call(fisher, other, x)
    assert len(traces) > n_traces


def test_the_key_tells_data_shapes_and_functions_apart():
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    other_data = fimflow.Objective.from_problem(problem.with_measurements(problem.values * 1.01))
    tighter = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(rtol=1e-10))
    key = _programs.program_key("fisher", objective, (8, 2))
    assert key == _programs.program_key("fisher", fimflow.Objective.from_problem(load("pk_fixed_dose")), (8, 2))
    others = {_programs.program_key("fisher", other_data, (8, 2)), _programs.program_key("fisher", tighter, (8, 2)),
              _programs.program_key("fisher", objective, (4, 2)), _programs.program_key("gradient", objective, (8, 2))}
    assert key not in others and len(others) == 4


@pytest.mark.parametrize("path", ["data/pk_fixed_dose/problem.yaml", "tests/data/petab_minimal/problem.yaml"])
def test_the_key_is_the_same_in_another_process(path):
    """Python's hash randomisation must not reach the key (else every job would miss)."""
    code = ("import os, sys; os.environ.setdefault('EQX_ON_ERROR', 'nan'); import jax; "
            "jax.config.update('jax_enable_x64', True); import fimflow; from fimflow.simulate import _programs; "
            "o = fimflow.Objective.from_problem(fimflow.load_problem(sys.argv[1])); "
            "print(_programs.program_key('fisher', o, (8, 2)))")
    keys = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, os.path.join(REPO, path)], env=env, capture_output=True,
                             text=True, check=True)
        keys.add(out.stdout.strip().splitlines()[-1])
    assert len(keys) == 1


def test_sbml_initial_value_order_does_not_depend_on_the_hash_seed():
    """The order of an SBML model's initial assignments is part of its traced program (and key):
    Fujita_SciSignal2010's used to change between processes, so every job traced it again."""
    code = ("import sympy as sp; from fimflow.petab._sbml import _topological; "
            "a, b, c, d, e, f = sp.symbols('a b c d e f'); "
            "print(_topological({'x': a + b + f, 'a': c * d, 'b': c + e, 'f': d - e, 'c': sp.Float(1), "
            "'d': sp.Float(2), 'e': sp.Float(3)}, 'initial values'))")
    orders = set()
    for seed in ("1", "2", "3", "4", "5", "6"):
        out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=seed),
                             capture_output=True, text=True, check=True)
        orders.add(out.stdout.strip().splitlines()[-1])
    assert len(orders) == 1, orders


def test_the_fit_kernel_uses_the_store(store):
    problem = load("pk_fixed_dose")
    objective = fimflow.Objective.from_problem(problem)
    kernel = batch_kernel(objective, fimflow.FitOptions(method="trust_fim"))
    thetas = fimflow.latin_hypercube_starts(problem, 2, seed=3)
    value, gradient, fim = kernel(thetas)
    assert len(list(store.glob("*.jaxexport"))) == 1
    np.testing.assert_allclose(np.asarray(value)[0], float(objective.nll(thetas[0])), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(fim)[1], np.asarray(expected_fisher_information(objective, thetas[1])),
                               rtol=1e-10, atol=1e-12)


def test_compilation_cache_entries_appear_whole_to_a_concurrent_reader(tmp_path):
    """A reader polling JAX's file cache while an entry of 64 MB is written never sees part of it
    (`fimflow.setup_jax` makes the writes atomic; JAX's own `put` writes in place, where the
    reader gets a truncated entry)."""
    import threading

    from jax._src import lru_cache

    from fimflow._runtime import atomic_compile_cache_writes

    atomic_compile_cache_writes()
    value = os.urandom(1 << 26)
    seen = []
    for key in ("entry-a", "entry-b", "entry-c"):
        cache = lru_cache.LRUCache(str(tmp_path), max_size=-1)  # no size limit: JAX takes no lock

        # The reader polls until it reads the entry at all: with the atomic put that may be only
        # after `put` has returned (the entry appears whole, at the rename).
        def poll(cache=cache, key=key, deadline=time.monotonic() + 60.0):
            while time.monotonic() < deadline:
                read = cache.get(key)
                if read is not None:
                    seen.append(len(read))
                    return

        reader = threading.Thread(target=poll)
        reader.start()
        cache.put(key, value)
        reader.join()
        assert cache.get(key) == value
    assert len(seen) == 3 and all(n == len(value) for n in seen), seen
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
