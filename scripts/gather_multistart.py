"""Gather the multistart shards: the table of all starts (best first) and the best fit."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0])
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
result = fimflow.concatenate_multistarts(results.read_multistart(path) for path in snakemake.input.shards)
best = study.best(result, tolerance=options.tolerance)
log.info("best nll %.6f from start %d; %d of %d starts within %.2g", best.nll, best.start, best.n_within_tolerance,
         best.n_starts, best.tolerance)
results.write_multistart(snakemake.output.table, result.sorted())
results.write_best_fit(snakemake.output.best, best)
