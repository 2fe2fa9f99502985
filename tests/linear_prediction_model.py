"""A linear-Gaussian test model, y(t) = a + b t, written as the ODE dy/dt = b, y(0) = a."""

import jax.numpy as jnp

from fimflow import AbstractODEModel


class LinearTrend(AbstractODEModel):
    parameter_names = ("a", "b")
    state_names = ("y",)
    observable_names = ("y",)

    def vector_field(self, t, y, theta):
        return jnp.stack([theta[1]]) + 0.0 * y

    def initial_state(self, theta):
        return jnp.stack([theta[0]])

    def observables(self, t, y, theta):
        return y
