"""Numerical structural identifiability: sensitivity rank on a dense grid at random parameter points."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
result = study.structural(results.read_best_fit(snakemake.input.best), options=options.structural)
points, directions = fimflow.structural_tables(result)
log.info("ranks %s of %d; structural deficiency %d; rank of the actual design at the fit %d",
         list(result.ranks), len(result.parameter_ids), result.structural_deficiency, result.data_rank)
results.write_table(snakemake.output.points, points)
results.write_table(snakemake.output.directions, directions)
results.write_table(snakemake.output.verdicts, result.verdicts())
