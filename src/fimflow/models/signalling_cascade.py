"""A receptor-kinase-transcription signalling cascade with ligand dose as the condition."""

import jax.numpy as jnp

from ..problem import AbstractODEModel


class SignallingCascade(AbstractODEModel):
    r"""Seven-state cascade: ligand binding, kinase activation, transcription factor, gene product.

    $$\begin{aligned}
    \dot R &= -k_{on} L R + k_{off} C, &
    \dot C &= k_{on} L R - (k_{off} + k_{int}) C,\\
    \dot K &= -v_{act} + k_{deact} K_p, &
    \dot K_p &= v_{act} - k_{deact} K_p, \quad v_{act} = \frac{k_{act} C K}{K_m + K},\\
    \dot T &= -k_{tf} K_p T + k_{tfd} T_p, &
    \dot T_p &= k_{tf} K_p T - k_{tfd} T_p,\\
    \dot G &= k_{syn} T_p - k_{deg} G.
    \end{aligned}$$

    Ligand $L$ is a condition parameter (dose). Initial state: $R = R_0$, $K = K_{tot}$,
    $T = T_{tot}$, all else 0. Observables: bound receptor $C$, active kinase $K_p$ and
    gene product $G$.
    """

    parameter_names = (
        "k_on", "k_off", "k_int", "k_act", "Km", "k_deact",
        "k_tf", "k_tfd", "k_syn", "k_deg", "L", "R0", "K_tot", "T_tot",
    )  # fmt: skip
    state_names = ("R", "C", "K", "Kp", "T", "Tp", "G")
    observable_names = ("C_obs", "Kp_obs", "G_obs")

    def vector_field(self, t, y, theta):
        k_on, k_off, k_int, k_act, km, k_deact, k_tf, k_tfd, k_syn, k_deg, ligand = theta[:11]
        r, c, k, kp, tf, tfp, g = y
        binding = k_on * ligand * r - k_off * c
        activation = k_act * c * k / (km + k) - k_deact * kp
        transcription = k_tf * kp * tf - k_tfd * tfp
        return jnp.stack(
            [
                -binding,
                binding - k_int * c,
                -activation,
                activation,
                -transcription,
                transcription,
                k_syn * tfp - k_deg * g,
            ]
        )

    def initial_state(self, theta):
        r0, k_tot, t_tot = theta[11], theta[12], theta[13]
        zero = jnp.zeros_like(r0)
        return jnp.stack([r0, zero, k_tot, zero, t_tot, zero, zero])

    def observables(self, t, y, theta):
        return jnp.stack([y[1], y[3], y[6]])
