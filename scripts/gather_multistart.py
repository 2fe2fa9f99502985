"""Gather the multistart shards: the table of all starts (best first) and the best fit."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
result = fimflow.concatenate_multistarts(results.read_multistart(path) for path in snakemake.input.shards)
summary = fimflow.best_fit_summary(result, problem, tolerance=snakemake.params.tolerance)
log.info("best nll %.6f from start %d; %d of %d starts within %.2g", summary["nll"], summary["start"],
         summary["n_within_tolerance"], summary["n_starts"], summary["tolerance"])
results.write_multistart(snakemake.output.table, result.sorted())
results.write_json(snakemake.output.best, summary, format="fimflow.best/1")
