"""The model protocol for ODE models written in Python/JAX."""

import abc
import importlib

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._errors import ModelDefinitionError


class AbstractODEModel(eqx.Module):
    r"""An ODE model $\dot y = f(t, y, \theta)$, $y(t_0) = y_0(\theta)$, with observables $h(t, y, \theta)$.

    Concrete models are final `eqx.Module`s that set the three name tuples as class
    attributes and implement the three methods. Parameters $\theta$ are passed as one array
    in the order of `parameter_names` (linear scale), never closed over, so that
    `jax.jacfwd` with respect to $\theta$ is direct.
    """

    parameter_names: eqx.AbstractClassVar[tuple[str, ...]]
    state_names: eqx.AbstractClassVar[tuple[str, ...]]
    observable_names: eqx.AbstractClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def vector_field(
        self, t: Float[Array, ""], y: Float[Array, " n_states"], theta: Float[Array, " n_model_params"]
    ) -> Float[Array, " n_states"]:
        """Right-hand side $f(t, y, \\theta)$."""

    @abc.abstractmethod
    def initial_state(self, theta: Float[Array, " n_model_params"]) -> Float[Array, " n_states"]:
        """Initial state $y_0(\\theta)$ at $t_0$ (`start_time`)."""

    def start_time(self, theta: Float[Array, " n_model_params"]) -> Float[Array, ""]:
        """$t_0$, where the simulation starts: 0 unless a model says otherwise (a PEtab v2
        experiment whose first period starts later carries its start as a fixed model parameter).
        Times before it have no simulated values (NaN)."""
        return jnp.zeros(())

    @abc.abstractmethod
    def observables(
        self, t: Float[Array, ""], y: Float[Array, " n_states"], theta: Float[Array, " n_model_params"]
    ) -> Float[Array, " n_obs"]:
        """Observables $h(t, y, \\theta)$ in the order of `observable_names` (before transformation)."""

    def __check_init__(self):
        for kind in ("parameter_names", "state_names", "observable_names"):
            names = getattr(type(self), kind)
            if len(set(names)) != len(names):
                raise ModelDefinitionError(f"{type(self).__name__}.{kind} has duplicates: {names}.")
            if not all(isinstance(n, str) and n.isidentifier() for n in names):
                raise ModelDefinitionError(
                    f"{type(self).__name__}.{kind} must be identifiers, got {names}."
                )


def import_model(reference: str, *, source: str = "problem file") -> AbstractODEModel:
    """Instantiate the model named `module.path:ClassName` (explicitly named, never guessed).

    **Raises:** `ModelDefinitionError` when the reference is malformed, the module or class is
    missing, or the class is not an `AbstractODEModel`.
    """
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise ModelDefinitionError(
            f"{source}: `model` must be 'package.module:ClassName', got {reference!r}."
        )
    module_name, class_name = reference.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelDefinitionError(
            f"{source}: cannot import module `{module_name}` named in `model` ({error}). "
            "Install the package that holds it or fix the name."
        ) from error
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelDefinitionError(
            f"{source}: module `{module_name}` has no class `{class_name}` (named in `model`)."
        )
    if not (isinstance(cls, type) and issubclass(cls, AbstractODEModel)):
        raise ModelDefinitionError(
            f"{source}: `{reference}` is not a subclass of fimflow.AbstractODEModel."
        )
    return cls()
