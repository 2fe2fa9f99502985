"""Figures of the fit: the multistart waterfall and the best fit against the data."""

from typing import TYPE_CHECKING

from fimflow import plots, results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

start_job(snakemake.log[0], snakemake.params.compile_cache)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options_from_config(snakemake.params.study))
result = results.read_multistart(snakemake.input.table)
best = results.read_best_fit(snakemake.input.best)
plots.waterfall(result.nll, result.status, snakemake.output.waterfall, title=study.problem.id)
plots.fit_vs_data(study.problem.measurements, study.curves(best), snakemake.output.fit,
                  title=f"{study.problem.id}: best fit")
