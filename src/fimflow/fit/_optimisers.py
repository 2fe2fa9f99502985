"""The local optimisers of a fit as small immutable objects: `TrustFIM()` (the default),
`LBFGSB()` and `TRF()`, each an `AbstractOptimiser`.

An optimiser knows its batch kernel (the compiled evaluation many starts share: objective,
gradient and expected FIM; objective and gradient; or residuals, Jacobian and objective), its
driver (the per-start loop in `_local`), which of the kernel's outputs is the objective value,
its name in a config file (`"trust_fim"`, `"lbfgsb"`, `"trf"`; `optimiser_from_name`) and what
it cannot solve (`check`: TRF is least squares, so it refuses non-normal noise and priors).
The objects are frozen and hashable, equal when they are of the same class.
"""

import abc
import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from ..fisher import fisher_from_sensitivities
from ..simulate import Objective
from ._local import run_lbfgsb, run_trf, run_trust_fim


def _residuals_and_objective(objective, theta):
    r, value = objective.residuals_and_objective(theta)
    return r, (r, value)


def _objective_and_objective(objective, theta):
    value = objective.objective(theta)
    return value, value


@eqx.filter_jit
def _batch_least_squares(objective, thetas):
    """Residuals, their Jacobian and the objective at each row of `thetas` (one simulation each)."""
    jac = jax.vmap(jax.jacfwd(lambda t: _residuals_and_objective(objective, t), has_aux=True))(thetas)
    jacobian, (r, value) = jac
    return r, jacobian, value


def _fisher_parts(objective, theta):
    d, s, ok = objective.differences_and_noise(theta)
    value = jnp.sum(objective.nll_terms_of(d, s, ok)) + objective.prior(theta)
    return (d, s, value), (s, value)


@eqx.filter_jit
def _batch_fisher(objective, thetas):
    """Objective, gradient and expected FIM (plus the prior's Hessian) at each row of `thetas`,
    from one simulation with forward sensitivities each."""

    def one(theta):
        (j_d, j_s, gradient), (s, value) = jax.jacfwd(lambda t: _fisher_parts(objective, t), has_aux=True)(theta)
        curvature = fisher_from_sensitivities(j_d, j_s, s, objective.distribution)
        if objective.has_priors:
            curvature = curvature + jax.hessian(objective.prior)(theta)
        return value, gradient, curvature

    return jax.vmap(one)(thetas)


@eqx.filter_jit
def _batch_gradient(objective, thetas):
    """Objective and its gradient at each row of `thetas`."""
    gradient, value = jax.vmap(jax.jacfwd(lambda t: _objective_and_objective(objective, t), has_aux=True))(thetas)
    return value, gradient


class AbstractOptimiser(abc.ABC):
    """A local optimiser run on each start of a multistart fit (see `FitOptions.optimiser`).

    - `name`: its name in a config file (`FitOptions(method=name)`).
    - `kernel`: `f(objective, thetas)`, what one batch evaluation computes for it.
    - `run(cached, x0, lb, ub, options)`: one start's optimisation on its lane of a batch;
      `(x, status, message, n_iterations)`, `status` a `Status`.
    - `value(out)`: the objective value among one evaluation's outputs.
    - `check(objective)`: raise a `ValueError` (the reason and the fix) when it cannot solve
      the problem (an `Objective` or a `Problem`); return `None` otherwise.
    """

    name: ClassVar[str]

    @property
    @abc.abstractmethod
    def kernel(self):
        """`f(objective, thetas)`: the batch evaluation, `thetas` of shape `(width, n_params)`."""

    @abc.abstractmethod
    def run(self, cached, x0, lb, ub, options):
        """One start's optimisation from `x0` within `lb <= x <= ub`, evaluating through `cached`."""

    @abc.abstractmethod
    def value(self, out):
        """The objective value among the outputs `out` of one evaluation of `kernel`."""

    def check(self, objective) -> None:
        """Raise a `ValueError` naming the reason and the fix when this optimiser cannot solve
        `objective` (an `Objective` or a `Problem`)."""


@dataclasses.dataclass(frozen=True)
class TrustFIM(AbstractOptimiser):
    """Trust-region Newton on the objective with the expected Fisher information (noise block and
    prior Hessian included) as curvature and a secant correction near the optimum (see
    `_trust_region`). The default; any noise model, priors included."""

    name: ClassVar[str] = "trust_fim"

    @property
    def kernel(self):
        return _batch_fisher

    def run(self, cached, x0, lb, ub, options):
        return run_trust_fim(cached, x0, lb, ub, options)

    def value(self, out):
        return out[0]


@dataclasses.dataclass(frozen=True)
class LBFGSB(AbstractOptimiser):
    """scipy's L-BFGS-B on the objective with its exact gradient; any noise model, priors included."""

    name: ClassVar[str] = "lbfgsb"

    @property
    def kernel(self):
        return _batch_gradient

    def run(self, cached, x0, lb, ub, options):
        return run_lbfgsb(cached, x0, lb, ub, options)

    def value(self, out):
        return out[0]


@dataclasses.dataclass(frozen=True)
class TRF(AbstractOptimiser):
    """scipy's trust-region reflective least squares on the residuals with the exact Jacobian (as
    Data2Dynamics does). Least squares: normal noise everywhere and no priors, other problems
    are refused (`check`)."""

    name: ClassVar[str] = "trf"

    @property
    def kernel(self):
        return _batch_least_squares

    def run(self, cached, x0, lb, ub, options):
        return run_trf(cached, x0, lb, ub, options)

    def value(self, out):
        return out[2]

    def check(self, objective) -> None:
        if not isinstance(objective, Objective):
            objective = Objective.from_problem(objective)
        reasons = []
        if not objective.all_normal:
            reasons.append("some measurements have non-normal noise (Laplace)")
        if objective.has_priors:
            reasons.append("the parameter table sets objective priors")
        if reasons:
            raise ValueError(
                f"fit method 'trf' is least squares and cannot fit this problem: {' and '.join(reasons)}. "
                "Use method 'trust_fim' (the default) or 'lbfgsb'."
            )


OPTIMISERS = {optimiser.name: optimiser for optimiser in (TrustFIM(), LBFGSB(), TRF())}


def optimiser_from_name(name: str) -> AbstractOptimiser:
    """The optimiser a config file names (`"trust_fim"`, `"lbfgsb"` or `"trf"`)."""
    try:
        return OPTIMISERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"`method` must be one of {tuple(OPTIMISERS)}, got {name!r}.") from None
