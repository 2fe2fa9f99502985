"""A PEtab v1 problem's measurement table simulated by libroadrunner (CVODE, its own SBML import)
beside fimflow's, at the nominal parameters: an independent check of a log-likelihood that
disagrees with a published reference (figures for humans, not a test).

    .venv/bin/python bench/crosscheck_roadrunner.py PROBLEM_YAML [--rtol R] [--atol A] [--stop T ...]

libroadrunner runs in its own virtual environment (`bench/.roadrunner-venv`, installed on first
use from PyPI: libroadrunner, petab, sympy). What it covers: no pre-equilibration; condition
columns that set parameters, species (initial values) or compartments; observable and noise
parameters that are numbers or parameter ids, given in the measurement table. The SBML is
edited with libsbml (parameter table's nominal values, then the condition's), so initial
assignments see them. CVODE is restarted at every measurement time and at every `--stop` time
(give the times of discontinuities in time, e.g. a stimulus, so it cannot step over them).
Observables are evaluated with sympy from species concentrations and parameters.

Prints, per observable and condition, the median and largest relative difference of the two
simulations (relative to the larger of |roadrunner| and 1e-3), both log-likelihoods
(`petab.calculate_llh` on each simulation table, the function the collection's references
use), and, if the problem has one, the same against its `simulatedData_*.tsv` table; then one
JSON line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".roadrunner-venv")


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([python, "-c", "import roadrunner, petab, sympy"], capture_output=True).returncode:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "libroadrunner", "petab==0.8.2", "sympy", "pandas"],
                       check=True)
    return python


# ------------------------------------------------------------- run inside bench/.roadrunner-venv

def roadrunner_table(yaml_path, rtol, atol, stops, out_path):
    import libsbml
    import petab.v1 as petab
    import roadrunner
    import sympy as sp

    problem = petab.Problem.from_yaml(yaml_path)
    measurements = problem.measurement_df
    if petab.C.PREEQUILIBRATION_CONDITION_ID in measurements and measurements[
            petab.C.PREEQUILIBRATION_CONDITION_ID].dropna().astype(str).str.strip().ne("").any():
        raise SystemExit("pre-equilibration is not covered by this cross-check")
    nominal = problem.parameter_df[petab.C.NOMINAL_VALUE].astype(float)
    sbml = libsbml.writeSBMLToString(problem.sbml_document)
    rows = []
    for condition_id, table in measurements.groupby(petab.C.SIMULATION_CONDITION_ID, sort=False):
        document = libsbml.readSBMLFromString(sbml)
        model = document.getModel()
        values = dict(nominal)
        condition = problem.condition_df.loc[condition_id].drop(petab.C.CONDITION_NAME, errors="ignore")
        for target, value in condition.items():
            values[target] = float(nominal.get(value, value)) if isinstance(value, str) else float(value)
        for target, value in values.items():
            element = model.getParameter(target) or model.getCompartment(target)
            if element is not None:
                (element.setValue if hasattr(element, "setValue") else element.setSize)(value)
            elif model.getSpecies(target) is not None:
                species = model.getSpecies(target)
                if model.getInitialAssignment(target) is not None:
                    model.removeInitialAssignment(target)
                species.setInitialConcentration(value)
        runner = roadrunner.RoadRunner(libsbml.writeSBMLToString(document))
        runner.integrator.relative_tolerance = rtol
        runner.integrator.absolute_tolerance = atol
        runner.integrator.maximum_num_steps = 10**7
        times = sorted({0.0, *map(float, table[petab.C.TIME])} | {t for t in stops if 0 < t < table[petab.C.TIME].max()})
        state, now = {}, 0.0
        for t in times:
            if t > now:
                runner.simulate(now, t, 2)
                now = t
            state[t] = {s: runner.getValue(f"[{s}]") for s in runner.model.getFloatingSpeciesIds()}
            state[t].update({p: runner.getValue(p) for p in runner.model.getGlobalParameterIds()})
            state[t].update({c: runner.getValue(c) for c in runner.model.getCompartmentIds()})
            state[t]["time"] = t
        for index, row in table.iterrows():
            observable = problem.observable_df.loc[row[petab.C.OBSERVABLE_ID]]
            env = dict(state[float(row[petab.C.TIME])])
            given = row.get(petab.C.OBSERVABLE_PARAMETERS)
            overrides = [] if not isinstance(given, str) and (given is None or given != given) else str(given).split(";")
            for i, item in enumerate(overrides, 1):
                env[f"observableParameter{i}_{observable.name}"] = float(nominal.get(item.strip(), item))
            formula = sp.sympify(observable[petab.C.OBSERVABLE_FORMULA], locals={k: sp.Symbol(k) for k in env})
            value = formula.subs({s: env[s.name] for s in formula.free_symbols})
            rows.append((index, float(value)))
    simulation = measurements.copy()
    simulation[petab.C.SIMULATION] = [v for _, v in sorted(rows)]
    simulation = simulation.drop(columns=[petab.C.MEASUREMENT])
    simulation.to_csv(out_path, sep="\t", index=False)


def llh_of(yaml_path, table_paths):
    """petab's log-likelihood of each simulation table (the problem read once)."""
    import pandas as pd
    import petab.v1 as petab
    problem = petab.Problem.from_yaml(yaml_path)
    return [float(petab.calculate_llh(problem.measurement_df, pd.read_csv(path, sep="\t"), problem.observable_df,
                                      problem.parameter_df)) for path in table_paths]


