"""PEtab v2 import: a v2 problem (yaml, SBML model, experiment, condition, observable,
measurement, parameter and mapping tables) as the same `Problem` as v1.

Each experiment becomes one simulated condition of the `Problem`. Its period at `-inf` is the
pre-equilibration (the model's events are checked on the way to its steady state, and the
simulation starts with the triggers' values it ended with); its first finite period sets what
the simulation starts from and when (a start other than 0 is the model input `__start_time`). A
change of a parameter or compartment persists into later periods (pre-equilibration changes carry
into the simulation unless changed again); a change of a species sets its value once, at the
start of its period. Changes that are a number or a parameter id are model inputs as in v1;
changes at later times (doses, step inputs) and changes that are math are time-triggered events
of the model (`_periods.py`).

The estimation scale, which v2 leaves to the tool: `log10` for an estimated parameter whose
bounds are both positive and finite, `lin` otherwise (`choose_scale`); the results' parameter
table records it.
"""

import dataclasses
import math
import os

import numpy as np
import pandas as pd
import sympy as sp

from .. import _columns as C
from .._errors import ProblemFileError
from ..problem import MeasurementRows, build_problem
from ._rows import _defaults, _measurement_rows, _number_or_id, _pack, _quiet_petab
from ._observables import Observables, _text, parse_math_cell
from ._periods import PRE, Slot, held_parameters, slot_inputs, with_periods
from ._sbml import SBMLError, read_sbml
from ._sbml_math import TIME, symbol
from ._sbml_model import START_SUFFIX, START_TIME, make_sbml_model
from ._v2_tables import (EXPERIMENT_ID, NO_EXPERIMENT, TARGET_VALUE, _conditions, _experiments, _mapping,
                         _observable_frame, _parameters, _tables, v2_files)


def load_petab_v2(yaml_path, *, problem_id: str | None = None):
    """Load and check a PEtab v2 problem; returns the same `Problem` as `load_petab` for v1.

    **Raises:** `ProblemFileError` naming file, row and column for any inconsistency or a v2
    feature fimflow does not support (it is named; nothing is simulated wrongly in silence).
    """
    from petab.v2.math import sympify_petab as parse

    path = os.path.abspath(str(yaml_path))
    files = v2_files(path)
    tables = _tables(files)
    parameters = _parameters(tables["parameters"], files["parameters"])
    pids = list(parameters.ids)
    if not os.path.isfile(files["sbml"]):
        raise ProblemFileError(files["sbml"], "SBML file not found. Check `model_files` in the problem yaml.")
    try:
        spec = read_sbml(files["sbml"])
    except SBMLError as error:
        raise ProblemFileError(files["sbml"], f"SBML model: {error}") from error
    mapping = _mapping(tables["mapping"], files["mapping"], spec)
    frame, _ = _observable_frame(tables["observables"], files["observables"])
    observables = Observables(frame, files["observables"], spec, pids, parse=parse)
    extra = [p for p in pids if p not in spec.entities and p in observables.symbols]
    cpath = files["conditions"]
    conditions = _conditions(tables["conditions"], cpath, mapping, spec, list(spec.inputs) + extra, pids)
    experiments = _experiments(tables["experiments"], files["experiments"], conditions)

    table = tables["measurements"].reset_index(drop=True)
    mpath = files["measurements"]
    for i, eid in enumerate(table[EXPERIMENT_ID]):
        if _text(eid) and _text(eid) not in experiments:
            raise ProblemFileError(mpath, f"unknown experiment {_text(eid)!r}; define it in the experiment table.", row=i + 2, column=EXPERIMENT_ID)
    known = pd.DataFrame(index=pd.Index(list(experiments) + [""]))
    rows = _measurement_rows(table.rename(columns={EXPERIMENT_ID: C.SIMULATION_CONDITION_ID}), mpath, observables, known)
    entries = list(dict.fromkeys(r["sim"] for r in rows))

    starts = _start_times(rows, experiments, mpath)
    changes = _Changes(conditions, cpath, pids, spec, mapping, parse)
    slots = _slots(entries, experiments, changes)
    extra += [p for p in changes.parameters_used if p not in extra and p not in spec.entities]
    held = held_parameters(slots, spec, cpath)
    if spec.events and any(experiments[e][1] for e in entries if e):
        # the model's own events are checked on the way to a pre-equilibration's steady state,
        # which only the root-finding event loop does (a time-triggered one too)
        spec = dataclasses.replace(spec, events=tuple(dataclasses.replace(e, time_expr=None) for e in spec.events))
    spec = with_periods(spec, slots, held, start_time=any(starts.values()))
    inputs = list(spec.inputs) + extra
    overridable = _overridable(entries, experiments, changes, spec, held)
    measurement_model = observables.measurement_model()
    model = make_sbml_model(spec, measurement_model, observables.ids, extra, overridable, held)
    defaults = _defaults(spec, extra, pids, files, held)
    columns = {name: j for j, name in enumerate(model.parameter_names)}
    columns.update({p: columns[p + START_SUFFIX] for p in held})
    columns.update({s: columns[s + "__initial"] for s in overridable})
    base = [defaults[name] for name in inputs] + [(-1, math.nan)] * len(overridable)
    vectors = [_experiment_vectors(e, experiments, changes, slots, columns, held, base, starts.get(e, 0.0)) for e in entries]
    index, value, pre, pre_index, pre_value = (np.array([v[i] for v in vectors]) for i in range(5))

    obs = np.array([observables.ids.index(r["observable"]) for r in rows])
    op_index, op_value = _pack([r["observable_parameters"] for r in rows], measurement_model.n_observable_parameters)
    np_index, np_value = _pack([r["noise_parameters"] for r in rows], measurement_model.n_noise_parameters)
    internal = table.copy()
    internal.insert(1, C.SIMULATION_CONDITION_ID, [r["sim"] or NO_EXPERIMENT for r in rows])  # the vocabulary of every later stage
    measurements = MeasurementRows(
        table=internal,
        condition_index=np.array([entries.index(r["sim"]) for r in rows]),
        observable_index=obs,
        time=np.array([r["time"] for r in rows]),
        values=np.array([r["measurement"] for r in rows]),
        noise_index=np_index,
        noise_value=np_value,
        observable_parameter_index=op_index,
        observable_parameter_value=op_value,
    )
    _lint_v2(path)
    return build_problem(
        problem_id=problem_id or os.path.basename(os.path.dirname(path)),
        model=model,
        parameters=parameters,
        condition_ids=[e or NO_EXPERIMENT for e in entries],
        condition_parameter_index=index,
        condition_parameter_value=value,
        rows=measurements,
        transformation=observables.transformation,
        distribution=observables.distribution,
        sources=[path] + [f for f in files.values() if f],
        preequilibration=pre,
        preequilibration_parameter_index=pre_index,
        preequilibration_parameter_value=pre_value,
    )


