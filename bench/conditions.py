"""Conditions solved one after another or as one vectorised solve (`SolverConfig.conditions`):
per call at the nominal point, the fit's compiled evaluation (value, gradient, FIM of
`trust_fim`) and the NLL alone, both ways, in one process.

    .venv/bin/python bench/conditions.py PROBLEM_YAML [PROBLEM_YAML ...] [--calls 5]

A vectorised solve steps every condition until the slowest is done and evaluates both branches
of every test in the step (accept or reject, an event or not), for every parameter tangent too;
a sequential one repeats the per-operation overhead of the solver loop once per condition.
Prints one line per problem (fastest of `--calls` calls after a warm-up, compile times, the
largest difference of the evaluation, relative to each output's largest entry, between the two) and a JSON line. Run it alone:
the cores are shared.
"""

import argparse
import functools
import json
import os
import sys

os.environ.setdefault("EQX_ON_ERROR", "nan")

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402
from fimflow.fit._multistart import batch_kernel  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multistart import steady, timed  # noqa: E402  (the same timing as the multistart bench)

MODES = ("batched", "sequential")


def measure(path, calls):
    problem = fimflow.load_problem(path)
    x = problem.parameters.nominal_theta()
    x = np.where(np.isfinite(x), x, 0.0)
    row = {"problem": problem.id, "n_conditions": len(problem.condition_ids), "n_states": len(problem.model.state_names)}
    outputs = {}
    for mode in MODES:
        objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(conditions=mode))
        evaluate = batch_kernel(objective, fimflow.FitOptions())
        out, row[f"{mode}_fit_first_s"] = timed(evaluate, x[None, :])  # compile and run
        row[f"{mode}_fit_call_ms"] = 1e3 * steady(evaluate, x[None, :], repeat=calls)
        nll = functools.partial(eqx.filter_jit(lambda o, t: o.nll(t)), objective)
        timed(nll, x)
        row[f"{mode}_nll_ms"] = 1e3 * steady(nll, x, repeat=calls)
        outputs[mode] = [np.asarray(leaf, dtype=float) for leaf in jax.tree_util.tree_leaves(out)
                         if np.issubdtype(np.asarray(leaf).dtype, np.floating)]
    row["max_rel_difference"] = max(  # per output array, relative to its largest entry
        float(np.nanmax(np.abs(a - b)) / max(float(np.nanmax(np.abs(b))), 1e-300)) if b.size else 0.0
        for a, b in zip(*outputs.values()))
    row["fit_call_ratio"] = row["sequential_fit_call_ms"] / row["batched_fit_call_ms"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="+")
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args(argv)
    columns = ["problem", "n_conditions", "n_states", "batched_fit_call_ms", "sequential_fit_call_ms", "fit_call_ratio",
               "batched_nll_ms", "sequential_nll_ms", "batched_fit_first_s", "sequential_fit_first_s",
               "max_rel_difference"]
    print("\t".join(columns))
    results = []
    for path in args.problems:
        row = measure(path, args.calls)
        results.append(row)
        print("\t".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns), flush=True)
    print(json.dumps({"problems": results}))


if __name__ == "__main__":
    sys.exit(main())
