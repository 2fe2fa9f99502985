"""Prediction bands three ways, side by side: delta method, prediction profiles, profile-path ensemble."""

import pandas as pd

from typing import TYPE_CHECKING

import fimflow
from fimflow import plots, results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

params = snakemake.params
fimflow.setup_jax(params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
specs = [fimflow.PredictionSpec(**spec) for spec in params.predictions] or fimflow.default_predictions(problem)
objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(**params.solver))
profiles = [results.read_profile(path) for path in snakemake.input.parameter_profiles]
members = fimflow.ensemble_from_profiles([p.points for p in profiles], problem.parameter_ids, profiles[0].threshold)
ensemble = fimflow.ensemble_bands(problem, specs, members, best["x"], objective=objective)
delta = results.read_table(snakemake.input.bands)
profile_bands = pd.concat([results.read_table(path) for path in snakemake.input.profiles], ignore_index=True)
comparison = fimflow.compare_bands(delta, profile_bands, ensemble)
log.info("ensemble of %d profile points", len(members))
results.write_table(snakemake.output.ensemble, ensemble)
results.write_table(snakemake.output.comparison, comparison)
plots.prediction_comparison(delta, profile_bands, ensemble, snakemake.output.figure,
                                     title=snakemake.wildcards.problem)
