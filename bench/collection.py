"""Load, compile and per-call times of every PEtab problem under some folders, and its log-likelihood
at the nominal parameters beside the reference (figures for humans, not a test).

    .venv/bin/python bench/collection.py DIR... [--timeout S] [--only NAME ...] [--gradients | --gradients-only] [--directions N] [--no-full-gradient]
        [--method M] [--json-only]

A problem is a folder holding a `*.yaml` with `format_version: 1` (a DIR may be one itself;
folders inside a problem's folder are not searched); its name is the folder's name (the yaml's
stem when a folder holds several). Each problem runs
in fresh processes (`sys.executable`, `EQX_ON_ERROR=nan` in their environment so that diffrax
programs are cached) under one wall-clock limit for the problem (`--timeout`, default 600 s):

- cold process, empty JAX compilation cache (a temporary folder, `fimflow.setup_jax`):
  `load_s` = `fimflow.load_petab(yaml)`; `compile_cold_s` = the first
  `fimflow.log_likelihood(problem)` (trace + XLA compile + one run); `llh` = its value;
- warm process, the same cache now filled: `compile_warm_s` = the same first call; then, with
  `fimflow.Objective.from_problem(problem)` compiled: `simulate_ms` = one NLL evaluation at the
  nominal parameters (every condition simulated, as in bench/multistart.py) and
  `directional_ms` = the NLL and one directional derivative (`jax.jvp`, one tangent: what each
  parameter adds to a gradient), `nll_gradient_ms` = NLL and its gradient (forward
  sensitivities, `jax.jacfwd`, one simulation; skipped with `--no-full-gradient`), each the
  median of up to 5 calls (`block_until_ready`; one call when a call takes over 10 s);
  `simulate_first_s`, `directional_first_s`, `nll_gradient_first_s` = each function's first call
  (trace + compile + run).

Reference: the "llh at nominal" column of the table in the README.md beside the problem's folder
(the row whose first cell is the problem's name; a cell that does not start with a number, e.g.
"none", means no reference). `llh_difference` = llh - reference.

Status: ok, timeout (the fields measured before the limit are kept) or error (the exception's
first line; a problem that fails to load is a line with its error). Solver settings: the
library's defaults (`fimflow.SolverConfig()`), with `--method` the solver it names
(`SolverConfig(method=M)`: run the bench once per method to compare them). Prints a header
(machine, versions), a line per problem as it finishes, and as its last line one JSON object
`{"problems": [...]}` (every field, null when not measured). Run it alone: the machine's cores are shared and timings are noisy.
"""

import argparse
import functools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("EQX_ON_ERROR", "nan")  # makes diffrax programs cacheable

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402

FIELDS = ["problem", "yaml", "status", "error", "params", "measurements", "load_s", "compile_cold_s", "compile_warm_s",
          "simulate_first_s", "simulate_ms", "directional_first_s", "directional_ms", "nll_gradient_first_s", "nll_gradient_ms",
          "llh", "llh_reference", "llh_difference", "gradient_error", "gradient_directions", "wall_s"]
COLUMNS = ["problem", "status", "params", "measurements", "load_s", "compile_cold_s", "compile_warm_s", "simulate_ms",
           "directional_ms", "nll_gradient_ms", "llh", "llh_reference", "llh_difference", "gradient_error", "error"]
CHECK_DIRECTIONS = 2
CHECK_STEP = 1e-3
CHECK_SHIFT = 0.1  # the gradient check's point: nominal + 0.1 x a scaled random vector (see gradient_check)
FORMAT_VERSION_1 = re.compile(r"""^format_version:\s*['"]?1(\.\d+)*['"]?\s*(#.*)?$""", re.MULTILINE)
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


# ---------------------------------------------------------------- finding problems and references

