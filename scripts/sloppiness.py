"""Sloppiness: the normalised FIM spectrum over decades, stiff and sloppy directions."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import plots, results
from fimflow.workflow import options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0])
options = options_from_config(snakemake.params.study)
fim, ids = results.read_fisher_matrix(snakemake.input.fim)
observed, _ = results.read_fisher_matrix(snakemake.input.observed)
result = fimflow.identify.sloppiness(fim, ids, rank_tolerance=options.rank_tolerance)
log.info("spectrum spans %.2f decades", result.spectrum.decades)
results.write_sloppiness(result, spectrum=snakemake.output.spectrum, eigenvectors=snakemake.output.eigenvectors)
plots.fim_spectrum([result.analysis.eigenvalues, fimflow.eigen_analysis(observed, ids).eigenvalues],
                   snakemake.output.spectrum_png, labels=("expected", "observed"), rank_tolerance=options.rank_tolerance,
                   title=f"{snakemake.wildcards.problem}: {result.spectrum.decades:.1f} decades")
plots.eigenvectors(result.analysis.eigenvectors, result.analysis.eigenvalues, ids, snakemake.output.eigenvectors_png,
                   title=snakemake.wildcards.problem)
