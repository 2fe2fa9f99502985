"""Small SBML models and PEtab problems built in code, for feature tests with closed forms."""

import libsbml
import pandas as pd
import yaml


def _math(formula):
    node = libsbml.parseL3Formula(formula)
    assert node is not None, (formula, libsbml.getLastParseL3Error())
    return node


def sbml(*, compartments=(("cell", 1.0),), species=(), parameters=(), reactions=(), rate_rules=(),
         assignment_rules=(), initial_assignments=(), functions=(), events=()) -> str:
    """SBML L3V2 text. `species`: (id, initial, hasOnlySubstanceUnits, "amount"|"concentration",
    compartment); `reactions`: (id, reactants, products, formula); `events`: (id, trigger,
    {variable: formula}[, {"initial_value": bool, "priority": formula}]); rules and assignments: (variable, formula); `functions`: (id, lambda)."""
    document = libsbml.SBMLDocument(3, 2)
    model = document.createModel()
    model.setId("test_model")
    for cid, size in compartments:
        c = model.createCompartment()
        resized = any(cid in e[2] for e in events)  # an event assigns it: not constant
        c.setId(cid), c.setSize(size), c.setConstant(not resized), c.setSpatialDimensions(3)
    for sid, initial, only_substance, kind, compartment in species:
        s = model.createSpecies()
        s.setId(sid), s.setCompartment(compartment), s.setHasOnlySubstanceUnits(only_substance)
        s.setBoundaryCondition(False), s.setConstant(False)
        (s.setInitialAmount if kind == "amount" else s.setInitialConcentration)(initial)
    for pid, value, constant in parameters:
        p = model.createParameter()
        p.setId(pid), p.setValue(value), p.setConstant(constant)
    for fid, formula in functions:
        f = model.createFunctionDefinition()
        f.setId(fid), f.setMath(_math(formula))
    for rid, reactants, products, formula in reactions:
        r = model.createReaction()
        r.setId(rid), r.setReversible(False)
        for sid in reactants:
            ref = r.createReactant()
            ref.setSpecies(sid), ref.setStoichiometry(1), ref.setConstant(True)
        for sid in products:
            ref = r.createProduct()
            ref.setSpecies(sid), ref.setStoichiometry(1), ref.setConstant(True)
        r.createKineticLaw().setMath(_math(formula))
    for var, formula in rate_rules:
        rule = model.createRateRule()
        rule.setVariable(var), rule.setMath(_math(formula))
    for var, formula in assignment_rules:
        rule = model.createAssignmentRule()
        rule.setVariable(var), rule.setMath(_math(formula))
    for var, formula in initial_assignments:
        ia = model.createInitialAssignment()
        ia.setSymbol(var), ia.setMath(_math(formula))
    for eid, trigger, assignments, *options in events:
        options = options[0] if options else {}
        e = model.createEvent()
        e.setId(eid), e.setUseValuesFromTriggerTime(True)
        t = e.createTrigger()
        t.setMath(_math(trigger)), t.setInitialValue(options.get("initial_value", True)), t.setPersistent(True)
        if "priority" in options:
            e.createPriority().setMath(_math(options["priority"]))
        for var, formula in assignments.items():
            a = e.createEventAssignment()
            a.setVariable(var), a.setMath(_math(formula))
    return libsbml.writeSBMLToString(document)


def petab_problem(folder, model: str, *, observables, measurements, parameters, conditions=None):
    """Write a PEtab v1 problem (lists of row dicts for each table) and return its yaml path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.xml").write_text(model)
    conditions = conditions or [{"conditionId": "c0"}]
    for name, rows in (("observables", observables), ("measurements", measurements),
                       ("parameters", parameters), ("conditions", conditions)):
        pd.DataFrame(rows).to_csv(folder / f"{name}.tsv", sep="\t", index=False)
    spec = {"format_version": 1, "parameter_file": "parameters.tsv",
            "problems": [{"sbml_files": ["model.xml"], "condition_files": ["conditions.tsv"],
                          "measurement_files": ["measurements.tsv"], "observable_files": ["observables.tsv"]}]}
    (folder / "problem.yaml").write_text(yaml.safe_dump(spec))
    return folder / "problem.yaml"


def parameter(pid, nominal, *, scale="lin", lower=1e-3, upper=1e3, estimate=1):
    return {"parameterId": pid, "parameterScale": scale, "lowerBound": lower, "upperBound": upper,
            "nominalValue": nominal, "estimate": estimate}


def measurement(observable, time, value=1.0, condition="c0", **extra):
    return {"observableId": observable, "simulationConditionId": condition, "time": time, "measurement": value, **extra}


def petab_v2_problem(folder, model: str, *, observables, measurements, parameters, experiments, conditions=()):
    """Write a PEtab v2 problem (lists of row dicts for each table) and return its yaml path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.xml").write_text(model)
    tables = {"observables": observables, "measurements": measurements, "parameters": parameters,
              "experiments": experiments, "conditions": conditions}
    columns = {"conditions": ["conditionId", "targetId", "targetValue"], "experiments": ["experimentId", "time", "conditionId"]}
    for name, rows in tables.items():
        pd.DataFrame(list(rows), columns=columns.get(name)).to_csv(folder / f"{name}.tsv", sep="\t", index=False)
    spec = {"format_version": "2.0.0", "model_files": {"model": {"language": "sbml", "location": "model.xml"}},
            "parameter_files": ["parameters.tsv"], "experiment_files": ["experiments.tsv"],
            "condition_files": ["conditions.tsv"], "measurement_files": ["measurements.tsv"],
            "observable_files": ["observables.tsv"]}
    (folder / "problem.yaml").write_text(yaml.safe_dump(spec))
    return folder / "problem.yaml"
