"""Prediction uncertainty by the delta method with each eigen-direction's share, and bands."""

from typing import TYPE_CHECKING

from fimflow import plots, results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
fim, _ = results.read_fisher_matrix(snakemake.input.fim)
bands, contributions = study.predict(results.read_best_fit(snakemake.input.best), snakemake.params.predictions, fim=fim,
                                     level=options.level, rank_tolerance=options.rank_tolerance)
log.info("%d predictions, %d unbounded points", bands["prediction"].nunique(), int(bands["unbounded"].sum()))
results.write_table(snakemake.output.bands, bands)
results.write_table(snakemake.output.contributions, contributions)
plots.prediction_bands(bands, snakemake.output.bands_png, title=study.problem.id)
