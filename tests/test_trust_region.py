"""The bound-constrained trust-region Newton against independent references (scipy)."""

import itertools

import numpy as np
import pytest
import scipy.optimize

from fimflow.fit import _trust_region as _trust_region


def _reference_subproblem(g, h, radius):
    """The subproblem by SLSQP from several starts (independent of the eigen solution)."""
    best = None
    rng = np.random.default_rng(0)
    for start in [np.zeros_like(g), -g / max(np.linalg.norm(g), 1e-300) * radius * 0.5] + [
        rng.normal(size=g.size) * radius / np.sqrt(g.size) for _ in range(6)
    ]:
        out = scipy.optimize.minimize(
            lambda p: g @ p + 0.5 * p @ h @ p, start, jac=lambda p: g + h @ p, method="SLSQP",
            constraints=[{"type": "ineq", "fun": lambda p: radius**2 - p @ p, "jac": lambda p: -2 * p}],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        if best is None or out.fun < best.fun:
            best = out
    return best.x


@pytest.mark.parametrize("kind", ["definite_inside", "definite_boundary", "indefinite", "singular", "hard_case"])
def test_subproblem_matches_a_constrained_reference(kind):
    rng = np.random.default_rng(["definite_inside", "definite_boundary", "indefinite", "singular", "hard_case"].index(kind))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    lam = {"definite_inside": [1, 2, 3, 4, 5.0], "definite_boundary": [0.01, 0.1, 1, 10, 100.0],
           "indefinite": [-2, -0.5, 1, 3, 8.0], "singular": [0, 0, 1, 2, 5.0], "hard_case": [-1, 0.5, 1, 2, 3.0]}[kind]
    h = q @ np.diag(lam) @ q.T
    a = rng.normal(size=5)
    if kind == "hard_case":
        a[0] = 0.0  # no gradient along the negative-curvature direction
        a *= 0.01
    g = q @ a
    radius = 10.0 if kind == "definite_inside" else 0.7
    p = _trust_region.solve_subproblem(g, h, radius)
    model = g @ p + 0.5 * p @ h @ p
    reference = _reference_subproblem(g, h, radius)
    assert np.linalg.norm(p) <= radius * (1 + 1e-9)
    assert model <= g @ reference + 0.5 * reference @ h @ reference + 1e-9
    if kind == "definite_inside":
        np.testing.assert_allclose(p, -np.linalg.solve(h, g), rtol=1e-12)
    else:
        assert np.linalg.norm(p) == pytest.approx(radius, rel=1e-9)


def test_box_constrained_least_squares_equals_lsq_linear():
    """f = |Ax - b|²/2 with its exact Hessian AᵀA: the solution is scipy's bounded linear least squares."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 6)), rng.normal(size=30) * 3
    lb, ub = -0.2 * np.ones(6), 0.3 * np.ones(6)

    def evaluate(x):
        r = a @ x - b
        return 0.5 * r @ r, a.T @ r, a.T @ a

    out = _trust_region.minimize(evaluate, np.zeros(6), lb, ub, ftol=1e-15, xtol=1e-15, gtol=1e-12)
    reference = scipy.optimize.lsq_linear(a, b, bounds=(lb, ub), tol=1e-15, method="bvls")
    assert out.status == "converged"
    np.testing.assert_allclose(out.x, reference.x, atol=1e-12)
    assert np.sum((out.x == lb) | (out.x == ub)) == np.sum(reference.active_mask != 0) > 0  # exactly on the bounds


def test_gauss_newton_curvature_reaches_a_bounded_nonlinear_optimum():
    """Exponential decay fit with the Gauss–Newton matrix as curvature (as the fit uses the FIM);
    the optimum, one parameter on its bound, equals L-BFGS-B's at tight tolerance."""
    t = np.linspace(0.1, 4, 12)
    y = 2.0 * np.exp(-1.3 * t) + 0.02 * np.sin(7 * t)

    def parts(x):
        amplitude, rate, offset = x
        model = amplitude * np.exp(-rate * t) + offset
        jac = np.stack([np.exp(-rate * t), -amplitude * t * np.exp(-rate * t), np.ones_like(t)], axis=1)
        return model - y, jac

    def evaluate(x):
        r, j = parts(x)
        return 0.5 * r @ r, j.T @ r, j.T @ j

    lb, ub = np.array([0.1, 0.1, 0.01]), np.array([10.0, 10.0, 1.0])  # the offset is held at 0.01
    out = _trust_region.minimize(evaluate, np.array([5.0, 5.0, 0.5]), lb, ub, ftol=1e-14, xtol=1e-14, gtol=1e-11)
    reference = scipy.optimize.minimize(lambda x: evaluate(x)[:2], np.array([5.0, 5.0, 0.5]), jac=True,
                                        method="L-BFGS-B", bounds=list(zip(lb, ub)),
                                        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    assert out.status == "converged" and out.x[2] == 0.01
    np.testing.assert_allclose(out.x, reference.x, atol=1e-6)
    assert out.value <= reference.fun + 1e-12
    assert out.n_iterations < 40


def test_failed_evaluations_shrink_the_radius_and_a_failed_start_is_reported():
    """A region where the model cannot be evaluated (NaN) is stepped around, not into."""
    def evaluate(x):
        if x[0] > 1.5:
            return np.nan, np.full(2, np.nan), np.full((2, 2), np.nan)
        return 0.5 * ((x[0] - 1.4) ** 2 + (x[1] + 1) ** 2), np.array([x[0] - 1.4, x[1] + 1]), np.eye(2)

    out = _trust_region.minimize(evaluate, np.array([-3.0, 3.0]), -5 * np.ones(2), 5 * np.ones(2), radius=100.0)
    assert out.status == "converged"
    np.testing.assert_allclose(out.x, [1.4, -1.0], atol=1e-8)
    failed = _trust_region.minimize(evaluate, np.array([2.0, 0.0]), -5 * np.ones(2), 5 * np.ones(2))
    assert failed.status == "failed" and failed.n_iterations == 0


def test_max_iterations_is_reported():
    def rosenbrock(x):
        f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
        h = np.array([[2 - 400 * x[1] + 1200 * x[0] ** 2, -400 * x[0]], [-400 * x[0], 200.0]])
        return f, g, h

    short = _trust_region.minimize(rosenbrock, np.array([-1.2, 1.0]), -3 * np.ones(2), 3 * np.ones(2), max_iterations=3)
    assert short.status == "max_iterations" and short.n_iterations == 3
    full = _trust_region.minimize(rosenbrock, np.array([-1.2, 1.0]), -3 * np.ones(2), 3 * np.ones(2),
                                  ftol=1e-16, xtol=1e-16, gtol=1e-10)
    assert full.status == "converged"
    np.testing.assert_allclose(full.x, [1.0, 1.0], atol=1e-8)


def test_a_crawling_search_ends_as_stalled_where_its_progress_first_falls_below_the_rule():
    """A curvature 100 times too large (and no secant correction) makes every step 1/100 of the
    Newton step: the value falls ~2% per iteration. The stop is checked by re-running the same
    deterministic search for fewer iterations, not by the function's own bookkeeping."""
    centre = np.array([1.0, 1.0])

    def evaluate(x):
        return 0.5 * np.sum((x - centre) ** 2), x - centre, 100.0 * np.eye(2)

    box = (-1e3 * np.ones(2), 1e3 * np.ones(2))
    x0 = np.array([100.0, -50.0])

    def value_after(n):
        return _trust_region.minimize(evaluate, x0, *box, max_iterations=n, secant_below=0.0).value

    k, tol = 10, 1e-3
    out = _trust_region.minimize(evaluate, x0, *box, max_iterations=5000, secant_below=0.0, stall_iterations=k,
                                 stall_tol=tol)
    n = out.n_iterations
    assert out.status == "stalled" and k < n < 5000
    assert out.value == value_after(n)
    assert value_after(n - k) - value_after(n) < tol * (1 + abs(value_after(n)))  # the rule holds here
    assert value_after(n - 1 - k) - value_after(n - 1) >= tol * (1 + abs(value_after(n - 1)))  # and not before
    longer = _trust_region.minimize(evaluate, x0, *box, max_iterations=5000, secant_below=0.0)
    assert longer.n_iterations > n and longer.value < out.value  # without the rule the crawl goes on
    # the model's promised decrease at the stop: f / 100 here (curvature 100 I, gradient x - centre)
    gap = out.value / 100.0
    below = _trust_region.minimize(evaluate, x0, *box, max_iterations=5000, secant_below=0.0, stall_iterations=k,
                                   stall_tol=tol, stall_gap=0.5 * gap)
    assert below.status == "stalled" and below.n_iterations == n
    near = _trust_region.minimize(evaluate, x0, *box, max_iterations=5000, secant_below=0.0, stall_iterations=k,
                                  stall_tol=tol, stall_gap=2.0 * gap)
    assert near.status != "stalled" and near.n_iterations > n  # a crawl the model says is near its end goes on


def _box_least_squares_minimum(a, b, lb, ub):
    """min |a z - b|^2 / 2 over lb <= z <= ub by enumerating which bound (or none) each variable
    sits on: every feasible candidate is a point of the box, and the minimiser is among them."""
    best = np.inf
    for sides in itertools.product((None, "lower", "upper"), repeat=a.shape[1]):
        z = np.zeros(a.shape[1])
        fixed = np.array([side is not None for side in sides])
        for i, side in enumerate(sides):
            if side is not None:
                z[i] = lb[i] if side == "lower" else ub[i]
        if not np.all(np.isfinite(z[fixed])):
            continue
        if (~fixed).any():
            z[~fixed] = np.linalg.lstsq(a[:, ~fixed], b - a[:, fixed] @ z[fixed], rcond=None)[0]
        if np.all(z >= lb - 1e-12) and np.all(z <= ub + 1e-12):
            best = min(best, 0.5 * np.sum((a @ z - b) ** 2))
    return best


def test_model_gap_is_the_decrease_to_the_least_squares_minimum_in_the_box():
    """For f = |A x - b|^2 / 2 with the Gauss–Newton curvature A^T A the model is exact, so the
    gap is f(x) minus the least-squares minimum over the box: without a box numpy's lstsq, with
    one an enumeration of the active sets. A badly scaled A (singular values 1e3 … 1e-3), a
    rank-deficient one (two zeros); boxes with x on a bound its gradient pushes against and with
    the unconstrained minimiser outside."""
    rng = np.random.default_rng(3)
    u, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    v, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    b, x = rng.normal(size=12), rng.normal(size=5)
    free_box = (-np.inf * np.ones(5), np.inf * np.ones(5))
    for singular in ([1e3, 10.0, 1.0, 0.1, 1e-3], [1e3, 10.0, 1.0, 0.0, 0.0]):
        a = u[:, :5] @ np.diag(singular) @ v.T

        def f(z):
            return 0.5 * np.sum((a @ z - b) ** 2)

        g, h = a.T @ (a @ x - b), a.T @ a
        z = np.linalg.lstsq(a, b, rcond=None)[0]
        unbounded = f(z)
        np.testing.assert_allclose(_trust_region.model_gap(x, g, h, *free_box), f(x) - unbounded, rtol=1e-8)
        lb, ub = free_box[0].copy(), free_box[1].copy()
        (lb if g[0] > 0 else ub)[0] = x[0]  # x[0] on the bound its gradient pushes against
        lb[1], ub[1] = x[1] - 0.05, x[1] + 0.05  # a narrow box around x[1]
        (ub if z[2] > x[2] else lb)[2] = 0.5 * (x[2] + z[2])  # the minimiser beyond a bound
        bounded = _box_least_squares_minimum(a, b, lb, ub)
        if min(singular) > 0:  # of full rank the box costs decrease (rank-deficient: it may not)
            assert bounded > unbounded + 1e-3
        np.testing.assert_allclose(_trust_region.model_gap(x, g, h, lb, ub), f(x) - bounded, rtol=1e-8)


def test_subproblem_of_a_strongly_indefinite_matrix_stays_within_the_radius():
    """lam[0] = -2.6e18 beside O(100) eigenvalues (a secant pair over a blow-up, Fujita): the
    tolerances must sit above the float spacing near 2.6e18 (512), or lam[0] + mu rounds to zero
    and the step is infinite. Minimiser: along e0 to the boundary (its curvature dominates)."""
    h = np.diag([-2.6e18, 1.0, 98.0])
    g = np.array([1.0, 22.0, 3.0])
    for radius in (1.0, 0.25, 1e-3):
        p = _trust_region.solve_subproblem(g, h, radius)
        assert np.all(np.isfinite(p)) and np.linalg.norm(p) <= radius * (1 + 1e-8)
        along = -radius * np.array([1.0, 0.0, 0.0])  # the sign that lowers g·p
        assert g @ p + 0.5 * p @ h @ p <= (g @ along + 0.5 * along @ h @ along) * (1 - 1e-12)
