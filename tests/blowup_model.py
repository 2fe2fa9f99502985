"""A model whose solution blows up in finite time (t = 1/k): every solve past it fails."""

import jax.numpy as jnp

from fimflow import AbstractODEModel


class Blowup(AbstractODEModel):
    parameter_names = ("k",)
    state_names = ("y",)
    observable_names = ("y",)

    def vector_field(self, t, y, theta):
        return theta[0] * y**2

    def initial_state(self, theta):
        return jnp.ones(1) + 0.0 * theta[0]

    def observables(self, t, y, theta):
        return y
