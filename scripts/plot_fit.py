"""Figures of the fit: the multistart waterfall and the best fit against the data."""

from fimflow import plots

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

fimflow.setup_jax(snakemake.params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
result = results.read_multistart(snakemake.input.table)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
curves = fimflow.simulate_curves(problem, best["x"], config=fimflow.SolverConfig(**snakemake.params.solver))
plots.waterfall(result.nll, result.status, snakemake.output.waterfall, title=problem.id)
plots.fit_vs_data(problem.measurements, curves, snakemake.output.fit, title=f"{problem.id}: best fit")
