"""The workflow's side of the library: the config turned into option objects in one place
(`options_from_config`), the environment the study's jobs inherit (`job_environment`), and the
preamble every job runs (`start_job`).

This is the one module that knows the config's shape (`workflow/schemas/config.schema.yaml`). It
takes plain dicts and paths and never imports snakemake: the rules pass the config sections a
step uses as one `params` entry (`study=...`), so a changed setting re-runs exactly those steps.
"""

import dataclasses
import logging
import os

from ._calibration import Calibration
from ._load import load_problem
from ._runtime import setup_jax, setup_logging
from .design import DesignOptions
from .fit import FitOptions
from .identify import ProfileOptions, StructuralOptions
from .predict import PredictionProfileOptions
from .simulate import SolverConfig
from .validate import ValidationOptions

# the environment of the study's jobs, set by the Snakefile before any job starts: float64, CPU,
# and equinox's runtime errors as NaN (diffrax programs can then go into the persistent
# compilation cache; it must be set before equinox is imported, hence in the parent process)
JOB_ENVIRONMENT = {"EQX_ON_ERROR": "nan", "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}

# the `fit` section's keys that are optimiser settings (`FitOptions`); the others say how many
# starts, from which seed, sharded how, and when a start counts as reaching the best
FIT_OPTION_KEYS = ("method", "max_iterations", "stall_iterations", "stall_tol", "stall_gap", "batch_size", "max_time_s",
                   "profile_scalings")


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """Every setting of a study step as the library's objects (defaults: the library's own)."""

    solver: SolverConfig = SolverConfig()
    fit: FitOptions = FitOptions()
    n_starts: int = 20
    seed: int = 0
    tolerance: float = 0.1
    rank_tolerance: float = 1e-8
    participation: float = 0.1
    fim: str = "expected"
    profiles: ProfileOptions = ProfileOptions()
    structural: StructuralOptions = StructuralOptions()
    design: DesignOptions = DesignOptions()
    prediction_profiles: PredictionProfileOptions = PredictionProfileOptions()
    level: float = 0.95
    profile_points: int = 5
    validation: ValidationOptions = ValidationOptions()


def options_from_config(config: dict, *, threads: int | None = None) -> StudyOptions:
    """`StudyOptions` from a config-shaped dict holding the sections (or single keys of them) a
    step uses, e.g. `{"solver": {...}, "identifiability": {"rank_tolerance": 1e-8}}`; what is
    absent keeps the library's default. `threads`: the job's cores (speed only, not results)."""
    fit = dict(config.get("fit", {}))
    identifiability = dict(config.get("identifiability", {}))
    prediction = dict(config.get("prediction", {}))
    values = {}
    if "solver" in config:
        values["solver"] = SolverConfig(**config["solver"])
    values["fit"] = FitOptions(**{key: fit[key] for key in FIT_OPTION_KEYS if key in fit}, threads=threads)
    values.update({key: fit[key] for key in ("n_starts", "seed", "tolerance") if key in fit})
    values.update({key: identifiability[key] for key in ("rank_tolerance", "participation", "fim")
                   if key in identifiability})
    if "profiles" in config:
        values["profiles"] = ProfileOptions(**config["profiles"])
    if "structural" in config:
        values["structural"] = StructuralOptions(**config["structural"],
                                                 participation=values.get("participation", StudyOptions.participation))
    if "design" in config:
        design = dict(config["design"])
        if "n_samples" in design:
            design["n_samples"] = design["n_samples"] or None  # 0 in the config: as many as measured
        values["design"] = DesignOptions(**design)
    values.update({key: prediction[key] for key in ("level", "profile_points") if key in prediction})
    values["prediction_profiles"] = PredictionProfileOptions(
        **{name: prediction[key] for name, key in (("level", "level"), ("max_range", "profile_max_range"))
           if key in prediction})
    if "validation" in config:  # `n_shards` and `design_check` say which jobs run, not what one computes
        values["validation"] = ValidationOptions(**{k: v for k, v in config["validation"].items()
                                                    if k not in ("n_shards", "design_check")})
    return StudyOptions(**values)


def job_environment() -> dict[str, str]:
    """The environment variables the study's jobs need, for the Snakefile to set (unless the
    user set them) before any job starts."""
    return dict(JOB_ENVIRONMENT)


def start_job(log_path: str | None, compile_cache: str | None = None) -> logging.Logger:
    """The preamble of every job: logging (and stderr) to `log_path`, float64 on, JAX's
    persistent compilation cache in `compile_cache`. Returns the library's logger."""
    log = setup_logging(log_path)
    setup_jax(compile_cache)
    if compile_cache and os.environ.get("EQX_ON_ERROR") != "nan":
        log.warning("EQX_ON_ERROR is not 'nan' (set it before the job starts, see `job_environment`): "
                    "diffrax programs will not go into the compilation cache.")
    return log


def calibration(problem_file, problem_id: str, options: StudyOptions) -> Calibration:
    """The `Calibration` of a study's problem with the study's solver settings."""
    return Calibration(load_problem(problem_file, problem_id=problem_id), solver=options.solver)
