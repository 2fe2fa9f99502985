"""Identifiability from the FIM eigen-decomposition: rank, null directions, per-parameter verdicts."""

from typing import TYPE_CHECKING

from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0])
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
fim, _ = results.read_fisher_matrix(snakemake.input.fim)
result = study.identifiability(results.read_best_fit(snakemake.input.best), fim=fim,
                               rank_tolerance=options.rank_tolerance, participation=options.participation)
log.info("rank %d of %d; %d null direction(s)", result.analysis.rank, study.problem.n_params,
         len(result.null_directions))
results.write_identifiability(result, verdicts=snakemake.output.summary_table,
                              null_directions=snakemake.output.null_directions)
