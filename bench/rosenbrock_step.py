"""Rodas5P per-step time by how W's inverse is formed (Gauss-Jordan elimination in XLA operations), by system size.

Usage: python bench/rosenbrock_step.py [--sizes 8 16 32 41 48 64 75 128] [--problem PETAB_YAML ...]

For each size n, a dense nonlinear test system dy/dt = M y + 0.01 y^2 (M random, negative) is
stepped 170 times with fimflow's `Rodas5P` at a fixed step (a `lax.scan` of its `step`), each way:
`unrolled` (every column's elimination in the program) and `loop` (a loop over the columns: the
default above `EXPLICIT_INVERSE_UP_TO` states); then, for each PEtab problem given, the NLL and
NLL + forward gradient at its nominal parameters per call, each way, and the relative difference
of the NLLs. Prints one line per figure and a JSON line last. These figures set the threshold
documented at `fimflow.simulate._rosenbrock.EXPLICIT_INVERSE_UP_TO`.
"""

import argparse
import functools
import json
import os
import time

os.environ.setdefault("EQX_ON_ERROR", "nan")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402
from fimflow.simulate import _rosenbrock  # noqa: E402

N_STEPS = 170
WAYS = {"unrolled": dict(inverse_up_to=10**9), "loop": dict(inverse_up_to=0)}


def per_call(fn, *args):
    """Best of five half-second rounds, seconds per call (after one warm-up call)."""
    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(5):
        tic, k = time.perf_counter(), 0
        while time.perf_counter() - tic < 0.5:
            jax.block_until_ready(fn(*args))
            k += 1
        best = min(best, (time.perf_counter() - tic) / k)
    return best


def fixed_steps(n, way):
    m = -jnp.asarray(np.random.default_rng(0).uniform(0.1, 2.0, (n, n)))
    term = diffrax.ODETerm(lambda t, y, p: p * (m @ y) + 0.01 * y**2)
    solver = _rosenbrock.Rodas5P(**way)

    @jax.jit
    def run(p):
        def body(carry, _):
            t, y = carry
            y1 = solver.step(term, t, t + 1.0 / N_STEPS, y, p, None, False)[0]
            return (t + 1.0 / N_STEPS, y1), None
        return jax.lax.scan(body, (jnp.asarray(0.0), jnp.ones(n)), None, length=N_STEPS)[0][1]
    return run


def problem_figures(yaml_path):
    problem = fimflow.load_problem(yaml_path)
    theta = jnp.asarray(problem.parameters.nominal_theta())
    out = {}
    for way, settings in WAYS.items():
        config = fimflow.SolverConfig(solver=_rosenbrock.Rodas5P(**settings))
        objective = fimflow.Objective.from_problem(problem, config)
        nll = functools.partial(eqx.filter_jit(lambda o, t: o.nll(t)), objective)
        gradient = functools.partial(eqx.filter_jit(lambda o, t: jax.jacfwd(o.nll)(t)), objective)
        out[way] = {"nll": float(nll(theta)), "simulate_ms": 1e3 * per_call(nll, theta),
                    "nll_gradient_ms": 1e3 * per_call(gradient, theta)}
    nlls = [out[way]["nll"] for way in WAYS]
    out["nll_relative_difference"] = (max(nlls) - min(nlls)) / abs(nlls[0])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 41, 48, 64, 75, 128])
    parser.add_argument("--problem", nargs="*", default=[])
    args = parser.parse_args()
    figures = {"threshold": _rosenbrock.EXPLICIT_INVERSE_UP_TO, "sizes": {}, "problems": {}}
    for n in args.sizes:
        row = {}
        for way, settings in WAYS.items():
            row[way] = 1e6 * per_call(fixed_steps(n, settings), 1.0) / N_STEPS
        figures["sizes"][n] = row
        print(f"n = {n:4d}: us per step, " + "   ".join(f"{way} {row[way]:8.2f}" for way in WAYS), flush=True)
    for path in args.problem:
        row = problem_figures(path)
        figures["problems"][path] = row
        print(f"{os.path.basename(path)}: simulate ms " + "  ".join(f"{w} {row[w]['simulate_ms']:.3f}" for w in WAYS)
              + "; NLL+gradient ms " + "  ".join(f"{w} {row[w]['nll_gradient_ms']:.3f}" for w in WAYS)
              + f"; NLL relative difference {row['nll_relative_difference']:.1e}", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
