"""Optimal sampling times (D/A/E criteria of the expected FIM at the best fit) from a candidate grid."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import plots, results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
best = results.read_best_fit(snakemake.input.best)
candidates = fimflow.dense_design(study.problem, options.design.n_candidates)
result = study.design(best, options=options.design, candidates=candidates)
log.info("%s-optimal: %.6g (current %.6g, equally spaced %.6g)", result.criterion, result.value,
         result.current_value, result.equally_spaced_value)
results.write_design(result, study.problem.parameter_ids, len(candidates), design=snakemake.output.design,
                     summary=snakemake.output.summary)
plots.design(result.design, study.sensitivity_curves(best, candidates), study.problem.measurements,
             snakemake.output.figure, title=snakemake.wildcards.problem)
