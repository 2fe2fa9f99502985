"""The library's imports point one way: no module imports, directly or through others, a module
that imports it back, counting imports inside functions (which only hide a cycle) and the package
`__init__` files an import runs on the way. Scripts use public names only."""

import ast
import os

from helpers import REPO

PACKAGE = os.path.join(REPO, "src", "fimflow")


def modules() -> dict[str, str]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].split(os.sep)
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(module: str, path: str, known: dict[str, str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its file (module or function level)."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    targets = set()
    with open(path) as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rsplit(".", 1)[0] if "." in name else ""
            # importing `a.b.c` runs the `__init__` of `a` and `a.b` first
            parents = [name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)]
            for target in [name, *parents]:
                # a package's __init__ imported by its own submodule is the package itself, not a cycle
                if target and target != module and target in known and not (
                        known[target].endswith("__init__.py") and module.startswith(target + ".")):
                    targets.add(target)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_library_has_no_import_cycle():
    known = modules()
    graph = {m: imports(m, path, known) for m, path in known.items()}
    # the walk sees imports, and the package __init__ run on the way (else it proves nothing)
    assert {"fimflow.fit", "fimflow.identify"} <= graph["fimflow.results._files"]
    assert "fimflow.simulate" in graph["fimflow.fit._multistart"]
    assert cycles(graph) == []


def reaches_into_other_stages(module: str, path: str) -> list[str]:
    """The private modules of *other* subpackages (`fimflow.fit._local` from `fimflow.identify`)
    that `module` imports anywhere in its file: a stage is used through its `__init__`."""
    own = module.split(".")[1] if "." in module else None
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    found = []
    with open(path) as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            parent = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parent + ([base] if base else []))
        for name in [base] + [f"{base}.{alias.name}" for alias in node.names]:
            parts = name.split(".")
            if (len(parts) >= 3 and parts[0] == "fimflow" and not parts[1].startswith("_") and parts[1] != own
                    and parts[2].startswith("_")):
                found.append(name)
    return found


def test_stages_use_each_other_through_their_init():
    known = modules()
    bad = {m: reaches_into_other_stages(m, path) for m, path in known.items()}
    assert {m: names for m, names in bad.items() if names} == {}
    # the check finds one
    assert reaches_into_other_stages("fimflow.identify._x", os.path.join(PACKAGE, "results", "_files.py")) == []
    probe = os.path.join(os.path.dirname(__file__), "data", "reaching_probe.py")
    assert reaches_into_other_stages("fimflow.identify._probe", probe) == ["fimflow.fit._trust_region",
                                                                             "fimflow.fit._trust_region.minimize"]


def private_names(path: str) -> list[str]:
    """Every private name (a dotted component starting with `_`) that the file at `path` imports
    or reaches through an attribute of an imported module."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            dotted = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            dotted = [f"<attribute>.{node.attr}"]
        else:
            continue
        found += [name for name in dotted if any(part.startswith("_") and not part.startswith("__")
                                                  for part in name.split("."))]
    return found


def test_scripts_use_public_names_only(tmp_path):
    scripts = os.path.join(REPO, "scripts")
    bad = {name: private_names(os.path.join(scripts, name)) for name in sorted(os.listdir(scripts))
           if name.endswith(".py")}
    assert len(bad) >= 10
    assert {name: found for name, found in bad.items() if found} == {}
    # the check finds each kind of private use
    script = tmp_path / "script.py"
    script.write_text("from fimflow import _io\nfrom fimflow._fit import x\nimport fimflow.results._files\n"
                      "import fimflow\nfimflow._io.read_table('a')\n")
    assert private_names(str(script)) == ["fimflow._io", "fimflow._fit", "fimflow._fit.x", "fimflow.results._files",
                                          "<attribute>._io"]
