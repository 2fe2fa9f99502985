"""Candidate experiments (doses, period start times) ranked by the design criterion at the best fit."""

from typing import TYPE_CHECKING

from fimflow import plots, results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
best = results.read_best_fit(snakemake.input.best)
spec = snakemake.params.experiments
criterion = spec.get("criterion", options.design.criterion)
include_current = spec.get("include_current", True)
ranking = study.rank_experiments(best, spec["experiment"], spec["settings"], criterion=criterion,
                                 include_current=include_current)
log.info("%s: best of %d candidates %s (criterion %.6g)", spec["experiment"], len(ranking),
         ranking.drop(columns=["criterion", "efficiency", "rank"]).iloc[0].to_dict(), ranking["criterion"].iloc[0])
results.write_experiment_ranking(ranking, experiment=spec["experiment"], criterion=criterion,
                                 include_current=include_current, table=snakemake.output.table,
                                 summary=snakemake.output.summary)
plots.experiment_ranking(ranking, snakemake.output.figure, title=f"{snakemake.wildcards.problem}: {spec['experiment']}")
