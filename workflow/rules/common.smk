import glob
import hashlib
import os

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

import fimflow
from fimflow.provenance import library_fingerprint, model_fingerprint, problem_files
from fimflow.workflow import job_environment, options_from_config

# the environment every job inherits (the library says which: float64, CPU, equinox errors as NaN
# so that diffrax programs can go into the compilation cache); what the user set is kept
for name, value in job_environment().items():
    os.environ.setdefault(name, value)

PROBLEMS = list(config["problems"])
N_SHARDS = min(config["fit"]["n_shards"], config["fit"]["n_starts"])
SHARDS = [str(k) for k in range(N_SHARDS)]
LIBRARY = library_fingerprint()



def study_config(*keys):
    """The config sections (`"solver"`) or single settings (`"fit.seed"`) a rule's script uses, as
    one `params` entry (`fimflow.workflow.options_from_config` reads it): a changed setting
    re-runs exactly the rules that name it."""
    study = {}
    for key in keys:
        section, _, name = key.partition(".")
        if name:
            study.setdefault(section, {})[name] = config[section][name]
        else:
            study[section] = config[section]
    return study


def check_problems():
    """Load every problem and check its predictions before any job runs; one error lists all.

    Returns each problem's estimated parameter ids and prediction ids (the profile fan-outs), and
    the fingerprint of a Python model's code (re-run trigger, see `get_model_code`)."""
    errors, parameters, predictions, code = [], {}, {}, {}
    for problem_id, spec in config["problems"].items():
        try:
            problem = fimflow.load_problem(spec["problem"], problem_id=problem_id)
            specs = [fimflow.PredictionSpec(**prediction) for prediction in spec.get("predictions", [])]
            for prediction in specs:
                fimflow.check_prediction(problem, prediction)
            fimflow.check_fit_options(problem, options_from_config({"fit": config["fit"]}).fit)
            if "experiment_design" in spec:
                fimflow.check_experiment_settings(problem, spec["experiment_design"]["experiment"],
                                                  spec["experiment_design"]["settings"])
            parameters[problem_id] = list(problem.parameter_ids)
            predictions[problem_id] = [p.id for p in specs or fimflow.default_predictions(problem)]
            code[problem_id] = model_code(problem)
        except (fimflow.FimflowInputError, ValueError) as error:
            errors.append(f"problems.{problem_id}: {error}")
    if errors:
        raise fimflow.FimflowInputError("bad study input in the config:\n" + "\n".join(errors))
    return parameters, predictions, code


def model_code(problem):
    """`module:Class sha` of a Python model outside fimflow ("a Python model is code": the hash
    covers its module, or every .py file of its top-level package), or "" when the library
    fingerprint and the problem's files cover it (fimflow's own models, SBML)."""
    fingerprint = model_fingerprint(problem.model)
    if fingerprint is None:
        return ""
    cls = type(problem.model)
    return f"{cls.__module__}:{cls.__qualname__} {fingerprint}"


PARAMETERS, PREDICTIONS, MODEL_CODE = check_problems()


wildcard_constraints:
    problem="|".join(PROBLEMS),
    shard=r"\d+",
    parameter=r"[A-Za-z_][A-Za-z0-9_]*",
    prediction=r"[A-Za-z_][A-Za-z0-9_]*",
    design="current|designed",


def get_problem(wildcards):
    """A rule's problem inputs (use as `unpack(get_problem)`): `problem`, the problem file, and
    `tables`, every table it names, so a changed table re-runs that problem."""
    path = config["problems"][wildcards.problem]["problem"]
    return {"problem": path, "tables": problem_files(path)}


def get_model_code(wildcards):
    """The problem's model code fingerprint, a param of every rule that runs the model: an edit
    of the model's package re-runs those jobs (Snakemake's params trigger, with the reason in its
    log), a touch does not."""
    return MODEL_CODE[wildcards.problem]


def get_shards(wildcards):
    return expand("results/{problem}/fit/starts_{shard}.tsv", problem=wildcards.problem, shard=SHARDS)


def get_predictions(wildcards):
    return config["problems"][wildcards.problem].get("predictions", [])


def get_profiles(wildcards):
    return expand(
        "results/{problem}/identifiability/profiles/{parameter}.tsv",
        problem=wildcards.problem,
        parameter=PARAMETERS[wildcards.problem],
    )


def get_prediction_profiles(wildcards):
    return expand(
        "results/{problem}/prediction/profiles/{prediction}.tsv",
        problem=wildcards.problem,
        prediction=PREDICTIONS[wildcards.problem],
    )


def get_fim(wildcards):
    return f"results/{wildcards.problem}/fisher/{config['identifiability']['fim']}.tsv"


VALIDATION_SHARDS = config.get("validation", {}).get("n_shards", 2)


def validation_settings(problem):
    """The study-wide `validation` settings with the problem's own over them."""
    return {**config.get("validation", {}), **config["problems"][problem].get("validation", {})}


def chosen_analyses(problem):
    return config["problems"][problem].get("analyses", config["analyses"])


def design_checked(problem):
    """Whether the validation also refits data on the design stage's samples."""
    return "design" in chosen_analyses(problem) and validation_settings(problem).get("design_check", True)


def get_validation_study(wildcards):
    """The settings a validation job uses (the problem's own validation settings included)."""
    study = study_config("solver", "fit.method", "fit.max_iterations", "fit.batch_size", "fit.max_time_s",
                         "fit.profile_scalings", "prediction.level")
    study["validation"] = validation_settings(wildcards.problem)
    return study


def get_validation_design(wildcards):
    """The design stage's samples, for the refits on them."""
    return [f"results/{wildcards.problem}/design/design.tsv"] if wildcards.design == "designed" else []


def get_validation_design_if_checked(wildcards):
    return [f"results/{wildcards.problem}/design/design.tsv"] if design_checked(wildcards.problem) else []


def get_validation_refits(design):
    def shards(wildcards):
        if design == "designed" and not design_checked(wildcards.problem):
            return []
        return expand("results/{problem}/validation/refits/{design}_{shard}.tsv", problem=wildcards.problem,
                      design=design, shard=range(VALIDATION_SHARDS))

    return shards


def get_final_output():
    stages = [
        "problem/summary.json",
        "fit/multistart.tsv",
        "fit/waterfall.png",
        "fit/fit.png",
        "fisher/summary.json",
        "identifiability/summary.tsv",
        "sloppiness/spectrum.png",
        "sloppiness/eigenvectors.png",
        "prediction/bands.png",
    ]
    analyses = {
        "profiles": "identifiability/profiles.png",
        "structural": "identifiability/structural_verdicts.tsv",
        "prediction_profiles": "prediction/comparison.png",
        "design": "design/design.png",
        "validation": "validation/summary.json",
    }
    targets = []
    for problem in PROBLEMS:
        chosen = chosen_analyses(problem)
        targets += expand("results/{problem}/{stage}", problem=problem,
                          stage=stages + [analyses[name] for name in chosen])
        if "design" in chosen and "experiment_design" in config["problems"][problem]:
            targets.append(f"results/{problem}/design/experiments.png")
    return targets

