rule fit_multistart:
    input:
        unpack(get_problem),
        summary="results/{problem}/problem/summary.json",
    output:
        starts="results/{problem}/fit/starts_{shard}.tsv",
        provenance="results/{problem}/fit/provenance/starts_{shard}.json",
    params:
        study=study_config("solver", "fit.n_starts", "fit.seed", "fit.method", "fit.max_iterations",
                           "fit.batch_size", "fit.max_time_s", "fit.profile_scalings"),
        n_shards=N_SHARDS,
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/fit_multistart/{problem}_{shard}.log",
    benchmark:
        "benchmarks/fit_multistart/{problem}_{shard}.tsv"
    # one batch of starts per thread, evaluated concurrently (scaled down to --cores)
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../../scripts/fit_multistart.py"


rule gather_multistart:
    input:
        unpack(get_problem),
        shards=get_shards,
    output:
        table="results/{problem}/fit/multistart.tsv",
        best="results/{problem}/fit/best.json",
    params:
        study=study_config("fit.tolerance"),
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/gather_multistart/{problem}.log",
    benchmark:
        "benchmarks/gather_multistart/{problem}.tsv"
    group:
        "postfit"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/gather_multistart.py"


rule plot_fit:
    input:
        unpack(get_problem),
        table="results/{problem}/fit/multistart.tsv",
        best="results/{problem}/fit/best.json",
    output:
        waterfall=report(
            "results/{problem}/fit/waterfall.png",
            caption="../report/waterfall.rst",
            category="Fit",
            labels={"problem": "{problem}", "figure": "waterfall"},
        ),
        fit=report(
            "results/{problem}/fit/fit.png",
            caption="../report/fit.rst",
            category="Fit",
            labels={"problem": "{problem}", "figure": "fit vs data"},
        ),
    params:
        study=study_config("solver"),
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/plot_fit/{problem}.log",
    benchmark:
        "benchmarks/plot_fit/{problem}.tsv"
    group:
        "postfit"
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../../scripts/plot_fit.py"
