"""A JSON-ready description of a loaded problem (what the load step checked and found)."""

import hashlib
import os

import numpy as np

from ..problem import Problem
from ..provenance import model_fingerprint


def _sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def problem_summary(problem: Problem) -> dict:
    """Ids, parameter table, conditions, observables, measurement counts and source checksums."""
    table = problem.parameters.to_frame()
    counts = {
        obs: int(np.sum(problem.observable_index == i)) for i, obs in enumerate(problem.observable_ids)
    }
    return {
        "problem_id": problem.id,
        "model": f"{type(problem.model).__module__}:{type(problem.model).__name__}",
        "model_code": model_fingerprint(problem.model),  # a Python model's package, hashed (None: fimflow's own or SBML)
        "states": list(problem.model.state_names),
        "observables": list(problem.observable_ids),
        "conditions": list(problem.condition_ids),
        "estimated_parameters": list(problem.parameter_ids),
        "n_measurements": problem.n_measurements,
        "measurements_per_observable": counts,
        "parameters": table.to_dict("records"),
        "sources": {os.path.relpath(p): _sha256(p) for p in problem.sources},  # relative: no host paths
        "warnings": list(problem.warnings),
    }
