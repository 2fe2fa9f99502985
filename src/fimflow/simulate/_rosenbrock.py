"""Rodas5P: a linearly implicit (Rosenbrock) method of order 5 as a diffrax solver.

A Rosenbrock step solves no nonlinear equations: it factorises $W = I/(h\\gamma) - J$ once, with
$J = \\partial f/\\partial y$ exact (`jax.jacfwd`) at the step's start, and every one of its eight
stages is one linear solve with that factorisation,

$$W k_i = f\\big(t_0 + c_i h,\\; y_0 + \\textstyle\\sum_{j<i} a_{ij} k_j\\big)
          + \\textstyle\\sum_{j<i} \\tfrac{C_{ij}}{h} k_j + h\\, d_i\\, \\partial_t f(t_0, y_0),$$

(stages 7 and 8 start from the previous stage's point plus its $k$), $y_1$ = the last stage's
point plus $k_8$; $k_8$ is the error estimate (the difference to the embedded order-4 solution),
and a third-order polynomial in the $k_i$ gives dense output of order 4. Coefficients: G.
Steinebach, "Construction of Rosenbrock-Wanner method Rodas5P and numerical benchmarks within the
Julia Differential Equations package", BIT Numer. Math. 63, 27 (2023); the method is stiffly
accurate and L-stable, and keeps its order on stiff problems where Rodas5 drops it.

Against an implicit Runge-Kutta method with Newton iterations (diffrax's Kvaerno5 as fimflow uses
it) one step costs one Jacobian and one LU factorisation instead of one per Newton iteration per
stage (about twelve): on a 500-state model that is most of the solve's time.

**Forward sensitivities reuse the factorisation.** The linear solves have a custom JVP:
differentiating $W k = b$ gives $W\\,\\dot k = \\dot b + \\dot J k - \\dot{(1/h\\gamma)}\\,k$, where
$\\dot J k$ is a second directional derivative of $f$ (a forward tangent of the Jacobian-vector
product, a few right-hand-side evaluations) and the solve uses the same LU. The Jacobian and the
factorisation themselves are computed without tangents. A parameter tangent therefore costs a few
right-hand-side evaluations and eight triangular solves per step, not a differentiated LU
($O(n^3)$ per tangent) nor differentiated Newton iterations. This is the exact derivative of the
discrete scheme, so the sensitivities match those of `jax.jacfwd` through the whole step.
"""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

# ---------------------------------------------------------------- Rodas5P tableau (Steinebach 2023)

GAMMA = 0.21193756319429014
A = (
    (),
    (3.0,),
    (2.849394379747939, 0.45842242204463923),
    (-6.954028509809101, 2.489845061869568, -10.358996098473584),
    (2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641),
    (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946),
)
C = (
    (),
    (-14.155112264123755,),
    (-17.97296035885952, -2.859693295451294),
    (147.12150275711716, -1.41221402718213, 71.68940251302358),
    (165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306),
    (24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125, -0.6610691825249471),
    (30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783, -19.097331116725623,
     -28.087943162872662),
    (37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047, -40.06618937091002,
     -54.66780262877968, -9.48861652309627),
)
STAGE_TIMES = np.array([0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664, 1.0, 1.0,
                        1.0])
TIME_DERIVATIVE = np.array([0.21193756319429014, -0.42387512638858027, -0.3384627126235924, 1.8046452872882734,
                            2.325825639765069, 0.0, 0.0, 0.0])
