"""Read an SBML model (libsbml) into `SBMLSpec`: states, inputs, rules, rates and events as sympy.

Conventions (SBML semantics, constant compartments):
- a species symbol in math is its concentration unless `hasOnlySubstanceUnits`; the state
  of a species holds exactly that symbol value, so reaction fluxes (substance/time) are
  divided by the size of the species' compartment;
- states are all species that are not assignment-rule targets, plus parameters and
  compartments with rate rules or event assignments;
- inputs (the model parameters a condition can set) are the constant parameters and
  compartments; initial assignments to parameters and compartments are evaluated like
  assignment rules (they must not depend on species or time);
- time-triggered events (`time >= expr`, `expr` free of states) stop and restart the
  integration; `time`-dependent piecewise conditions give breakpoints the step-size
  controller steps onto.
"""

import dataclasses
import graphlib

import libsbml
import sympy as sp

from ._jax_math import UnsupportedExpression, check_expression
from ._sbml_math import TIME, UnsupportedMath, ast_to_sympy, symbol


class SBMLError(ValueError):
    """The SBML model is invalid or uses a feature fimflow does not support (message names it)."""


@dataclasses.dataclass(frozen=True, eq=False)
class TimeEvent:
    """An event fired once when `time` reaches `time_expr`; assignments use pre-event values."""

    id: str
    time_expr: sp.Expr
    assignments: tuple[tuple[str, sp.Expr], ...]
    fires_at_start: bool


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
    events: tuple[TimeEvent, ...]
    breakpoints: tuple[sp.Expr, ...]
    species: tuple[str, ...]
    entities: tuple[str, ...]

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
            if cid in assignment or cid in rate or cid in event_targets:
                raise SBMLError(f"compartment `{cid}` changes in time; variable compartment sizes are not supported.")
        states = [s for s in species if s not in assignment]
        states += [p for p in parameters if p not in states and (p in rate or p in event_targets)]
        for var in list(rate) + sorted(event_targets):
            if var not in states:
                raise SBMLError(f"rate rule or event assignment targets `{var}`, which is not a species or parameter (or also has an assignment rule).")
        inputs = [p for p in parameters if p not in states and p not in assignment and p not in initial_assignments]
        inputs += [c for c in compartments if c not in initial_assignments]
        input_values = [_value(parameters.get(i) or compartments.get(i)) for i in inputs]

        derived = dict(assignment)
        for var, expr in initial_assignments.items():
            if var in parameters and var not in states and var not in assignment or var in compartments:
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
        for event in events:
            free = {s.name for s in event.time_expr.free_symbols}
            if not free <= set(inputs):
                raise SBMLError(
                    f"event `{event.id}`: trigger time `{event.time_expr}` depends on {sorted(free - set(inputs))}; "
                    "only constant parameters and compartments are supported there."
                )
            for var, _ in event.assignments:
                if var not in states:
                    raise SBMLError(f"event `{event.id}` assigns `{var}`, which is not a species or parameter.")
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
            breakpoints=_breakpoints(exprs, set(inputs)),
            species=tuple(s for s in species if s in states),
            entities=tuple(sorted(entities)),  # sorted: a stable repr (the compiled-program key)
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
        trigger = self.math(e.getTrigger().getMath() if e.isSetTrigger() else None, f"trigger of {where}")
        time_expr = _trigger_time(trigger)
        if time_expr is None:
            raise SBMLError(
                f"{where}: trigger `{trigger}` is not time-triggered; only triggers "
                "`time >= expr` / `time > expr` with `expr` free of states are supported."
            )
        assignments = tuple(
            (a.getVariable(), self.math(a.getMath(), f"assignment to `{a.getVariable()}` in {where}"))
            for a in e.getListOfEventAssignments()
        )
        initial_value = e.getTrigger().isSetInitialValue() and e.getTrigger().getInitialValue()
        return TimeEvent(e.getId(), time_expr, assignments, fires_at_start=not initial_value)


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


def _breakpoints(exprs, inputs) -> tuple:
    """Times at which a piecewise/relational switches: `time REL expr`, `expr` of inputs only."""
    points = []
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.core.relational.Relational):
                a, b = node.args
                for lhs, rhs in ((a, b), (b, a)):
                    free = {s.name for s in rhs.free_symbols}
                    if lhs == TIME and free <= inputs and rhs not in points:
                        points.append(rhs)
    return tuple(points)
