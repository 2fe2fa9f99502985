"""Profile likelihood of one estimated parameter from the best fit (one job per parameter)."""

from typing import TYPE_CHECKING

from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
result = study.profile(results.read_best_fit(snakemake.input.best), snakemake.wildcards.parameter,
                       options=options.profiles)
log.info("%s: [%s, %s] (%s, %s), %s, %d points", result.parameter_id, result.lower, result.upper,
         result.lower_end, result.upper_end, result.verdict, len(result.points))
results.write_profile(snakemake.output.points, result, flat_tolerance=options.profiles.flat_tolerance)
