# fimflow: calibration studies of ODE models.
#
# Results tree (one folder per problem id of config["problems"]):
#   results/{problem}/problem/summary.json           load_problem: what was loaded and checked
#   results/{problem}/fit/starts_{shard}.tsv          fit_multistart: one row per start of a shard
#   results/{problem}/fit/multistart.tsv, best.json   gather_multistart: all starts (best first), best fit
#   results/{problem}/fit/waterfall.png, fit.png      plot_fit
#   results/{problem}/fisher/expected.tsv, observed.tsv, eigen.tsv, summary.json   fisher_information
#   results/{problem}/identifiability/summary.tsv, null_directions.tsv             identifiability
#   results/{problem}/sloppiness/spectrum.tsv, eigenvectors.tsv, spectrum.png, eigenvectors.png
#   results/{problem}/prediction/bands.tsv, contributions.tsv, bands.png           predict
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


rule all:
    input:
        get_final_output(),
    default_target: True
