"""`SBMLModel`: an `AbstractODEModel` evaluated from an `SBMLSpec` plus PEtab observables.

Besides the model protocol it offers what PEtab problems need: observables and noise with
per-measurement placeholder values, initial values a condition may override (NaN = keep),
re-initialisation after pre-equilibration, breakpoints, and events (time-triggered ones by their
times, the others by root functions of time, states and parameters).
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import sympy as sp

from ._jax_math import evaluate
from ..problem import AbstractODEModel
from ._sbml import SBMLSpec

INITIAL_SUFFIX = "__initial"
"""Model parameter `<state>__initial`: a condition's override of that state's initial value."""
START_SUFFIX = "__start"
"""Model parameter `<id>__start`: the start value of a parameter a period changes (`_periods.py`)."""
START_TIME = "__start_time"
"""Model parameter: where the simulation starts (PEtab v2 experiments whose first period is not at 0)."""


@dataclasses.dataclass(frozen=True, eq=False)
class MeasurementModel:
    """PEtab observables: formula, noise formula and placeholder names of each observable."""

    observable_exprs: tuple[sp.Expr, ...]
    noise_exprs: tuple[sp.Expr, ...]
    observable_placeholders: tuple[tuple[str, ...], ...]
    noise_placeholders: tuple[tuple[str, ...], ...]

    @property
    def n_observable_parameters(self) -> int:
        return max((len(p) for p in self.observable_placeholders), default=0)

    @property
    def n_noise_parameters(self) -> int:
        return max((len(p) for p in self.noise_placeholders), default=0)


class SBMLModel(AbstractODEModel):
    """Base of the model classes `make_sbml_model` creates (names are per model)."""

    spec: SBMLSpec = eqx.field(static=True)
    measurement: MeasurementModel = eqx.field(static=True)
    overridable: tuple[str, ...] = eqx.field(static=True)
    held: tuple[str, ...] = eqx.field(static=True, default=())
    """Parameters held as states because a period changes them (started from `<id>__start`)."""

    def _inputs(self, theta) -> dict:
        env = {name: theta[i] for i, name in enumerate(self.parameter_names)}
        return env

    def _env(self, t, y, theta) -> dict:
        env = self._inputs(theta)
        env["time"] = t
        for i, s in enumerate(self.spec.states):
            env[s] = y[i]
        for var, expr in self.spec.derived:
            env[var] = self._derived(var, expr, env)
        return env

    def _derived(self, var, expr, env):
        value = evaluate(expr, env)
        if var in self.overridable:  # an initially assigned parameter a condition may set (NaN = keep)
            override = env[var + INITIAL_SUFFIX]
            value = jnp.where(jnp.isnan(override), value, override)
        return value

    def vector_field(self, t, y, theta):
        return _vector_field(self, t, y, theta)

    def start_time(self, theta):
        if START_TIME in self.parameter_names:
            return theta[self.parameter_names.index(START_TIME)]
        return jnp.zeros(())

    def initial_state(self, theta):
        env = self._inputs(theta)
        env["time"] = self.start_time(theta)
        derived = dict(self.spec.derived)
        for name in self.spec.initial_order:
            if name in self.spec.initial:
                value = evaluate(self.spec.initial[name], env)
                if name in self.overridable:
                    override = env[name + INITIAL_SUFFIX]
                    value = jnp.where(jnp.isnan(override), value, override)
                env[name] = value
            else:
                env[name] = self._derived(name, derived[name], env)
        if not self.spec.states:  # observables of parameters only
            return jnp.zeros(0)
        return jnp.stack([jnp.broadcast_to(env[s], ()).astype(jnp.float64) for s in self.spec.states])

    def reinitialise(self, y, theta):
        """States after pre-equilibration: those the condition sets (non-NaN) take its value."""
        env = self._inputs(theta)
        values = []
        for i, s in enumerate(self.spec.states):
            if s in self.overridable:
                override = env[s + INITIAL_SUFFIX]
                values.append(jnp.where(jnp.isnan(override), y[i], override))
            elif s in self.held:  # a held parameter takes this condition's value, as an input would
                start = jnp.broadcast_to(env[s + START_SUFFIX], ()).astype(y.dtype)
                values.append(jnp.where(jnp.isnan(start), y[i], start))  # NaN: the value it ended with
            else:
                values.append(y[i])
        return jnp.stack(values)

    def measurement_observables(self, t, y, theta, observable_parameters):
        """All observables at one time point with this measurement's placeholder values."""
        env = self._env(t, y, theta)
        for names in self.measurement.observable_placeholders:
            for j, name in enumerate(names):
                env[name] = observable_parameters[j]
        return jnp.stack([jnp.broadcast_to(evaluate(e, env), ()) for e in self.measurement.observable_exprs]), env

    def measurement_noise(self, env, observables, noise_parameters):
        """All noise formulas (observable ids in them refer to the simulated observables)."""
        env = dict(env)
        for name, value in zip(self.observable_names, observables):
            env[name] = value
        for names in self.measurement.noise_placeholders:
            for j, name in enumerate(names):
                env[name] = noise_parameters[j]
        return jnp.stack([jnp.broadcast_to(evaluate(e, env), ()) for e in self.measurement.noise_exprs])

    def observables(self, t, y, theta):
        """Observables with every placeholder NaN (for plotting models without placeholders)."""
        op = jnp.full((self.measurement.n_observable_parameters,), jnp.nan)
        return self.measurement_observables(t, y, theta, op)[0]

    def discontinuities(self, theta):
        """Times where `time`-dependent piecewise expressions switch (may lie outside the span)."""
        if not self.spec.breakpoints:
            return None
        env = self._inputs(theta)
        return jnp.sort(jnp.stack([jnp.broadcast_to(evaluate(b, env), ()) for b in self.spec.breakpoints]))

    @property
    def n_events(self) -> int:
        return len(self.spec.events)

    @property
    def state_events(self) -> bool:
        """Whether some trigger depends on the states (events are then located by root finding)."""
        return any(e.time_expr is None for e in self.spec.events)

    def event_roots(self, t, y, theta):
        """Each trigger's root function at (t, y): the trigger is true exactly where it is > 0."""
        env = self._env(t, y, theta)
        return jnp.stack([jnp.broadcast_to(evaluate(e.root, env), ()).astype(jnp.float64) for e in self.spec.events])

    def event_initial_values(self):
        """Each trigger's value just before $t_0$ (SBML `initialValue`)."""
        return jnp.asarray([e.initial_value for e in self.spec.events])

    def event_persistent(self):
        return jnp.asarray([e.persistent for e in self.spec.events])

    def event_values_from_trigger_time(self):
        return jnp.asarray([e.values_from_trigger_time for e in self.spec.events])

    def event_assigns(self):
        """(n_events, n_states): which states each event assigns."""
        return jnp.asarray([[s in dict(e.assignments) for s in self.spec.states] for e in self.spec.events])

    def event_priorities(self, t, y, theta):
        """Each event's priority at (t, y) (events without one rank below any that has one)."""
        env = self._env(t, y, theta)
        lowest = jnp.asarray(-jnp.finfo(jnp.float64).max)
        return jnp.stack([
            lowest if e.priority is None else jnp.broadcast_to(evaluate(e.priority, env), ()).astype(jnp.float64)
            for e in self.spec.events
        ])

    def event_times(self, theta):
        env = self._inputs(theta)
        return jnp.stack([jnp.broadcast_to(evaluate(e.time_expr, env), ()) for e in self.spec.events])

    def event_fires_at_start(self):
        return jnp.asarray([e.fires_at_start for e in self.spec.events])

    def apply_event(self, index, t, y, theta):
        """Apply the assignments of event `index` (traced) with the pre-event values."""

        def branch(event):
            def apply(y):
                env = self._env(t, y, theta)
                for var, expr in event.assignments:
                    y = y.at[self.spec.states.index(var)].set(evaluate(expr, env))
                return y

            return apply

        return jax.lax.switch(index, [branch(e) for e in self.spec.events], y)


