rule fisher_information:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
    output:
        expected=report(
            "results/{problem}/fisher/expected.tsv",
            caption="../report/fisher.rst",
            category="Fisher information",
            labels={"problem": "{problem}", "matrix": "expected"},
        ),
        observed="results/{problem}/fisher/observed.tsv",
        eigen="results/{problem}/fisher/eigen.tsv",
        summary="results/{problem}/fisher/summary.json",
    params:
        study=study_config("solver"),
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/fisher_information/{problem}.log",
    benchmark:
        "benchmarks/fisher_information/{problem}.tsv"
    group:
        "postfit"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/fisher_information.py"
