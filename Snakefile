# fimflow: calibration studies of ODE models.
#
# Results tree (one folder per problem id of config["problems"]):
#   results/{problem}/problem/summary.json           load_problem: what was loaded and checked
#   results/{problem}/fit/starts_{shard}.tsv          fit_multistart: one row per start of a shard
#   results/{problem}/fit/multistart.tsv, best.json   gather_multistart: all starts (best first), best fit
#   results/{problem}/fit/waterfall.png, fit.png      plot_fit
#   results/{problem}/fisher/expected.tsv, observed.tsv, eigen.tsv, summary.json   fisher_information
#   results/{problem}/identifiability/summary.tsv, null_directions.tsv             identifiability
#   results/{problem}/identifiability/profiles/{parameter}.tsv                      profile_parameter (fan-out)
#   results/{problem}/identifiability/profiles.tsv, profiles.png                    collect_profiles
#   results/{problem}/identifiability/structural.tsv, structural_directions.tsv, structural_verdicts.tsv
#                                                                                   structural_identifiability
#   results/{problem}/sloppiness/spectrum.tsv, eigenvectors.tsv, spectrum.png, eigenvectors.png
#   results/{problem}/prediction/bands.tsv, contributions.tsv, bands.png           predict
#   results/{problem}/prediction/profiles/{prediction}.tsv                          prediction_profile (fan-out)
#   results/{problem}/prediction/ensemble.tsv, comparison.tsv, comparison.png       compare_predictions
#   results/{problem}/design/design.tsv, summary.json, design.png                    design_sampling
#   results/{problem}/validation/refits/{current,designed}_{shard}.tsv               validation_refit (sharded)
#   results/{problem}/validation/summary.json, estimates.tsv, parameters.tsv, covariance.tsv, faces.tsv, kl.tsv,
#       design_check.tsv, predictions.tsv, pairs.png, kl.png, coverage.png            validation_summary
#   logs/{rule}/{problem}[_{shard}].log, benchmarks/{rule}/{problem}[_{shard}].tsv
#
# Run: snakemake --cores 2   |   report: snakemake --report results/report.html

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/load.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/fisher.smk"
include: "workflow/rules/identifiability.smk"
include: "workflow/rules/sloppiness.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/design.smk"
include: "workflow/rules/validation.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
