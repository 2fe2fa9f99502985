"""Built-in Python/JAX models."""

from .one_compartment import OneCompartmentPK as OneCompartmentPK
from .signalling_cascade import SignallingCascade as SignallingCascade
