"""Profile likelihood of one estimated parameter from the best fit (one job per parameter)."""

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
objective = fimflow.Objective.from_problem(problem, fimflow.SolverConfig(**params.solver))
options = fimflow.ProfileOptions(**params.profiles)
result = fimflow.profile_parameter(problem, snakemake.wildcards.parameter, best["x"], objective=objective,
                                   options=options)
log.info("%s: [%s, %s] (%s, %s), %s, %d points", result.parameter_id, result.lower, result.upper,
         result.lower_end, result.upper_end, result.verdict, len(result.points))
results.write_profile(snakemake.output.points, result, flat_tolerance=options.flat_tolerance)
