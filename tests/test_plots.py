"""Each figure function writes a readable PNG atomically, without warnings."""

import numpy as np
import pandas as pd
import pytest

from fimflow import plots
from fimflow.predict._delta import compare_bands

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    assert path.exists()
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5_000
    assert not list(path.parent.glob(".tmp-*"))


def test_waterfall(tmp_path):
    nll = np.array([10.0, 10.05, np.nan, 12.0, 10.0, 35.0, np.inf, 10.09])
    status = ["converged", "converged", "failed", "max_iterations", "converged", "failed",
              "failed", "converged"]
    path = tmp_path / "waterfall.png"
    plots.waterfall(nll, status, path, title="multistart")
    _check_png(path)


def test_waterfall_all_failed(tmp_path):
    path = tmp_path / "waterfall.png"
    plots.waterfall([np.nan, np.nan, np.nan], ["failed"] * 3, path)
    _check_png(path)


def test_fit_vs_data(tmp_path):
    rng = np.random.default_rng(0)
    t_data, t_dense = np.linspace(0, 10, 8), np.linspace(0, 10, 101)
    measurements, curves = [], []
    for obs, rate in [("obs_A", 0.3), ("obs_B", 0.1), ("obs_C", 0.5), ("obs_D", 0.2)]:
        for k, cond in enumerate(["control", "treated"]):
            scale = 1.0 + k
            measurements.append(pd.DataFrame({
                "observableId": obs, "simulationConditionId": cond, "time": t_data,
                "measurement": scale * np.exp(-rate * t_data) + 0.05 * rng.normal(size=t_data.size),
            }))
            curves.append(pd.DataFrame({
                "observableId": obs, "simulationConditionId": cond, "time": t_dense,
                "simulation": scale * np.exp(-rate * t_dense),
            }))
    path = tmp_path / "fit.png"
    plots.fit_vs_data(pd.concat(measurements), pd.concat(curves), path, title="best fit")
    _check_png(path)


def test_fim_spectrum(tmp_path):
    expected = np.array([3e4, 2e2, 5.0, 1e-3, 1e-9, 0.0])
    observed = np.array([2.5e4, 1.8e2, 4.0, -1e-4, 2e-7, 1e-12])
    path = tmp_path / "spectrum.png"
    plots.fim_spectrum([expected, observed], path, labels=("expected", "observed"), title="spectrum")
    _check_png(path)


def test_fim_spectrum_rejects_label_mismatch(tmp_path):
    with pytest.raises(ValueError, match="labels"):
        plots.fim_spectrum([np.ones(3), np.ones(3)], tmp_path / "x.png")


def test_eigenvectors(tmp_path):
    rng = np.random.default_rng(1)
    vectors, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    eigenvalues = np.array([3e4, 2e2, 5.0, 1e-3, 1e-9, 0.0])
    ids = ["k1", "k2", "k3", "scale_A", "offset_A", "sigma_A"]
    path = tmp_path / "vectors.png"
    plots.eigenvectors(vectors[:, :4], eigenvalues, ids, path, title="directions")
    _check_png(path)


def test_prediction_bands(tmp_path):
    t = np.linspace(0, 10, 41)
    frames = []
    for pid, rate in [("pred_X", 0.2), ("pred_Y", 0.4)]:
        value = np.exp(-rate * t)
        unbounded = (t > 8) if pid == "pred_Y" else np.zeros_like(t, dtype=bool)
        frames.append(pd.DataFrame({
            "prediction": pid, "time": t, "value": value,
            "lower": np.where(unbounded, -np.inf, value - 0.1 - 0.02 * t),
            "upper": np.where(unbounded, np.inf, value + 0.1 + 0.02 * t),
            "unbounded": unbounded,
        }))
    path = tmp_path / "bands.png"
    plots.prediction_bands(pd.concat(frames), path, title="predictions")
    _check_png(path)


def test_contributions(tmp_path):
    t = np.linspace(0, 10, 21)
    frames = []
    for pid in ["pred_X", "pred_Y"]:
        raw = np.stack([np.exp(-0.3 * t), 0.5 + 0 * t, 0.1 * t, 0.05 + 0 * t])
        fraction = raw / raw.sum(axis=0)
        for d in range(4):
            frames.append(pd.DataFrame({
                "prediction": pid, "time": t, "direction": d + 1, "fraction": fraction[d],
            }))
    path = tmp_path / "contributions.png"
    plots.contributions(pd.concat(frames), path, title="variance by direction")
    _check_png(path)



def test_prediction_comparison_marks_open_ends(tmp_path):
    t = np.linspace(0, 10, 11)
    value = np.exp(-0.2 * t)
    delta = pd.DataFrame({"prediction": "g", "time": t, "value": value, "lower": value - 0.1, "upper": value + 0.1,
                          "unbounded": False})
    ensemble = delta[["prediction", "time", "value"]].assign(lower=value - 0.05, upper=value + 0.05)
    profiles = pd.DataFrame({"prediction": "g", "time": [0.0, 10.0], "value": value[[0, -1]],
                             "lower": [0.9, 0.1], "upper": [1.1, 0.9], "lower_end": ["crossed", "crossed"],
                             "upper_end": ["crossed", "max_range"]})
    path = tmp_path / "comparison.png"
    plots.prediction_comparison(delta, profiles, ensemble, path, title="three ways")
    _check_png(path)
    comparison = compare_bands(delta, profiles, ensemble)  # the table keeps how each side ended
    assert list(comparison.loc[comparison["time"] == 10.0, "profile_upper_end"]) == ["max_range"]
    assert list(comparison.loc[comparison["time"] == 0.0, "profile_lower_end"]) == ["crossed"]
    assert comparison.loc[comparison["time"] == 5.0, "profile_upper_end"].isna().all()


def test_design_figure_gives_thirteen_parameters_thirteen_looks(tmp_path, monkeypatch):
    """13 sensitivity curves per panel (Boehm's 9 would fit the 10 colours; 13 did not: k_on and
    sigma_C shared one): every curve and its legend entry differ from the others in colour or line
    style."""
    from fimflow.plots import _design as plots_design

    parameters = [f"p{k}" for k in range(13)]
    times = np.linspace(0, 10, 21)
    curves = pd.DataFrame([{"simulationConditionId": "c", "observableId": "y", "time": t, "parameterId": p,
                            "sensitivity": (k + 1) * np.exp(-t / (k + 1))} for k, p in enumerate(parameters) for t in times])
    chosen = pd.DataFrame({"simulationConditionId": ["c"], "observableId": ["y"], "time": [2.0]})
    measurements = pd.DataFrame({"simulationConditionId": ["c"], "observableId": ["y"], "time": [1.0]})
    drawn = {}
    save = plots_design._save

    def keep(fig, path, title):
        ax = fig.axes[0]
        drawn["lines"] = [(line.get_color(), line.get_linestyle()) for line in ax.get_lines() if len(line.get_xdata()) == 21]
        drawn["legend"] = [(h.get_color(), h.get_linestyle()) for h in fig.legends[0].legend_handles[:13]]
        save(fig, path, title)

    monkeypatch.setattr(plots_design, "_save", keep)
    plots_design.design(chosen, curves, measurements, tmp_path / "design.png")
    _check_png(tmp_path / "design.png")
    assert len(drawn["lines"]) == 13 and len(set(drawn["lines"])) == 13
    assert drawn["legend"] == drawn["lines"]
