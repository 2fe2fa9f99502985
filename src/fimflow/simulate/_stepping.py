"""One diffrax solve of a model between two times: the solver, step-size control, breakpoints."""

import diffrax
import jax.numpy as jnp


def diffeqsolve(model, theta, y0, t0, t1, saveat, config, event=None):
    """`diffrax.diffeqsolve` of `model` from `t0` to `t1` (forward-mode differentiable, never raises).

    The model's `discontinuities(theta)` inside (t0, t1) are steps the controller lands on; `config`
    gives the solver, tolerances and step limit; `event` is passed on (`diffrax.Event`).

    The save times are steps too, for every solver. Reading them from Rodas5P's dense output
    (order 4, as accurate as its steps: on the eight problems of `../shared/benchmark_models` the
    largest relative prediction error at nominal parameters was 1.2e-9 to 8.4e-8 against 2.6e-11
    to 5.4e-8 landed) saved 4 % of Boehm_JProteomeRes2014's study, but on Fujita_SciSignal2010's
    40 seed-1 starts none of the first 29 to finish reached the optimum (7 of 40 landed; start 7
    ended by the ftol test at NLL 5494 after 79 iterations instead of reaching −66.58; most
    likely the interpolated objective is rougher in the parameters at the scale of the ftol
    test; not yet checked) (12-06, README: Methods).
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
    subs = saveat.subs if isinstance(saveat.subs, (list, tuple)) else [saveat.subs]
    step_ts = next((sub.ts for sub in subs if sub.ts is not None), None)  # steps land on the save times
    if step_ts is not None or jumps is not None:
        controller = diffrax.ClipStepSizeController(controller, step_ts=step_ts, jump_ts=jumps)
    return diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: vector_field(t, y, args)),
        config.make_solver(),
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
