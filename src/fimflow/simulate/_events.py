"""Integration across events whose triggers depend on the states (SBML semantics, no delays).

A model with `state_events` gives each trigger as a root function, `event_roots(t, y, theta)`
(the trigger is true exactly where its root is > 0), and `event_initial_values()`,
`event_persistent()`, `event_values_from_trigger_time()`, `event_assigns()` (n_events x
n_states), `event_priorities(t, y, theta)`, `apply_event(k, t, y, theta)`.

- An event fires when its trigger turns from false to true. At $t_0$ the trigger's value just
  before is its `initialValue`: an event whose trigger is true at $t_0$ fires there unless that
  value is true.
- Between events, a solve without derivatives finds the next crossing: one `diffrax.Event` per
  trigger (up-crossings of its root), the time found by Newton's method on the step's dense
  interpolation. The segment is then solved, with sensitivities, up to that time. The events
  that fire there are executed one after the other, highest priority first (then in document
  order), each assigning values computed in the state its trigger turned true in
  (`useValuesFromTriggerTime`, SBML's default) or else in the state the one before left; an
  assignment that makes another trigger true fires that one too (a cascade, bounded by
  `2 n_events + 1` firings at one time); a pending event whose trigger turns false before it
  fires still fires if persistent.
  The integration restarts from the event time with every trigger's value as it is then (the
  one that just fired counts as true, so that a root at rounding distance from zero does not
  fire it again).
- Measurements at exactly an event's time see the state after the event.
- At most `MAX_EVENT_SEGMENTS` solves per condition: a model that fires more often (e.g. an
  event that chatters) is a failed solve, recorded, not an endless loop.

Forward-mode sensitivities across events: the event time's derivative comes from the implicit
function theorem on the crossing root with the solver's own sensitivities at the event
(`_moving_event`), not from differentiating the root search through the interpolation
(which, with diffrax's third-order Hermite interpolation of Kvaerno5, was off by 1e-4 relative
after three events of a closed-form test); the assignments and the restart from $t_e$ are
differentiated as written. Together: the classical sensitivity jump condition.
"""

import diffrax
import jax
import jax.numpy as jnp
import optimistix as optx

from ._stepping import diffeqsolve

MAX_EVENT_SEGMENTS = 1000
"""Solves (event to event) allowed per condition before the solve counts as failed."""

ROOT_RTOL = 1e-12
ROOT_ATOL = 1e-12
"""Newton's tolerances on the event time (the interpolation is smooth: a few iterations)."""

SIMULTANEOUS = 1e-9
"""Triggers whose roots lie within this time (relative to 1 + |t|) of the located one fire together."""

ROOT_SLACK = 100.0
"""A root within this many times the states' error tolerance (mapped through the root) of zero
counts as at zero (see `_roots_and_reach`)."""


def integrate_with_state_events(model, theta, y0, ts, t_end, config, t0=None, before=None):
    """States at the sorted `ts` within [t0, t_end] (`t0` default 0) and whether the solve
    succeeded. `before`: each trigger's value just before `t0` (default: `initialValue`; after a
    pre-equilibration, the values it ended with)."""
    ys, ok, _, _ = _segments(model, theta, y0, ts, t0, t_end, before, config, steady=False)
    return ys, ok


def steady_state_with_events(model, theta, y0, config, t0=None, before=None, t_max: float = 1e12):
    """Integrate from `t0` (default 0), firing the events on the way, until $\\|f\\|$ is within
    the tolerances (as `steady_state`). Returns the state, each trigger's value there (what a
    simulation that continues from it starts with: a trigger that is true does not fire again)
    and whether a steady state was reached before `t_max`."""
    _, ok, y, truth = _segments(model, theta, y0, jnp.zeros(0), t0, jnp.asarray(t_max, dtype=jnp.float64), before, config,
                                steady=True)
    return y, truth, ok


