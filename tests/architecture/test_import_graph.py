"""The package's import graph has no cycle, and the data layer never imports the command line.

Imports are read from the source with ``ast`` (no module is imported), including the ones
hidden inside functions: a cycle through a function-level import is still a cycle of design.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("glaucoma_core", "app_pages")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules that the file at ``path`` (module ``name``) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c`: on the module a.b.c when c is one (a.b's __init__ then runs
            # first, the child -> parent edge left out below), else on a.b itself.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imported_modules(path, name, known) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def is_parent_package(importer: str, imported: str) -> bool:
    """A package's ``__init__`` importing from its own sub-modules is not a dependency cycle of design."""
    return importer.startswith(imported + ".")


def test_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from glaucoma_core.cli import main\n", encoding="utf-8")
    assert imported_modules(source, "m", {"glaucoma_core.cli", "glaucoma_core"}) == {"glaucoma_core.cli"}


def test_no_import_cycle_in_the_package_or_the_pages():
    graph = import_graph()
    # Importing a sub-module runs its package's __init__ first; that edge (child -> parent) is
    # not a design dependency, so it is left out.
    graph = {m: {t for t in targets if not is_parent_package(m, t)} for m, targets in graph.items()}
    assert find_cycles(graph) == []


def test_the_data_layer_and_the_core_do_not_import_the_command_line():
    graph = import_graph()
    entry_points = {"glaucoma_core.cli", "glaucoma_core.__main__", "glaucoma_core.console"}
    offenders = {
        module: sorted(t for t in targets if t in entry_points or t.startswith("glaucoma_core.commands"))
        for module, targets in graph.items()
        if module.startswith("glaucoma_core.") and not module.startswith("glaucoma_core.commands")
        and module not in entry_points
    }
    assert {m: t for m, t in offenders.items() if t} == {}
