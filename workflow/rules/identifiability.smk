rule identifiability:
    input:
        fim=get_fim,
        best="results/{problem}/fit/best.json",
        summary="results/{problem}/problem/summary.json",
    output:
        summary_table=report(
            "results/{problem}/identifiability/summary.tsv",
            caption="../report/identifiability.rst",
            category="Identifiability",
            labels={"problem": "{problem}", "table": "verdicts"},
        ),
        null_directions=report(
            "results/{problem}/identifiability/null_directions.tsv",
            caption="../report/null_directions.rst",
            category="Identifiability",
            labels={"problem": "{problem}", "table": "null directions"},
        ),
    params:
        rank_tolerance=config["identifiability"]["rank_tolerance"],
        participation=config["identifiability"]["participation"],
        library=LIBRARY,
    log:
        "logs/identifiability/{problem}.log",
    benchmark:
        "benchmarks/identifiability/{problem}.tsv"
    group:
        "postfit"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/identifiability.py"
