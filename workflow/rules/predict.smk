rule predict:
    input:
        unpack(get_problem),
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
        study=study_config("solver", "prediction.level", "identifiability.rank_tolerance"),
        predictions=get_predictions,
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
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


rule prediction_profile:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
    output:
        profile="results/{problem}/prediction/profiles/{prediction}.tsv",
    params:
        study=study_config("solver", "prediction.level", "prediction.profile_points", "prediction.profile_max_range"),
        predictions=get_predictions,
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/prediction_profile/{problem}/{prediction}.log",
    benchmark:
        "benchmarks/prediction_profile/{problem}/{prediction}.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../../scripts/prediction_profile.py"


rule compare_predictions:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
        bands="results/{problem}/prediction/bands.tsv",
        profiles=get_prediction_profiles,
        parameter_profiles=get_profiles,
    output:
        ensemble="results/{problem}/prediction/ensemble.tsv",
        comparison=report(
            "results/{problem}/prediction/comparison.tsv",
            caption="../report/comparison_table.rst",
            category="Prediction uncertainty",
            labels={"problem": "{problem}", "table": "delta method vs profiles vs ensemble"},
        ),
        figure=report(
            "results/{problem}/prediction/comparison.png",
            caption="../report/comparison.rst",
            category="Prediction uncertainty",
            labels={"problem": "{problem}", "figure": "delta method vs profiles vs ensemble"},
        ),
    params:
        study=study_config("solver"),
        predictions=get_predictions,
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/compare_predictions/{problem}.log",
    benchmark:
        "benchmarks/compare_predictions/{problem}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/compare_predictions.py"
