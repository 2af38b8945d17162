"""The layering of docs/ARCHITECTURE.md, checked on the source: no import cycle anywhere in core/ or
plugins/ (counting imports inside functions and under TYPE_CHECKING), a stdlib-only contract, plugins
that use core's public face only, and no plugin family importing another."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "plugins")
# Family packages and the shared package each may use besides its own (see docs/ARCHITECTURE.md).
FAMILIES = {
    "sklearn": ("sklearn_common", "sklearn_classifier", "sklearn_regressor"),
    "torch": ("torch_common", "torch_mlp"),
    "nlp": ("text_classifier",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.relative_to(ROOT).parts:
                continue
            found[_module_name(path)] = path
    return found


MODULES = _source_modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module of ours that `name` imports, wherever the import statement stands."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports pkg.mod when that is a module of ours
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_core_or_plugins():
    """No two modules import each other, directly or through others, even inside functions or for typing."""
    assert _cycles(GRAPH) == []


def test_contracts_import_only_the_standard_library():
    """`core/contracts.py` imports nothing but the standard library."""
    tree = ast.parse((ROOT / "core" / "contracts.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_core_internals_never_import_the_public_face():
    """Core's own modules import each other directly, never through `core` (which imports them)."""
    offenders = {name for name, targets in GRAPH.items() if name.startswith("core.") and "core" in targets}
    assert offenders == set()


def test_commands_never_import_the_cli():
    """The CLI dispatches to commands; commands print through core._commands._output."""
    assert {n for n, targets in GRAPH.items() if n.startswith("core._commands") and "core.cli" in targets} == set()


def _family(package: str) -> str | None:
    return next((family for family, members in FAMILIES.items() if package in members), None)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("plugins.")))
def test_plugins_use_core_public_face_and_no_other_family(name):
    """A plugin module imports `core` (public names), `plugins.common` and its own family only."""
    package = name.split(".")[1]
    for target in GRAPH[name]:
        if target.startswith("core"):
            assert target == "core", f"{name} imports {target}: plugins use `from core import ...`"
        elif target.startswith("plugins."):
            other = target.split(".")[1]
            allowed = other in ("common", package) or (_family(package) and _family(other) == _family(package))
            assert allowed, f"{name} imports {target}: another family's package (share it through plugins.common)"
