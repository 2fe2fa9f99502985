"""Prediction uncertainty by the delta method with each eigen-direction's share, and bands."""

from fimflow import plots

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

fimflow.setup_jax(snakemake.params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
fim, ids = results.read_matrix(snakemake.input.fim)
analysis = fimflow.eigen_analysis(fim, ids, relative_tolerance=snakemake.params.rank_tolerance)
specs = [fimflow.PredictionSpec(**spec) for spec in snakemake.params.predictions] or fimflow.default_predictions(problem)
objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(**snakemake.params.solver))
bands, contributions = fimflow.prediction_bands(objective, best["x"], specs, analysis, problem,
                                                level=snakemake.params.level)
log.info("%d predictions, %d unbounded points", len(specs), int(bands["unbounded"].sum()))
results.write_table(snakemake.output.bands, bands)
results.write_table(snakemake.output.contributions, contributions)
plots.prediction_bands(bands, snakemake.output.bands_png, title=problem.id)
