"""One diffrax solve of a model between two times: the solver, step-size control, breakpoints."""

import diffrax
import jax.numpy as jnp


def diffeqsolve(model, theta, y0, t0, t1, saveat, config, event=None):
    """`diffrax.diffeqsolve` of `model` from `t0` to `t1` (forward-mode differentiable, never raises).

    The model's `discontinuities(theta)` inside (t0, t1) are steps the controller lands on; `config`
    gives the solver, tolerances and step limit; `event` is passed on (`diffrax.Event`).

    The save times are steps too, unless the solver's dense output is as accurate as its steps
    (`interpolates_within_tolerance`: Rodas5P's order-4 interpolant against its order-4 error
    estimate). Kvaerno5's third-order Hermite interpolant is not: read between steps, Robertson's
    states miss scipy's Radau by more than the tolerance. Measured for Rodas5P on the eight
    problems of `../shared/benchmark_models` at their nominal parameters (rtol 1e-8, atol 1e-10),
    the largest relative error of a prediction against a solve at rtol 1e-12: 1.2e-9 to 8.4e-8
    read from the interpolant, 2.6e-11 to 5.4e-8 on steps landed at the save times (Crauste's
    2.2e-4 and Zheng's 3.9e-7 the same either way); Boehm_JProteomeRes2014 then takes 157
    instead of 163 steps at its nominal parameters and 21 to 35 instead of 33 to 43 at start
    points, and its 100-start study 4 % less time (`bench/multistart.py`, one run each).
    """
    jumps = model.discontinuities(theta) if hasattr(model, "discontinuities") else None
    vector_field = model.vector_field
    if jumps is not None:
        # Only switches inside (t0, t1) need the controller. One at t1 itself is seen by the last
        # stage of every step that ends there, which then fails its error test: the steps halve
        # towards t1 without end (Fujita_SciSignal2010, switch at t1 = 3600: 20,000 steps, 11,600
        # rejected, within 1e-5 of t1). So the right-hand side is taken from the left at t1.
        beyond = t1 + 1.0 + jnp.abs(t1)
        jumps = jnp.sort(jnp.where((jumps > t0) & (jumps < t1), jumps, beyond))
        last = jnp.nextafter(jnp.asarray(t1, dtype=jnp.float64), jnp.asarray(t0, dtype=jnp.float64))
        vector_field = lambda t, y, theta: model.vector_field(jnp.minimum(t, last), y, theta)  # noqa: E731
    controller = diffrax.PIDController(rtol=config.rtol, atol=config.atol)
    solver = config.make_solver()
    step_ts = None
    if not getattr(solver, "interpolates_within_tolerance", False):  # steps land on the save times
        subs = saveat.subs if isinstance(saveat.subs, (list, tuple)) else [saveat.subs]
        step_ts = next((sub.ts for sub in subs if sub.ts is not None), None)
    if step_ts is not None or jumps is not None:
        controller = diffrax.ClipStepSizeController(controller, step_ts=step_ts, jump_ts=jumps)
    return diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: vector_field(t, y, args)),
        solver,
        t0=t0,
        t1=t1,
        dt0=None,
        y0=y0,
        args=theta,
        saveat=saveat,
        stepsize_controller=controller,
        adjoint=diffrax.ForwardMode(),
        max_steps=config.max_steps,
        event=event,
        throw=False,
    )
