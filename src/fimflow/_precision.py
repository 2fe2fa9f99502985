"""float64 is required: entry points switch it on, library functions check it."""

import jax


def enable_float64() -> None:
    """Switch JAX to float64 (call once at program start, before any array is made)."""
    jax.config.update("jax_enable_x64", True)


def require_float64() -> None:
    """Raise if float64 is off: tolerances of 1e-8 are meaningless in float32."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            "fimflow needs float64: call `fimflow.enable_float64()` (or set JAX_ENABLE_X64=1) "
            "before creating any JAX array."
        )
