"""Import, compile and run times of PEtab benchmark problems (figures for humans, not a test).

For each problem: time to import (PEtab + SBML -> JAX model), trace and XLA-compile time of the
log-likelihood and of its gradient (forward sensitivities, `jax.jacfwd`), and the steady
(compiled) time per call, plus the log-likelihood at the nominal parameters.

    .venv/bin/python bench/petab_import.py [--rtol 1e-8 --atol 1e-10] [problem folder ...]

Default folders: every problem in ../shared/benchmark_models. Run it alone: the machine's two
cores are shared and timings are noisy; compare ratios from one run.
"""

import argparse
import glob
import os
import time

os.environ.setdefault("EQX_ON_ERROR", "nan")

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "benchmark_models")


def timed(fn, *args):
    tic = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - tic


def steady(fn, *args, repeat=3):
    """Best of `repeat` compiled calls (one call when a call takes over 5 s)."""
    best = timed(fn, *args)[1]
    for _ in range(repeat - 1 if best < 5 else 0):
        best = min(best, timed(fn, *args)[1])
    return best


def measure(folder, config):
    (path,) = glob.glob(os.path.join(folder, "*.yaml"))
    problem, t_import = timed(fimflow.load_petab, path)
    objective = fimflow.Objective.from_problem(problem, config)
    theta = jax.numpy.asarray(problem.parameters.nominal_theta())
    nll = eqx.filter_jit(lambda o, t: o.nll(t))
    gradient = eqx.filter_jit(lambda o, t: jax.jacfwd(o.nll)(t))
    row = {"problem": os.path.basename(os.path.normpath(folder)), "params": problem.n_params, "import_s": t_import}
    for name, fn in (("nll", nll), ("gradient", gradient)):
        tic = time.perf_counter()
        fn.lower(objective, theta).compile()
        row[f"{name}_compile_s"] = time.perf_counter() - tic
        value, row[f"{name}_first_s"] = timed(fn, objective, theta)
        row[f"{name}_steady_s"] = steady(fn, objective, theta)
        if name == "nll":
            row["llh"] = -float(value)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--atol", type=float, default=1e-10)
    args = parser.parse_args()
    folders = args.folders or sorted(d for d in glob.glob(os.path.join(DEFAULT, "*")) if os.path.isdir(d))
    config = fimflow.SolverConfig(rtol=args.rtol, atol=args.atol, max_steps=200_000)
    print(f"# rtol {args.rtol}, atol {args.atol}; times in seconds (compile = trace + XLA compile)")
    columns = ["problem", "params", "import_s", "nll_compile_s", "nll_steady_s", "gradient_compile_s", "gradient_steady_s", "llh"]
    print("\t".join(columns), flush=True)
    for folder in folders:
        row = measure(folder, config)
        print("\t".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns), flush=True)


if __name__ == "__main__":
    main()
