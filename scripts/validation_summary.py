"""Gather a validation study: Cramér–Rao and coverage, the two faces, prediction coverage, KL and
the design check, as tables, a summary and figures."""

from typing import TYPE_CHECKING

from fimflow import plots, results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
best = results.read_best_fit(snakemake.input.best)
designed = list(snakemake.input.designed)
result = study.validation_summary(
    best, results.read_tables(snakemake.input.current), level=options.level, predictions=snakemake.params.predictions,
    design=results.read_design(snakemake.input.design[0]) if designed else None,
    design_refits=results.read_tables(designed) if designed else None)
out = snakemake.output
results.write_validation(result, summary=out.summary, estimates=out.estimates, parameters=out.parameters,
                         covariance=out.covariance, faces=out.faces, kl=out.kl, design_check=out.design_check,
                         predictions=out.predictions)
summary = result.summary()
title = snakemake.wildcards.problem
plots.validation_pairs(result.used_estimates(), result.theta, result.crlb(), result.parameter_ids, out.pairs, title=title)
plots.validation_kl(result.kl, out.kl_figure, title=title)
plots.validation_coverage(result.parameters, result.predictions, result.level, summary["n_used"], out.coverage, title=title)
log.info("validation of %d data sets: %s", summary["n_datasets"], summary["statuses"])
