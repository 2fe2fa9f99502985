"""Rodas5P (`SolverConfig(method="rodas5p")`) against closed forms, scipy and central differences
(Robertson vs scipy's Radau: tests/test_simulate.py, for both methods)."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import fimflow
from fimflow.models import OneCompartmentPK
from fimflow.simulate._rosenbrock import Rodas5P, _inverse

from helpers import Robertson, stiff_linear_system

# W's inverse comes from an elimination unrolled into the program (small systems) or run as a
# loop over the columns (large ones): both are checked
SOLVES = {"unrolled": Rodas5P(), "loop": Rodas5P(inverse_up_to=0)}
both_solves = pytest.mark.parametrize("solve", sorted(SOLVES))


def rodas(solve, rtol=1e-10, atol=1e-16):
    return fimflow.SolverConfig(rtol=rtol, atol=atol, solver=SOLVES[solve])


def forced_oscillator(t, y, p):
    """Smooth, nonlinear and non-autonomous (the time derivative enters the stages)."""
    return jnp.stack([-p[0] * y[0] + jnp.sin(3.0 * t) * y[1], 0.1 * y[0] * y[1] - p[1] * y[1]])


@both_solves
def test_order_five_and_dense_output_of_order_four_or_better_with_fixed_steps(solve):
    y0, p = jnp.array([1.0, 2.0]), jnp.array([0.7, 0.3])
    ref = solve_ivp(lambda t, y: np.asarray(forced_oscillator(t, y, p)), (0.0, 2.0), np.asarray(y0), method="DOP853",
                    rtol=1e-13, atol=1e-15, dense_output=True)
    inside = np.linspace(0.013, 1.99, 29)  # between step end points
    end, dense = [], []
    for n in (10, 20, 40, 80):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(forced_oscillator), SOLVES[solve], 0.0, 2.0, 2.0 / n, y0, args=p,
                                  saveat=diffrax.SaveAt(t1=True, dense=True), max_steps=100)
        end.append(np.abs(np.asarray(sol.ys[-1]) - ref.y[:, -1]).max())
        dense.append(max(np.abs(np.asarray(sol.evaluate(t)) - ref.sol(t)).max() for t in inside))
    end_order = np.log2(end[-2] / end[-1])
    dense_order = np.log2(dense[-2] / dense[-1])
    assert abs(end_order - 5.0) < 0.5, end
    assert dense_order > 3.5, dense


@both_solves
def test_stiff_linear_system_matches_the_matrix_exponential(solve):
    ts = np.array([1e-7, 1e-3, 0.1, 1.0, 5.0])
    matrix, y0, exact = stiff_linear_system(ts)  # stiffness ratio 2e6
    sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda t, y, a: a @ y), SOLVES[solve], 0.0, ts[-1], None, jnp.asarray(y0),
                              args=jnp.asarray(matrix), saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
                              stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-14), max_steps=10_000)
    assert sol.result == diffrax.RESULTS.successful
    np.testing.assert_allclose(np.asarray(sol.ys), exact, rtol=1e-7, atol=1e-12)
    assert int(sol.stats["num_steps"]) < 500  # L-stable: the fast modes do not limit the step


@both_solves
@pytest.mark.parametrize("theta", [(100.0, 10.0, 2.0), (8120.0, 217.0, 0.0123)])
def test_pk_values_and_sensitivities_equal_the_closed_form(theta, solve):
    ts = jnp.array([0.25, 1.0, 2.0, 6.0, 24.0])

    def concentration(theta):
        return fimflow.simulate(OneCompartmentPK(), theta, ts, rodas(solve))[1][:, 0]

    dose, volume, clearance = theta
    t = np.asarray(ts)
    exact = dose / volume * np.exp(-clearance / volume * t)
    analytic = np.stack([exact / dose, exact * (-1 / volume + clearance * t / volume**2), -exact * t / volume], axis=1)
    np.testing.assert_allclose(np.asarray(concentration(jnp.array(theta))), exact, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(jax.jacfwd(concentration)(jnp.array(theta))), analytic, rtol=1e-7, atol=1e-12)


@both_solves
def test_pk_second_derivatives_equal_the_closed_form(solve):
    """Forward over forward (the observed FIM, a design's time gradient): the stage solves' rule
    is itself differentiated, so W's dependence on the parameters must enter the second
    derivative (with the factorisation held constant there it was off by up to 4e-4 relative).
    C = (D/V) e^{-(CL/V) t} in (V, CL), and d²C/dt² = K² C for the time derivative."""
    ts = jnp.array([0.25, 1.0, 2.0, 6.0, 24.0])
    dose = 100.0

    def concentration(x):
        return fimflow.simulate(OneCompartmentPK(), jnp.stack([dose, x[0], x[1]]), ts, rodas(solve))[1][:, 0]

    volume, clearance = 10.0, 2.0
    t = np.asarray(ts)
    c = dose / volume * np.exp(-clearance / volume * t)
    # c = D/V e^{-CL t/V}: second derivatives in V and CL
    d_vv = c * (2 / volume**2 - 4 * clearance * t / volume**3 + (clearance * t) ** 2 / volume**4)
    d_vc = c * (2 * t / volume**2 - clearance * t**2 / volume**3)
    d_cc = c * t**2 / volume**2
    exact = np.stack([np.stack([d_vv, d_vc], -1), np.stack([d_vc, d_cc], -1)], -1)
    hessian = np.asarray(jax.jacfwd(jax.jacfwd(concentration))(jnp.array([volume, clearance])))
    np.testing.assert_allclose(hessian, exact, rtol=1e-7, atol=1e-12)

    def at(time):  # C at one time, as a function of the time
        return fimflow.simulate(OneCompartmentPK(), jnp.array([dose, volume, clearance]), time[None], rodas(solve))[1][0, 0]

    k = clearance / volume
    c4 = dose / volume * np.exp(-k * 4.0)
    assert float(jax.jacfwd(jax.jacfwd(at))(jnp.array(4.0))) == pytest.approx(k**2 * c4, rel=1e-7)


@both_solves
def test_robertson_sensitivities_match_central_differences(solve):
    ts = jnp.array([1.0, 100.0, 1e4])
    config = rodas(solve, rtol=1e-11)

    def log_states(log_theta):  # y2 spans 1e-5..1e-8: relative sensitivities on the log scale
        ys = fimflow.simulate(Robertson(), jnp.exp(log_theta), ts, config)[0]
        return jnp.log(ys[:, :2])

    x = jnp.log(jnp.array([0.04, 3e7, 1e4]))
    jacobian = np.asarray(jax.jacfwd(log_states)(x))
    step = 1e-4
    central = np.stack([(np.asarray(log_states(x + step * e)) - np.asarray(log_states(x - step * e))) / (2 * step)
                        for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(jacobian, central, rtol=1e-5, atol=1e-6)


def test_a_batch_gives_the_states_of_single_solves():
    """As for the default solver: a batch is a different XLA program (batched LU and matmuls), equal
    to round-off, not bitwise (test_batch.py asserts bitwise equality where the program is the same)."""
    thetas = jnp.array([[0.04, 3e7, 1e4], [0.05, 1e7, 3e3], [0.02, 5e7, 2e4]])
    ts = jnp.array([1.0, 10.0, 1e3])
    config = fimflow.SolverConfig(rtol=1e-8, atol=1e-12, method="rodas5p")
    batched = jax.jit(jax.vmap(lambda th: fimflow.simulate(Robertson(), th, ts, config)[0]))(thetas)
    for i, theta in enumerate(thetas):
        single = fimflow.simulate(Robertson(), theta, ts, config)[0]
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single), rtol=1e-10, atol=1e-18)


def test_values_a_vector_field_closes_over_are_differentiated_and_may_be_batched():
    """y' = -p·y with p captured by the vector field (not passed as `args`): the derivative rule
    of the stage solves must see p's tangent (dy/dp = -t·e^{-pt}) and accept a p batched by
    `vmap` (the solve's own last time point is captured so, per condition, in fimflow)."""
    ts = jnp.array([0.5, 1.0, 2.0])

    def solve(p):
        term = diffrax.ODETerm(lambda t, y, args: -p * y)
        sol = diffrax.diffeqsolve(term, Rodas5P(), 0.0, 2.0, None, jnp.array([1.0]), saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12),
                                  adjoint=diffrax.ForwardMode())
        return sol.ys[:, 0]

    ps = jnp.array([0.3, 1.7])
    values, derivatives = jax.jit(jax.vmap(lambda p: jax.jvp(solve, (p,), (jnp.ones_like(p),))))(ps)
    for i, p in enumerate(np.asarray(ps)):
        t = np.asarray(ts)
        np.testing.assert_allclose(np.asarray(values[i]), np.exp(-p * t), rtol=1e-8)
        np.testing.assert_allclose(np.asarray(derivatives[i]), -t * np.exp(-p * t), rtol=1e-7)


def test_method_is_checked():
    with pytest.raises(ValueError, match="method"):
        fimflow.SolverConfig(method="rodas4")


@pytest.mark.parametrize("unroll_up_to", [40, 0])
@pytest.mark.parametrize("n", [1, 3, 9, 41])
def test_the_stage_matrix_inverse_matches_lapack_to_its_condition(n, unroll_up_to):
    """Gauss-Jordan with partial pivoting (unrolled or looped) against numpy's LAPACK inverse, on
    matrices with rows scaled over ten decades and a row that needs a pivot swap (zero diagonal)."""
    rs = np.random.RandomState(n)
    w = rs.normal(size=(n, n)) * np.exp(rs.uniform(-11.5, 11.5, size=(n, 1)))
    w[0, 0] = 0.0 if n > 1 else w[0, 0]
    inverse = np.asarray(jax.jit(lambda m: _inverse(m, unroll_up_to))(jnp.asarray(w)))
    reference = np.linalg.inv(w)
    bound = 50 * np.linalg.cond(w) * np.finfo(float).eps
    assert np.max(np.abs(inverse - reference)) <= bound * np.max(np.abs(reference))
    np.testing.assert_allclose(inverse @ w, np.eye(n), atol=bound)


def test_the_fit_kernel_calls_no_lapack(tmp_path):
    """jaxlib 0.10's batched LAPACK kernels can deadlock when two run at once (the fit's batch
    groups), and a program with them cannot be stored (`jax.export`): the fit's compiled
    evaluation must not contain them (a model with 41 states takes the looped elimination, the
    PK model the unrolled one; a state-triggered event is located by Newton's method on its
    conditions, which lineax solved by QR before `TriggeredConditionNewton`)."""
    import equinox as eqx

    from fimflow.fit._multistart import kernel_function
    from helpers import load
    from sbml_builder import measurement, parameter, petab_problem, sbml

    n = 41
    chain = sbml(species=[(f"A{i}", float(i == 0), False, "concentration", "cell") for i in range(n)],
                 parameters=[("k", 0.5, True)],
                 reactions=[(f"r{i}", [f"A{i}"], [f"A{i + 1}"], f"k * A{i} * cell") for i in range(n - 1)])
    path = petab_problem(tmp_path, chain, observables=[{"observableId": "last", "observableFormula": f"A{n - 1}", "noiseFormula": "1"}],
                         measurements=[measurement("last", t) for t in (1.0, 2.0)], parameters=[parameter("k", 0.5)])
    switch = sbml(species=[("A", 1.0, False, "concentration", "cell")], parameters=[("k", 0.5, True), ("B", 0.0, False)],
                  rate_rules=[("A", "-k * A")], events=[("low", "A < 0.5", {"B": "B + 1"})])
    event_path = petab_problem(tmp_path / "event", switch, observables=[{"observableId": "b", "observableFormula": "B", "noiseFormula": "1"}],
                               measurements=[measurement("b", t) for t in (1.0, 2.0)], parameters=[parameter("k", 0.5)])
    with_event = fimflow.load_petab(event_path)
    assert with_event.model.state_events
    for problem in (load("pk_full"), fimflow.load_petab(path), with_event):
        objective = fimflow.Objective.from_problem(problem)
        points = np.tile(problem.parameters.nominal_theta(), (4, 1))
        text = eqx.filter_jit(kernel_function(objective, fimflow.FitOptions())).lower(objective, points).as_text()
        assert "lapack" not in text and "custom_call" not in text, problem.id
