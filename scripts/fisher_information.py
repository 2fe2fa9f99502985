"""Expected and observed Fisher information at the best fit, and their eigenvalues."""

import pandas as pd

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

fimflow.setup_jax(snakemake.params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(**snakemake.params.solver))
fim = fimflow.fisher_information(objective, best["x"], problem.parameter_ids)
expected = fimflow.eigen_analysis(fim.expected, fim.parameter_ids)
observed = fimflow.eigen_analysis(fim.observed, fim.parameter_ids)
log.info("relative difference observed vs expected: %.3g", fim.relative_difference)
results.write_matrix(snakemake.output.expected, fim.expected, fim.parameter_ids)
results.write_matrix(snakemake.output.observed, fim.observed, fim.parameter_ids)
eigen = pd.DataFrame({"index": range(1, len(fim.parameter_ids) + 1),
                      "expected": expected.eigenvalues, "observed": observed.eigenvalues})
results.write_table(snakemake.output.eigen, eigen)
results.write_json(snakemake.output.summary, {
    "parameter_ids": fim.parameter_ids, "theta": fim.theta,
    "relative_difference": fim.relative_difference,
    "observed_min_eigenvalue": fim.observed_min_eigenvalue,
    "rank_expected": expected.rank, "rank_observed": observed.rank,
}, format="fimflow.fisher/1")
