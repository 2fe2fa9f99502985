"""One-compartment pharmacokinetics after an intravenous bolus."""

import jax.numpy as jnp

from ..problem import AbstractODEModel


class OneCompartmentPK(AbstractODEModel):
    r"""Concentration after a bolus dose $D$ into volume $V$, cleared at rate $CL$.

    $$\dot C = -\frac{CL}{V} C, \qquad C(0) = \frac{D}{V},
    \qquad\text{so}\qquad C(t) = \frac{D}{V} e^{-(CL/V)\,t}.$$

    Only $D/V$ and $CL/V$ are determined by concentration data: with $D$, $V$ and $CL$ all
    estimated the model is structurally non-identifiable along $(1, 1, 1)$ on the log scale.
    """

    parameter_names = ("D", "V", "CL")
    state_names = ("C",)
    observable_names = ("C",)

    def vector_field(self, t, y, theta):
        _, volume, clearance = theta
        return -(clearance / volume) * y

    def initial_state(self, theta):
        dose, volume, _ = theta
        return jnp.stack([dose / volume])

    def observables(self, t, y, theta):
        return y