DENSE = np.array([
    [25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204, 0.524948541321073,
     1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
    [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796, 20.176138334709044,
     15.98066361424651, -6.789040303419874, -6.710236069923372],
    [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643, -52.072871366152654,
     -59.78993625266729, -0.15582684282751913, 4.883087185713722],
])
N_STAGES = 8


def _rows(triangle, extra):
    """`triangle` as an (8, 8) strictly lower-triangular matrix, `extra` rows appended below it."""
    out = np.zeros((N_STAGES, N_STAGES))
    for i, row in enumerate(tuple(triangle) + tuple(extra)):
        out[i, : len(row)] = row
    return out


# Stage i is evaluated at y0 + STAGE_POINTS[i] @ k: the a_ij for i <= 6, then the stiffly accurate
# continuation (stage 7 at stage 6's point + k6, stage 8 at stage 7's point + k7, y1 = stage 8's + k8).
STAGE_POINTS = _rows(A, [A[5] + (1.0,), A[5] + (1.0, 1.0)])
SOLUTION = np.array(A[5] + (1.0, 1.0, 1.0))
COUPLING = _rows(C, [])


def _combine(coefficients, stages):
    """sum_i coefficients[..., i] * stages[i] (a constant matrix or vector times the stage stack)."""
    return jnp.tensordot(jnp.asarray(coefficients, dtype=stages.dtype), stages, axes=1)


# ---------------------------------------------------------------- linear solves with the step's LU

EXPLICIT_INVERSE_UP_TO = 40
"""Every step keeps $W^{-1}$ itself and solves each stage by one matrix-vector product (with
forward sensitivities every stage solves for the state and all its tangents at once: one matrix
product). The inverse comes from Gauss-Jordan elimination with partial pivoting written in XLA
operations (`_inverse`), not from LAPACK: jaxlib 0.10's CPU LAPACK kernels split a large batch
of matrices over XLA's intra-op thread pool and wait for the pieces inside a pool thread, so two
such calls at once (the fit's two batch groups) can take every pool thread and wait forever
(seen on Laske_PLOSComputBiol2019: both groups hung at 0 % CPU in `getrf`/`trsm`). Systems of at
most this many states unroll the elimination into the program (a step's time is then the number
of operations, not flops); larger ones run it as a loop over the columns.

Measured with LAPACK (`bench/rosenbrock_step.py`, one run, this 2-core machine), LU solves ->
inverse, microseconds per step without tangents n = 8: 6.9 -> 3.9, 16: 14.2 -> 10.3, 24: 18.2 ->
15.6, 32: 23.6 -> 24.9, 64: 62 -> 70, 128: 208 -> 292 (forming the inverse costs about 2n^3 flops
against the LU's 2n^3/3); NLL + gradient per call at nominal parameters: Boehm_JProteomeRes2014
(8 states) 8.0 -> 7.2 ms, Fujita_SciSignal2010 (9) 83 -> 60 ms, Zheng_PNAS2012 (15) 31 -> 23 ms,
Bachmann_MSB2011 (25 states, 36 parameters) 12.9 -> 6.4 s. The figures for the XLA elimination
are in the README (Rosenbrock solver). The forward error of the solve is of the order of cond(W)
times the unit round-off either way."""


def _elimination_step(a, k, rows):
    """Column `k` of Gauss-Jordan elimination on `[W | I]` (`a`, n x 2n): the row with the
    largest entry at or below the diagonal becomes row k, is scaled to a unit pivot, and column
    k is cleared from every other row. `k` may be traced (the loop form)."""
    column = jnp.abs(a[:, k])
    p = jnp.argmax(jnp.where(rows >= k, column, -1.0))
    a = a[jnp.where(rows == k, p, jnp.where(rows == p, k, rows))]
    pivot_row = a[k] / a[k, k]
    a = a - a[:, k][:, None] * pivot_row[None, :]
    return a.at[k].set(pivot_row)


def _inverse(w, unroll_up_to):
    """$W^{-1}$ by Gauss-Jordan elimination with partial pivoting, in XLA operations."""
    n = w.shape[0]
    a = jnp.concatenate([w, jnp.eye(n, dtype=w.dtype)], axis=1)
    rows = jnp.arange(n)
    if n <= unroll_up_to:
        for k in range(n):
            a = _elimination_step(a, k, rows)
    else:
        a = jax.lax.fori_loop(0, n, lambda k, a: _elimination_step(a, k, rows), a)
    return a[:, n:]


@eqx.filter_custom_jvp
def _w_solve(vf, factors, t, y, args, inv_hg, b):
    """$x = W^{-1} b$, $W = $ `inv_hg` $I - \\partial_y f(t, y, args)$ given by its inverse `factors` (`_inverse`).

    `vf` is the right-hand side closure-converted (`eqx.filter_closure_convert`): whatever the
    vector field closes over (e.g. the last time point of a solve, batched across conditions)
    is an operand here, with its tangent, not a constant captured by the derivative rule."""
    return factors @ b


@_w_solve.def_jvp
def _w_solve_jvp(primals, tangents):
    vf, factors, t, y, args, inv_hg, b = primals
    dvf, _, dt, dy, dargs, dinv_hg, db = tangents
    # the solves inside the rule are `_w_solve` again, so that differentiating the rule (second
    # derivatives: the observed FIM, a design's time gradient) applies this rule to them and
    # accounts for W's own dependence on (t, y, args, inv_hg); a solve with the frozen
    # factors would treat W as a constant there
    x = _w_solve(vf, factors, t, y, args, inv_hg, b)
    tangent = jnp.zeros_like(x) if db is None else db
    if dinv_hg is not None:
        tangent = tangent - dinv_hg * x
    arrays, static = eqx.partition(vf, eqx.is_inexact_array)
    inputs = (("vf", arrays, dvf), ("t", t, dt), ("y", y, dy), ("args", args, dargs))
    moving = [(name, value, d) for name, value, d in inputs if _has_tangent(d)]
    if moving:
        # d/de [J(t, y, args) x] along the tangents, x held fixed: a second directional derivative
        fixed = {"vf": arrays, "t": t, "y": y, "args": args}

        def jacobian_times_x(*values):
            point = dict(fixed, **{name: v for (name, _, _), v in zip(moving, values)})
            f = eqx.combine(point["vf"], static)
            return jax.jvp(lambda z: f(point["t"], z, point["args"]), (point["y"],), (x,))[1]

        _, djx = jax.jvp(jacobian_times_x, tuple(v for _, v, _ in moving), tuple(_zeros_for(v, d) for _, v, d in moving))
        tangent = tangent + djx
    return x, _w_solve(vf, factors, t, y, args, inv_hg, tangent)


def _has_tangent(tangent):
    return any(leaf is not None for leaf in jax.tree_util.tree_leaves(tangent, is_leaf=lambda d: d is None))


def _zeros_for(value, tangent):
    """`tangent` with every `None` leaf (a symbolic zero) as zeros shaped like `value` (kept
    `None` where `value` has no array)."""
    return jax.tree_util.tree_map(lambda d, v: (None if v is None else jnp.zeros_like(v)) if d is None else d,
                                  tangent, value, is_leaf=lambda d: d is None)


# ---------------------------------------------------------------- dense output

class RodasInterpolation(diffrax.AbstractLocalInterpolation):
    """Rodas5P's dense output on one step: $(1-s) y_0 + s\\,(y_1 + (1-s)(q_1 + s (q_2 + s q_3)))$,
    $s = (t - t_0)/(t_1 - t_0)$, $q_m = \\sum_i h_{mi} k_i$."""

    t0: float
    t1: float
    y0: jax.Array
    y1: jax.Array
    q: jax.Array  # (3, n)

    def evaluate(self, t0, t1=None, left=True):
        del left
        if t1 is not None:
            return self.evaluate(t1) - self.evaluate(t0)
        s = (t0 - self.t0) / (self.t1 - self.t0)
        s = jnp.where(self.t1 == self.t0, 0.0, s)
        return (1 - s) * self.y0 + s * (self.y1 + (1 - s) * (self.q[0] + s * (self.q[1] + s * self.q[2])))


# ---------------------------------------------------------------- the solver

class Rodas5P(diffrax.AbstractAdaptiveSolver):
    """Rodas5P (order 5, embedded order 4, L-stable, stiffly accurate) for ODE terms on arrays.

    Needs `diffrax.ODETerm` whose state is one array; the Jacobian is dense (`jax.jacfwd`).
    A step whose result is not finite reports an infinite error, so the step-size controller
    rejects it and shrinks the step. `inverse_up_to`: systems of at most this many states form
    $W^{-1}$ by an elimination unrolled into the program, larger ones by a loop
    (`EXPLICIT_INVERSE_UP_TO`).
    """

    inverse_up_to: int = eqx.field(static=True, default=EXPLICIT_INVERSE_UP_TO)

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., RodasInterpolation]] = RodasInterpolation

    def order(self, terms):
        return 5

    def init(self, terms, t0, t1, y0, args):
        return None

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        # tracers the vector field closes over become explicit operands (see `_w_solve`)
        vf = eqx.filter_closure_convert(terms.vf, t0, y0, args)
        h = t1 - t0
        inv_hg = 1.0 / (h * GAMMA)
        # the Jacobian and LU from inputs without tangents, the closed-over values included: the
        # stage solves' derivative rule accounts for them, never a differentiated factorisation
        arrays, static = eqx.partition(vf, eqx.is_inexact_array)
        frozen = jax.lax.stop_gradient((t0, y0, args, inv_hg, arrays))
        frozen_vf = eqx.combine(frozen[4], static)
        jac = jax.jacfwd(lambda y: frozen_vf(frozen[0], y, frozen[2]))(frozen[1])
        factors = _inverse(frozen[3] * jnp.eye(y0.shape[0], dtype=y0.dtype) - jac, self.inverse_up_to)
        dfdt = jax.jvp(lambda t: vf(t, y0, args), (t0,), (jnp.ones_like(t0),))[1]

        def stage(stages, tableau):
            i, points, coupling, time, time_derivative = tableau
            rhs = vf(t0 + time * h, y0 + _combine(points, stages), args) + _combine(coupling, stages) / h
            k = _w_solve(vf, factors, t0, y0, args, inv_hg, rhs + (time_derivative * h) * dfdt)
            return stages.at[i].set(k), None

        # one right-hand side in the program, not eight (XLA compile time grows with the copies)
        tableau = (jnp.arange(N_STAGES),) + tuple(
            jnp.asarray(a, y0.dtype) for a in (STAGE_POINTS, COUPLING, STAGE_TIMES, TIME_DERIVATIVE))
        stages, _ = jax.lax.scan(stage, jnp.zeros((N_STAGES,) + y0.shape, y0.dtype), tableau)
        y1 = y0 + _combine(SOLUTION, stages)
        error = stages[-1]
        q = _combine(DENSE, stages)
        finite = jnp.all(jnp.isfinite(y1)) & jnp.all(jnp.isfinite(error))
        error = jnp.where(finite, error, jnp.inf)
        dense_info = dict(y0=y0, y1=y1, q=q)
        return y1, error, dense_info, None, diffrax.RESULTS.successful
