"""Array type aliases shared by the library (jaxtyping, axes named)."""

from jaxtyping import Array, Bool, Float, Int

Theta = Float[Array, " n_params"]
Matrix = Float[Array, "n_params n_params"]
MeasurementVector = Float[Array, " n_meas"]
Jacobian = Float[Array, "n_meas n_params"]

__all__ = ["Array", "Bool", "Float", "Int", "Theta", "Matrix", "MeasurementVector", "Jacobian"]
