"""ODE solves with diffrax at the measurement times of each condition."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Bool, Float

from ._model import AbstractODEModel


class SolverConfig(eqx.Module):
    """How ODEs are solved: a stiff-capable implicit solver with adaptive steps.

    **Arguments:**
    - `rtol`, `atol`: tolerances of the PID step-size controller (also used by the implicit
      solver's Newton iterations).
    - `max_steps`: solver steps allowed per solve; a solve that needs more is a failure
      (recorded as a status, never raised).
    - `solver`: a diffrax solver; default `None` means `Kvaerno5` (ESDIRK, L-stable, order 5)
      whose chord iterations use `rtol`/`atol` and count corrections far below the
      tolerance as converged (see `negligible_rms_norm`).

    Steps are forced to land on the measurement times (`step_ts`), so saved states are step
    end points rather than values of the lower-order dense interpolant (about 20 times more
    accurate at the same tolerance).
    """

    rtol: float = eqx.field(static=True, default=1e-8)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100_000)
    solver: diffrax.AbstractSolver | None = None

    def make_solver(self) -> diffrax.AbstractSolver:
        if self.solver is not None:
            return self.solver
        chord = diffrax.VeryChord(rtol=self.rtol, atol=self.atol, norm=negligible_rms_norm)
        return diffrax.Kvaerno5(root_finder=chord)

    def __check_init__(self):
        if not (self.rtol > 0 and self.atol > 0):
            raise ValueError(f"`rtol` and `atol` must be > 0, got {self.rtol}, {self.atol}.")
        if self.max_steps < 1:
            raise ValueError(f"`max_steps` must be >= 1, got {self.max_steps}.")


def negligible_rms_norm(x) -> Float[Array, ""]:
    """RMS norm that reads corrections below 1e-6 of the tolerance as exactly zero.

    diffrax's chord iteration divides successive correction sizes to detect divergence; on a
    slowly changing state the second correction is round-off, larger than the first, and every
    step is rejected until `max_steps` (seen on a linear decay with rate 5.6e-5). A zero size
    ends the iteration as converged instead.
    """
    size = optx.rms_norm(x)
    return jnp.where(size < 1e-6, jnp.zeros_like(size), size)


def solve_condition(
    model: AbstractODEModel,
    theta: Float[Array, " n_model_params"],
    ts: Float[Array, " n_times"],
    config: SolverConfig,
) -> tuple[Float[Array, "n_times n_states"], Bool[Array, ""]]:
    """States at the sorted times `ts` (from $t_0 = 0$) and whether the solve succeeded.

    Forward-mode differentiable (`jax.jacfwd`) through `diffrax.ForwardMode`. A failed solve
    (step limit, non-finite state) returns `ok = False` instead of raising.
    """

    def vector_field(t, y, args):
        return model.vector_field(t, y, args)

    y0 = model.initial_state(theta)
    t1 = ts[-1]
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        config.make_solver(),
        t0=jnp.zeros_like(t1),
        t1=t1,
        dt0=None,
        y0=y0,
        args=theta,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=config.rtol, atol=config.atol, step_ts=ts),
        adjoint=diffrax.ForwardMode(),
        max_steps=config.max_steps,
        throw=False,
    )
    ok = (solution.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(solution.ys))
    return solution.ys, ok


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
