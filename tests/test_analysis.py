"""Eigen-analysis, verdicts and the sloppiness spectrum on matrices with known answers."""

import numpy as np
import pytest

import fimflow


def test_eigen_analysis_rank_null_directions_and_verdicts():
    # parameters a and b enter only as a product: null direction (1, -1)/sqrt(2) on the log scale
    v = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    w = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    fim = 50.0 * np.outer(w, w) + 2.0 * np.outer([0, 0, 1.0], [0, 0, 1.0]) + 1e-14 * np.outer(v, v)
    analysis = fimflow.eigen_analysis(fim, ("a", "b", "c"))
    assert analysis.rank == 2
    assert abs(analysis.null_directions[:, 0] @ v) == pytest.approx(1.0, abs=1e-12)
    verdicts = fimflow.parameter_verdicts(analysis, fim, np.full(3, -3.0), np.full(3, 3.0))
    assert [r["verdict"] for r in verdicts] == ["not identifiable", "not identifiable", "identifiable"]
    assert verdicts[2]["standard_error"] == pytest.approx(1 / np.sqrt(2.0))
    assert fimflow.participating(analysis.null_directions[:, 0], ("a", "b", "c")) == ["a", "b"]


def test_weakly_identifiable_when_wald_interval_exceeds_bounds():
    fim = np.diag([100.0, 0.01])
    analysis = fimflow.eigen_analysis(fim, ("a", "b"))
    verdicts = fimflow.parameter_verdicts(analysis, fim, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert [r["verdict"] for r in verdicts] == ["identifiable", "weakly identifiable"]


def test_sloppiness_spectrum_decades():
    values = np.array([1e3, 1e1, 1e-1, 1e-3])
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))
    analysis = fimflow.eigen_analysis(q @ np.diag(values) @ q.T, tuple("abcd"))
    spectrum = fimflow.sloppiness_spectrum(analysis)
    assert spectrum.decades == pytest.approx(6.0, abs=1e-8)
    np.testing.assert_allclose(spectrum.normalised, values / 1e3, rtol=1e-8)
    np.testing.assert_allclose(spectrum.decades_below_largest, [0, 2, 4, 6], atol=1e-8)
    assert abs(spectrum.stiffest @ q[:, 0]) == pytest.approx(1.0, abs=1e-10)
    assert abs(spectrum.sloppiest @ q[:, 3]) == pytest.approx(1.0, abs=1e-10)
