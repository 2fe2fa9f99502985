"""Numerical structural identifiability: sensitivity rank on a dense grid at random parameter points."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

params = snakemake.params
fimflow.setup_jax(params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
options = fimflow.StructuralOptions(**params.structural, participation=params.participation)
result = fimflow.structural_identifiability(problem, best["x"], objective_config=fimflow.SolverConfig(**params.solver),
                                            options=options)
points, directions = fimflow.structural_tables(result)
verdicts = result.verdicts()
log.info("ranks %s of %d; structural deficiency %d; rank of the actual design at the fit %d",
         list(result.ranks), len(result.parameter_ids), result.structural_deficiency, result.data_rank)
results.write_table(snakemake.output.points, points)
results.write_table(snakemake.output.directions, directions)
results.write_table(snakemake.output.verdicts, verdicts)