# ------------------------------------------------------------- in fimflow's environment

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("yaml")
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--atol", type=float, default=1e-8)
    parser.add_argument("--stop", type=float, nargs="*", default=[], metavar="T",
                        help="extra times where CVODE is stopped and restarted (discontinuities in time)")
    parser.add_argument("--inner", choices=("simulate", "llh"), help=argparse.SUPPRESS)
    parser.add_argument("--out", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner == "simulate":
        roadrunner_table(args.yaml, args.rtol, args.atol, args.stop, args.out[0])
        return
    if args.inner == "llh":
        print(json.dumps(llh_of(args.yaml, args.out)))
        return

    import numpy as np
    import pandas as pd

    import fimflow
    fimflow.setup_jax()
    python = ensure_venv()
    with tempfile.TemporaryDirectory() as tmp:
        ours_path, theirs_path = os.path.join(tmp, "fimflow.tsv"), os.path.join(tmp, "roadrunner.tsv")
        subprocess.run([python, os.path.abspath(__file__), args.yaml, "--inner", "simulate", "--out", theirs_path,
                        "--rtol", str(args.rtol), "--atol", str(args.atol), "--stop", *map(str, args.stop)], check=True)
        problem = fimflow.load_petab(args.yaml)
        ours = fimflow.simulate_measurements(problem).drop(columns=["measurement"])
        ours.to_csv(ours_path, sep="\t", index=False)
        theirs = pd.read_csv(theirs_path, sep="\t")
        tables = {"fimflow": ours_path, "roadrunner": theirs_path}
        folder = os.path.dirname(os.path.abspath(args.yaml))
        published = [f for f in sorted(os.listdir(folder)) if f.startswith("simulatedData") and f.endswith(".tsv")]
        if published:
            tables["simulatedData"] = os.path.join(folder, published[0])
        values = subprocess.run([python, os.path.abspath(__file__), args.yaml, "--inner", "llh", "--out", *tables.values()],
                                check=True, capture_output=True, text=True).stdout
        llh = dict(zip(tables, json.loads(values)))
        reference = theirs["simulation"].to_numpy()
        summary = {"problem": args.yaml, "rtol": args.rtol, "atol": args.atol, "llh": llh}
        for name, path in tables.items():
            if name == "roadrunner":
                continue
            other = pd.read_csv(path, sep="\t")["simulation"].to_numpy()
            relative = np.abs(other - reference) / np.maximum(np.abs(reference), 1e-3)
            frame = theirs.assign(relative=relative)
            print(f"# {name} vs roadrunner: relative difference per observable and condition")
            print(frame.groupby(["observableId", "simulationConditionId"])["relative"].agg(["median", "max"]).to_string())
            summary[f"{name}_vs_roadrunner"] = {"median": float(np.median(relative)), "max": float(relative.max())}
        for name, value in llh.items():
            print(f"llh {name}: {value:.12g}")
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
