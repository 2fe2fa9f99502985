"""Prediction bands three ways, side by side: delta method, prediction profiles, profile-path ensemble."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import plots, results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options_from_config(snakemake.params.study))
profiles = [results.read_profile(path) for path in snakemake.input.parameter_profiles]
ensemble = study.ensemble(results.read_best_fit(snakemake.input.best), profiles, snakemake.params.predictions)
delta = results.read_table(snakemake.input.bands)
profile_bands = results.read_tables(snakemake.input.profiles)
comparison = fimflow.compare_bands(delta, profile_bands, ensemble)
log.info("ensemble bands of %d predictions", ensemble["prediction"].nunique())
results.write_table(snakemake.output.ensemble, ensemble)
results.write_table(snakemake.output.comparison, comparison)
plots.prediction_comparison(delta, profile_bands, ensemble, snakemake.output.figure, title=snakemake.wildcards.problem)
