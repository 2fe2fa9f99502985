"""Fit one shard of the multistart: the shard's rows of the seeded Latin hypercube."""

from typing import TYPE_CHECKING

import numpy as np

from fimflow import results
from fimflow.provenance import run_environment
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

start_job(snakemake.log[0], snakemake.params.compile_cache)  # the library logs each finished start
options = options_from_config(snakemake.params.study, threads=snakemake.threads)  # threads: speed only
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
index = np.array_split(np.arange(options.n_starts), snakemake.params.n_shards)[int(snakemake.wildcards.shard)]
starts = study.starts(options.n_starts, seed=options.seed)[index]
result = study.fit(starts=starts, start_index=index, options=options.fit)
results.write_multistart(snakemake.output.starts, result)
results.write_fit_provenance(snakemake.output.provenance, result, run_environment())
