"""Changes during a simulation (PEtab v2 periods: doses, step inputs, washouts) as time-triggered
events of the SBML model.

Period `k` of every experiment is one event *slot*: an event that fires at the model input
`__period<k>_time` (the period's start in that experiment, `inf` where it has no such period) and
assigns, for each entity some experiment changes there, the value of that experiment's change,
chosen by the input `__period<k>_code` (0: the experiment changes nothing in this slot). So the
compiled model holds one event per period slot, not one per experiment, and every experiment is
a row of inputs like any other condition. Slot 0 fires at the simulation start and carries the
first period's changes that are math (a number or a parameter id is a plain input, as in v1);
slot `PRE` likewise the pre-equilibration's, at the pre-equilibration's start (its code is set
in the pre-equilibration's inputs only, so it never fires in the simulation; a parameter it
changes keeps that value into the simulation unless the simulation changes it again).

Assignments of one slot are computed together from the values before the period starts (changes
at the same time act simultaneously), and period events come before the model's own events at
the same time (a PEtab change precedes an SBML event: test case 0030). A constant parameter or
compartment that a period changes becomes a state with zero derivative (SBML: an event may only
assign what is not constant), started from the input `<id>__start`. A period that resizes a
compartment keeps the values (concentrations or amounts) of its species, as PEtab v2 says
(unlike an SBML event, which keeps amounts).
"""

import dataclasses
import math

import sympy as sp

from .._errors import ProblemFileError
from ._sbml import Event, SBMLSpec
from ._sbml_math import TIME, symbol
from ._sbml_model import START_SUFFIX, START_TIME


PRE = -1
"""The slot of the pre-equilibration's changes that are math: it fires at the start of the
pre-equilibration (its code is set in the pre-equilibration's inputs only)."""


def slot_inputs(k: int) -> tuple[str, str]:
    """Names of the inputs of period slot `k`: its start time and its change code."""
    name = "__preequilibration" if k == PRE else f"__period{k}"
    return f"{name}_time", f"{name}_code"


@dataclasses.dataclass
class Slot:
    """One period slot: which experiment (code) assigns which target what."""

    k: int
    codes: dict = dataclasses.field(default_factory=dict)  # experiment -> code (1, 2, ...)
    changes: dict = dataclasses.field(default_factory=dict)  # target -> [(code, expression)]


def held_parameters(slots, spec: SBMLSpec, path) -> list[str]:
    """Constant parameters and compartments some period changes (they become states)."""
    held = []
    for slot in slots:
        for target, _ in slot.changes.items():
            if target in spec.states or target in held:
                continue
            if target in spec.inputs:
                held.append(target)
            else:
                raise ProblemFileError(path, f"a period changes `{target}` during the simulation; only species, "
                                       "parameters and compartments can change after the start.")
    return held


def with_periods(spec: SBMLSpec, slots: list, held: list, start_time: bool = False) -> SBMLSpec:
    """`spec` with one event per slot (before the model's own events), the held parameters as
    states started from `<id>__start`, and with `start_time` the input `START_TIME` (each
    experiment's first period start: where its simulation starts)."""
    if not slots and not start_time:
        return spec
    rename = {p: p + START_SUFFIX for p in held}
    inputs = [rename.get(i, i) for i in spec.inputs]
    values = list(spec.input_values)
    if start_time:
        inputs.append(START_TIME)
        values.append(0.0)
    events = []
    for slot in slots:
        time_name, code_name = slot_inputs(slot.k)
        inputs += [time_name, code_name]
        values += [math.inf, 0.0]
        code = symbol(code_name)
        assignments = []
        for target, entries in slot.changes.items():
            pieces = [(expr, sp.Eq(code, c)) for c, expr in entries]
            assignments.append((target, sp.Piecewise(*pieces, (symbol(target), True))))
        t = symbol(time_name)
        # slot 0 fires at the start (the pre-equilibration's slot at the start of the
        # pre-equilibration): found by root, its trigger is simply true where the experiment uses
        # it (a root `time - start` would be at zero there, which does not count as true)
        at_start = slot.k <= 0
        root = sp.Piecewise((sp.Integer(-1), sp.Eq(code, 0)), (sp.Integer(1), True)) if at_start else TIME - t
        events.append(Event(
            id=time_name.removesuffix("_time"), root=root, time_expr=None if slot.k == PRE else t,
            assignments=tuple(assignments), initial_value=not at_start,
        ))
    initial = dict(spec.initial)
    for p in held:
        initial[p] = symbol(p + START_SUFFIX)
    return dataclasses.replace(
        spec,
        inputs=tuple(inputs),
        input_values=tuple(values),
        states=tuple(spec.states) + tuple(held),
        derivatives=tuple(spec.derivatives) + tuple(sp.Integer(0) for _ in held),
        initial=initial,
        initial_order=tuple(held) + tuple(spec.initial_order),
        events=tuple(events) + tuple(spec.events),
        entities=tuple(sorted(set(spec.entities) | set(inputs))),
    )
