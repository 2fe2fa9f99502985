r"""A linear-Gaussian test model: y(t) = a + b t + c t^2, written as an ODE.

$\dot y = b + 2 c t$, $y(0) = a$. The observable is linear in the parameters, so with normal
noise of known sigma the NLL is exactly quadratic: profile-likelihood intervals equal the Wald
intervals of the (constant) Fisher information, and the least-squares fit is closed-form.
"""

import jax.numpy as jnp

from fimflow import AbstractODEModel


class LinearModel(AbstractODEModel):
    parameter_names = ("a", "b", "c")
    state_names = ("y",)
    observable_names = ("y",)

    def vector_field(self, t, y, theta):
        _, b, c = theta
        return jnp.stack([b + 2.0 * c * t]) + 0.0 * y

    def initial_state(self, theta):
        return jnp.stack([theta[0]])

    def observables(self, t, y, theta):
        return y
