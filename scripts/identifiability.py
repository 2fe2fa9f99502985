"""Identifiability from the FIM eigen-decomposition: rank, null directions, per-parameter verdicts."""

import numpy as np
import pandas as pd

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

params = snakemake.params
fim, ids = results.read_matrix(snakemake.input.fim)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
bounds = pd.DataFrame(results.read_json(snakemake.input.summary, format="fimflow.problem/1")["parameters"])
bounds = bounds.set_index("parameterId").loc[list(ids)]
lower, upper = (fimflow.to_scale(bounds[c], best["scales"]) for c in ("lowerBound", "upperBound"))
analysis = fimflow.eigen_analysis(fim, ids, relative_tolerance=params.rank_tolerance)
verdicts = pd.DataFrame(fimflow.parameter_verdicts(analysis, fim, lower, upper, threshold=params.participation))
verdicts.insert(1, "estimate", best["x"])
rows = []
for k in range(analysis.rank, len(ids)):
    vector = analysis.eigenvectors[:, k]
    rows.append({"direction": k + 1, "eigenvalue": analysis.eigenvalues[k],
                 "relative_eigenvalue": analysis.eigenvalues[k] / analysis.eigenvalues[0],
                 "parameters": ",".join(fimflow.participating(vector, ids, threshold=params.participation)),
                 **{f"v_{p}": v for p, v in zip(ids, vector)}})
null = pd.DataFrame(rows, columns=["direction", "eigenvalue", "relative_eigenvalue", "parameters", *(f"v_{p}" for p in ids)])
log.info("rank %d of %d; %d null direction(s)", analysis.rank, len(ids), len(rows))
results.write_table(snakemake.output.summary_table, verdicts)
results.write_table(snakemake.output.null_directions, null)
