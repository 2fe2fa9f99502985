"""Process set-up for entry points (workflow scripts, command lines): logging, float64, compile cache."""

import logging
import os
import sys

import jax

from ._atomic import atomic_path
from ._precision import enable_float64


# Only programs that took this long to compile are written to the cache. Measured over the fit,
# FIM and benchmark-model tests: 227 of 270 compiled programs (eager operations, small helpers)
# compile in under 0.1 s and together cost 2.7 s of the 65 s; the solver programs take 0.7–3.8 s
# each. Writing the small ones bought nothing and cost a serialisation each (one of which
# crashed an XLA worker in CI: `executable.serialize()`, jaxlib 0.10.2).
MIN_CACHED_COMPILE_SECONDS = 0.2


def setup_logging(log_path: str | None) -> logging.Logger:
    """Send `logging` and stderr of this process to `log_path` (append), INFO level."""
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        stream = open(log_path, "a", buffering=1)
        sys.stderr = stream
        handler = logging.StreamHandler(stream)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return logging.getLogger("fimflow")


def atomic_compile_cache_writes() -> None:
    """Make JAX's persistent compilation cache write each entry to a temporary file and rename it
    into place (`_atomic.atomic_path`), so another process never reads a half-written entry.

    jax 0.10.2's file cache (`jax._src.lru_cache.LRUCache.put`, without a size limit) writes the
    entry in place and unlocked, and its reader deserialises whatever bytes it finds: a reader
    polling while a 64 MB entry is written gets it with 0 bytes (`tests/test_programs.py`), and
    two jobs of one study (multistart shards of a problem) compile and cache the same programs
    at the same time.
    With a size limit JAX locks the folder itself and this leaves `put` alone; a JAX without
    that class is left as it is. Idempotent.
    """
    try:
        from jax._src import lru_cache
    except ImportError:  # another JAX: its own cache
        return
    cache_class = getattr(lru_cache, "LRUCache", None)
    suffix = getattr(lru_cache, "_CACHE_SUFFIX", None)
    if cache_class is None or suffix is None or getattr(cache_class.put, "fimflow_atomic", False):
        return
    locked_put = cache_class.put

    def put(self, key: str, value: bytes) -> None:
        if getattr(self, "eviction_enabled", True) or not key:
            return locked_put(self, key, value)
        path = os.path.join(str(self.path), f"{key}{suffix}")
        if os.path.exists(path):
            return
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(value)

    put.fimflow_atomic = True
    cache_class.put = put


def setup_jax(compile_cache: str | None = None) -> None:
    """float64 on; JAX's persistent compilation cache in `compile_cache` if given.

    diffrax programs are cacheable only with `EQX_ON_ERROR=nan` set before equinox is imported
    (the workflow sets it for its jobs); without it the cache stays silently empty.
    """
    enable_float64()
    if compile_cache:
        atomic_compile_cache_writes()
        os.makedirs(compile_cache, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", os.path.abspath(compile_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_CACHED_COMPILE_SECONDS)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