@jax.jit
def _vector_field(model, t, y, theta):
    """The right-hand side as one traced function: every use (solver stages, Newton Jacobians,
    sensitivities, several solves) refers to one traced body instead of re-walking the
    expressions, and JAX transforms that body once per kind of use. SalazarCavazos_MBoC2020
    (75 states, 8,600 operations in the right-hand side), first log-likelihood: tracing 52 s ->
    25 s, XLA compile 75 s -> 59 s (one run each, the machine shared)."""
    env = model._env(t, y, theta)
    return jnp.stack([jnp.broadcast_to(evaluate(d, env), ()) for d in model.spec.derivatives])


def make_sbml_model(spec: SBMLSpec, measurement: MeasurementModel, observable_ids, extra_inputs, overridable, held=()) -> SBMLModel:
    """An `SBMLModel` instance whose class carries this model's names.

    Model parameters: the SBML inputs, then `extra_inputs` (PEtab parameters used only by
    observable or noise formulas), then `<state>__initial` for each state in `overridable`.
    """
    names = tuple(spec.inputs) + tuple(extra_inputs) + tuple(s + INITIAL_SUFFIX for s in overridable)
    attributes = {
        "parameter_names": names,
        "state_names": tuple(spec.states),
        "observable_names": tuple(observable_ids),
        # the public package that builds it (what `problem/summary.json` names as the model),
        # not this private module: an internal move must not change the results
        "__module__": __package__,
    }
    cls = type("SBMLModel_" + "".join(c if c.isalnum() else "_" for c in spec.id), (SBMLModel,), attributes)
    return cls(spec=spec, measurement=measurement, overridable=tuple(overridable), held=tuple(held))
