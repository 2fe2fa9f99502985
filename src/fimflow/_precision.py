"""float64 is required: `import fimflow` switches it on, library functions check it.

Tolerances of 1e-8 are meaningless in float32, so importing fimflow turns JAX's float64 on
(a process-wide JAX setting). Only an explicit `JAX_ENABLE_X64=0` (or false) in the environment
is respected at import; every entry point then refuses to run with an error naming the fix.
"""

import os

import jax

_OFF = ("0", "false", "no", "off")


def enable_float64() -> None:
    """Switch JAX to float64 (done by `import fimflow`; call it again after turning it off)."""
    jax.config.update("jax_enable_x64", True)


def enable_float64_on_import() -> None:
    """float64 on, unless the environment turned it off explicitly (`JAX_ENABLE_X64=0`)."""
    if os.environ.get("JAX_ENABLE_X64", "").strip().lower() not in _OFF:
        enable_float64()


def require_float64() -> None:
    """Raise if float64 is off, saying how it was turned off and how to turn it back on."""
    if not jax.config.jax_enable_x64:
        setting = os.environ.get("JAX_ENABLE_X64")
        cause = (f"the environment sets JAX_ENABLE_X64={setting}" if setting is not None and setting.strip().lower() in _OFF
                 else "jax_enable_x64 was switched off after `import fimflow`")
        raise RuntimeError(
            f"fimflow needs float64, but {cause}: unset JAX_ENABLE_X64 (or set it to 1), or call "
            "`fimflow.enable_float64()` before creating any JAX array."
        )
