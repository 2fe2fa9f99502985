"""Sloppiness: the normalised FIM spectrum over decades, stiff and sloppy directions."""

import pandas as pd

from fimflow import plots

from typing import TYPE_CHECKING

import fimflow
from fimflow import results

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = fimflow.setup_logging(snakemake.log[0])

fim, ids = results.read_matrix(snakemake.input.fim)
observed, _ = results.read_matrix(snakemake.input.observed)
analysis = fimflow.eigen_analysis(fim, ids, relative_tolerance=snakemake.params.rank_tolerance)
spectrum = fimflow.sloppiness_spectrum(analysis)
log.info("spectrum spans %.2f decades", spectrum.decades)
table = pd.DataFrame({"direction": range(1, len(ids) + 1), "eigenvalue": spectrum.eigenvalues,
                      "normalised": spectrum.normalised, "decades_below_largest": spectrum.decades_below_largest})
vectors = pd.DataFrame(analysis.eigenvectors, columns=[f"v{k + 1}" for k in range(len(ids))])
vectors.insert(0, "parameterId", ids)
results.write_table(snakemake.output.spectrum, table)
results.write_table(snakemake.output.eigenvectors, vectors)
plots.fim_spectrum([analysis.eigenvalues, fimflow.eigen_analysis(observed, ids).eigenvalues],
                   snakemake.output.spectrum_png, labels=("expected", "observed"),
                   rank_tolerance=snakemake.params.rank_tolerance,
                   title=f"{snakemake.wildcards.problem}: {spectrum.decades:.1f} decades")
plots.eigenvectors(analysis.eigenvectors, analysis.eigenvalues, ids, snakemake.output.eigenvectors_png,
                   title=snakemake.wildcards.problem)
