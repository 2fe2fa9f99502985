r"""Bound-constrained trust-region Newton for a given curvature matrix (the expected FIM).

Each iteration takes the objective $f$, its gradient $g$ and a symmetric positive
semi-definite curvature $H$ at $x$ (in the fit: the expected Fisher information, the
Gauss–Newton matrix of the likelihood including its noise block, which fides uses with
AMICI) and solves the subproblem

$$\min_p\; g^\top p + \tfrac12 p^\top H p \quad\text{s.t.}\quad \|p\| \le \Delta$$

exactly (eigen-decomposition, secular equation) over the *free* variables: a variable at a
bound whose gradient or step points out of the box is held there. A step that leaves the box
is either truncated at the first bound it meets or projected onto the box, whichever the
quadratic model prefers. The ratio of actual to predicted decrease adapts $\Delta$.

The FIM is the Hessian of the NLL without its second-order (residual-curvature) term. Along
the sloppy directions of a model, where the FIM is nearly singular, that missing term is what
bounds the step, and a FIM-only trust region crawls (Boehm_JProteomeRes2014: 300+ iterations
at a radius of 0.016 with a ratio near 0.5). So, once the fit is close (an accepted step
lowers $f$ by less than `secant_below`·(1 + |f|)), a symmetric-rank-one secant estimate $A$ of
the missing term is kept, $(H_{k+1} + A_{k+1}) s = g_{k+1} - g_k$ (a structured quasi-Newton
update, as in Dennis, Gay and Welsch's NL2SOL), and the model uses $H + A$. Measured on
Boehm's reference starts: the first 16 took 5311 iterations with the FIM alone (up to 1000 per
start) and 1315 with the correction; all 100 took 7009 iterations with 15 at the optimum
(switch at 1e-3: 7111 and 14; 1e-5: 7640 and 15; after a fixed 30 or 100 iterations: 7570
and 10, 9440 and 17; all with the radius growth at 0.75, below). Switched on from the first
iteration, the correction led a far start astray (its secant pairs span very different FIMs).

The radius doubles after a step to its edge that realises more than half the predicted
decrease, not three quarters as textbooks set it. The FIM's model misses the same residual
curvature, so along a sloppy valley an edge step realises a steady fraction of its prediction,
often about one half: with 0.75, 2275 of Boehm's 5780 edge steps kept their radius at a ratio
between 0.25 and 0.75, an edge-limited crawl. Measured on Boehm's 100 reference starts
(iterations, starts at the optimum): 0.75: 6973, 15; 0.6: 6275, 15; 0.5: 5656, 18; 0.4: 5627,
16; 0.3: 5616, 13; on Fujita_SciSignal2010's 40 seed-1 starts 0.5 took 1043 s against 1482 s
for 0.75 (5 and 7 at the optimum: about 209 s per start reaching it either way; README,
Fitting).
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.optimize

_SHRINK, _GROW = 0.25, 2.0  # radius factors
# ratio thresholds: accept a step / grow the radius (module notes: why 0.5, not the usual 0.75)
_ACCEPT, _GOOD = 1e-4, 0.5


@dataclasses.dataclass(frozen=True)
class TrustRegionResult:
    x: np.ndarray
    value: float
    status: str  # "converged", "stalled", "max_iterations" or "failed"
    message: str
    n_iterations: int


def solve_subproblem(g: np.ndarray, h: np.ndarray, radius: float) -> np.ndarray:
    """The minimiser of `g·p + p·h·p/2` within `‖p‖ ≤ radius` (`h` symmetric)."""
    if g.size == 0:
        return g.copy()
    lam, q = np.linalg.eigh(h)
    a = q.T @ g
    floor = max(0.0, -lam[0])

    def norm_at(mu):
        d = lam + mu
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.linalg.norm(np.where(a == 0.0, 0.0, a / d))

    def step_at(mu):
        d = lam + mu
        with np.errstate(divide="ignore", invalid="ignore"):
            return -(q @ np.where(a == 0.0, 0.0, a / d))

    # the largest |eigenvalue|: a strongly indefinite h (lam[0] = -2.6e18 with lam[-1] = 98, from
    # a secant pair over a blow-up) needs tolerances above the spacing of floats near -lam[0], or
    # lam[0] + mu rounds to 0 and the step is infinite
    scale = max(1.0, float(np.abs(lam).max()))
    if lam[0] > 1e-14 * scale:  # positive definite: the Newton step if it fits
        p = step_at(0.0)
        if np.linalg.norm(p) <= radius:
            return p
    tiny = 1e-14 * scale
    lo, hi = floor, floor + np.linalg.norm(g) / radius + tiny
    if norm_at(lo + tiny) <= radius:
        # hard case: no multiplier reaches the boundary; step along the lowest eigenvector
        rest = lam + lo > tiny
        p = -(q[:, rest] @ (a[rest] / (lam[rest] + lo)))
        z = np.sqrt(max(radius**2 - p @ p, 0.0)) * q[:, 0]
        return min((p + z, p - z), key=lambda s: _model(g, h, s))
    for _ in range(200):  # bisection on 1/‖p(mu)‖, which is nearly linear in mu
        mu = 0.5 * (lo + hi)
        if norm_at(mu) > radius:
            lo = mu
        else:
            hi = mu
        if hi - lo <= 1e-12 * max(hi, tiny):
            break
    return step_at(hi)


def _model(g, h, s):
    return g @ s + 0.5 * s @ h @ s


def all_finite(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def held_at_bounds(x, g, lb, ub) -> np.ndarray:
    """The variables at a bound whose gradient points out of the box (a descent step holds them)."""
    return ((x <= lb) & (g > 0)) | ((x >= ub) & (g < 0))


def model_gap(x, g, h, lb, ub) -> float:
    r"""The decrease the quadratic model with curvature `h` promises from `x` to its minimiser
    within the box, without trust region: $-\min_p\, g^\top p + \tfrac12 p^\top H p$ over
    `lb <= x + p <= ub`. With the expected FIM as `h` this is the Gauss–Newton estimate of how far
    the value is above the nearest optimum the box allows (without the box, half the Newton
    decrement $\tfrac12 g^\top H^+ g$); for a least-squares objective it is exactly the value
    above the bounded least-squares minimum, so it stays below the weighted sum of squares
    however nearly singular the FIM. Directions of eigenvalues below 1e-12 of the largest count
    as flat (the gradient's component along them is left out: the model says nothing there).

    Solved as bounded linear least squares (`scipy.optimize.lsq_linear`, BVLS): with
    $H = Q \Lambda Q^\top$ over the kept eigenvalues, $A = \Lambda^{1/2} Q^\top$ and
    $b = -\Lambda^{-1/2} Q^\top g$, the model is $\tfrac12\|A p - b\|^2 - \tfrac12\|b\|^2$.
    A model minimiser beyond a bound is a decrease no step can realise (a crawl along a bound
    looks far from its optimum to the box-free gap: Crauste_CellSystems2017, README)."""
    movable = lb < ub
    if not movable.any():
        return 0.0
    x, g, lb, ub = x[movable], g[movable], lb[movable], ub[movable]
    lam, q = np.linalg.eigh(h[np.ix_(movable, movable)])
    keep = lam > 1e-12 * max(float(np.abs(lam).max()), np.finfo(float).tiny)
    if not keep.any():
        return 0.0
    root = np.sqrt(lam[keep])
    a = root[:, None] * q[:, keep].T
    b = -(q[:, keep].T @ g) / root
    lower, upper = np.minimum(lb - x, 0.0), np.maximum(ub - x, 0.0)
    if np.all(lower == -np.inf) and np.all(upper == np.inf):
        return 0.5 * float(b @ b)
    p = scipy.optimize.lsq_linear(a, b, bounds=(lower, upper), method="bvls", tol=1e-12).x
    p = np.clip(p, lower, upper)
    residual = a @ p - b
    return max(0.0, 0.5 * float(b @ b - residual @ residual))


def _bounded_step(x, g, h, radius, lb, ub):
    """A trust-region step that stays in the box; variables held at bounds do not move."""
    at_lower, at_upper = x <= lb, x >= ub
    held = held_at_bounds(x, g, lb, ub)
    for _ in range(x.size + 1):
        free = ~held
        p = np.zeros_like(x)
        p[free] = solve_subproblem(g[free], h[np.ix_(free, free)], radius)
        outward = (at_lower & (p < 0)) | (at_upper & (p > 0))
        if not (outward & free).any():
            break
        held |= outward
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(p > 0, (ub - x) / p, np.where(p < 0, (lb - x) / p, np.inf))
    alpha = min(1.0, float(np.min(room, initial=np.inf)))
    truncated = np.clip(x + alpha * p, lb, ub)
    blocking = room <= alpha  # the bounds the truncated step reaches: exactly on them
    truncated[blocking & (p > 0)] = ub[blocking & (p > 0)]
    truncated[blocking & (p < 0)] = lb[blocking & (p < 0)]
    projected = np.clip(x + p, lb, ub)
    trial = min((truncated, projected), key=lambda t: _model(g, h, t - x))
    return trial, held


def minimize(
    evaluate: Callable[[np.ndarray], tuple],
    x0: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    *,
    max_iterations: int = 1000,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-10,
    radius: float = 1.0,
    secant_below: float = 1e-4,
    stall_iterations: int = 0,
    stall_tol: float = 0.0,
    stall_gap: float = 0.0,
) -> TrustRegionResult:
    """Minimise within `lb <= x <= ub`; `evaluate(x)` returns `(value, gradient, curvature)`,
    the curvature symmetric positive semi-definite (e.g. the expected FIM).

    Stops (`"converged"`) when an accepted step lowers the value by less than
    `ftol * (1 + |f|)`, when a step or the trust radius falls below `xtol * (1 + ‖x‖)`, or when
    the gradient of the free variables is below `gtol` (max norm). A non-finite value at a
    trial point is a rejected step (the radius shrinks); at the start it is `"failed"`.
    `secant_below`: see the module notes (0: the curvature alone, no secant correction).
    Stops (`"stalled"`) when the value fell by less than `stall_tol * (1 + |f|)` over the last
    `stall_iterations` iterations (0: never) while the curvature's quadratic model still promises
    a decrease of more than `stall_gap` (`model_gap`): a search crawling far from an optimum. A
    crawl whose model promises less, close to an optimum, goes on.
    """
    x = np.clip(np.asarray(x0, dtype=np.float64), lb, ub)
    f, g, h = (np.asarray(a, dtype=np.float64) for a in evaluate(x))
    f = float(f)
    if not all_finite(f, g, h):
        return TrustRegionResult(x, f, "failed", "The simulation failed at the start point.", 0)
    correction = np.zeros_like(h)  # secant estimate of what the curvature matrix misses
    secant = False
    values = [f]  # the value after each iteration, values[0] at the start
    for iteration in range(1, max_iterations + 1):
        curvature = h + correction
        trial, held = _bounded_step(x, g, curvature, radius, lb, ub)
        s = trial - x
        if np.max(np.abs(g[~held]), initial=0.0) <= gtol:
            return TrustRegionResult(x, f, "converged", "Gradient of the free parameters below gtol.", iteration - 1)
        predicted = -_model(g, curvature, s)
        size = float(np.linalg.norm(s))
        if predicted <= 0.0 or size <= xtol * (1.0 + np.linalg.norm(x)):
            return TrustRegionResult(x, f, "converged", "No step lowers the model (step below xtol).", iteration - 1)
        f_new, g_new, h_new = (np.asarray(a, dtype=np.float64) for a in evaluate(trial))
        f_new = float(f_new)
        finite = all_finite(f_new, g_new, h_new)
        ratio = (f - f_new) / predicted if finite else -np.inf
        if finite and secant:
            v = (g_new - g) - h_new @ s - correction @ s  # secant residual of the correction
            if abs(v @ s) > 1e-8 * np.linalg.norm(v) * size:
                correction = correction + np.outer(v, v) / (v @ s)
        if ratio < _SHRINK:  # never grows: a step clipped to the box can be longer than the radius
            radius = _SHRINK * min(size, radius)
        elif ratio > _GOOD and size >= 0.9 * radius:
            radius = _GROW * radius
        if ratio > _ACCEPT:
            decrease = f - f_new
            secant = secant or decrease < secant_below * (1.0 + abs(f))
            x, f, g, h = trial, f_new, g_new, h_new
            if decrease < ftol * (1.0 + abs(f)):
                return TrustRegionResult(x, f, "converged", "Decrease below ftol.", iteration)
        elif radius <= xtol * (1.0 + np.linalg.norm(x)):
            return TrustRegionResult(x, f, "converged", "Trust radius below xtol.", iteration)
        values.append(f)
        if (0 < stall_iterations <= iteration and values[iteration - stall_iterations] - f < stall_tol * (1.0 + abs(f))
                and (gap := model_gap(x, g, h, lb, ub)) > stall_gap):
            return TrustRegionResult(x, f, "stalled", f"The value fell by less than {stall_tol:g} * (1 + |f|) over the "
                                     f"last {stall_iterations} iterations while the model promises {gap:.3g} more "
                                     f"(stall_tol, stall_iterations, stall_gap).", iteration)
    return TrustRegionResult(x, f, "max_iterations", f"{max_iterations} iterations reached.", max_iterations)
