"""What batching lanes buys per problem: the fit's compiled evaluation (value, gradient, FIM of
`trust_fim`) of `w` identical rows against `w` separate width-1 calls.

    .venv/bin/python bench/batch_width.py PROBLEM_YAML [PROBLEM_YAML ...] [--widths 1 2 4] [--calls 20]

Every row is the problem's nominal point, so no lane waits for a slower one: the figure is what
one batched call shares (the per-call and per-step overhead of the solver loop) against what it
repeats per row (the linear algebra and right-hand sides of every condition of every lane).
`gain_w = w * t_1 / t_w` is the lanes' throughput gain of width `w` over width 1 (1: batching
shares nothing; `w`: a lane costs nothing extra). Prints one line per problem and width (fastest
of `--calls` calls after a warm-up) and a JSON line. Run it alone: the cores are shared.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("EQX_ON_ERROR", "nan")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402
from fimflow.fit._multistart import batch_kernel  # noqa: E402


def measure(path, widths, calls):
    problem = fimflow.load_problem(path) if path.endswith("problem.yaml") else fimflow.load_petab(path)
    objective = fimflow.Objective.from_problem(problem)
    evaluate = batch_kernel(objective, fimflow.FitOptions())
    x = problem.parameters.nominal_theta()
    x = np.where(np.isfinite(x), x, 0.0)
    rows = []
    for w in widths:
        points = np.tile(x, (w, 1))
        jax.block_until_ready(evaluate(points))  # compile and warm up
        best = np.inf
        for _ in range(calls):
            start = time.perf_counter()
            jax.block_until_ready(evaluate(points))
            best = min(best, time.perf_counter() - start)
        rows.append({"width": w, "call_ms": 1e3 * best})
    t1 = next(r["call_ms"] for r in rows if r["width"] == 1)
    for r in rows:
        r["gain"] = r["width"] * t1 / r["call_ms"]
    return {"problem": problem.id, "n_conditions": len(problem.condition_ids), "n_states": len(problem.model.state_names),
            "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="+")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    widths = sorted(set([1] + args.widths))
    results = []
    print("problem\tconditions\tstates\twidth\tcall_ms\tgain")
    for path in args.problems:
        r = measure(path, widths, args.calls)
        results.append(r)
        for row in r["rows"]:
            print(f"{r['problem']}\t{r['n_conditions']}\t{r['n_states']}\t{row['width']}\t{row['call_ms']:.2f}\t{row['gain']:.2f}",
                  flush=True)
    print(json.dumps({"problems": results}))


if __name__ == "__main__":
    sys.exit(main())
