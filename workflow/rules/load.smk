rule load_problem:
    input:
        unpack(get_problem),
    output:
        summary="results/{problem}/problem/summary.json",
    params:
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/load_problem/{problem}.log",
    benchmark:
        "benchmarks/load_problem/{problem}.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/load_problem.py"
