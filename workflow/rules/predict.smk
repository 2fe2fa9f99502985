rule predict:
    input:
        problem=get_problem_file,
        tables=get_problem_inputs,
        best="results/{problem}/fit/best.json",
        fim=get_fim,
    output:
        bands="results/{problem}/prediction/bands.tsv",
        contributions=report(
            "results/{problem}/prediction/contributions.tsv",
            caption="../report/contributions.rst",
            category="Prediction uncertainty",
            labels={"problem": "{problem}", "table": "eigen-direction shares"},
        ),
        bands_png=report(
            "results/{problem}/prediction/bands.png",
            caption="../report/bands.rst",
            category="Prediction uncertainty",
            labels={"problem": "{problem}", "figure": "bands"},
        ),
    params:
        predictions=get_predictions,
        level=config["prediction"]["level"],
        rank_tolerance=config["identifiability"]["rank_tolerance"],
        solver=config["solver"],
        compile_cache=config["compile_cache"],
        library=LIBRARY,
    log:
        "logs/predict/{problem}.log",
    benchmark:
        "benchmarks/predict/{problem}.tsv"
    group:
        "postfit"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/predict.py"
