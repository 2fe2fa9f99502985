"""The anchor: pyPESTO + AMICI + fides on given start points (run inside bench/.anchor-venv).

    python bench/anchor_pypesto.py PROBLEM_YAML STARTS_CSV [MAX_TIME_S]

Settings as in ../shared/reference/README.md: fides with default options and maxiter 1000 (and
fides' `maxtime` per start when MAX_TIME_S is given),
AMICI rtol 1e-8, atol 1e-16, one process. Prints one JSON line: compile (SBML -> C++ -> shared
library) time, multistart wall and CPU time, per-call simulate and NLL+gradient times, and the
final NLL of every start (`nlls`, in start order). A problem whose measurement table has
timepoint-specific observable or noise parameters, which AMICI cannot import, is flattened first
(`petab.flatten_timepoint_specific_output_overrides`: the same likelihood, more observables).
"""

import json
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import petab
import pypesto.optimize
import pypesto.petab


PETAB_V1 = getattr(petab, "v1", petab)  # petab >= 0.3 keeps the v1 API under petab.v1


def set_tolerances(solver, *, rtol, atol):
    """AMICI >= 1.0 names its setters in snake_case, earlier versions in camelCase."""
    for snake, camel, value in (("set_relative_tolerance", "setRelativeTolerance", rtol),
                                ("set_absolute_tolerance", "setAbsoluteTolerance", atol)):
        setter = getattr(solver, snake, None) or getattr(solver, camel)
        setter(value)


def amici_objective(objective):
    """The AMICI objective itself: pyPESTO wraps it with the prior's objective where the problem has priors."""
    if hasattr(objective, "amici_solver"):
        return objective
    for part in getattr(objective, "_objectives", ()):
        found = amici_objective(part)
        if found is not None:
            return found
    return None


def main():
    yaml_path, starts_csv = sys.argv[1:3]
    max_time_s = float(sys.argv[3]) if len(sys.argv) > 3 else None
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as output:
        petab_problem = PETAB_V1.Problem.from_yaml(yaml_path)
        if PETAB_V1.lint.measurement_table_has_timepoint_specific_mappings(petab_problem.measurement_df):
            # AMICI cannot import observable or noise parameters that differ between time points of
            # one observable and condition: petab's own transformation gives each its own observable
            PETAB_V1.flatten_timepoint_specific_output_overrides(petab_problem)
        importer = pypesto.petab.PetabImporter(petab_problem, output_folder=output)
        problem = importer.create_problem()
        compile_s = time.perf_counter() - tic
        amici = amici_objective(problem.objective)
        if amici is None:
            raise SystemExit(f"no AMICI objective in pyPESTO's {type(problem.objective).__name__} for {yaml_path}")
        solver = amici.amici_solver
        set_tolerances(solver, rtol=1e-8, atol=1e-16)
        # the estimated parameters in the problem's order, on the estimation scale
        starts = pd.read_csv(starts_csv).set_index("start")[list(petab_problem.x_free_ids)].to_numpy()
        nominal = np.asarray(petab_problem.x_nominal_free_scaled)
        calls = {}
        for key, orders in (("simulate_ms", (0,)), ("nll_gradient_ms", (0, 1))):
            problem.objective(nominal, sensi_orders=orders)
            times = []
            for _ in range(20):  # fimflow's per-call figures take the same minimum of 20 calls
                t0 = time.perf_counter()
                problem.objective(nominal, sensi_orders=orders)
                times.append(time.perf_counter() - t0)
            calls[key] = 1e3 * min(times)

        full = np.tile(np.asarray(petab_problem.x_nominal_scaled), (len(starts), 1))  # fixed ones too
        full[:, petab_problem.x_free_indices] = starts
        problem.set_x_guesses(full)
        options = {"maxiter": 1000} if max_time_s is None else {"maxiter": 1000, "maxtime": max_time_s}
        optimizer = pypesto.optimize.FidesOptimizer(options=options, verbose=0)
        tic, cpu = time.perf_counter(), time.process_time()
        result = pypesto.optimize.minimize(
            problem, optimizer=optimizer, n_starts=len(starts), progress_bar=False,
            engine=pypesto.engine.SingleCoreEngine(),
        )
        wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
    by_id = {int(r.id): (r.fval if r.fval is not None else np.nan) for r in result.optimize_result.list}
    nlls = [float(by_id.get(i, np.nan)) for i in range(len(starts))]
    print(json.dumps({"tool": "pypesto+amici+fides", "compile_s": compile_s, "wall_s": wall, "cpu_s": cpu, "nlls": nlls, **calls}))


if __name__ == "__main__":
    main()
