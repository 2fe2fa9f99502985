"""A validation study of one problem: the refits gathered into the tables and the summary of the
results tree (Cramér–Rao and coverage, the two faces, prediction coverage, KL, design check)."""

import dataclasses

import numpy as np
import pandas as pd

from ..fisher import expected_fisher_information, observed_fisher_information
from ..identify import profile_threshold
from ..predict import PredictionSpec
from ..problem import Problem
from ..simulate import Objective, stored_call
from ._design_check import delivered_information, realized_vs_predicted
from ._faces import two_faces
from ._kl import KL_RADII, kl_along_directions
from ._spread import (coverage_interval, crlb_covariance, generalized_eigenvalues, identifiable_combinations, marchenko_pastur_range,
                      per_parameter)


def expected_fim(problem_or_objective, theta) -> np.ndarray:
    """The expected FIM at `theta` (estimation scale) through the program store."""
    objective = problem_or_objective if isinstance(problem_or_objective, Objective) else Objective.from_problem(problem_or_objective)
    return np.asarray(stored_call(expected_fisher_information, objective, np.asarray(theta, dtype=np.float64)))


def _used(refits: pd.DataFrame) -> pd.DataFrame:
    return refits[(refits["status"] != "failed") & np.isfinite(refits["nll"].to_numpy(dtype=np.float64))]


def _observed_matrices(refits: pd.DataFrame, n: int) -> np.ndarray:
    hessians = np.zeros((len(refits), n, n))
    for i in range(n):
        for j in range(i, n):
            hessians[:, i, j] = hessians[:, j, i] = refits[f"observed_{i}_{j}"].to_numpy(dtype=np.float64)
    return hessians


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """Everything `validate_study` found; `summary()` is the JSON of the results tree."""

    parameter_ids: tuple[str, ...]
    theta: np.ndarray
    fim: np.ndarray
    estimates: pd.DataFrame  # one row per data set (status, estimate, Wald se, profile ratio, coverage)
    parameters: pd.DataFrame  # `_spread.per_parameter`
    combinations: pd.DataFrame
    null_spread: pd.DataFrame
    covariance: pd.DataFrame  # long: parameter_i, parameter_j, empirical, crlb
    generalized_eigenvalues: np.ndarray
    faces: pd.DataFrame
    faces_summary: dict
    predictions: pd.DataFrame  # prediction, time, coverage, n, low, high
    kl: pd.DataFrame
    kl_reach: dict
    design_check: pd.DataFrame
    level: float

    def used_estimates(self) -> np.ndarray:
        """The estimates `(n_used, n_params)` of the refits that did not fail."""
        return _used(self.estimates)[[f"x_{p}" for p in self.parameter_ids]].to_numpy(dtype=np.float64)

    def crlb(self) -> np.ndarray:
        """The Cramér–Rao covariance (inverse expected FIM at theta; `inf` along null directions)."""
        return self.covariance["crlb"].to_numpy(dtype=np.float64).reshape(len(self.parameter_ids), -1)

    def summary(self) -> dict:
        used = _used(self.estimates)
        statuses = self.estimates["status"].value_counts().to_dict()
        low, high = coverage_interval(self.level, len(used))

        def number(value):
            return None if value is None or not np.isfinite(value) else float(value)

        parameters = {}
        for row in self.parameters.itertuples(index=False):
            parameters[row.parameter] = {
                "truth": row.truth, "mean": row.mean, "bias": row.bias, "empirical_sd": row.empirical_sd,
                "crlb_sd": number(row.crlb_sd), "crlb_sd_observed": number(row.crlb_sd_observed),
                "variance_ratio": number(row.variance_ratio),
                "variance_ratio_ci": [number(row.variance_ratio_low), number(row.variance_ratio_high)],
                "variance_ratio_within_mc": (bool(row.variance_ratio_low <= 1.0 <= row.variance_ratio_high)
                                             if np.isfinite(row.variance_ratio) else None),
                "coverage_wald": number(row.coverage_wald) if row.identifiable else None,
                "coverage_wald_within_mc": bool(low <= row.coverage_wald <= high) if row.identifiable else None,
                "coverage_profile": number(row.coverage_profile), "n_profile": int(row.n_profile),
                "identifiable": bool(row.identifiable), "at_bound": number(row.at_bound),
            }
        return {
            "n_datasets": int(len(self.estimates)),
            "n_used": int(len(used)),
            "statuses": {str(k): int(v) for k, v in statuses.items()},
            "level": self.level,
            "coverage_mc_interval": [float(low), float(high)],
            "theta": dict(zip(self.parameter_ids, map(float, self.theta))),
            "structurally_identifiable": len(self.null_spread) == 0,
            "parameters": parameters,
            "identifiable_combinations": self.combinations.to_dict(orient="records"),
            "null_directions": self.null_spread.to_dict(orient="records"),
            "null_direction_note": (None if len(self.null_spread) == 0 else
                                    "the FIM is singular: the data carry no information along these directions, so the "
                                    "refits' spread along them is set by the start, the optimiser and the bounds, not "
                                    "by the data; the identifiable combinations are checked instead"),
            "covariance": {"generalized_eigenvalues": [float(m) for m in self.generalized_eigenvalues],
                           "expected_range": list(marchenko_pastur_range(len(self.generalized_eigenvalues), len(used))),
                           "fim_rank": len(self.generalized_eigenvalues), "n_params": len(self.parameter_ids)},
            "faces": self.faces_summary,
            "predictions": self.predictions.to_dict(orient="records"),
            "kl_reach": {k: number(v) for k, v in self.kl_reach.items()},
        }