def is_petab_v1(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return FORMAT_VERSION_1.search(f.read()) is not None
    except OSError:
        return False


def find_problems(folders):
    """(name, yaml path) of every PEtab v1 problem under `folders`, in path order."""
    found = []
    for top in folders:
        for folder, subfolders, files in os.walk(top, followlinks=True):
            subfolders.sort()
            yamls = sorted(os.path.join(folder, f) for f in files if f.endswith((".yaml", ".yml")))
            yamls = [y for y in yamls if is_petab_v1(y)]
            if yamls:
                subfolders[:] = []  # a problem's subfolders (test data, variants) belong to it
            for path in yamls:
                name = os.path.basename(os.path.normpath(folder)) if len(yamls) == 1 else os.path.splitext(os.path.basename(path))[0]
                found.append((name, os.path.abspath(path)))
    return found


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def reference_llh(name, yaml_path):
    """The "llh at nominal" of `name` in the README.md beside the problem's folder, or None."""
    readme = os.path.join(os.path.dirname(os.path.dirname(yaml_path)), "README.md")
    if not os.path.isfile(readme):
        return None
    column = None
    with open(readme, encoding="utf-8") as f:
        for line in f:
            if not line.lstrip().startswith("|"):
                column = None  # a table ends at its first other line
                continue
            row = cells(line)
            if column is None:
                heads = [c.lower() for c in row]
                column = next((i for i, c in enumerate(heads) if "llh at nominal" in c), None)
            elif row[0] == name and column < len(row):
                match = NUMBER.match(row[column].replace("−", "-").strip("*"))
                return float(match.group(0)) if match else None
    return None


# ---------------------------------------------------------------- in a child process

def report(**fields):
    print(json.dumps({k: finite(v) for k, v in fields.items()}), flush=True)


def first_line(error):
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def median_call(fn, *args, repeat=5, budget_s=10.0):
    """Median seconds of up to `repeat` compiled calls (fewer once `budget_s` is spent)."""
    times, start = [], time.perf_counter()
    while len(times) < repeat and (not times or time.perf_counter() - start < budget_s):
        tic = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def _nll_and_nll(objective, theta):
    value = objective.nll(theta)
    return value, value


def measure(yaml_path, cache, stage, method=None, full_gradient=True):
    """One process of one problem: load, first log-likelihood, and (warm) per-call times; each
    figure is printed as a JSON line as soon as it is known, so a timeout keeps the earlier ones."""
    fimflow.setup_jax(cache)
    tic = time.perf_counter()
    problem = fimflow.load_petab(yaml_path)
    report(**{f"load_{stage}_s": time.perf_counter() - tic, "params": int(problem.n_params),
              "measurements": int(problem.n_measurements)})
    tic = time.perf_counter()
    config = solver_config(method)
    llh = fimflow.log_likelihood(problem, config=config)
    report(**{f"compile_{stage}_s": time.perf_counter() - tic, f"llh_{stage}": llh})
    if stage != "warm":
        return
    objective = fimflow.Objective.from_problem(problem, config)
    theta = jax.numpy.asarray(problem.parameters.nominal_theta())
    nll = functools.partial(eqx.filter_jit(lambda o, t: o.nll(t)), objective)
    gradient = functools.partial(eqx.filter_jit(lambda o, t: jax.jacfwd(_nll_and_nll, argnums=1, has_aux=True)(o, t)),
                                 objective)
    tic = time.perf_counter()
    jax.block_until_ready(nll(theta))
    report(simulate_first_s=time.perf_counter() - tic)
    report(simulate_ms=1e3 * median_call(nll, theta))
    direction = jax.numpy.asarray(np.where(np.isfinite(theta), 1.0, 0.0))
    directional = functools.partial(eqx.filter_jit(lambda o, t, v: jax.jvp(o.nll, (t,), (v,))), objective)
    tic = time.perf_counter()
    jax.block_until_ready(directional(theta, direction))
    report(directional_first_s=time.perf_counter() - tic)
    report(directional_ms=1e3 * median_call(directional, theta, direction))
    if not full_gradient:
        return
    tic = time.perf_counter()
    jax.block_until_ready(gradient(theta))
    report(nll_gradient_first_s=time.perf_counter() - tic)
    report(nll_gradient_ms=1e3 * median_call(gradient, theta))


def check_scales(problem, theta):
    """Per-parameter size of a direction's component: 1 on a log scale, where a step of
    `CHECK_STEP` is a relative change; on the linear scale the parameter's own magnitude (its
    bound width when it is 0), so a step changes a parameter of 2e-10 by 2e-13, not by 1e-3."""
    lower, upper = problem.parameters.bounds()
    linear = np.array([scale == "lin" for scale in problem.parameters.estimated_scales])
    magnitude = np.where(np.abs(theta) > 0, np.abs(theta), np.abs(upper - lower))
    return np.where(linear, magnitude, 1.0)


def gradient_check(yaml_path, cache, method=None, directions=CHECK_DIRECTIONS):
    """Directional derivatives of the NLL (one forward tangent each) against four-point central
    differences (step 1e-3) along `directions` random directions, both at rtol 1e-10, atol 1e-12:
    the largest |d_ad - d_fd| / |d_fd| (NaN when an evaluation fails, never hidden). A direction
    is a unit standard-normal vector over the parameters with an estimation-scale value, component
    i times `check_scales` (1 on log scales, the parameter's magnitude on the linear scale). The
    point: the nominal parameters moved by `CHECK_SHIFT` times such a (seeded) vector. Not the
    nominal point itself: where a problem's data were simulated there without noise
    (Lang_PLOSComputBiol2024) it is the optimum, the gradient vanishes and both derivatives are
    solver round-off (1e-8 against an NLL of 2741), which tests nothing."""
    fimflow.setup_jax(cache)
    problem = fimflow.load_petab(yaml_path)
    objective = fimflow.Objective.from_problem(problem, solver_config(method, rtol=1e-10, atol=1e-12))
    theta = np.asarray(problem.parameters.nominal_theta())
    finite_ = np.isfinite(theta)
    scales = check_scales(problem, np.where(finite_, theta, 0.0))
    nll = eqx.filter_jit(lambda o, t: o.nll(t))
    directional = eqx.filter_jit(lambda o, t, v: jax.jvp(o.nll, (t,), (v,))[1])
    rng = np.random.default_rng(17)
    theta = np.where(finite_, theta + CHECK_SHIFT * rng.standard_normal(len(theta)) * scales, theta)
    worst = 0.0
    for count in range(1, directions + 1):
        z = np.where(finite_, rng.standard_normal(len(theta)), 0.0)
        v = z / np.linalg.norm(z) * scales
        d = float(directional(objective, jax.numpy.asarray(theta), jax.numpy.asarray(v)))
        f = {k: float(nll(objective, jax.numpy.asarray(theta + k * CHECK_STEP * v))) for k in (-2, -1, 1, 2)}
        estimate = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * CHECK_STEP)
        error = abs(d - estimate) / abs(estimate)
        worst = float(np.maximum(worst, error))  # NaN propagates (max() would drop it)
        report(gradient_error=worst, gradient_directions=count)


