"""Multistart benchmark: fimflow with the workflow's defaults, optionally beside pyPESTO+AMICI+fides.

    .venv/bin/python bench/multistart.py PROBLEM_YAML [--n-starts N] [--seed S] [--max-time S] [--anchor]
    .venv/bin/python bench/multistart.py --folder DIR --n-starts 20 --max-time 300 --anchor

Start points: `../shared/reference/startpoints_<problem>_n<N>_seed<S>.csv` or
`startpoints_<problem>_seed<S>.csv` when one exists (the anchor's own starts), else drawn the same way (uniform on the estimation scale within the
bounds, `numpy.random.RandomState(S)`, drawn as `(n_params, n_starts)`). A start has
converged when its final NLL <= best known + 0.1, best known being the lowest of the best NLL
found, the NLL at the nominal parameters and `../shared/reference/best_known_<problem>.csv`.

The fit runs with the workflow's defaults (threads: every core of this process) and without
a compilation cache, so its `wall_s` includes one cold compile (the whole study: `study_s`;
the anchor's `study_s` is its model build plus its fit). `compile_s` and `compile_warm_s`
(model loaded -> batch program compiled, ready to compute) are measured in fresh processes with
an empty and a filled cache. A line per finished start goes to stderr (with `--folder` too).

Prints a table for humans, and as its last line one JSON object (`compile_s`, `wall_s`,
`cpu_s`, `n_starts`, `n_converged`, `best_nll`, `s_per_converged_start`, …). With
`--anchor` it also runs the same study with pyPESTO + AMICI + fides in a virtual environment of
its own (`bench/.anchor-venv`, installed on first use: AMICI builds from source, about 4
minutes) and prints the ratio of every figure, measured in the same run; the JSON line then
carries the anchor's figures under `"anchor"` (the same keys). `--max-time` is the same
wall-clock budget per start for both tools (fides' `maxtime`). `--folder DIR` runs every PEtab
problem under DIR this way (a process each) and prints one table: failed and converged starts,
best NLL, wall, CPU and per-call times of each tool, then a JSON line of all. `--side-by-side`
runs the two tools at once, each pinned to a core of its own (fimflow's fit with one thread, as
the anchor's): half the wall time on a 2-core machine, and each tool's figures are one core's.
Run it alone: the machine's cores are shared and timings are noisy.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("EQX_ON_ERROR", "nan")  # makes diffrax programs cacheable

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402
from fimflow.fit._multistart import batch_layout, kernel_function  # noqa: E402
from fimflow.fit._options import METHODS  # noqa: E402
from fimflow.simulate._programs import stored_program  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "reference")
TOLERANCE = 0.1


def problem_id(path):
    return os.path.splitext(os.path.basename(path))[0]


def start_points(problem, name, n_starts, seed):
    """The anchor's start points if recorded, else drawn the way it drew them."""
    for path in (os.path.join(REFERENCE, f"startpoints_{name}_n{n_starts}_seed{seed}.csv"),
                 os.path.join(REFERENCE, f"startpoints_{name}_seed{seed}.csv")):
        if os.path.isfile(path):
            table = pd.read_csv(path).set_index("start")
            if len(table) >= n_starts:
                return table[list(problem.parameter_ids)].to_numpy()[:n_starts], path
    lb, ub = problem.parameters.bounds()
    u = np.random.RandomState(seed).uniform(size=(problem.n_params, n_starts)).T
    return lb + u * (ub - lb), f"uniform, RandomState({seed})"


def best_known(name, nominal_nll):
    known = [nominal_nll]
    path = os.path.join(REFERENCE, f"best_known_{name}.csv")
    if os.path.isfile(path):
        known.append(float(pd.read_csv(path)["fval"].min()))
    return min(known)


def timed(fn, *args):
    tic = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - tic


def steady(fn, *args, repeat=20):  # the anchor takes the same minimum of 20 calls
    return min(timed(fn, *args)[1] for _ in range(repeat))


def fit_options(args):
    """The workflow's defaults, or the optimiser and batch size asked for (one thread side by side)."""
    overrides = {"method": args.method, "batch_size": args.batch_size, "max_time_s": args.max_time,
                 "threads": 1 if args.side_by_side else None}
    return fimflow.FitOptions(**{k: v for k, v in overrides.items() if v is not None})


