"""Fit one shard of the multistart: the shard's rows of the seeded Latin hypercube."""

import numpy as np

from typing import TYPE_CHECKING

import fimflow
from fimflow import results
from fimflow.provenance import run_environment

if TYPE_CHECKING:
    from snakemake.script import snakemake

fimflow.setup_logging(snakemake.log[0])  # the library logs each finished start

fimflow.setup_jax(snakemake.params.compile_cache)
params = snakemake.params
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
starts = fimflow.latin_hypercube_starts(problem, params.n_starts, seed=params.seed)
index = np.array_split(np.arange(params.n_starts), params.n_shards)[int(snakemake.wildcards.shard)]
objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(**params.solver))
options = fimflow.FitOptions(**params.fit, threads=snakemake.threads)  # threads: speed only, not results
result = fimflow.fit_multistart(problem, starts[index], start_index=index, objective=objective, options=options)
results.write_multistart(snakemake.output.starts, result)
results.write_fit_provenance(snakemake.output.provenance, result, run_environment())
