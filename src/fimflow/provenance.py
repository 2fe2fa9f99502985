"""What a result depends on (the problem's files, the library's source: re-run triggers) and how
it was produced (host, date, versions: kept beside the results, never inside them)."""

import datetime
import hashlib
import importlib
import importlib.metadata
import os
import platform
import sys

from .problem import is_petab_yaml, read_problem_file


def problem_files(path) -> list[str]:
    """The problem file and every table it names (absolute paths of existing files)."""
    if is_petab_yaml(path):
        from .petab import petab_files

        return [os.path.abspath(path)] + list(petab_files(path).values())
    spec = read_problem_file(path)
    names = [os.path.abspath(path)]
    names += [spec[key] for key in ("parameters", "measurements", "conditions", "observables") if key in spec]
    return names


def library_fingerprint(root: str | None = None) -> str:
    """SHA-256 over the `.py` files of the fimflow package (or of `root`): changes with any edit."""
    return _hash_sources([root or os.path.dirname(os.path.abspath(__file__))])


def _hash_sources(paths) -> str:
    """SHA-256 (16 hex digits) over the `.py` files under each folder of `paths` (a file is
    taken alone), each with its path relative to its root: any edit, addition or removal changes
    it, a touch does not."""
    digest = hashlib.sha256()
    for root in paths:
        if os.path.isfile(root):
            digest.update(os.path.basename(root).encode())
            with open(root, "rb") as handle:
                digest.update(handle.read())
            continue
        for folder, dirs, files in sorted(os.walk(root)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    digest.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as handle:
                        digest.update(handle.read())
    return digest.hexdigest()[:16]


def source_fingerprint(module_name: str) -> str | None:
    """A hash of the code behind the module `module_name`: every `.py` file of its top-level
    package when it sits in a package (a helper module beside the model counts), its own file
    when it is a top-level module; None when it has no source file (a class defined in a
    notebook or `__main__`), which a cache must treat as "cannot tell"."""
    top = module_name.split(".")[0]
    module = sys.modules.get(top)
    if module is None:
        module = importlib.import_module(top)
    folders = list(getattr(module, "__path__", None) or [])  # a package (several for a namespace package)
    if folders:
        return _hash_sources(sorted(folders))
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py") or not os.path.isfile(path):
        return None
    return _hash_sources([path])


def covered_elsewhere(module_name: str) -> bool:
    """Whether a module's code is already covered by a program's key without hashing it: the
    standard library, fimflow itself (`library_fingerprint`) and the numerical packages
    whose versions the key holds."""
    top = module_name.split(".")[0]
    return top in sys.stdlib_module_names or top in {"builtins", "fimflow"} or top in VERSIONED_PACKAGES


# the packages whose installed versions key a traced program (their code is what they are)
VERSIONED_PACKAGES = ("jax", "jaxlib", "equinox", "diffrax", "optimistix", "lineax", "jaxtyping", "numpy")


def model_fingerprint(model) -> str | None:
    """The code fingerprint of a Python model (`source_fingerprint` of the module of its class):
    "a Python model is code", so an edit of it (or of its package) changes this and re-runs
    what depends on it. None for models that fimflow builds itself (SBML: keyed by the
    problem's files) and for classes without a source file."""
    module_name = type(model).__module__
    if covered_elsewhere(module_name):
        return None
    return source_fingerprint(module_name)


def package_versions(packages) -> dict[str, str | None]:
    """The installed version of each package (None if it is not installed)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def run_environment() -> dict:
    """Host, UTC date, Python and the numerical packages' versions, and the library fingerprint."""
    return {
        "host": platform.node(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "packages": package_versions(("jax", "jaxlib", "diffrax", "equinox", "optimistix", "numpy", "scipy")),
        "library": library_fingerprint(),
    }
