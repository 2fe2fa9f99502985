"""What a result depends on (the problem's files, the library's source: re-run triggers) and how
it was produced (host, date, versions: kept beside the results, never inside them)."""

import datetime
import hashlib
import importlib.metadata
import os
import platform

from ._load import is_petab_yaml, read_problem_file


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
    root = root or os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()[:16]


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