def _segments(model, theta, y0, ts, t0, t_end, before, config, steady):
    """The event loop: states at `ts`, success, and the final state and triggers. With `steady`,
    the last segment ends where the states are steady instead of at `t_end` (which is then a
    failure)."""
    n = model.n_events
    t0 = jnp.zeros_like(t_end) if t0 is None else jnp.asarray(t0, dtype=t_end.dtype)
    none = jnp.zeros(n, dtype=bool)
    before = model.event_initial_values() if before is None else before
    y, truth = fire_events(model, theta, t0, y0, before, none, config)
    root_finder = TriggeredConditionNewton(optx.Newton(rtol=ROOT_RTOL, atol=ROOT_ATOL))

    def segment(carry):
        t, y, truth, ys, ok, count, _, _ = carry
        t_star, crossed, rearmed, found, reached = _next_stop(model, theta, y, t, t_end, truth, config, root_finder, steady)
        hit = jnp.any(crossed)
        stopped = hit | jnp.any(rearmed)
        # two saves: at the times, and where the solve stops (an event, a re-arming, or t_end)
        if ts.shape[0]:
            saveat = diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=jnp.clip(ts, t, t_star)), diffrax.SubSaveAt(t1=True)])
            solution = diffeqsolve(model, theta, y, t, t_star, saveat, config)
            (at_ts, (y_star,)) = solution.ys
            inside = (ts >= t) & jnp.where(stopped, ts < t_star, ts <= t_star)
            ys = jnp.where(inside[:, None], at_ts, ys)
        else:
            solution = diffeqsolve(model, theta, y, t, t_star, diffrax.SaveAt(t1=True), config)
            (y_star,) = solution.ys
        ok = ok & found & (solution.result == diffrax.RESULTS.successful)
        t_event, y_event = _moving_event(model, theta, t_star, y_star, crossed)
        before = (model.event_roots(t_event, y_event, theta) > 0) & ~crossed
        y_after, truth_after = fire_events(model, theta, t_event, y_event, before, crossed, config)
        # the next segment starts at the event time's value; its dependence on the parameters moves
        # into the start state (a later start by dt is, to first order, a start from y - f dt),
        # so no derivative is taken through the solver's choice of steps from a moving start
        dt = t_event - jax.lax.stop_gradient(t_event)
        y_after = y_after - jax.lax.stop_gradient(model.vector_field(t_star, y_after, theta)) * dt
        y = jnp.where(hit, y_after, y_star)
        truth = jnp.where(hit, truth_after, truth & ~rearmed)
        return t_star, y, truth, ys, ok, count + 1, stopped, reached & ~stopped

    def going_on(carry):
        _, _, _, _, ok, count, stopped, _ = carry
        return stopped & ok & (count < MAX_EVENT_SEGMENTS)

    ys = jnp.zeros((ts.shape[0], y0.shape[0]), dtype=y0.dtype)
    carry = (t0, y, truth, ys, jnp.asarray(True), jnp.asarray(0), jnp.asarray(True), jnp.asarray(False))
    _, y, truth, ys, ok, _, stopped, reached = jax.lax.while_loop(going_on, segment, carry)
    ok = ok & ~stopped
    return ys, (ok & reached) if steady else ok, y, truth


def _next_stop(model, theta, y, t, t_end, truth, config, root_finder, steady=False):
    """Where the solve from `t` must stop next: the first time a trigger that is false turns true
    (which ones do, within `SIMULTANEOUS`: `crossed`) or one that is true turns false (it is
    re-armed: `rearmed`), else (with `steady`, where the states are steady first: `reached`)
    `t_end`; and whether the search succeeded. Two root functions:
    the largest root of the false triggers (it crosses zero upwards when the first of them
    turns true) and the smallest of the true ones (downwards). Values only: no derivatives
    flow through this solve."""
    theta, y, t = jax.lax.stop_gradient((theta, y, t))

    def roots(*positional, **named):  # diffrax passes t, y, args by position or by name
        s, x, args = (list(positional) + [named.get(k) for k in ("t", "y", "args")[len(positional):]])[:3]
        return s, model.event_roots(s, x, args)

    # at the start each trigger is what it was taken to be there, not its root's sign (a root
    # at rounding distance from zero must not count as a crossing)
    def first_false_turning_true(*positional, **named):
        s, g = roots(*positional, **named)
        return jnp.where(s == t, -1.0, jnp.max(jnp.where(truth, -1.0, g)))

    def first_true_turning_false(*positional, **named):
        s, g = roots(*positional, **named)
        return jnp.where(s == t, 1.0, jnp.min(jnp.where(truth, g, 1.0)))

    conditions, directions = [first_false_turning_true, first_true_turning_false], [True, False]
    if steady:
        conditions.append(diffrax.steady_state_event(rtol=config.rtol, atol=config.atol))
        directions.append(None)
    event = diffrax.Event(conditions, root_finder, direction=directions)
    solution = diffeqsolve(model, theta, y, t, t_end, diffrax.SaveAt(t1=True), config, event=event)
    stopped = solution.result == diffrax.RESULTS.event_occurred
    t_star, y_star = solution.ts[-1], solution.ys[-1]
    g, reach = _roots_and_reach(model, theta, t_star, y_star, config)
    turning_true, turning_false = (stopped & jnp.asarray(m) for m in solution.event_mask[:2])
    reached = stopped & jnp.asarray(solution.event_mask[2]) if steady else jnp.asarray(False)
    crossed = turning_true & ~truth & (g + reach >= 0)
    rearmed = turning_false & truth & (g - reach <= 0)
    found = stopped | (solution.result == diffrax.RESULTS.successful)
    t_stop = jnp.where(stopped, t_star, t_end)
    return jax.lax.stop_gradient((t_stop, crossed, rearmed, found, reached))


