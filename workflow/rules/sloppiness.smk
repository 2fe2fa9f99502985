rule sloppiness:
    input:
        fim=get_fim,
        observed="results/{problem}/fisher/observed.tsv",
    output:
        spectrum="results/{problem}/sloppiness/spectrum.tsv",
        eigenvectors="results/{problem}/sloppiness/eigenvectors.tsv",
        spectrum_png=report(
            "results/{problem}/sloppiness/spectrum.png",
            caption="../report/spectrum.rst",
            category="Sloppiness",
            labels={"problem": "{problem}", "figure": "spectrum"},
        ),
        eigenvectors_png=report(
            "results/{problem}/sloppiness/eigenvectors.png",
            caption="../report/eigenvectors.rst",
            category="Sloppiness",
            labels={"problem": "{problem}", "figure": "eigenvectors"},
        ),
    params:
        study=study_config("identifiability.rank_tolerance"),
        library=LIBRARY,
        model_code=get_model_code,
    log:
        "logs/sloppiness/{problem}.log",
    benchmark:
        "benchmarks/sloppiness/{problem}.tsv"
    group:
        "postfit"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/sloppiness.py"
