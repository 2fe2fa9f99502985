"""ODE solves with diffrax at the measurement times of each condition."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Bool, Float

from ..problem import AbstractODEModel
from ._events import integrate_with_state_events, steady_state_with_events
from ._rosenbrock import Rodas5P
from ._stepping import diffeqsolve


class SolverConfig(eqx.Module):
    """How ODEs are solved: a stiff-capable implicit solver with adaptive steps.

    **Arguments:**
    - `rtol`, `atol`: tolerances of the PID step-size controller (also used by the implicit
      solver's Newton iterations).
    - `max_steps`: solver steps allowed per solve; a solve that needs more is a failure
      (recorded as a status, never raised).
    - `solver`: a diffrax solver; default `None` means `Kvaerno5` (ESDIRK, L-stable, order 5)
      whose implicit stages are solved by Newton's method (Jacobian re-evaluated at every
      iteration), converged when the predicted remaining correction is below `kappa` of the
      `rtol`/`newton_atol` scale and corrections far below that scale count as zero
      (`negligible_rms_norm`).
    - `newton_atol`: absolute tolerance of those Newton iterations; default `None` means
      `NEWTON_ATOL_FACTOR * atol` (see there for why it is looser than `atol`).
    - `method`: the solver when `solver` is `None`: `"kvaerno5"` (the implicit Runge-Kutta method
      above), `"rodas5p"` (a Rosenbrock method of order 5, `Rodas5P`: one Jacobian and one LU
      factorisation per step, no Newton iterations, sensitivities solved with the same LU), or
      `"auto"` (default): the solver the collection bench shows best, `AUTO_METHOD`, for
      models of every size (see there for the figures).
    - `conditions`: how the conditions of a problem are solved: `"sequential"` (default), one
      after another, each with its own steps, or `"batched"`, all at once as one vectorised
      solve (see `CONDITIONS` for why sequential is the default).

    Why Newton and not diffrax's default chord iteration (one Jacobian per step): on
    Boehm_JProteomeRes2014 at rtol 1e-8 the chord iteration fails to converge on half the steps
    (460 accepted, 456 rejected), Newton converges (105 accepted, 6 rejected): NLL 54 -> 15 ms,
    NLL gradient 130 -> 20 ms per call at the same accuracy (bench/petab_import.py,
    bench/multistart.py). The Jacobian of a model of tens of states is cheap next to a
    rejected step.

    Steps are forced to land on the measurement times (`step_ts`), so saved states are step
    end points rather than values of the lower-order dense interpolant (about 20 times more
    accurate at the same tolerance).
    """

    rtol: float = eqx.field(static=True, default=1e-8)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100_000)
    solver: diffrax.AbstractSolver | None = None
    newton_atol: float | None = eqx.field(static=True, default=None)
    method: str = eqx.field(static=True, default="auto")
    conditions: str = eqx.field(static=True, default="sequential")

    def make_solver(self) -> diffrax.AbstractSolver:
        """The diffrax solver these settings name (the same for every model size)."""
        if self.solver is not None:
            return self.solver
        if (AUTO_METHOD if self.method == "auto" else self.method) == "rodas5p":
            return Rodas5P()
        atol = NEWTON_ATOL_FACTOR * self.atol if self.newton_atol is None else self.newton_atol
        newton = optx.Newton(rtol=self.rtol, atol=atol, norm=negligible_rms_norm, cauchy_termination=False)
        return diffrax.Kvaerno5(root_finder=newton)

    def __check_init__(self):
        if not (self.rtol > 0 and self.atol > 0):
            raise ValueError(f"`rtol` and `atol` must be > 0, got {self.rtol}, {self.atol}.")
        if self.newton_atol is not None and not self.newton_atol > 0:
            raise ValueError(f"`newton_atol` must be > 0, got {self.newton_atol}.")
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {list(METHODS)}, got {self.method!r}.")
        if self.conditions not in CONDITIONS:
            raise ValueError(f"`conditions` must be one of {list(CONDITIONS)}, got {self.conditions!r}.")
        if self.max_steps < 1:
            raise ValueError(f"`max_steps` must be >= 1, got {self.max_steps}.")


METHODS = ("auto", "kvaerno5", "rodas5p")
"""The solvers `SolverConfig.method` names."""

CONDITIONS = ("sequential", "batched")
"""How `SolverConfig.conditions` may solve a problem's conditions. Sequential is the default: a
batched (vectorised) solve steps every condition until the last one is done, and a vectorised
step evaluates both branches of every test it makes (accept or reject, an event or not); with
forward sensitivities all of that is carried by every parameter tangent. Measured in one run on
this machine (`bench/conditions.py`, one core, nominal parameters), the fit's evaluation (NLL,
gradient, FIM) per call, batched -> sequential: Bachmann_MSB2011 (36 conditions) 18.6 -> 4.5 s,
Alkan_SciSignal2018 (73) 14.3 -> 5.3 s, Laske_PLOSComputBiol2019 (3) 816 -> 596 ms,
Raia_CancerResearch2011 (4) 173 -> 141 ms, Fujita_SciSignal2010 (6) 56.9 -> 46.2 ms; compiling
is faster too (Bachmann 40 -> 23 s). The NLL alone, without tangents, can go the other way
(Fujita 4.2 -> 10.3 ms, Raia 12.3 -> 20.4 ms; Bachmann 302 -> 256 ms): a fit evaluates it
with its derivatives. A single condition is solved vectorised either way (the loop cost Boehm,
Crauste and Zheng 2-6 %)."""

AUTO_METHOD = "rodas5p"
"""What `method="auto"` takes, for every model size: Rodas5P. Measured in one run on this 2-core
machine (`bench/collection.py ../shared/benchmark_models --method M`, nominal parameters, rtol
1e-8), simulation per call Kvaerno5 -> Rodas5P: Bachmann 1816 -> 509 ms, Bertozzi 1.48 -> 0.67,
Boehm 5.56 -> 3.23, Bruno 3.70 -> 1.88, Crauste 10.0 -> 4.62, Fujita 28.0 -> 20.3, Perelson
4.20 -> 1.28, Zheng 12.7 -> 16.5 (faster on 7 of 8); NLL + gradient faster on 5 of 8 (Boehm
18.7 -> 11.5 ms, Perelson 12.9 -> 4.9; slower: Crauste 22.5 -> 42.4, Bachmann +10 %, Fujita
+6 %); both match every reference log-likelihood. At the 40 seed-1 reference start points of
Fujita_SciSignal2010 Kvaerno5 cannot integrate 9 (100,000 steps, 137-217 s each), Rodas5P
integrates all 40 (20.8 s for all), and where both integrate their NLLs agree to 1e-9 relative.
On the large models Newton's iterations factorise a dense n x n matrix about twelve times per
Kvaerno5 step, Rodas5P once: Lang_PLOSComputBiol2024 (124 states) 28 s vs 7.0 s per simulation,
Chen_MSB2009 (500 states) 130 vs 15 ms per step."""

NEWTON_ATOL_FACTOR = 1e2
r"""Default ratio of the Newton iterations' absolute tolerance to the step controller's `atol`.

