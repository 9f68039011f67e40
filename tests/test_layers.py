"""The package's layering, read from the source: subpackages in pipeline order, imports only downward, no cycles.

    base (errors, files, units, _tf) -> model -> analysis -> bench -> output -> cli

A module may import its own layer or any layer below it, never one above; the package root
(the public API, ``resnet_inspect/__init__.py``) may import any layer and only its ``__version__``
may be imported from it. Imports inside functions count the same as top-level ones: a lazy
import may defer a heavy dependency, never hide an upward import or a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "resnet_inspect"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
LAYERS = ("base", "model", "analysis", "bench", "output", "cli")
BASE_MODULES = frozenset({"errors", "files", "units", "_tf", "__main__"})


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[1] in LAYERS:
        return parts[1]
    if parts[1] in BASE_MODULES:
        return "cli" if parts[1] == "__main__" else "base"
    raise AssertionError(f"{module} belongs to no layer: put it in a subpackage or add it to the base")


def imports_of(path: Path, module: str) -> list[tuple[str, int, list[str]]]:
    """(imported module, line, names) for every import of this package in ``path``, at any depth."""
    found = []
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, []) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != PACKAGE:
                continue
            names = [a.name for a in node.names]
            # `from pkg import submodule` imports the submodule
            subs = [f"{base}.{n}" for n in names if _is_module(f"{base}.{n}")]
            if subs:
                found += [(s, node.lineno, []) for s in subs]
                rest = [n for n in names if not _is_module(f"{base}.{n}")]
                if rest:
                    found.append((base, node.lineno, rest))
            else:
                found.append((base, node.lineno, names))
    return found


def _is_module(dotted: str) -> bool:
    path = ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, list[tuple[str, int, list[str]]]]:
    return {module_name(p): imports_of(p, module_name(p)) for p in sorted(ROOT.rglob("*.py"))}


def upward_imports(edges: dict[str, list[tuple[str, int, list[str]]]]) -> list[str]:
    found = []
    for module, imported in edges.items():
        mine = layer_of(module)
        for target, line, names in imported:
            theirs = layer_of(target)
            if theirs == "api":
                if mine != "api" and set(names) - {"__version__"}:
                    found.append(f"{module}:{line} imports {names} from the package root (only __version__)")
                continue
            if mine == "api":
                continue
            if LAYERS.index(theirs) > LAYERS.index(mine):
                found.append(f"{module}:{line} ({mine}) imports {target} ({theirs}), a higher layer")
    return found


def cycles(edges: dict[str, list[tuple[str, int, list[str]]]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _, _ in edges.get(node, []):
            if target not in edges or target == PACKAGE:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    modules = list(graph())
    assert len(modules) > 20
    for module in modules:
        layer_of(module)  # raises for a module outside every layer


# Upward imports still to be removed; each entry is work in progress and the list only shrinks.
KNOWN_UPWARD: frozenset[str] = frozenset()


def test_no_import_runs_upward() -> None:
    assert set(upward_imports(graph())) <= KNOWN_UPWARD


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_checks_catch_what_they_forbid() -> None:
    """The rules themselves fail on an upward import and on a cycle (so the tests above can fail)."""
    edges = {
        "resnet_inspect.model.spec": [("resnet_inspect.output.render", 3, ["console"])],
        "resnet_inspect.output.render": [("resnet_inspect.analysis.walk", 5, ["analyze"])],
        "resnet_inspect.analysis.walk": [("resnet_inspect.output.render", 7, ["x"])],
        "resnet_inspect.cli.app": [("resnet_inspect", 1, ["build_resnet"])],
    }
    found = upward_imports(edges)
    assert found == [
        "resnet_inspect.model.spec:3 (model) imports resnet_inspect.output.render (output), a higher layer",
        "resnet_inspect.analysis.walk:7 (analysis) imports resnet_inspect.output.render (output), a higher layer",
        "resnet_inspect.cli.app:1 imports ['build_resnet'] from the package root (only __version__)",
    ]
    assert cycles(edges) == [["resnet_inspect.analysis.walk", "resnet_inspect.output.render"]]


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_shadows_the_standard_library(path: Path) -> None:
    import sys

    assert path.stem == "__init__" or path.stem == "__main__" or path.stem not in sys.stdlib_module_names
