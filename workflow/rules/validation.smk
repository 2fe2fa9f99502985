rule validation_refit:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
        design=get_validation_design,
    output:
        refits="results/{problem}/validation/refits/{design}_{shard}.tsv",
    params:
        study=get_validation_study,
        n_shards=VALIDATION_SHARDS,
        predictions=get_predictions,
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/validation_refit/{problem}_{design}_{shard}.log",
    benchmark:
        "benchmarks/validation_refit/{problem}_{design}_{shard}.tsv"
    # one batch of refits per thread, evaluated concurrently (scaled down to --cores)
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../../scripts/validation_refit.py"


rule validation_summary:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
        current=get_validation_refits("current"),
        designed=get_validation_refits("designed"),
        design=get_validation_design_if_checked,
    output:
        summary="results/{problem}/validation/summary.json",
        estimates="results/{problem}/validation/estimates.tsv",
        parameters=report(
            "results/{problem}/validation/parameters.tsv",
            caption="../report/validation_table.rst",
            category="Validation",
            labels={"problem": "{problem}", "table": "Cramér–Rao and coverage per parameter"},
        ),
        covariance="results/{problem}/validation/covariance.tsv",
        faces="results/{problem}/validation/faces.tsv",
        kl="results/{problem}/validation/kl.tsv",
        design_check=report(
            "results/{problem}/validation/design_check.tsv",
            caption="../report/validation_design.rst",
            category="Validation",
            labels={"problem": "{problem}", "table": "design check"},
        ),
        predictions="results/{problem}/validation/predictions.tsv",
        pairs=report(
            "results/{problem}/validation/pairs.png",
            caption="../report/validation_pairs.rst",
            category="Validation",
            labels={"problem": "{problem}", "figure": "refits vs Cramér–Rao ellipses"},
        ),
        kl_figure=report(
            "results/{problem}/validation/kl.png",
            caption="../report/validation_kl.rst",
            category="Validation",
            labels={"problem": "{problem}", "figure": "KL vs the quadratic picture"},
        ),
        coverage=report(
            "results/{problem}/validation/coverage.png",
            caption="../report/validation_coverage.rst",
            category="Validation",
            labels={"problem": "{problem}", "figure": "coverage and variance ratios"},
        ),
    params:
        study=get_validation_study,
        predictions=get_predictions,
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/validation_summary/{problem}.log",
    benchmark:
        "benchmarks/validation_summary/{problem}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/validation_summary.py"
