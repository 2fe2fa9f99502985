"""Prediction profile likelihoods (Kreutz et al. 2012) of one named prediction at some of its times."""

import pandas as pd

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

params = snakemake.params
fimflow.setup_jax(params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
specs = [fimflow.PredictionSpec(**spec) for spec in params.predictions] or fimflow.default_predictions(problem)
spec = next(s for s in specs if s.id == snakemake.wildcards.prediction)
objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(**params.solver))
times = fimflow.spread_times(spec.times, params.profile_points)
options = fimflow.PredictionProfileOptions(level=params.level, max_range=params.profile_max_range)
bands = (fimflow.prediction_profile_bands(problem, [spec], best["x"], objective=objective, options=options, times=times)
         if times else pd.DataFrame(columns=["prediction", "time", "value", "lower", "upper", "lower_end", "upper_end"]))
log.info("%s: %d prediction profiles", spec.id, len(bands))
results.write_table(snakemake.output.profile, bands)
