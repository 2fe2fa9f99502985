"""Expected and observed Fisher information at the best fit, and their eigenvalues."""

from typing import TYPE_CHECKING

from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options_from_config(snakemake.params.study))
fim = study.fisher(results.read_best_fit(snakemake.input.best))
log.info("relative difference observed vs expected: %.3g", fim.relative_difference)
output = snakemake.output
results.write_fisher(fim, expected=output.expected, observed=output.observed, eigen=output.eigen, summary=output.summary)
