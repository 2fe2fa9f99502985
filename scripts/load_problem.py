"""Load and check one problem; write its summary (what was loaded, with checksums)."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import results
from fimflow.workflow import start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0])
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
log.info("loaded %s: %d measurements, %d estimated parameters", problem.id, problem.n_measurements, problem.n_params)
results.write_problem_summary(snakemake.output.summary, problem)
