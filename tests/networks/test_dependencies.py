"""The networks package never imports the configuration: dependencies go config -> networks.

Read from the source with ``ast`` (imports inside functions count), so the direction cannot be
hidden by a late import. The whole package's cycle check is tests/architecture/test_import_graph.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

NETWORKS = Path(__file__).resolve().parents[2] / "glaucoma_core" / "networks"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_networks_module_imports_the_config_anywhere():
    modules = sorted(NETWORKS.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        bad = {name for name in _imports(path) if name == "glaucoma_core.config" or
               name.startswith("glaucoma_core.config.") or name == "glaucoma_core.config_fields"}
        assert not bad, f"{path.name} imports {bad}"
        relative = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{path.name}: relative imports would hide the check"


def test_the_registry_loads_without_the_config():
    code = ("import sys; import glaucoma_core.networks.registry as r; r.list_backbones(); "
            "print('glaucoma_core.config' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
