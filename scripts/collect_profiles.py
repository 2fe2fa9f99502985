"""Profile intervals and verdicts of every parameter of a problem, and the profiles figure."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import plots, results
from fimflow.workflow import start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0])
profiles = [results.read_profile(path) for path in snakemake.input.points]
summary = fimflow.profile_summary(profiles)
for result in profiles:
    if result.better_nll is not None:
        log.warning("BETTER OPTIMUM: the profile of %s reached NLL %.6f below the fit's %.6f; re-run the fit "
                    "with more starts", result.parameter_id, result.better_nll, result.optimum_nll)
log.info("verdicts: %s", dict(zip(summary["parameterId"], summary["verdict"])))
results.write_table(snakemake.output.summary, summary)
plots.profiles(profiles, snakemake.output.figure, title=snakemake.wildcards.problem)