The unknowns of diffrax's implicit stages are stage *derivatives* $f_i$, not states. Their
round-off is the states' round-off amplified by the Jacobian, about
$\varepsilon \sum_j |J_{ij} y_j|$, and at stiff parameter values that is far above `atol`
for a species near zero: on Fujita_SciSignal2010 at a random start (rate constants up to 1e5,
states up to 7e4) the correction of such a component stagnates at round-off, never meets an
`atol` of 1e-10, every large step is rejected, and the solve creeps (10,000 steps reach
t = 1...45 of 3600, 55 % rejected; scipy's BDF needs 1,022 steps). Measured on the 20 reference
starts (rtol 1e-8, atol 1e-10, at most 10,000 steps), starts that fail to integrate: Newton atol
1e-10: 10; 1e-8 (this factor): 4; 1e-6: 1. At the second start, Newton atol 1e-8 takes 530-620 steps
per condition, 10 % rejected. A looser Newton leaves errors in the forward sensitivities (they
follow the Newton iterates): at 1e-6 Bachmann_MSB2011's gradient differs from the AMICI
reference by 1.1e-3 of its norm (within 5e-4 at 1e-8, as at 1e-10), hence 100.
The states' accuracy is still governed by the step controller's error test: the log-likelihood
of Boehm_JProteomeRes2014 and Fujita at nominal changes by < 1e-9 relative, and Boehm's NLL
and gradient per call take no longer.
"""

NEGLIGIBLE = 1e-2
"""Newton corrections below this (in units of the tolerance) are converged: it is the
iteration's own convergence tolerance (`kappa`)."""


def negligible_rms_norm(x) -> Float[Array, ""]:
    """RMS norm that reads corrections below `NEGLIGIBLE` of the tolerance as exactly zero.

    The rate-based stopping rule divides successive correction sizes to detect divergence; once
    the corrections reach round-off, the second can be larger than the first and the step is
    rejected although the iterate is already accurate (seen on a slow linear decay, and on
    Fujita_SciSignal2010 at rtol 1e-10 whose states span 1e-10 to 4e7: 41 s per simulation
    without this norm, 0.1 s with it). A zero size ends the iteration as converged. Newton's
    other stopping rule (`cauchy_termination`) compares the residual with `atol` alone and
    never converges for `atol` below the round-off of the states.
    """
    size = optx.rms_norm(x)
    return jnp.where(size < NEGLIGIBLE, jnp.zeros_like(size), size)


def solve_condition(
    model: AbstractODEModel,
    theta: Float[Array, " n_model_params"],
    ts: Float[Array, " n_times"],
    config: SolverConfig,
    preequilibration: tuple | None = None,
    steady_state_times: bool = False,
) -> tuple[Float[Array, "n_times n_states"], Bool[Array, ""]]:
    """States at the sorted times `ts` (from $t_0$, `model.start_time`, usually 0; NaN at times
    before it) and whether the solve succeeded.

    - `preequilibration`: `(theta_pre, use)`; where `use`, the initial state is the steady
      state under `theta_pre`, re-initialised by `model.reinitialise` (PEtab semantics).
    - `steady_state_times`: `ts` may end in `inf` (steady-state measurements).
    - Models with `discontinuities(theta)` get those times as step-size breakpoints; models
      with time-triggered events (`n_events`) are integrated in segments between events;
      models whose triggers depend on the states (`state_events`) locate their events by root
      finding (`integrate_with_state_events`); their triggers are also checked on the way to
      a steady state (`steady_state_with_events`), and a simulation after a pre-equilibration
      starts with the triggers' values it ended with.

    Forward-mode differentiable (`jax.jacfwd`) through `diffrax.ForwardMode`. A failed solve
    (step limit, non-finite state, no steady state) returns `ok = False` instead of raising.
    """
    # the start is a fixed model parameter (never estimated): no derivative through it
    t0 = jax.lax.stop_gradient(jnp.asarray(model.start_time(theta), dtype=jnp.float64))
    y0 = model.initial_state(theta)
    ok = jnp.asarray(True)
    with_events = _has_state_events(model)
    before = model.event_initial_values() if with_events else None
    if preequilibration is not None:
        theta_pre, use = preequilibration
        if with_events:  # the triggers are checked on the way to the steady state too (PEtab v2)
            y_pre, truth_pre, ok_pre = steady_state_with_events(model, theta_pre, model.initial_state(theta_pre), config)
            before = jnp.where(use, truth_pre, before)
        else:
            y_pre, ok_pre = steady_state(model, theta_pre, model.initial_state(theta_pre), config)
        y0 = jnp.where(use, model.reinitialise(y_pre, theta), y0)
        ok = jnp.where(use, ok_pre, ok)
    finite = jnp.isfinite(ts)
    early = ts < t0  # before the start: no simulated value
    t_end = jnp.maximum(t0, jnp.max(jnp.where(finite, ts, t0)))
    ys, ok_t = _integrate(model, theta, y0, jnp.where(finite, jnp.maximum(ts, t0), t_end), t0, t_end, config, before)
    if steady_state_times:
        if with_events:
            y_inf, _, ok_inf = steady_state_with_events(model, theta, y0, config, t0=t0, before=before)
        else:
            y_inf, ok_inf = steady_state(model, theta, y0, config)
        ys = jnp.where(finite[:, None], ys, y_inf[None, :])
        ok = ok & jnp.where(jnp.all(finite), True, ok_inf)
    ys = jnp.where(early[:, None], jnp.nan, ys)
    return ys, ok & ok_t & jnp.all(jnp.isfinite(ys) | early[:, None])


def _has_state_events(model) -> bool:
    """Whether the model's events are located by root finding (`integrate_with_state_events`)."""
    return bool(getattr(model, "n_events", 0)) and bool(getattr(model, "state_events", False))


def _integrate(model, theta, y0, ts, t0, t_end, config, before=None):
    """States at `ts` within [t0, t_end], stopping and restarting at time-triggered events."""
    if y0.shape[0] == 0:  # a model without states (observables of parameters only): nothing to integrate
        return jnp.zeros((ts.shape[0], 0)), jnp.asarray(True)
    if _has_state_events(model):
        return integrate_with_state_events(model, theta, y0, ts, t_end, config, t0=t0, before=before)
    n_events = getattr(model, "n_events", 0)
    if n_events == 0:
        solution = diffeqsolve(model, theta, y0, t0, t_end, diffrax.SaveAt(ts=ts), config)
        return solution.ys, solution.result == diffrax.RESULTS.successful
    times = model.event_times(theta)
    fires = (times > t0) | model.event_fires_at_start()
    order = jnp.argsort(times)
    bounds = jnp.concatenate([t0[None], jnp.clip(times[order], t0, t_end), t_end[None]])
    ys = jnp.zeros((ts.shape[0], y0.shape[0]))
    ok = jnp.asarray(True)
    y = y0
    for k in range(n_events + 1):
        a, b = bounds[k], bounds[k + 1]
        saveat = diffrax.SaveAt(ts=jnp.clip(ts, a, b), t1=True)
        solution = diffeqsolve(model, theta, y, a, jnp.maximum(b, a), saveat, config)
        inside = (ts >= a) & ((ts < b) if k < n_events else (ts <= b))
        ys = jnp.where(inside[:, None], solution.ys[:-1], ys)
        ok = ok & ((solution.result == diffrax.RESULTS.successful) | (b <= a))
        y = jnp.where(b > a, solution.ys[-1], y)
        if k < n_events:
            fired = model.apply_event(order[k], b, y, theta)
            y = jnp.where(fires[order[k]] & (times[order[k]] <= t_end), fired, y)
    return ys, ok


def steady_state(model, theta, y0, config, t_max: float = 1e12):
    """Integrate until $\\|f\\|$ is within the tolerances (diffrax steady-state event).

    Returns the state and whether a steady state was reached before `t_max`.
    """
    if y0.shape[0] == 0:
        return y0, jnp.asarray(True)
    event = diffrax.Event(diffrax.steady_state_event(rtol=config.rtol, atol=config.atol))
    solution = diffeqsolve(
        model, theta, y0, jnp.zeros(()), jnp.asarray(t_max), diffrax.SaveAt(t1=True), config, event=event
    )
    reached = solution.result == diffrax.RESULTS.event_occurred
    return solution.ys[-1], reached & jnp.all(jnp.isfinite(solution.ys[-1]))


def observables_at(
    model: AbstractODEModel,
    theta: Float[Array, " n_model_params"],
    ts: Float[Array, " n_times"],
    ys: Float[Array, "n_times n_states"],
) -> Float[Array, "n_times n_obs"]:
    """Observables $h(t, y(t), \\theta)$ at each time."""
    return jax.vmap(lambda t, y: model.observables(t, y, theta))(ts, ys)


@eqx.filter_jit
def simulate(
    model: AbstractODEModel,
    theta: Float[Array, " n_model_params"],
    ts: Float[Array, " n_times"],
    config: SolverConfig = SolverConfig(),
) -> tuple[Float[Array, "n_times n_states"], Float[Array, "n_times n_obs"], Bool[Array, ""]]:
    """Simulate one model at model parameters `theta` (linear scale): states, observables, ok."""
    ys, ok = solve_condition(model, theta, ts, config)
    return ys, observables_at(model, theta, ts, ys), ok
