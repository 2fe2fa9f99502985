"""Traced programs kept between processes, so a job does not trace the model again.

JAX's persistent compilation cache skips XLA's compile, but every process still traces the
Python model (for Boehm_JProteomeRes2014's batched FIM kernel about 7 s of the 7.5 s from
model loaded to first result). `stored_program` keeps the traced program itself
(`jax.export`, serialised) beside the compilation cache, under a key of everything the trace
depends on: the objective's arrays and static structure, the function's name, the input
shape, the library's source, the source of a user's model (its module, or every `.py` file of
its top-level package: a Python model is code) and the versions of the numerical packages. A later process with
the same key deserialises it in milliseconds, and its compilation is then a cache hit.
Used for the fit's batched kernels and, through `stored_call`, for the Fisher information
(pk_fixed_dose, warm cache: 15.3 s -> 0.6 s per job), predictions and their gradients, plot
curves, sensitivity matrices and design terms.

A key that cannot be made stable (a static field whose text changes between processes)
only makes the store miss, never return a program of other inputs: the key covers every
value the trace reads.
"""

import collections
import functools
import hashlib
import logging
import os
from collections.abc import Callable

import jax
import numpy as np

from .._atomic import atomic_path
from ..provenance import VERSIONED_PACKAGES, covered_elsewhere, library_fingerprint, package_versions, source_fingerprint

_log = logging.getLogger(__name__)
FOLDER = "fimflow-programs"
# Programs this process has loaded or traced, newest last: a loop of `stored_call`s (a prediction
# profile calls one per trust-region step) reuses the compiled program instead of deserialising
# and compiling it again each time (Boehm_JProteomeRes2014: 4 s per call, 93 s for one profile point)
_LOADED: collections.OrderedDict = collections.OrderedDict()
_LOADED_MAX = 64


def _node_types(pytree) -> list[type]:
    """The class of every node of `pytree` (a user's model class among them)."""
    types, pending = [], [jax.tree_util.tree_structure(pytree)]
    while pending:
        treedef = pending.pop()
        node = treedef.node_data()
        if node is not None:
            types.append(node[0])
        pending.extend(treedef.children())
    return types


def user_code(function: Callable, pytree) -> dict[str, str | None]:
    """The code a trace runs beyond fimflow and the versioned packages: for the module of
    `function` and of every node type in `pytree` (a user's model class, say) that is not
    covered elsewhere, `{top-level package: source_fingerprint}` (None: no source file)."""
    modules = {getattr(function, "__module__", None) or ""}
    modules.update(getattr(node, "__module__", None) or "" for node in _node_types(pytree))
    return {module.split(".")[0]: source_fingerprint(module) for module in sorted(modules)
            if module and not covered_elsewhere(module)}


def program_key(name: str, pytree, shape: tuple[int, ...], code: dict | None = None) -> str:
    """SHA-256 over `name`, `shape`, every leaf (dtype, shape, bytes) and the static structure of
    `pytree`, the library source, the source of the user's code the trace runs (`code`, from
    `user_code`), package versions and the settings that change a trace."""
    digest = hashlib.sha256()
    leaves, treedef = jax.tree_util.tree_flatten(pytree)
    settings = (name, shape, str(treedef), _library(), sorted((code or {}).items()),
                _versions(), jax.config.jax_enable_x64, os.environ.get("EQX_ON_ERROR", ""))
    digest.update(repr(settings).encode())
    for leaf in leaves:
        array = np.asarray(leaf)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@functools.cache
def _library() -> str:
    """fimflow's source fingerprint, once per process: the code a process runs is the code it
    imported, whatever is edited on disk meanwhile."""
    return library_fingerprint()


@functools.cache
def _versions() -> dict[str, str | None]:
    return package_versions(VERSIONED_PACKAGES)


def _store() -> str | None:
    """The folder for programs: inside the persistent compilation cache, if one is set up."""
    cache = jax.config.jax_compilation_cache_dir
    return os.path.join(cache, FOLDER) if cache else None


def stored_program(name: str, function: Callable, pytree, example: np.ndarray) -> Callable:
    """`jax.jit(lambda x: function(pytree, x))` for inputs shaped like `example` (float64),
    traced once per key and then loaded from the store (when a compilation cache is set up).
    Within a process the program is kept (by key, `function` and the classes of `pytree`'s nodes,
    so a class redefined in a notebook is a new entry) and a repeated call costs only the key."""
    store = _store()
    code = user_code(function, pytree)
    key = program_key(name, pytree, tuple(example.shape), code)
    entry = (key, store, function, *_node_types(pytree))
    if entry in _LOADED:
        _LOADED.move_to_end(entry)
        return _LOADED[entry]
    program = _load_or_trace(name, function, pytree, example, store, code, key)
    _LOADED[entry] = program
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return program


def _load_or_trace(name, function, pytree, example, store, code, key) -> Callable:
    compiled = jax.jit(lambda x: function(pytree, x))
    if store is None:
        return compiled
    if None in code.values():  # code without a source file (a notebook's class): the key cannot cover it
        _log.info("%s: not stored (no source file for %s)", name, [m for m, f in code.items() if f is None])
        return compiled
    path = os.path.join(store, key + ".jaxexport")
    spec = jax.ShapeDtypeStruct(example.shape, np.float64)
    try:
        with open(path, "rb") as handle:
            exported = jax.export.deserialize(bytearray(handle.read()))
    except FileNotFoundError:
        exported = None
    except Exception as error:  # noqa: BLE001 - a damaged entry is traced again
        _log.warning("stored program %s unreadable (%s); tracing again", path, error)
        exported = None
    if exported is None:
        _log.info("tracing %s: no stored program for these inputs and this code (%s)", name,
                  ", ".join(f"{m} {f}" for m, f in code.items()) or "fimflow only")
        try:
            exported = jax.export.export(compiled)(spec)
        except ValueError as error:  # jax cannot serialise it (a custom call without compatibility guarantees)
            _log.warning("%s: not stored, it runs traced in this process (%s)", name, str(error).splitlines()[0])
            return compiled
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                handle.write(exported.serialize())
        except OSError as error:  # a read-only cache still works, without storing
            _log.warning("could not store program %s: %s", path, error)
    return jax.jit(exported.call)


def stored_call(function: Callable, pytree, x):
    """`function(pytree, x)` for one float64 array `x`, through the program store: a later
    process with the same inputs (but `x`'s values) does not trace `function` again."""
    x = np.asarray(x, dtype=np.float64)
    name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', function.__name__)}"
    return stored_program(name, function, pytree, x)(x)
