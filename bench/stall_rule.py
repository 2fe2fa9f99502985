"""Which stall rule ends crawling starts without losing the ones that reach the optimum.

    .venv/bin/python bench/stall_rule.py PROBLEM_YAML [--n-starts N] [--seed S] [--gaps 0,1.92] [--save F.npz]

Fits the starts of `bench/multistart.py` (the same start points) with the defaults but the stall
rule off (`FitOptions(stall_iterations=0)`), recording each start's value, model gap
(`_trust_region.model_gap`, the decrease the FIM's quadratic model promises) and time per
iteration of the trust region, then replays every rule of a grid on those records: a start
stops at the first iteration k where its value fell by less than `tol` (absolute, or relative:
`tol * (1 + |f|)`) since iteration k - `window` while its model gap exceeds `gap`. For each rule
it prints the CPU, the wall time of the starts handed to the threads in order (as the fit hands
them out), how many starts still reach the optimum (<= best known + 0.1) and which of those the
rule would end above it; then, per start, where the default rule's fall condition first holds:
the value and model gap there, and the value the start ends at without the rule. One traced fit
replaces a fit per rule; the replay is exact for the value path of `trust_fim` (each iteration
evaluates one trial point; the point kept is the lowest accepted).
"""

import argparse
import heapq
import os
import sys
import threading
import time

os.environ.setdefault("EQX_ON_ERROR", "nan")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fimflow  # noqa: E402
from fimflow.fit import _trust_region  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multistart import TOLERANCE, best_known, problem_id, start_points  # noqa: E402

GRID = [(kind, window, tol) for window in (25, 50, 100, 200)
        for kind, tols in (("absolute", (0.01, 0.1, 1.0)), ("relative", (1e-6, 1e-5, 1e-4))) for tol in tols]


def traced_fit(problem, starts):
    """The fit with the stall rule off; per start, (value, seconds, model gap) of each evaluation
    in order."""
    records, lock, original = [], threading.Lock(), _trust_region.minimize

    def minimize(evaluate, x0, lb, ub, *args, **kwargs):
        rows = []
        with lock:
            records.append((np.array(x0, copy=True), rows))

        def timed(x):
            tic = time.perf_counter()
            out = tuple(np.asarray(a) for a in evaluate(x))
            seconds = time.perf_counter() - tic
            f, g, h = (np.asarray(a, dtype=np.float64) for a in out)
            gap = _trust_region.model_gap(x, g, h, lb, ub) if _trust_region.all_finite(f, g, h) else np.nan
            rows.append((float(f), seconds, gap))
            return out

        return original(timed, x0, lb, ub, *args, **kwargs)

    _trust_region.minimize = minimize
    try:
        result = fimflow.fit_multistart(problem, starts, options=fimflow.FitOptions(stall_iterations=0))
    finally:
        _trust_region.minimize = original
    traces = [None] * len(starts)
    for x0, rows in records:  # the start each optimiser began at: its coordinates are the start point's, but for
        # the scaling factors solved in closed form (and any clipped to a bound), so the most equal coordinates
        traces[int(np.argmax((starts == x0).sum(axis=1)))] = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return result, traces


def lowest_so_far(trace):
    """The lowest value so far after each evaluation, and the model gap at the point that has it."""
    values = np.where(np.isfinite(trace[:, 0]), trace[:, 0], np.inf)
    lowest = np.minimum.accumulate(values)
    at = np.maximum.accumulate(np.where(values <= lowest, np.arange(len(values)), 0))
    return lowest, trace[at, 2]


def stop_at(lowest, gaps, kind, window, tol, gap=0.0):
    """The iteration at which the rule ends a start whose lowest values so far are `lowest` and
    model gaps there `gaps` (the last one if never)."""
    for k in range(window, len(lowest)):
        bound = tol if kind == "absolute" else tol * (1 + abs(lowest[k]))
        if lowest[k - window] - lowest[k] < bound and gaps[k] > gap:
            return k
    return len(lowest) - 1


def wall(seconds, threads):
    ends = [0.0] * threads
    for s in seconds:  # each start to the first free thread, in order
        heapq.heappush(ends, heapq.heappop(ends) + s)
    return max(ends)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("--n-starts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gaps", default="0", help="model-gap thresholds to cross with the grid, comma-separated")
    parser.add_argument("--save", help="write the records to this .npz (start_<i>: value, seconds, model gap per row)")
    args = parser.parse_args()
    gap_grid = [float(v) for v in args.gaps.split(",")]
    problem = fimflow.load_problem(args.problem)
    name = problem_id(args.problem)
    starts, source = start_points(problem, name, args.n_starts, args.seed)
    result, traces = traced_fit(problem, starts)
    nominal = float(fimflow.Objective.from_problem(problem).nll(jax.numpy.asarray(problem.parameters.nominal_theta())))
    optimum = min(best_known(name, nominal), float(np.nanmin(result.nll))) + TOLERANCE
    threads = fimflow.FitOptions().n_threads()
    if args.save:
        np.savez(args.save, **{f"start_{i}": t for i, t in enumerate(traces) if t is not None})
    traced = [t for t in traces if t is not None and len(t)]
    print(f"{name}: {len(starts)} starts from {source}; optimum: NLL <= {optimum:.4f}; {threads} threads; "
          f"{len(traced)} starts traced")
    lowest, gaps = zip(*(lowest_so_far(t) for t in traced))
    print(f"{'rule':>38} {'cpu_s':>8} {'wall_s':>8} {'at_optimum':>10} {'ended':>6}  lost (start: value at the stop)")
    rows = [("off", 0, 0.0, 0.0)] + [(*rule, gap) for gap in gap_grid for rule in GRID]
    for kind, window, tol, gap in rows:
        seconds, at_optimum, ended, lost = [], 0, 0, []
        for i, trace in enumerate(traced):
            k = len(trace) - 1 if kind == "off" else stop_at(lowest[i], gaps[i], kind, window, tol, gap)
            value = lowest[i][k]
            seconds.append(trace[: k + 1, 1].sum())
            at_optimum += value <= optimum
            ended += k < len(trace) - 1
            if lowest[i][-1] <= optimum < value:
                lost.append(f"{i}: {value:.3f}")
        label = "off" if kind == "off" else f"{kind} {tol:g} / {window}, gap > {gap:g}"
        print(f"{label:>38} {sum(seconds):8.0f} {wall(seconds, threads):8.0f} {at_optimum:10d} {ended:6d}  {', '.join(lost)}")

    default = fimflow.FitOptions()
    print(f"where relative {default.stall_tol:g} / {default.stall_iterations} first holds (gap ignored): start, "
          f"iteration, value, model gap; value at the end without the rule")
    for i, trace in enumerate(traced):
        k = stop_at(lowest[i], gaps[i], "relative", default.stall_iterations, default.stall_tol, -np.inf)
        if k < len(trace) - 1:
            print(f"  {i:3d} {k:5d} {lowest[i][k]:14.6f} {gaps[i][k]:12.4g}   {lowest[i][-1]:14.6f} ({len(trace) - 1})")


if __name__ == "__main__":
    main()
