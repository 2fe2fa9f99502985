"""Read an SBML model (libsbml) into `SBMLSpec`: states, inputs, rules, rates and events as sympy.

Conventions (SBML semantics):
- a species symbol in math is its concentration unless `hasOnlySubstanceUnits`; the state
  of a species holds exactly that symbol value, so reaction fluxes (substance/time) are
  divided by the size of the species' compartment;
- states are all species that are not assignment-rule targets, plus parameters with rate
  rules or event assignments and compartments with event assignments (an event that resizes a
  compartment keeps the amounts of its species: their concentrations are rescaled by the
  event; compartments with rate or assignment rules are refused);
- inputs (the model parameters a condition can set) are the constant parameters and
  compartments; initial assignments to parameters and compartments are evaluated like
  assignment rules (they must not depend on species or time);
- events (not delayed) fire when their trigger turns from false to true: a trigger is a
  relation (`<`, `<=`, `>`, `>=`) of any expressions, or `and`/`or`/`not` of such, and becomes
  a root function `g` (trigger true exactly where `g > 0`: `a > b` is `a - b`, `and` the
  minimum, `or` the maximum, `not` the negation); `time >= expr` with `expr` free of states is
  a time-triggered event (its time is known before the solve);
  `time`-dependent piecewise conditions give breakpoints the step-size controller steps onto.
"""

import dataclasses
import graphlib

import libsbml
import sympy as sp

from ._jax_math import UnsupportedExpression, check_expression
from ._sbml_math import TIME, UnsupportedMath, ast_to_sympy, symbol
from ._sbml_math import breakpoints as time_breakpoints


class SBMLError(ValueError):
    """The SBML model is invalid or uses a feature fimflow does not support (message names it)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Event:
    """An SBML event without delay: it fires when its trigger turns from false to true.

    `root`: the trigger as a root function (true exactly where `root > 0`); `time_expr`: for a
    trigger `time >= expr` (`expr` free of states), `expr`, else None. `initial_value`: the
    trigger's value just before $t_0$ (SBML `initialValue`; False: an event true at $t_0$ fires
    there). `values_from_trigger_time` (SBML `useValuesFromTriggerTime`): assignments are computed