class _Changes:
    """The changes of each condition: (target, value cell, row), each value a constant or parameter
    id (`simple`) or math (`expression`, parsed once, checked against the model's ids)."""

    def __init__(self, conditions, path, pids, spec, mapping, parse):
        self.conditions, self.path, self.pids, self.spec, self.mapping, self.parse = conditions, path, pids, spec, mapping, parse
        self.parameters_used: list[str] = []

    def of(self, cids) -> list:
        out, seen = [], {}
        for cid in cids:
            for target, cell, row in self.conditions[cid]:
                if target in seen:
                    raise ProblemFileError(self.path, f"conditions {seen[target]!r} and {cid!r} both change `{target}` in the same "
                                           "period; a target can change once per period.", row=row, column="targetId")
                seen[target] = cid
                out.append((target, cell, row))
        return out

    def simple(self, cell) -> bool:
        try:
            _number_or_id(cell, self.pids, self.path, 0, TARGET_VALUE)
        except ProblemFileError:
            return False
        return True

    def expression(self, cell, row) -> sp.Expr:
        text = _text(cell)
        if not text:
            raise ProblemFileError(self.path, "empty targetValue; give a number, a parameter id or math.", row=row, column=TARGET_VALUE)
        spec = self.spec
        known = set(spec.states) | set(spec.inputs) | set(spec.derived_ids) | set(self.pids)

        def resolve(expr):
            replace, unknown = {}, []
            for s in expr.free_symbols:
                name = self.mapping.get(s.name, s.name)
                if name == TIME.name:
                    replace[s] = TIME
                elif name in known:
                    replace[s] = symbol(name)
                    if name in self.pids and name not in self.parameters_used:
                        self.parameters_used.append(name)
                else:
                    unknown.append(s.name)
            if unknown:
                raise ProblemFileError(self.path, f"{text!r} uses {sorted(unknown)}, which are neither model entities nor "
                                       "parameters of the parameter table.", row=row, column=TARGET_VALUE)
            return expr.xreplace(replace)

        return parse_math_cell(self.parse, text, resolve, self.path, row, TARGET_VALUE)