def solver_config(method, **settings):
    return fimflow.SolverConfig(**settings, **({} if method is None else {"method": method}))


def child(yaml_path, cache, stage, method=None, directions=CHECK_DIRECTIONS, full_gradient=True):
    try:
        if stage == "gradient":
            gradient_check(yaml_path, cache, method, directions)
            return
        measure(yaml_path, cache, stage, method, full_gradient)
    except Exception as error:  # noqa: BLE001 (reported, the parent goes on with the next problem)
        report(error=first_line(error))


# ---------------------------------------------------------------- in the parent process

def run_stage(yaml_path, cache, stage, timeout_s, method=None, directions=CHECK_DIRECTIONS, full_gradient=True):
    """Fields printed by one child process, and its status ("ok", "timeout" or "error")."""
    command = [sys.executable, os.path.abspath(__file__), "--child", stage, "--cache", cache, yaml_path,
               "--directions", str(directions)]
    command += [] if method is None else ["--method", method]
    command += [] if full_gradient else ["--no-full-gradient"]
    env = dict(os.environ, EQX_ON_ERROR="nan")
    try:
        out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=max(timeout_s, 0.001))
        stdout, stderr, timed_out = out.stdout, out.stderr, False
    except subprocess.TimeoutExpired as expired:
        stdout, stderr, timed_out = expired.stdout, expired.stderr, True
    stdout, stderr = (s.decode(errors="replace") if isinstance(s, bytes) else s or "" for s in (stdout, stderr))
    fields = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                fields.update(json.loads(line))
            except json.JSONDecodeError:
                pass
    if timed_out:
        return fields, "timeout"
    if "error" in fields:
        return fields, "error"
    if out.returncode != 0:  # died without a Python exception (signal, out of memory, ...)
        lines = [x for x in stderr.strip().splitlines() if x.strip()]
        fields["error"] = f"exit status {out.returncode}" + (f": {lines[-1]}" if lines else "")
        return fields, "error"
    return fields, "ok"