with the values when the trigger turned true, else when the event fires (these differ only
when simultaneous events are executed one after the other). `persistent`: a pending event fires even if its trigger turns false first (only
    matters when simultaneous events are ordered). `priority`: SBML priority expression or None
    (simultaneous events fire highest priority first, then in document order). Assignments
    of one event are computed together, before any of them is made.
    """

    id: str
    root: sp.Expr
    time_expr: sp.Expr | None
    assignments: tuple[tuple[str, sp.Expr], ...]
    initial_value: bool
    persistent: bool = True
    priority: sp.Expr | None = None
    values_from_trigger_time: bool = True

    @property
    def fires_at_start(self) -> bool:
        return not self.initial_value


@dataclasses.dataclass(frozen=True, eq=False)
class SBMLSpec:
    """An SBML model as sympy expressions (see the module docstring for the conventions).

    `derived` lists (id, expression) in an order where each expression only needs inputs,
    states, `time` and earlier entries: assignment rules, reaction fluxes and initial
    assignments of parameters. `initial` maps every state to its initial value expression;
    `initial_order` lists states and derived ids in an order valid at $t_0$.
    """

    id: str
    inputs: tuple[str, ...]
    input_values: tuple[float, ...]
    states: tuple[str, ...]
    derived: tuple[tuple[str, sp.Expr], ...]
    derivatives: tuple[sp.Expr, ...]
    initial: dict
    initial_order: tuple[str, ...]
    events: tuple[Event, ...]
    breakpoints: tuple[sp.Expr, ...]
    species: tuple[str, ...]
    entities: tuple[str, ...]
    initially_assigned: tuple[str, ...] = ()
    """Constant parameters and compartments whose value is an initial assignment (in `derived`):
    a PEtab condition may set them instead."""
    compartments: tuple[str, ...] = ()

    @property
    def derived_ids(self) -> tuple[str, ...]:
        return tuple(i for i, _ in self.derived)


def read_sbml(path_or_document) -> SBMLSpec:
    """Parse and check an SBML file (or libsbml document) into an `SBMLSpec`."""
    if isinstance(path_or_document, libsbml.SBMLDocument):
        document = path_or_document
    else:
        document = libsbml.readSBMLFromFile(str(path_or_document))
    errors = [
        document.getError(i)
        for i in range(document.getNumErrors())
        if document.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        e = errors[0]
        raise SBMLError(f"line {e.getLine()}: {e.getMessage().strip()}")
    model = document.getModel()
    if model is None:
        raise SBMLError("the document has no <model>.")
    return _Reader(model).spec()


class _Reader:
    def __init__(self, model):
        self.model = model
        self.functions = {}
        for f in model.getListOfFunctionDefinitions():
            lam = self.math(f.getMath(), f"function definition `{f.getId()}`")
            if not isinstance(lam, sp.Lambda):
                raise SBMLError(f"function definition `{f.getId()}` is not a lambda.")
            self.functions[f.getId()] = lam

    def math(self, node, where):
        try:
            expr = ast_to_sympy(node, self.functions)
            if not isinstance(expr, sp.Lambda):
                check_expression(expr)
            return expr
        except (UnsupportedMath, UnsupportedExpression, TypeError) as error:
            raise SBMLError(f"{where}: unsupported math: {error}.") from error

    def spec(self) -> SBMLSpec:
        m = self.model
        self.reject_unsupported()
        species = {s.getId(): s for s in m.getListOfSpecies()}
        compartments = {c.getId(): c for c in m.getListOfCompartments()}
        parameters = {p.getId(): p for p in m.getListOfParameters()}
        assignment, rate = {}, {}
        for rule in m.getListOfRules():
            if rule.isAlgebraic():
                raise SBMLError("algebraic rules (DAEs) are not supported.")
            var = rule.getVariable()
            target = assignment if rule.isAssignment() else rate
            target[var] = self.math(rule.getMath(), f"rule for `{var}`")
        initial_assignments = {
            ia.getSymbol(): self.math(ia.getMath(), f"initial assignment of `{ia.getSymbol()}`")
            for ia in m.getListOfInitialAssignments()
        }
        events = [self.event(e) for e in m.getListOfEvents()]
        event_targets = {v for e in events for v, _ in e.assignments}

        for cid in compartments:
            if cid in assignment or cid in rate:
                raise SBMLError(f"compartment `{cid}` has a {'rate' if cid in rate else 'assignment'} rule; compartment sizes "
                                "that change continuously are not supported (sizes that events change are).")
        states = [s for s in species if s not in assignment]
        states += [p for p in parameters if p not in states and (p in rate or p in event_targets)]
        states += [c for c in compartments if c in event_targets]
        events = [_preserving_amounts(e, species, states) for e in events]
        for var in list(rate) + sorted(event_targets):
            if var not in states:
                raise SBMLError(f"rate rule or event assignment targets `{var}`, which is not a species or parameter (or also has an assignment rule).")
        inputs = [p for p in parameters if p not in states and p not in assignment and p not in initial_assignments]
        inputs += [c for c in compartments if c not in initial_assignments and c not in states]
        input_values = [_value(parameters.get(i) or compartments.get(i)) for i in inputs]

        derived = dict(assignment)
        for var, expr in initial_assignments.items():
            if var in parameters and var not in states and var not in assignment or var in compartments and var not in states:
                derived[var] = expr
        fluxes = {}
        for reaction in m.getListOfReactions():
            fluxes[reaction.getId()] = self.flux(reaction)
        derived.update(fluxes)
        dynamic = set(states) | {TIME.name}
        for var, expr in initial_assignments.items():
            if var in derived and {s.name for s in expr.free_symbols} & dynamic:
                raise SBMLError(f"initial assignment of `{var}` depends on species or time; only states may have such initial assignments.")
        order = _topological(derived, "assignment rules / reactions")
        derived_items = tuple((v, derived[v]) for v in order)

        rhs = {s: sp.Integer(0) for s in states}
        for reaction in m.getListOfReactions():
            flux = symbol(reaction.getId())
            for refs, sign in ((reaction.getListOfReactants(), -1), (reaction.getListOfProducts(), 1)):
                for ref in refs:
                    sid = ref.getSpecies()
                    if sid not in species:
                        raise SBMLError(f"reaction `{reaction.getId()}` names unknown species `{sid}`.")
                    s = species[sid]
                    if s.getBoundaryCondition() or s.getConstant() or sid in assignment or sid in rate:
                        continue
                    change = sign * _stoichiometry(ref, reaction) * flux
                    if not s.getHasOnlySubstanceUnits():
                        change = change / symbol(s.getCompartment())
                    rhs[sid] = rhs[sid] + change
        for var, expr in rate.items():
            rhs[var] = expr

        initial = {}
        for sid in states:
            if sid in initial_assignments:
                initial[sid] = initial_assignments[sid]
            elif sid in species:
                initial[sid] = _species_initial(species[sid])
            elif sid in compartments:
                initial[sid] = sp.Float(_value(compartments[sid]), 17)
            else:
                p = parameters[sid]
                if not p.isSetValue():
                    raise SBMLError(f"parameter `{sid}` has a rate rule or event but no value or initial assignment.")
                initial[sid] = sp.Float(p.getValue(), 17)
        init_graph = dict(derived)
        init_graph.update(initial)
        initial_order = _topological(init_graph, "initial values")

        entities = set(species) | set(compartments) | set(parameters) | set(fluxes) | set(assignment)
        known = set(inputs) | set(states) | set(derived) | {TIME.name}
        for name, expr in list(derived.items()) + list(rhs.items()) + list(initial.items()):
            unknown = {s.name for s in expr.free_symbols} - known
            if unknown:
                raise SBMLError(f"math of `{name}` uses undefined id(s) {sorted(unknown)}.")
        exprs = [e for _, e in derived_items] + list(rhs.values())
        for i, event in enumerate(events):
            if event.time_expr is not None and not {s.name for s in event.time_expr.free_symbols} <= set(inputs):
                events[i] = event = dataclasses.replace(event, time_expr=None)  # a time that moves with the states
            for var, _ in event.assignments:
                if var not in states:
                    raise SBMLError(f"event `{event.id}` assigns `{var}`, which is not a species, parameter or compartment.")
        return SBMLSpec(
            id=m.getId() or "model",
            inputs=tuple(inputs),
            input_values=tuple(input_values),
            states=tuple(states),
            derived=derived_items,
            derivatives=tuple(rhs[s] for s in states),
            initial=initial,
            initial_order=tuple(initial_order),
            events=tuple(events),
            breakpoints=time_breakpoints(exprs, set(inputs)),
            species=tuple(s for s in species if s in states),
            entities=tuple(sorted(entities)),  # sorted: a stable repr (the compiled-program key)
            initially_assigned=tuple(sorted(v for v in initial_assignments if v in derived and v not in fluxes and v not in assignment)),
            compartments=tuple(compartments),
        )

    def reject_unsupported(self):
        m = self.model
        for s in m.getListOfSpecies():
            if s.isSetConversionFactor() or m.isSetConversionFactor():
                raise SBMLError(f"species `{s.getId()}`: conversion factors are not supported.")
        for r in m.getListOfReactions():
            if r.isSetFast() and r.getFast():
                raise SBMLError(f"reaction `{r.getId()}` is fast; fast reactions are not supported.")
            if not r.isSetKineticLaw():
                raise SBMLError(f"reaction `{r.getId()}` has no kinetic law.")

    def flux(self, reaction):
        law = reaction.getKineticLaw()
        expr = self.math(law.getMath(), f"kinetic law of reaction `{reaction.getId()}`")
        local = {}
        for lp in list(law.getListOfParameters()) + list(law.getListOfLocalParameters()):
            local[symbol(lp.getId())] = sp.Float(lp.getValue(), 17)
        return expr.xreplace(local) if local else expr

    def event(self, e):
        where = f"event `{e.getId() or '(no id)'}`"
        if e.isSetDelay():
            raise SBMLError(f"{where}: delayed events are not supported.")
        if not e.isSetTrigger() or e.getTrigger().getMath() is None:
            raise SBMLError(f"{where} has no trigger.")
        trigger = self.math(e.getTrigger().getMath(), f"trigger of {where}")
        try:
            root = _root_function(trigger)
        except SBMLError as error:
            raise SBMLError(f"{where}: trigger `{trigger}`: {error}") from None
        assignments = tuple(
            (a.getVariable(), self.math(a.getMath(), f"assignment to `{a.getVariable()}` in {where}"))
            for a in e.getListOfEventAssignments()
        )
        t = e.getTrigger()
        priority = None
        if e.isSetPriority() and e.getPriority().getMath() is not None:
            priority = self.math(e.getPriority().getMath(), f"priority of {where}")
        return Event(
            id=e.getId(),
            root=root,
            time_expr=_trigger_time(trigger),
            assignments=assignments,
            initial_value=t.isSetInitialValue() and bool(t.getInitialValue()),
            persistent=bool(t.getPersistent()) if t.isSetPersistent() else True,
            priority=priority,
            values_from_trigger_time=e.getUseValuesFromTriggerTime() if e.isSetUseValuesFromTriggerTime() else True,
        )


def _preserving_amounts(event: Event, species: dict, states: list) -> Event:
    """`event` with the SBML semantics of a compartment resize: the amounts of the species in a
    compartment it assigns are kept, so each concentration state there that the event does not
    itself assign becomes `S * C / C_new` (computed with the values before the event, like the
    event's other assignments)."""
    assigned = dict(event.assignments)
    extra = []
    for sid, s in species.items():
        c = s.getCompartment()
        if c in assigned and sid in states and sid not in assigned and not s.getHasOnlySubstanceUnits() and not s.getConstant():
            extra.append((sid, symbol(sid) * symbol(c) / assigned[c]))
    return dataclasses.replace(event, assignments=event.assignments + tuple(extra)) if extra else event


def _value(element) -> float:
    if element is None:
        return float("nan")
    if isinstance(element, libsbml.Compartment):
        return element.getSize() if element.isSetSize() else 1.0
    return element.getValue() if element.isSetValue() else float("nan")


def _species_initial(s) -> sp.Expr:
    """Initial value of the species symbol (concentration unless hasOnlySubstanceUnits)."""
    size = symbol(s.getCompartment())
    if s.isSetInitialConcentration():
        value = sp.Float(s.getInitialConcentration(), 17)
        return value * size if s.getHasOnlySubstanceUnits() else value
    if s.isSetInitialAmount():
        value = sp.Float(s.getInitialAmount(), 17)
        return value if s.getHasOnlySubstanceUnits() else value / size
    raise SBMLError(f"species `{s.getId()}` has no initial amount, concentration or initial assignment.")


def _stoichiometry(ref, reaction) -> sp.Expr:
    if ref.isSetStoichiometryMath() if hasattr(ref, "isSetStoichiometryMath") else False:
        raise SBMLError(f"reaction `{reaction.getId()}`: stoichiometryMath is not supported.")
    if ref.isSetId() and ref.getModel().getRule(ref.getId()) is not None:
        raise SBMLError(f"reaction `{reaction.getId()}`: variable stoichiometry `{ref.getId()}` is not supported.")
    value = ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
    if value != value:
        value = 1.0
    return sp.Integer(int(value)) if float(value).is_integer() else sp.Float(value, 17)


def _topological(graph: dict, what: str) -> list:
    # sorted: the order (and so the traced program and its stored key) must not depend on the
    # process's string hash seed
    dependencies = {k: sorted({s.name for s in v.free_symbols} & set(graph)) for k, v in graph.items()}
    try:
        return list(graphlib.TopologicalSorter(dependencies).static_order())
    except graphlib.CycleError as error:
        raise SBMLError(f"{what} depend on each other in a cycle: {error.args[1]}.") from error


def _trigger_time(trigger):
    """`expr` of a trigger `time >= expr` (or equivalent), else None."""
    if isinstance(trigger, (sp.GreaterThan, sp.StrictGreaterThan)):
        lhs, rhs = trigger.args
    elif isinstance(trigger, (sp.LessThan, sp.StrictLessThan)):
        rhs, lhs = trigger.args
    else:
        return None
    if lhs == TIME and TIME not in rhs.free_symbols:
        return rhs
    return None


def _root_function(trigger) -> sp.Expr:
    """`g` with the trigger true exactly where `g > 0` (up to where `g = 0`, a set of no time)."""
    if isinstance(trigger, (sp.GreaterThan, sp.StrictGreaterThan)):
        return trigger.args[0] - trigger.args[1]
    if isinstance(trigger, (sp.LessThan, sp.StrictLessThan)):
        return trigger.args[1] - trigger.args[0]
    if isinstance(trigger, sp.And):
        return sp.Min(*[_root_function(a) for a in trigger.args], evaluate=False)
    if isinstance(trigger, sp.Or):
        return sp.Max(*[_root_function(a) for a in trigger.args], evaluate=False)
    if isinstance(trigger, sp.Not):
        return -_root_function(trigger.args[0])
    raise SBMLError(
        "only relations (<, <=, >, >=) of expressions and and/or/not of them can be triggers "
        "(an equality or a constant never turns from false to true at a located time)."
    )