def _start_times(rows, experiments, path) -> dict:
    """experimentId -> where its simulation starts (its first finite period; 0 without one); a
    measurement before its experiment's start is refused."""
    starts = {e: periods[0][0] if periods else 0.0 for e, (_, _, periods) in experiments.items()}
    for i, r in enumerate(rows):
        start = starts.get(r["sim"], 0.0)
        if r["time"] < start:
            raise ProblemFileError(path, f"time {r['time']:g} is before experiment {r['sim']!r} starts (t = {start:g}, its "
                                   "first period); measure at or after the start, or add an earlier period.", row=i + 2,
                                   column=C.TIME)
    return starts


def _slots(entries, experiments, changes) -> list:
    """The period slots: slot `PRE` holds the pre-equilibration's changes that are math, slot 0
    the first period's, slot k >= 1 period k."""
    slots: dict = {}
    for e in entries:
        if not e:
            continue
        pre, _, periods = experiments[e]
        for k, (time, cids) in [(PRE, (-math.inf, pre))] + list(enumerate(periods)):
            todo = [c for c in changes.of(cids) if k > 0 or not changes.simple(c[1])]
            if not todo:
                continue
            slot = slots.setdefault(k, Slot(k))
            code = len(slot.codes) + 1
            slot.codes[e] = (code, time)
            for target, cell, row in todo:
                slot.changes.setdefault(target, []).append((code, changes.expression(cell, row)))
    return [slots[k] for k in sorted(slots)]


def _overridable(entries, experiments, changes, spec, held) -> list:
    """States whose start value a pre-equilibration or first-period change sets to a constant or
    parameter (the v1 `<state>__initial` inputs), in model order (math goes to the slots)."""
    found = set()
    for e in entries:
        if not e:
            continue
        pre, _, periods = experiments[e]
        first = periods[0][1] if periods else []
        for target, cell, _ in changes.of(pre) + changes.of(first):
            is_state = target in spec.states and target not in held or target in spec.initially_assigned
            if is_state and changes.simple(cell):
                found.add(target)
    order = list(spec.states) + list(spec.initially_assigned)
    return sorted(found, key=order.index)


def _experiment_vectors(eid, experiments, changes, slots, columns, held, base, start):
    """(index, value, has pre-equilibration, pre index, pre value) of one experiment's model
    parameters. The pre-equilibration keeps every period slot but `PRE` off and starts at 0."""
    base_index = np.array([b[0] for b in base])
    base_value = np.array([b[1] for b in base], dtype=np.float64)
    if not eid:
        return base_index, base_value, False, base_index, base_value

    def apply(index, value, items, states):
        for target, cell, row in items:
            is_state = target in changes.spec.states and target not in held or target in changes.spec.initially_assigned
            if (is_state and not states) or not changes.simple(cell):
                continue
            j = columns[target]
            index[j], value[j] = _number_or_id(cell, changes.pids, changes.path, row, TARGET_VALUE)

    pre_cids, has_pre, periods = experiments[eid]
    pre_index, pre_value = base_index.copy(), base_value.copy()
    apply(pre_index, pre_value, changes.of(pre_cids), states=True)
    index, value = base_index.copy(), base_value.copy()
    apply(index, value, changes.of(pre_cids), states=False)  # parameter changes persist past the pre-equilibration
    for target, cell, _ in changes.of(pre_cids):
        if target in held and not changes.simple(cell):  # math: the value it left (NaN: keep the state's)
            index[columns[target]], value[columns[target]] = -1, math.nan
    if periods:
        apply(index, value, changes.of(periods[0][1]), states=True)
    for slot in slots:
        if eid in slot.codes:
            code, time = slot.codes[eid]
            time_name, code_name = slot_inputs(slot.k)
            if slot.k == PRE:  # fires in the pre-equilibration only
                pre_index[columns[code_name]], pre_value[columns[code_name]] = -1, code
                continue
            for name, v in ((time_name, time), (code_name, code)):
                index[columns[name]], value[columns[name]] = -1, v
    if START_TIME in columns:
        index[columns[START_TIME]], value[columns[START_TIME]] = -1, start
    return index, value, has_pre, pre_index, pre_value


def _lint_v2(path) -> None:
    """petab's own v2 validation, after fimflow's checks (which name file, row and column)."""
    import petab.v2 as petab2

    try:
        with _quiet_petab():
            problem = petab2.Problem.from_yaml(path)
            issues = problem.validate()
    except Exception as error:  # petab raises many types; the message is the useful part
        raise ProblemFileError(path, f"petab cannot read the v2 problem: {type(error).__name__}: {error}") from error
    errors = [i for i in issues if getattr(i, "level", 0) >= 30] if issues else []
    if errors:
        raise ProblemFileError(path, "the problem fails PEtab v2 validation: " + "; ".join(str(e.message) for e in errors))