def run_problem(name, yaml_path, timeout_s, gradients=False, method=None, directions=CHECK_DIRECTIONS, full_gradient=True):
    row = dict.fromkeys(FIELDS)
    row.update(problem=name, yaml=yaml_path, status="ok")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fimflow-jax-cache-") as cache:
        stages = ("gradient",) if gradients == "only" else ("cold", "warm") + (("gradient",) if gradients else ())
        for stage in stages:
            fields, status = run_stage(yaml_path, cache, stage, timeout_s - (time.perf_counter() - start), method,
                                       directions, full_gradient)
            for key in ("params", "measurements", "error", "simulate_first_s", "simulate_ms", "directional_first_s",
                        "directional_ms", "nll_gradient_first_s", "nll_gradient_ms", "gradient_error", "gradient_directions"):
                if fields.get(key) is not None:
                    row[key] = fields[key]
            if stage != "gradient":
                row[f"compile_{stage}_s"] = fields.get(f"compile_{stage}_s")
            if stage == "cold":
                row["load_s"], row["llh"] = fields.get("load_cold_s"), fields.get("llh_cold")
            elif row["llh"] is None:
                row["llh"] = fields.get("llh_warm")
            if status != "ok":
                row["status"] = status
                if status == "timeout":
                    row["error"] = f"no result within {timeout_s:g} s (in the {stage} process)"
                break
    row["wall_s"] = time.perf_counter() - start
    row["llh_reference"] = reference_llh(name, yaml_path)
    if row["llh"] is not None and row["llh_reference"] is not None:
        row["llh_difference"] = row["llh"] - row["llh_reference"]
    return row


def cell(row, column):
    value = row[column]
    if value is None:
        return "no reference" if column == "llh_reference" else "-"
    if column in ("llh", "llh_reference"):
        return f"{value:.12g}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", metavar="DIR", help="folders holding PEtab problems (searched recursively)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per problem, both processes (default 600)")
    parser.add_argument("--only", action="append", metavar="NAME", help="only this problem (repeatable)")
    parser.add_argument("--json-only", action="store_true", help="print only the final JSON line")
    parser.add_argument("--gradients", action="store_true",
                        help="also check the NLL gradient against central differences (a third process; see gradient_check)")
    parser.add_argument("--method", choices=fimflow.SOLVER_METHODS,
                        help="the solver (fimflow.SolverConfig's method; default: the library's default)")
    parser.add_argument("--gradients-only", action="store_true", help="only the gradient check (no timing processes)")
    parser.add_argument("--directions", type=int, default=CHECK_DIRECTIONS, metavar="N",
                        help=f"random directions of the gradient check (default {CHECK_DIRECTIONS})")
    parser.add_argument("--no-full-gradient", action="store_true",
                        help="skip nll_gradient_* (one tangent per parameter; hours on the largest models): "
                             "directional_ms (one tangent) is measured either way")
    parser.add_argument("--child", choices=("cold", "warm", "gradient"), help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        (yaml_path,) = args.folders
        child(yaml_path, args.cache, args.child, args.method, args.directions, not args.no_full_gradient)
        return
    if not args.folders:
        parser.error("give at least one DIR")
    missing = [d for d in args.folders if not os.path.isdir(d)]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    problems = find_problems(args.folders)
    if args.only:
        unknown = sorted(set(args.only) - {name for name, _ in problems})
        if unknown:
            parser.error(f"--only: no problem named {', '.join(unknown)} under {', '.join(args.folders)}")
        problems = [(name, path) for name, path in problems if name in args.only]
    if not problems:
        parser.error(f"no PEtab problem (a *.yaml with format_version 1) under {', '.join(args.folders)}")
    if not args.json_only:
        print(f"# machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
        print(f"# fimflow {fimflow.__version__}, jax {jax.__version__}; {len(problems)} problems; "
              f"timeout {args.timeout:g} s per problem; solver: fimflow.SolverConfig("
              f"{'' if args.method is None else f'method={args.method!r}'}) defaults otherwise")
        print("# times in seconds, *_ms in milliseconds; compile = first log_likelihood call (trace + XLA compile "
              "+ run), cold: empty cache, warm: filled cache")
        print("\t".join(COLUMNS), flush=True)
    rows = []
    for name, yaml_path in problems:
        gradients = "only" if args.gradients_only else args.gradients
        row = run_problem(name, yaml_path, args.timeout, gradients, args.method, args.directions,
                          not args.no_full_gradient)
        rows.append(row)
        if not args.json_only:
            print("\t".join(cell(row, c) for c in COLUMNS), flush=True)
    print(json.dumps({"problems": [{k: finite(row[k]) for k in FIELDS} for row in rows]}))


if __name__ == "__main__":
    main()
