rule identifiability:
    input:
        unpack(get_problem),
        fim=get_fim,
        best="results/{problem}/fit/best.json",
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
        study=study_config("identifiability.rank_tolerance", "identifiability.participation"),
        library=LIBRARY,
        model_code=get_model_code,
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


rule profile_parameter:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
    output:
        points="results/{problem}/identifiability/profiles/{parameter}.tsv",
    params:
        study=study_config("solver", "profiles"),
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/profile_parameter/{problem}/{parameter}.log",
    benchmark:
        "benchmarks/profile_parameter/{problem}/{parameter}.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../../scripts/profile_parameter.py"


rule collect_profiles:
    input:
        points=get_profiles,
        best="results/{problem}/fit/best.json",
    output:
        summary=report(
            "results/{problem}/identifiability/profiles.tsv",
            caption="../report/profiles_table.rst",
            category="Identifiability",
            labels={"problem": "{problem}", "table": "profile intervals"},
        ),
        figure=report(
            "results/{problem}/identifiability/profiles.png",
            caption="../report/profiles.rst",
            category="Identifiability",
            labels={"problem": "{problem}", "figure": "profiles"},
        ),
    params:
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/collect_profiles/{problem}.log",
    benchmark:
        "benchmarks/collect_profiles/{problem}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/collect_profiles.py"


rule structural_identifiability:
    input:
        unpack(get_problem),
        best="results/{problem}/fit/best.json",
    output:
        points="results/{problem}/identifiability/structural.tsv",
        directions="results/{problem}/identifiability/structural_directions.tsv",
        verdicts=report(
            "results/{problem}/identifiability/structural_verdicts.tsv",
            caption="../report/structural.rst",
            category="Identifiability",
            labels={"problem": "{problem}", "table": "structural identifiability"},
        ),
    params:
        study=study_config("solver", "structural", "identifiability.participation"),
        compile_cache=config["compile_cache"],
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/structural_identifiability/{problem}.log",
    benchmark:
        "benchmarks/structural_identifiability/{problem}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/structural_identifiability.py"
