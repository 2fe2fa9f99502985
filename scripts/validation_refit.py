"""Refit one shard of a validation study's simulated data sets (at the best fit, on the problem's
own design or on the design stage's)."""

from typing import TYPE_CHECKING

import numpy as np

from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study, threads=snakemake.threads)  # threads: speed only
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
best = results.read_best_fit(snakemake.input.best)
index = np.array_split(np.arange(options.validation.n_datasets), snakemake.params.n_shards)[int(snakemake.wildcards.shard)]
design = results.read_design(snakemake.input.design[0]) if snakemake.wildcards.design == "designed" else None
table = study.validation_refits(best, index, options=options.validation, fit=options.fit, level=options.level,
                                predictions=snakemake.params.predictions, design=design)
log.info("%d data sets refitted: %s", len(table), table["status"].value_counts().to_dict())
results.write_table(snakemake.output.refits, table)
