rule design_sampling:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
    output:
        design=report(
            "results/{problem}/design/design.tsv",
            caption="../report/design_table.rst",
            category="Design",
            labels={"problem": "{problem}", "table": "chosen sampling times"},
        ),
        summary="results/{problem}/design/summary.json",
        figure=report(
            "results/{problem}/design/design.png",
            caption="../report/design.rst",
            category="Design",
            labels={"problem": "{problem}", "figure": "sampling times over sensitivities"},
        ),
    params:
        study=study_config("solver", "design"),
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/design_sampling/{problem}.log",
    benchmark:
        "benchmarks/design_sampling/{problem}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/design_sampling.py"


rule design_experiments:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
    output:
        table=report(
            "results/{problem}/design/experiments.tsv",
            caption="../report/design_experiments.rst",
            category="Design",
            labels={"problem": "{problem}", "table": "candidate experiments ranked"},
        ),
        summary="results/{problem}/design/experiments.json",
        figure=report(
            "results/{problem}/design/experiments.png",
            caption="../report/design_experiments.rst",
            category="Design",
            labels={"problem": "{problem}", "figure": "criterion of each candidate experiment"},
        ),
    params:
        study=study_config("solver", "design"),
        experiments=lambda wildcards: config["problems"][wildcards.problem]["experiment_design"],
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/design_experiments/{problem}.log",
    benchmark:
        "benchmarks/design_experiments/{problem}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/design_experiments.py"