def validate_study(problem: Problem, theta, refits: pd.DataFrame, *, objective: Objective | None = None,
                   level: float = 0.95, predictions=(), designed=None,
                   kl_radii=KL_RADII) -> ValidationResult:
    """Gather the refits of `refit_datasets` (all shards, `refits`) at `theta` into a `ValidationResult`.

    **Arguments:** `predictions`: the `PredictionSpec`s whose coverage columns the refits carry;
    `designed`: `(design_objective, refits)` of data simulated on the design stage's design (its
    check against the current design), or None."""
    objective = objective or Objective.from_problem(problem)
    theta = np.asarray(theta, dtype=np.float64)
    ids = tuple(problem.parameter_ids)
    n = len(ids)
    fim = expected_fim(objective, theta)
    observed_at_fit = np.asarray(stored_call(observed_fisher_information, objective, theta))
    used = _used(refits)
    estimates = used[[f"x_{p}" for p in ids]].to_numpy(dtype=np.float64)
    errors = used[[f"se_{p}" for p in ids]].to_numpy(dtype=np.float64)
    ratios = used[[f"lr_{p}" for p in ids]].to_numpy(dtype=np.float64)
    table = per_parameter(estimates, errors, theta, fim, ids, level=level, profile_ratios=ratios,
                          threshold=2.0 * profile_threshold(level), observed_fim=observed_at_fit,
                          bounds=problem.parameters.bounds())
    combinations, null_spread = identifiable_combinations(estimates, theta, fim, ids, problem.parameters.estimated_scales)
    empirical = np.cov(estimates, rowvar=False).reshape(n, n)
    crlb = crlb_covariance(fim)
    covariance = pd.DataFrame([(ids[i], ids[j], empirical[i, j], crlb[i, j]) for i in range(n) for j in range(n)],
                              columns=["parameter_i", "parameter_j", "empirical", "crlb"])
    faces, faces_summary = two_faces(used[[f"score_{p}" for p in ids]].to_numpy(dtype=np.float64),
                                     _observed_matrices(used, n), fim)
    kl, reach = kl_along_directions(objective, theta, fim, ids, radii=kl_radii)
    rows = []
    for spec in predictions:
        spec = spec if isinstance(spec, PredictionSpec) else PredictionSpec(**spec)
        for k, t in enumerate(sorted(spec.times)):
            column = used[f"covered_{spec.id}_{k}"].to_numpy(dtype=np.float64)
            column = column[np.isfinite(column)]
            low, high = coverage_interval(level, len(column))
            rows.append({"prediction": spec.id, "time": float(t), "coverage": float(column.mean()) if column.size else None,
                         "n": int(column.size), "mc_low": low, "mc_high": high})
    check = [realized_vs_predicted("current", estimates, fim, ids)]
    if designed is not None:
        design_objective, design_refits = designed
        design_used = _used(design_refits)
        check.append(realized_vs_predicted("designed", design_used[[f"x_{p}" for p in ids]].to_numpy(dtype=np.float64),
                                           expected_fim(design_objective, theta), ids))
    single = faces["observed_ratio_se"].to_numpy() * np.sqrt(len(used))
    check.append(delivered_information(fim, observed_at_fit, single))
    return ValidationResult(
        parameter_ids=ids, theta=theta, fim=fim, estimates=refits[[c for c in refits.columns if not c.startswith("observed_")]],
        parameters=table, combinations=combinations, null_spread=null_spread, covariance=covariance,
        generalized_eigenvalues=generalized_eigenvalues(empirical, fim), faces=faces, faces_summary=faces_summary,
        predictions=pd.DataFrame(rows, columns=["prediction", "time", "coverage", "n", "mc_low", "mc_high"]),
        kl=kl, kl_reach=reach, design_check=pd.concat(check, ignore_index=True), level=level,
    )
