"""Rodas5P per-step time: stage solves by LU factors vs by the explicit inverse of W, by system size.

Usage: python bench/rosenbrock_step.py [--sizes 8 16 32 48 64 128] [--problem PETAB_YAML ...]

For each size n, a dense nonlinear test system dy/dt = M y + 0.01 y^2 (M random, negative) is
stepped 170 times with fimflow's `Rodas5P` at a fixed step (a `lax.scan` of its `step`), once with
`Rodas5P(inverse_up_to=0)` (LU solves) and once with a limit above every n (the inverse); then, for each PEtab problem
given, the NLL and NLL + forward gradient at its nominal parameters per call, both ways, and the
relative difference of the two NLLs. Prints one line per figure and a JSON line last. These figures
set the threshold documented at `fimflow.simulate._rosenbrock.EXPLICIT_INVERSE_UP_TO`.
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
WAYS = {"lu": 0, "inverse": 10**9}


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


def fixed_steps(n, inverse_up_to):
    m = -jnp.asarray(np.random.default_rng(0).uniform(0.1, 2.0, (n, n)))
    term = diffrax.ODETerm(lambda t, y, p: p * (m @ y) + 0.01 * y**2)
    solver = _rosenbrock.Rodas5P(inverse_up_to=inverse_up_to)

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
    for way, limit in WAYS.items():
        config = fimflow.SolverConfig(solver=_rosenbrock.Rodas5P(inverse_up_to=limit))
        objective = fimflow.Objective.from_problem(problem, config)
        nll = functools.partial(eqx.filter_jit(lambda o, t: o.nll(t)), objective)
        gradient = functools.partial(eqx.filter_jit(lambda o, t: jax.jacfwd(o.nll)(t)), objective)
        out[way] = {"nll": float(nll(theta)), "simulate_ms": 1e3 * per_call(nll, theta),
                    "nll_gradient_ms": 1e3 * per_call(gradient, theta)}
    out["nll_relative_difference"] = abs(out["lu"]["nll"] - out["inverse"]["nll"]) / abs(out["lu"]["nll"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 24, 32, 48, 64, 128])
    parser.add_argument("--problem", nargs="*", default=[])
    args = parser.parse_args()
    figures = {"threshold": _rosenbrock.EXPLICIT_INVERSE_UP_TO, "sizes": {}, "problems": {}}
    for n in args.sizes:
        row = {}
        for way, limit in WAYS.items():
            row[way] = 1e6 * per_call(fixed_steps(n, limit), 1.0) / N_STEPS
        figures["sizes"][n] = row
        print(f"n = {n:4d}: us per step, LU {row['lu']:8.2f}   inverse {row['inverse']:8.2f}   "
              f"ratio {row['inverse'] / row['lu']:.2f}", flush=True)
    for path in args.problem:
        row = problem_figures(path)
        figures["problems"][path] = row
        print(f"{os.path.basename(path)}: simulate ms LU {row['lu']['simulate_ms']:.3f} inverse "
              f"{row['inverse']['simulate_ms']:.3f}; NLL+gradient ms LU {row['lu']['nll_gradient_ms']:.3f} inverse "
              f"{row['inverse']['nll_gradient_ms']:.3f}; NLL relative difference {row['nll_relative_difference']:.1e}",
              flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