def solver_config(args):
    """The workflow's solver defaults, or with the step budget and solver asked for."""
    overrides = {"max_steps": args.max_steps, "method": args.solver}
    return fimflow.SolverConfig(**{k: v for k, v in overrides.items() if v is not None})


def measure_compile(args, yaml_path, n_starts, seed):
    """In this (fresh) process: seconds from the model loaded to the batch program compiled and
    ready to run (tracing or loading the stored program, then XLA compile or cache hit; nothing
    is run: a stiff start can take minutes to evaluate)."""
    problem = fimflow.load_problem(yaml_path)
    tic = time.perf_counter()
    objective = fimflow.Objective.from_problem(problem, solver_config(args))
    options = fit_options(args)
    starts, _ = start_points(problem, problem_id(yaml_path), n_starts, seed)
    width, _ = batch_layout(n_starts, options)
    kernel = kernel_function(objective, options)
    program = stored_program(kernel.__name__, kernel, objective, starts[:width])
    program.lower(starts[:width]).compile()
    return {"compile_s": time.perf_counter() - tic}


def compile_in_fresh_process(args, cache):
    command = [sys.executable, __file__, args.problem, "--n-starts", str(args.n_starts), "--seed", str(args.seed),
               "--compile-only", "--cache", cache]
    for flag, value in (("--method", args.method), ("--batch-size", args.batch_size), ("--max-steps", args.max_steps),
                        ("--solver", args.solver)):
        if value is not None:
            command += [flag, str(value)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_fimflow(args, problem, starts, origin):
    name = problem_id(args.problem)
    with tempfile.TemporaryDirectory() as cache:
        cold = compile_in_fresh_process(args, cache)
        warm = compile_in_fresh_process(args, cache)
    objective = fimflow.Objective.from_problem(problem, solver_config(args))
    options = fit_options(args)
    theta = jax.numpy.asarray(problem.parameters.nominal_theta())
    nll = functools.partial(eqx.filter_jit(lambda o, t: o.nll(t)), objective)
    gradient = functools.partial(eqx.filter_jit(lambda o, t: jax.jacfwd(o.nll)(t)), objective)
    nominal_nll = float(nll(theta))
    row = {
        "tool": "fimflow",
        "problem": name,
        "starts_from": origin,
        "compile_cold_s": cold["compile_s"],
        "compile_warm_s": warm["compile_s"],  # model loaded -> ready to compute, warm cache
        "simulate_ms": 1e3 * steady(nll, theta),
    }
    timed(gradient, theta)  # compile
    row["nll_gradient_ms"] = 1e3 * steady(gradient, theta)
    tic, cpu = time.perf_counter(), time.process_time()
    result = fimflow.fit_multistart(problem, starts, objective=objective, options=options)
    row["wall_s"] = time.perf_counter() - tic  # no compilation cache here: includes a cold compile
    row["study_s"] = row["wall_s"]
    row["cpu_s"] = time.process_time() - cpu
    row["compile_s"] = row["compile_cold_s"]
    row["batch_size"], row["threads"] = batch_layout(len(starts), options)
    row["method"] = options.method
    row["best_known_nll"] = best_known(name, nominal_nll)
    return row, result.nll


def summary(nlls, known):
    """Convergence counts against `known`, lowered to the best NLL found if that is lower."""
    nlls = np.asarray(nlls, dtype=np.float64)
    finite = np.isfinite(nlls)
    best = float(np.min(nlls[finite])) if finite.any() else float("nan")
    known = min(known, best) if finite.any() else known
    return {
        "n_starts": int(len(nlls)),
        "n_failed": int(np.sum(~finite)),
        "n_converged": int(np.sum(finite & (nlls <= known + TOLERANCE))),
        "best_nll": best,
        "best_known_nll": known,
    }


def per_converged(row):
    row["s_per_converged_start"] = row["wall_s"] / row["n_converged"] if row["n_converged"] else float("inf")
    return row


ANCHOR_VENV = os.path.join(HERE, ".anchor-venv")


def start_anchor(args, starts_csv, cpu=None):
    """The anchor's study as a running process (pinned to core `cpu` if given)."""
    python = os.path.join(ANCHOR_VENV, "bin", "python")
    env = dict(os.environ, PATH=os.path.join(ANCHOR_VENV, "bin") + os.pathsep + os.environ["PATH"])
    if not os.path.isfile(python):
        subprocess.run([sys.executable, "-m", "venv", ANCHOR_VENV], check=True)
    ready = subprocess.run([python, "-c", "import amici, fides, petab, pypesto"], capture_output=True, env=env)
    if ready.returncode != 0:  # first use (or an earlier install stopped half-way)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "swig"], check=True, env=env)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "pypesto", "amici", "fides", "petab"], check=True,
                       env=env)
    command = [python, os.path.join(HERE, "anchor_pypesto.py"), args.problem, starts_csv]
    command += [] if args.max_time is None else [str(args.max_time)]
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    out_path, err_path = anchor_output(starts_csv)
    with open(out_path, "w") as out, open(err_path, "w") as err:
        return subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, preexec_fn=pin)