class TriggeredConditionNewton(optx.AbstractRootFinder):
    """Newton's method on the sum of an event's condition values, for `diffrax.Event`.

    diffrax locates an event with a root finder on the list of its conditions' values, every one
    zeroed but the one(s) that triggered, so their sum is the triggered condition. Newton on the
    list itself is an m x 1 system that lineax solves by QR, a LAPACK call: not exportable
    (`jax.export`, the program store refuses it) and open to the thread-pool deadlock described
    at `fimflow.simulate._rosenbrock.EXPLICIT_INVERSE_UP_TO`. On the sum the system is 1 x 1,
    which lineax solves as a division."""

    newton: optx.Newton

    @property
    def rtol(self):
        return self.newton.rtol

    @property
    def atol(self):
        return self.newton.atol

    @property
    def norm(self):
        return self.newton.norm

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        dtype = jax.tree_util.tree_leaves(f_struct)[0].dtype
        return self.newton.init(_summed(fn), y, args, options, jax.ShapeDtypeStruct((), dtype), aux_struct, tags)

    def step(self, fn, y, args, options, state, tags):
        return self.newton.step(_summed(fn), y, args, options, state, tags)

    def terminate(self, fn, y, args, options, state, tags):
        return self.newton.terminate(_summed(fn), y, args, options, state, tags)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return self.newton.postprocess(_summed(fn), y, aux, args, options, state, tags, result)


def _summed(fn):
    def summed(y, args):
        out, aux = fn(y, args)
        return sum(jax.tree_util.tree_leaves(out)), aux

    return summed


def _moving_event(model, theta, t_star, y_star, crossed):
    """The event time and state as functions of the parameters: values `t_star`, `y_star`;
    derivatives by the implicit function theorem on the crossing root $g(t_e, y(t_e))= 0$:
    $\\mathrm{d}t_e = -\\mathrm{d}g / \\dot g$ with $\\mathrm{d}g$ through $y(t^*)$'s
    sensitivities and the parameters, $\\dot g = \\partial_t g + \\partial_y g \\cdot f$;
    and $\\mathrm{d}y_e = \\mathrm{d}y(t^*) + f \\, \\mathrm{d}t_e$."""
    k = jnp.argmax(crossed)
    hit = jnp.any(crossed)
    f = jax.lax.stop_gradient(model.vector_field(t_star, y_star, theta))

    def root(s, x):
        return model.event_roots(s, x, theta)[k]

    g, rate = jax.jvp(root, (t_star, y_star), (jnp.ones_like(t_star), f))
    rate = jax.lax.stop_gradient(jnp.where(hit & (rate != 0), rate, 1.0))
    dt = -(g - jax.lax.stop_gradient(g)) / rate  # value 0: only its derivative counts
    dt = jnp.where(hit, dt, 0.0)
    return t_star + dt, y_star + f * dt


def fire_events(model, theta, t, y, before, crossed, config):
    """Fire at time `t` the events whose trigger is true at (t, y) but was not just before
    (`before`), those whose root the solve stopped at (`crossed`: they fire whatever the sign
    of a root at rounding distance from zero), and those their assignments make true; returns
    the state after and the triggers' values then (those that fired count as true)."""
    n = model.n_events
    persistent = model.event_persistent()
    from_trigger = model.event_values_from_trigger_time()
    assigns = model.event_assigns()
    index = jnp.arange(n)

    def one_firing(_, carry):
        y, pending, last, fired, at_trigger = carry
        now = model.event_roots(t, y, theta) > 0
        new = now & ~last & ~pending
        at_trigger = jnp.where(new[:, None], y[None, :], at_trigger)  # the state its trigger turned true in
        pending = (pending | new) & (persistent | now | crossed)
        key = jnp.where(pending, model.event_priorities(t, y, theta), -jnp.inf)
        k = jnp.argmax(key)
        fire = jnp.any(pending)
        source = jnp.where(from_trigger[k], at_trigger[k], y)
        y = jnp.where(fire & assigns[k], model.apply_event(k, t, source, theta), y)
        done = fire & (index == k)
        # the trigger of the event that just fired counts as true (it may sit at rounding distance
        # below its root): its own assignment pushing the root up is not a new turning true
        return y, pending & ~done, now | done, fired | done, at_trigger

    nothing = jnp.zeros(n, dtype=bool)
    at_trigger = jnp.broadcast_to(y, (n, y.shape[0]))
    y, _, _, fired, _ = jax.lax.fori_loop(0, 2 * n + 1, one_firing, (y, crossed, before, nothing, at_trigger))
    # a trigger that fired and whose root is still at rounding distance from zero (nothing it
    # assigned moved it) counts as true, so that it does not fire again on the next step
    g, reach = _roots_and_reach(model, theta, t, y, config)
    return y, jax.lax.stop_gradient((g > 0) | (fired & (jnp.abs(g) <= reach)))


def _roots_and_reach(model, theta, t, y, config):
    """The roots at (t, y) and how far from zero each may be while its trigger is at its root:
    what it moves in `SIMULTANEOUS` time plus `ROOT_SLACK` times what the states' error
    tolerance moves it (the located state comes from an interpolation, the solve's from steps)."""
    t, y, theta = jax.lax.stop_gradient((t, y, theta))
    f = model.vector_field(t, y, theta)

    def roots(s, x):
        return model.event_roots(s, x, theta)

    g, rate = jax.jvp(roots, (t, y), (jnp.ones_like(t), f))
    _, spread = jax.jvp(lambda x: roots(t, x), (y,), (config.atol + config.rtol * jnp.abs(y),))
    return g, jnp.abs(rate) * SIMULTANEOUS * (1.0 + jnp.abs(t)) + ROOT_SLACK * jnp.abs(spread)
