r"""The scales of parameters and observables (`lin`, `log`, `log10`): one code table and the
transforms between the linear value $x$ and its value on a scale $v$, in numpy and in JAX.

- `lin`: $v = x$;
- `log`: $v = \ln x$, $x = e^v$;
- `log10`: $v = \log_{10} x$, $x = 10^v$.

Parameter scales (`parameterScale`) and observable transformations
(`observableTransformation`) are the same three scales with the same codes (0, 1, 2), so the
numpy functions serve the parameter table and the JAX functions the objective (parameters
to linear, observables to their transformation scale).
"""

import enum

import jax
import jax.numpy as jnp
import numpy as np

from .. import _columns as C


class Scale(enum.IntEnum):
    """A scale; its value is its code in `SCALE_CODES` (the arrays the objective works on)."""

    LIN = 0
    LOG = 1
    LOG10 = 2

    @classmethod
    def of(cls, name: str) -> "Scale":
        """The scale named `name` (`lin`, `log` or `log10`). **Raises:** `ValueError` otherwise."""
        if name not in SCALE_CODES:
            raise ValueError(f"scale {name!r} is not one of {', '.join(C.SCALES)}.")
        return cls(SCALE_CODES[name])

    @property
    def label(self) -> str:
        """The scale's name in PEtab tables: `lin`, `log` or `log10`."""
        return C.SCALES[self.value]

    def to_linear(self, v):
        """A value (or array) on this scale to linear: numpy in, numpy out; JAX in, JAX out."""
        if self is Scale.LOG:
            return _xp(v).exp(v)
        if self is Scale.LOG10:
            return 10.0**v
        return v

    def from_linear(self, x):
        """A linear value (or array) to this scale: numpy in, numpy out; JAX in, JAX out."""
        if self is Scale.LOG:
            return _xp(x).log(x)
        if self is Scale.LOG10:
            return _xp(x).log10(x)
        return x


SCALE_CODES = {name: code for code, name in enumerate(C.SCALES)}
TRANSFORMATION_CODES = {name: SCALE_CODES[name] for name in C.TRANSFORMATIONS}
DISTRIBUTION_CODES = {name: code for code, name in enumerate(C.DISTRIBUTIONS)}
_LOG, _LOG10 = int(Scale.LOG), int(Scale.LOG10)  # plain ints for comparisons with JAX arrays


def _xp(value):
    """`jax.numpy` for JAX arrays and tracers, else `numpy`."""
    return jnp if isinstance(value, jax.Array) else np


def scale_codes(scales) -> np.ndarray:
    """The codes (`SCALE_CODES`) of scale names, as an int array."""
    return np.asarray([SCALE_CODES[s] for s in scales], dtype=int)


def to_scale(values, scales) -> np.ndarray:
    """Linear values to their scales (`lin`, `log`, `log10`), element-wise (numpy).

    A name other than `log` and `log10` leaves its value linear.
    """
    return _elementwise(values, scales, Scale.from_linear)


def from_scale(values, scales) -> np.ndarray:
    """Values on their scales back to linear, element-wise (numpy).

    A name other than `log` and `log10` leaves its value as it is.
    """
    return _elementwise(values, scales, Scale.to_linear)


def _elementwise(values, scales, transform) -> np.ndarray:
    """`transform(Scale, value)` of each value whose scale is `log` or `log10`; the others as they are."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    for i, name in enumerate(scales):
        if name in ("log", "log10"):
            out[i] = transform(Scale.of(name), values[i])
    return out


def to_linear_by_code(values, codes):
    """Values on the scales given by `codes` (0 lin, 1 log, 2 log10) to linear (JAX, traceable)."""
    return jnp.where(codes == _LOG, jnp.exp(values), jnp.where(codes == _LOG10, 10.0**values, values))


def from_linear_by_code(values, codes):
    """Linear values to the scales given by `codes` (0 lin, 1 log, 2 log10) (JAX, traceable)."""
    return jnp.where(codes == _LOG, jnp.log(values), jnp.where(codes == _LOG10, jnp.log10(values), values))
