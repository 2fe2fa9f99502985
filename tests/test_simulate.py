"""Simulation against closed forms and scipy's Radau."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import fimflow
from fimflow.models import OneCompartmentPK

from helpers import Robertson, stiff_linear_system

TIGHT = fimflow.SolverConfig(rtol=1e-10, atol=1e-16)


@pytest.mark.parametrize("theta", [(100.0, 10.0, 2.0), (5.0, 0.5, 0.25), (8120.0, 217.0, 0.0123)])
def test_pk_equals_closed_form(theta):
    dose, volume, clearance = theta
    ts = jnp.array([0.0, 0.25, 0.5, 1, 2, 4, 6, 8, 12, 24])
    _, obs, ok = fimflow.simulate(OneCompartmentPK(), jnp.array(theta), ts, TIGHT)
    exact = dose / volume * np.exp(-clearance / volume * np.asarray(ts))
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(obs[:, 0]), exact, rtol=1e-8, atol=0)


@pytest.mark.parametrize("method", ["kvaerno5", "rodas5p"])
def test_robertson_agrees_with_radau(method):
    theta = np.array([0.04, 3e7, 1e4])
    ts = np.array([1e-4, 1e-2, 1.0, 10.0, 100.0, 1e3, 1e4, 4e4])
    config = fimflow.SolverConfig(rtol=1e-10, atol=1e-14, method=method)
    ys, _, ok = fimflow.simulate(Robertson(), jnp.asarray(theta), jnp.asarray(ts), config)
    rhs = jax.jit(lambda t, y: Robertson().vector_field(t, y, jnp.asarray(theta)))  # one compile, not a trace per call
    ref = solve_ivp(
        lambda t, y: np.asarray(rhs(t, jnp.asarray(y))),
        (0.0, ts[-1]), [1.0, 0.0, 0.0], method="Radau", rtol=1e-12, atol=1e-16, t_eval=ts,
    )
    assert bool(ok) and ref.success
    np.testing.assert_allclose(np.asarray(ys)[:, [0, 2]], ref.y.T[:, [0, 2]], rtol=1e-7, atol=1e-14)
    np.testing.assert_allclose(np.asarray(ys)[:, 1], ref.y.T[:, 1], rtol=1e-6, atol=1e-16)


def test_failed_solve_is_reported_not_raised():
    # too few steps for Robertson: a status, never an exception
    config = fimflow.SolverConfig(rtol=1e-10, atol=1e-14, max_steps=10)
    ys, _, ok = fimflow.simulate(Robertson(), jnp.array([0.04, 3e7, 1e4]), jnp.array([1.0, 1e4]), config)
    assert not bool(ok)


def test_solver_config_rejects_bad_tolerances():
    with pytest.raises(ValueError, match="rtol"):
        fimflow.SolverConfig(rtol=0.0)
    with pytest.raises(ValueError, match="max_steps"):
        fimflow.SolverConfig(max_steps=0)


class _StiffLinear:
    """y' = A y, the matrix A given as `theta`."""

    def vector_field(self, t, y, theta):
        return theta @ y


@pytest.mark.parametrize("method", ["kvaerno5", "rodas5p"])
def test_save_times_are_steps_and_agree_with_the_matrix_exponential(method):
    """Every solver lands its steps on the save times (`_stepping.diffeqsolve` says why), here
    1000 of them, far more than the tolerance needs, on a system with eigenvalues −0.5 … −1e6."""
    import diffrax

    from fimflow.simulate._stepping import diffeqsolve

    ts = np.linspace(0.05, 5.0, 1000)
    matrix, y0, exact = stiff_linear_system(ts)
    config = fimflow.SolverConfig(rtol=1e-8, atol=1e-12, method=method)
    sol = diffeqsolve(_StiffLinear(), jnp.asarray(matrix), jnp.asarray(y0), 0.0, ts[-1],
                      diffrax.SaveAt(ts=jnp.asarray(ts)), config)
    assert sol.result == diffrax.RESULTS.successful
    np.testing.assert_allclose(np.asarray(sol.ys), exact, rtol=2e-7, atol=1e-9)
    assert int(sol.stats["num_accepted_steps"]) >= len(ts)
