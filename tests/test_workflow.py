"""End to end: real snakemake on the tiny config in a temporary directory."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from helpers import make_study, snakemake
from regenerate_study_results import KEPT, result_files

pytestmark = pytest.mark.workflow


def jobs_of(output: str) -> set[tuple[str, str]]:
    """(rule, problem) pairs of the jobs a dry run would run."""
    jobs, rule = set(), None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if match:
            rule = match.group(1)
        match = re.search(r"wildcards: problem=(\w+)", line)
        if match and rule:
            jobs.add((rule, match.group(1)))
    return jobs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = make_study(tmp_path_factory.mktemp("study"))
    run = snakemake(root, timeout=2400)  # 40 jobs; a guard against a hang, not a timing
    assert run.returncode == 0, run.stderr[-5000:]
    return root


BASE_RESULTS = ("problem/summary.json", "fit/starts_0.tsv", "fit/starts_1.tsv", "fit/multistart.tsv",
                "fit/best.json", "fit/waterfall.png", "fit/fit.png", "fisher/expected.tsv", "fisher/observed.tsv",
                "fisher/eigen.tsv", "fisher/summary.json", "identifiability/summary.tsv",
                "identifiability/null_directions.tsv", "sloppiness/spectrum.tsv", "sloppiness/spectrum.png",
                "sloppiness/eigenvectors.png", "prediction/bands.tsv", "prediction/contributions.tsv",
                "prediction/bands.png")
ANALYSIS_RESULTS = {
    "profiles": ("identifiability/profiles.tsv", "identifiability/profiles.png"),
    "structural": ("identifiability/structural.tsv", "identifiability/structural_directions.tsv",
                   "identifiability/structural_verdicts.tsv"),
    "prediction_profiles": ("prediction/ensemble.tsv", "prediction/comparison.tsv", "prediction/comparison.png"),
    "design": ("design/design.tsv", "design/summary.json", "design/design.png"),
    "validation": ("validation/summary.json", "validation/estimates.tsv", "validation/parameters.tsv",
                   "validation/covariance.tsv", "validation/faces.tsv", "validation/kl.tsv",
                   "validation/design_check.tsv", "validation/predictions.tsv", "validation/pairs.png",
                   "validation/kl.png", "validation/coverage.png", "validation/refits/current_0.tsv",
                   "validation/refits/designed_1.tsv"),
}
ANALYSIS_RULES = {"profiles": "collect_profiles", "structural": "structural_identifiability",
                  "prediction_profiles": "compare_predictions", "design": "design_sampling",
                  "validation": "validation_summary"}
# the tiny config's per-problem choice of analyses (the study-wide default: all of them)
CHOSEN = {"pk_full": {"profiles", "structural"}, "pk_fixed_dose": set(ANALYSIS_RESULTS), "petab_minimal": set()}


def test_study_produces_every_result(study):
    for problem, chosen in CHOSEN.items():
        base = study / "results" / problem
        for name in BASE_RESULTS:
            assert (base / name).stat().st_size > 0, name
        for rule in ("load_problem", "gather_multistart", "fisher_information", "identifiability", "predict"):
            assert (study / "benchmarks" / rule / f"{problem}.tsv").exists()
            assert (study / "logs" / rule / f"{problem}.log").exists()
        for analysis, names in ANALYSIS_RESULTS.items():  # exactly the chosen analyses ran
            for name in names:
                assert (base / name).exists() == (analysis in chosen), (problem, name)
            rule = ANALYSIS_RULES[analysis]
            assert (study / "benchmarks" / rule / f"{problem}.tsv").exists() == (analysis in chosen), (problem, rule)
    for parameter in ("D", "V", "CL"):  # one profile job per parameter
        assert (study / "results/pk_full/identifiability/profiles" / f"{parameter}.tsv").exists()
        assert (study / "benchmarks/profile_parameter/pk_full" / f"{parameter}.tsv").exists()
    assert not list(study.glob("results/**/.tmp-*"))


def check_prediction_uncertainty(results, data):
    """pk_fixed_dose's prediction `concentration` (C at 0, 2, 8, 24), recomputed here from the
    rules' inputs without fimflow: C = (D/V) exp(-(CL/V) t) and its gradient in closed form at
    best.json's x; the FIM (fisher/expected.tsv) against J^T J / sigma^2 of the measurements; the
    variance grad^T I^-1 grad (a solve with expected.tsv) and each eigen-direction's share
    (v_k . grad)^2 / lambda_k (an eigen-decomposition of expected.tsv here)."""
    best = json.loads((results / "fit/best.json").read_text())
    fim_table = pd.read_csv(results / "fisher/expected.tsv", sep="\t")
    ids = list(fim_table["parameterId"])
    assert ids == best["parameter_ids"] == ["V", "CL"]
    fim = fim_table[ids].to_numpy()
    dose = pd.read_csv(data / "parameters.tsv", sep="\t").set_index("parameterId").loc["D", "nominalValue"]
    measurements = pd.read_csv(data / "measurements.tsv", sep="\t")
    volume, clearance = 10.0 ** np.asarray(best["x"])

    def concentration_and_gradient(t):  # gradient on the estimation scale (log10 V, log10 CL)
        c = dose / volume * np.exp(-clearance / volume * t)
        return c, np.log(10.0) * np.stack([c * (-1 + clearance / volume * t), -c * clearance / volume * t], axis=1)

    _, jac = concentration_and_gradient(measurements["time"].to_numpy(dtype=float))
    sigma = measurements["noiseParameters"].to_numpy(dtype=float)
    np.testing.assert_allclose(fim, (jac / sigma[:, None] ** 2).T @ jac, rtol=1e-6)
    bands = pd.read_csv(results / "prediction/bands.tsv", sep="\t")
    value, gradient = concentration_and_gradient(bands["time"].to_numpy(dtype=float))
    np.testing.assert_allclose(bands["value"], value, rtol=1e-6)
    variance = np.einsum("ij,ij->i", gradient, np.linalg.solve(fim, gradient.T).T)
    np.testing.assert_allclose(bands["variance"], variance, rtol=1e-6)
    eigenvalues, eigenvectors = np.linalg.eigh(fim)
    shares = (gradient @ eigenvectors[:, ::-1]) ** 2 / eigenvalues[::-1]  # direction 1: the largest
    contributions = pd.read_csv(results / "prediction/contributions.tsv", sep="\t")
    table = contributions.pivot(index="time", columns="direction", values="share")
    # each share relative to its variance (a small share's error is set by the larger ones')
    np.testing.assert_allclose(table.to_numpy() / variance[:, None], shares / variance[:, None], rtol=1e-6, atol=1e-6)


def test_study_numbers(study):
    table = pd.read_csv(study / "results/pk_fixed_dose/fit/multistart.tsv", sep="\t")
    assert len(table) == 4 and sorted(table["start"]) == [0, 1, 2, 3]
    best = json.loads((study / "results/pk_fixed_dose/fit/best.json").read_text())
    assert best["n_within_tolerance"] >= 2
    # the synthetic data were made at V = 10, CL = 2 with sigma 0.1: the fit is close to the truth
    np.testing.assert_allclose(best["x_linear"], [10.0, 2.0], rtol=0.05)
    verdicts = pd.read_csv(study / "results/pk_fixed_dose/identifiability/summary.tsv", sep="\t")
    assert list(verdicts["verdict"]) == ["identifiable", "identifiable"]
    verdicts = pd.read_csv(study / "results/pk_full/identifiability/summary.tsv", sep="\t")
    assert list(verdicts["verdict"]) == ["not identifiable"] * 3
    null = pd.read_csv(study / "results/pk_full/identifiability/null_directions.tsv", sep="\t")
    assert len(null) == 1
    vector = null[["v_D", "v_V", "v_CL"]].to_numpy()[0]
    assert abs(vector @ np.ones(3)) / np.sqrt(3) > 0.999
    bands = pd.read_csv(study / "results/pk_fixed_dose/prediction/bands.tsv", sep="\t")
    assert list(bands["time"]) == [0, 2, 8, 24] and not bands["unbounded"].any()
    check_prediction_uncertainty(study / "results/pk_fixed_dose", study / "data/pk_fixed_dose")


def test_beyond_the_fim(study):
    """Profiles, structural identifiability, prediction profiles and design on the PK problems."""
    profiles = pd.read_csv(study / "results/pk_full/identifiability/profiles.tsv", sep="\t")
    assert list(profiles["verdict"]) == ["structurally non-identifiable"] * 3
    profiles = pd.read_csv(study / "results/pk_fixed_dose/identifiability/profiles.tsv", sep="\t")
    assert list(profiles["verdict"]) == ["identifiable"] * 2
    assert (profiles["lower"] < profiles["estimate"]).all() and (profiles["estimate"] < profiles["upper"]).all()
    structural = pd.read_csv(study / "results/pk_full/identifiability/structural_verdicts.tsv", sep="\t")
    assert list(structural["verdict"]) == ["structurally non-identifiable"] * 3
    structural = pd.read_csv(study / "results/pk_fixed_dose/identifiability/structural_verdicts.tsv", sep="\t")
    assert list(structural["verdict"]) == ["identifiable"] * 2
    comparison = pd.read_csv(study / "results/pk_fixed_dose/prediction/comparison.tsv", sep="\t")
    profiled = comparison.dropna(subset=["profile_lower"])
    assert list(profiled["time"]) == [0, 24]  # profile_points: 2 -> first and last time
    assert ((profiled["profile_lower"] <= profiled["value"]) & (profiled["value"] <= profiled["profile_upper"])).all()
    assert (profiled[["profile_lower_end", "profile_upper_end"]] == "crossed").all().all()
    assert ((comparison["ensemble_lower"] <= comparison["value"] + 1e-12)
            & (comparison["value"] <= comparison["ensemble_upper"] + 1e-12)).all()
    design = pd.read_csv(study / "results/pk_fixed_dose/design/design.tsv", sep="\t")
    summary = json.loads((study / "results/pk_fixed_dose/design/summary.json").read_text())
    assert len(design) == summary["n_samples"] == 8  # as many as the problem's measurements
    assert summary["value"] >= summary["equally_spaced_value"] and summary["value"] >= summary["current_value"]


def test_validation_in_the_study(study):
    """pk_fixed_dose's validation: the format-tagged summary, one row per data set, the design
    check of both designs, and the refits' own data: the estimates' mean within 4 standard errors
    of the truth (best.json's x) and every refit converged."""
    summary = json.loads((study / "results/pk_fixed_dose/validation/summary.json").read_text())
    best = json.loads((study / "results/pk_fixed_dose/fit/best.json").read_text())
    assert summary["format"] == "fimflow.validation/1" and summary["n_datasets"] == summary["n_used"] == 40
    assert set(summary["parameters"]) == {"V", "CL"}
    estimates = pd.read_csv(study / "results/pk_fixed_dose/validation/estimates.tsv", sep="\t")
    assert list(estimates["dataset"]) == list(range(40)) and (estimates["status"] == "converged").all()
    for j, pid in enumerate(("V", "CL")):
        row = summary["parameters"][pid]
        assert set(row) >= {"variance_ratio", "variance_ratio_ci", "coverage_wald", "coverage_profile", "bias",
                            "crlb_sd", "empirical_sd"}
        assert row["truth"] == best["x"][j]
        assert abs(estimates[f"x_{pid}"].mean() - best["x"][j]) <= 4 * row["crlb_sd"] / np.sqrt(40)
        assert estimates[f"lr_{pid}"].notna().sum() == row["n_profile"] == 4
    check = pd.read_csv(study / "results/pk_fixed_dose/validation/design_check.tsv", sep="\t")
    assert set(check["design"]) == {"current", "designed", "actual data"}


def test_second_run_does_nothing_and_a_changed_table_reruns_only_its_problem(study):
    dry = snakemake(study, "--dry-run")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    os.utime(study / "data/pk_full/parameters.tsv")  # same content, newer: snakemake checks checksums
    dry = snakemake(study, "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    table = study / "data/pk_full/parameters.tsv"
    table.write_text(table.read_text().replace("10000\t100\t1", "10000\t120\t1"))
    dry = snakemake(study, "--dry-run")
    jobs = jobs_of(dry.stdout)
    assert {problem for _, problem in jobs} == {"pk_full"}
    assert ("fit_multistart", "pk_full") in jobs and ("predict", "pk_full") in jobs


def test_report_is_one_html_with_captions(study):
    run = snakemake(study, "--report", str(study / "report.html"), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (study / "report.html").read_text(errors="replace")
    for caption in ("fimflow calibration study", "Multistart waterfall", "Sloppiness spectrum",
                    "Delta-method prediction bands", "Per-parameter verdict", "Profile likelihoods",
                    "Numerical structural identifiability", "Prediction uncertainty three ways",
                    "Optimal sampling times", "Is the reported uncertainty true?"):
        assert caption in html, caption


def _without_version(path) -> bytes:
    """The file's bytes with the JSON `fimflow_version` line blanked (the one field that may differ)."""
    return re.sub(rb'\n  "fimflow_version": "[^"]*",\n', b"\n", path.read_bytes())


def test_results_match_the_kept_study(study):
    """Every TSV/JSON result of the tiny study, every analysis included, byte for byte as the run
    kept in tests/data/study_results (made once before the library's redesign; regenerated only in
    a commit of its own when numbers change on purpose: tests/regenerate_study_results.py)."""
    kept = result_files(KEPT)
    assert len(kept) > 50 and any("design" in name for name in kept) and any("ensemble" in name for name in kept)
    assert result_files(study) == kept
    differ = [name for name in kept if _without_version(study / name) != _without_version(KEPT / name)]
    assert differ == []
