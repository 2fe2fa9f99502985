"""One writer/reader pair per artifact of the results tree, with its format tag.

The writers take the stage's record (`BestFit`, `FisherResult`, `Identifiability`, ...) and lay
it out as the files the workflow publishes; the readers give back the record (or what later
stages need of it). Every write is atomic (see `_files`).
"""

import dataclasses

import numpy as np
import pandas as pd

from ..design import DesignResult
from ..fisher import FisherResult
from ..fit import BestFit
from ..identify import eigen_analysis
from ..identify import Identifiability, Sloppiness
from ..problem import Problem
from ..validate import ValidationResult
from ._files import read_json, read_matrix, read_table, write_json, write_matrix, write_table
from ._problem_summary import problem_summary

PROBLEM_FORMAT = "fimflow.problem/1"
BEST_FORMAT = "fimflow.best/1"
FISHER_FORMAT = "fimflow.fisher/1"
DESIGN_FORMAT = "fimflow.design/1"
EXPERIMENTS_FORMAT = "fimflow.design-experiments/1"
VALIDATION_FORMAT = "fimflow.validation/1"


def write_problem_summary(path, problem: Problem) -> None:
    """`problem/summary.json`: what was loaded (see `problem_summary`)."""
    write_json(path, problem_summary(problem), format=PROBLEM_FORMAT)


def read_problem_summary(path) -> dict:
    return read_json(path, format=PROBLEM_FORMAT)


def write_best_fit(path, best: BestFit) -> None:
    """`fit/best.json`."""
    write_json(path, best.to_dict(), format=BEST_FORMAT)


def read_best_fit(path) -> BestFit:
    return BestFit.from_dict(read_json(path, format=BEST_FORMAT))


def write_fisher(fim: FisherResult, *, expected, observed, eigen, summary, rank_tolerance: float = 1e-8) -> None:
    """`fisher/expected.tsv` and `observed.tsv` (matrices labelled by parameter id), `eigen.tsv`
    (both spectra, largest first) and `summary.json` (ranks, their difference, the smallest
    observed eigenvalue)."""
    ids = fim.parameter_ids
    spectra = {name: eigen_analysis(matrix, ids, relative_tolerance=rank_tolerance)
               for name, matrix in (("expected", fim.expected), ("observed", fim.observed))}
    write_matrix(expected, fim.expected, ids)
    write_matrix(observed, fim.observed, ids)
    write_table(eigen, pd.DataFrame({"index": range(1, len(ids) + 1), "expected": spectra["expected"].eigenvalues,
                                     "observed": spectra["observed"].eigenvalues}))
    write_json(summary, {
        "parameter_ids": ids, "theta": fim.theta,
        "relative_difference": fim.relative_difference,
        "observed_min_eigenvalue": fim.observed_min_eigenvalue,
        "rank_expected": spectra["expected"].rank, "rank_observed": spectra["observed"].rank,
    }, format=FISHER_FORMAT)


def read_fisher_matrix(path) -> tuple[np.ndarray, tuple[str, ...]]:
    """One Fisher information matrix (`fisher/expected.tsv` or `observed.tsv`) and its parameter ids."""
    return read_matrix(path)


def write_identifiability(result: Identifiability, *, verdicts, null_directions) -> None:
    """`identifiability/summary.tsv` and `null_directions.tsv`."""
    write_table(verdicts, result.verdicts)
    write_table(null_directions, result.null_directions)


def write_sloppiness(result: Sloppiness, *, spectrum, eigenvectors) -> None:
    """`sloppiness/spectrum.tsv` and `eigenvectors.tsv`."""
    write_table(spectrum, result.to_frame())
    write_table(eigenvectors, result.eigenvectors_frame())


def write_design(result: DesignResult, parameter_ids, n_candidates: int, *, design, summary) -> None:
    """`design/design.tsv` (the chosen samples) and `summary.json` (criterion values, efficiencies,
    the design's FIM, how the search ended)."""
    write_table(design, result.design)
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "design"}
    write_json(summary, {"parameter_ids": parameter_ids, "n_samples": len(result.design), "n_candidates": n_candidates,
                         **fields}, format=DESIGN_FORMAT)


def write_experiment_ranking(ranking: pd.DataFrame, *, experiment: str, criterion: str, include_current: bool,
                             table, summary) -> None:
    """`design/experiments.tsv` (every candidate setting with its criterion, efficiency and rank,
    best first) and `experiments.json` (the experiment, the criterion and the best setting)."""
    write_table(table, ranking)
    settings = [c for c in ranking.columns if c not in ("criterion", "efficiency", "rank")]
    best = {c: ranking[c].iloc[0] for c in settings}
    write_json(summary, {"experiment": experiment, "criterion": criterion, "include_current": include_current,
                         "n_candidates": len(ranking), "settings": settings, "best": best,
                         "best_criterion": ranking["criterion"].iloc[0]}, format=EXPERIMENTS_FORMAT)


def read_tables(paths) -> pd.DataFrame:
    """The tables at `paths` (same columns) one below the other, e.g. the per-job parts of an analysis."""
    return pd.concat([read_table(path) for path in paths], ignore_index=True)


def read_design(path) -> pd.DataFrame:
    """The chosen samples of `design/design.tsv`."""
    return read_table(path)


def write_validation(result: ValidationResult, *, summary, estimates, parameters, covariance, faces, kl, design_check,
                     predictions) -> None:
    """`validation/summary.json` (per parameter the variance ratio with its interval, coverages,
    bias, Cramér–Rao and empirical sd; identifiable combinations and null directions; the
    covariance's generalized eigenvalues; the faces; prediction coverage; KL reach), and the
    tables: `estimates.tsv` (each data set's estimate, status, Wald se, profile ratio, coverage),
    `parameters.tsv`, `covariance.tsv`, `faces.tsv`, `kl.tsv`, `design_check.tsv`,
    `predictions.tsv`."""
    write_table(estimates, result.estimates)
    write_table(parameters, result.parameters)
    write_table(covariance, result.covariance)
    write_table(faces, result.faces)
    write_table(kl, result.kl)
    write_table(design_check, result.design_check)
    write_table(predictions, result.predictions)
    write_json(summary, result.summary(), format=VALIDATION_FORMAT)


def read_validation_summary(path) -> dict:
    return read_json(path, format=VALIDATION_FORMAT)
