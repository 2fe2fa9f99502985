"""Optimal sampling times (D/A/E criteria of the expected FIM at the best fit) from a candidate grid."""

import dataclasses
from typing import TYPE_CHECKING

import fimflow
from fimflow import plots, results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

params = snakemake.params
fimflow.setup_jax(params.compile_cache)
problem = fimflow.load_problem(snakemake.input.problem, problem_id=snakemake.wildcards.problem)
best = results.read_json(snakemake.input.best, format="fimflow.best/1")
config = fimflow.SolverConfig(**params.solver)
options = fimflow.DesignOptions(**{**params.design, "n_samples": params.design["n_samples"] or None})
candidates = fimflow.dense_design(problem, options.n_candidates)
result = fimflow.optimal_design(problem, best["x"], candidates=candidates, options=options, config=config)
curves = fimflow.sensitivity_curves(problem, best["x"], candidates, config=config)
log.info("%s-optimal: %.6g (current %.6g, equally spaced %.6g)", result.criterion, result.value,
         result.current_value, result.equally_spaced_value)
results.write_table(snakemake.output.design, result.design)
summary = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "design"}
results.write_json(snakemake.output.summary, {"parameter_ids": problem.parameter_ids, "n_samples": len(result.design),
                                          "n_candidates": len(candidates), **summary}, format="fimflow.design/1")
plots.design(result.design, curves, problem.measurements, snakemake.output.figure,
                    title=snakemake.wildcards.problem)