def anchor_output(starts_csv):
    """The anchor's stdout and stderr files, beside its start points. Files, not pipes: a pipe
    nobody reads while fimflow runs (--side-by-side) fills with the model build's log and stops
    the anchor."""
    folder = os.path.dirname(starts_csv)
    return os.path.join(folder, "anchor.out"), os.path.join(folder, "anchor.err")


def finish_anchor(process, starts_csv):
    process.wait()
    out_path, err_path = anchor_output(starts_csv)
    with open(out_path) as out, open(err_path) as err:
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"the anchor failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


FIGURES = ["compile_s", "compile_warm_s", "study_s", "wall_s", "cpu_s", "n_converged", "s_per_converged_start", "best_nll",
           "simulate_ms", "nll_gradient_ms"]


def show(rows):
    print("figure\t" + "\t".join(r["tool"] for r in rows) + ("\tratio fimflow/anchor" if len(rows) > 1 else ""))
    for figure in FIGURES:
        values = [r.get(figure, float("nan")) for r in rows]
        line = f"{figure}\t" + "\t".join(f"{v:.7g}" if figure == "best_nll" else f"{v:.4g}" for v in values)
        if len(rows) > 1 and values[1] not in (0, None) and np.isfinite(values[1]):
            line += f"\t{values[0] / values[1]:.3g}"
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", nargs="?", help="a PEtab yaml (or fimflow problem.yaml)")
    parser.add_argument("--folder", metavar="DIR", help="every PEtab problem under DIR instead of one problem, each "
                        "in its own process (with --anchor: both tools on the same starts), one table")
    parser.add_argument("--n-starts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=METHODS, help="override the default optimiser (to compare)")
    parser.add_argument("--batch-size", type=int, help="override the default batch size (to compare)")
    parser.add_argument("--solver", choices=fimflow.SOLVER_METHODS,
                        help="override the default ODE solver (`solver.method`, to compare)")
    parser.add_argument("--max-steps", type=int, help="solver steps per solve (default: the workflow's 100000; "
                        "AMICI's default is 10000)")
    parser.add_argument("--max-time", type=float, help="wall-clock budget per start in seconds (default: none); "
                        "a start still running then ends as 'max_time' at its lowest point")
    parser.add_argument("--anchor", action="store_true", help="also run pyPESTO+AMICI+fides on the same starts")
    parser.add_argument("--side-by-side", action="store_true",
                        help="with --anchor: run both tools at once, each on one core of its own (fimflow with one "
                        "thread, the anchor as always single-threaded), instead of one after the other")
    parser.add_argument("--compile-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side_by_side and not args.anchor:
        parser.error("--side-by-side needs --anchor")
    if args.side_by_side and len(os.sched_getaffinity(0)) < 2:
        parser.error("--side-by-side needs two cores")
    if args.folder:
        if args.problem:
            parser.error("give either PROBLEM_YAML or --folder DIR")
        run_folder(args)
        return
    if not args.problem:
        parser.error("give PROBLEM_YAML or --folder DIR")
    if args.compile_only:
        fimflow.setup_jax(args.cache)
        print(json.dumps(measure_compile(args, args.problem, args.n_starts, args.seed)))
        return
    fimflow.setup_logging(None)  # a line per finished start on stderr
    name = problem_id(args.problem)
    problem = fimflow.load_problem(args.problem)
    starts, origin = start_points(problem, name, args.n_starts, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "starts.csv")
        pd.DataFrame(starts, columns=problem.parameter_ids).to_csv(path, index_label="start")
        anchor_process = None
        if args.side_by_side:  # each tool on a core of its own, at the same time
            anchor_core, own_core = sorted(os.sched_getaffinity(0))[:2]
            anchor_process = start_anchor(args, path, cpu=anchor_core)
            os.sched_setaffinity(0, {own_core})
        row, nlls = run_fimflow(args, problem, starts, origin)
        if args.anchor and anchor_process is None:
            anchor_process = start_anchor(args, path)
        anchor = finish_anchor(anchor_process, path) if anchor_process is not None else None
    runs = [(row, nlls)]
    if anchor is not None:
        anchor_nlls = np.asarray(anchor.pop("nlls"), dtype=np.float64)
        anchor["study_s"] = anchor["compile_s"] + anchor["wall_s"]  # its fit excludes the model build
        runs.append((dict(anchor, tool="pypesto+amici+fides"), anchor_nlls))
    # every tool judged against the same best known value, which includes every tool's best
    known = min([row["best_known_nll"]] + [float(np.nanmin(n)) for _, n in runs if np.isfinite(n).any()])
    rows = [dict(r, **summary(n, known)) for r, n in runs]
    row = rows[0]
    for r in rows:
        per_converged(r)
    show(rows)
    line = json_ready(row)
    if len(rows) > 1:
        line["anchor"] = json_ready(rows[1])
    print(json.dumps(line))


def json_ready(row):
    return {k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in row.items()}


FOLDER_FIGURES = ["n_failed", "n_converged", "best_nll", "best_known_nll", "wall_s", "cpu_s", "simulate_ms",
                  "nll_gradient_ms"]


def run_folder(args):
    """Every PEtab problem under args.folder through this script (a fresh process each, same
    starts for both tools), one table row per problem and tool, and a JSON line of all."""
    sys.path.insert(0, HERE)
    from collection import find_problems  # noqa: PLC0415 (the same problem discovery as bench/collection.py)

    problems = find_problems([args.folder])
    print("problem\ttool\tstatus\t" + "\t".join(FOLDER_FIGURES), flush=True)
    results = []
    for name, yaml_path in problems:
        command = [sys.executable, os.path.abspath(__file__), yaml_path, "--n-starts", str(args.n_starts),
                   "--seed", str(args.seed)]
        for flag, value in (("--max-time", args.max_time), ("--max-steps", args.max_steps), ("--method", args.method),
                            ("--batch-size", args.batch_size), ("--solver", args.solver)):
            if value is not None:
                command += [flag, str(value)]
        command += ["--anchor"] if args.anchor else []
        command += ["--side-by-side"] if args.side_by_side else []
        returncode, stdout, stderr = _run_passing_on_stderr(command)
        lines = [x for x in stdout.strip().splitlines() if x.startswith("{")]
        if returncode != 0 or not lines:
            error = ([x for x in stderr if x.strip()] or [f"exit status {returncode}"])[-1]
            results.append({"problem": name, "status": "error", "error": error})
            print(f"{name}\t-\terror\t{error}", flush=True)
            continue
        fimflow_row = json.loads(lines[-1])
        anchor_row = fimflow_row.pop("anchor", None)
        results.append({"problem": name, "status": "ok", "fimflow": fimflow_row, "anchor": anchor_row})
        for tool_row in (fimflow_row, anchor_row):
            if tool_row is None:
                continue
            cells = [tool_row.get(f) for f in FOLDER_FIGURES]
            print(f"{name}\t{tool_row.get('tool')}\tok\t" + "\t".join("-" if c is None else f"{c:.6g}" for c in cells),
                  flush=True)
    print(json.dumps({"problems": results}))


def _run_passing_on_stderr(command):
    """Run `command`; its stderr (a line per finished start) goes on to ours as it comes, so a
    long folder run can be followed. Returns the exit status, its stdout and its last stderr lines."""
    with tempfile.TemporaryFile("w+") as stdout:
        child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        tail = []
        for line in child.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail = (tail + [line.rstrip("\n")])[-20:]
        child.wait()
        stdout.seek(0)
        return child.returncode, stdout.read(), tail


if __name__ == "__main__":
    main()
