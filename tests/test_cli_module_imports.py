"""The command line's imports flow one way: the modules its package ``__init__`` imports as it loads (how arguments
are read, what a command does where stdout cannot be written) never import the package back. parsing.py imported
``_reader_left``, ``cannot_write`` and ``_OUTPUT_FULL`` from it inside a method, a cycle that worked only because the
import ran after both had loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import magsag_mcp.cli as cli

PACKAGE = Path(cli.__file__).parent


def _imports(path: Path) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.ImportFrom)]


def _loaded_with_the_package() -> list[str]:
    """The package's own modules its ``__init__`` imports at its top level (not a command module built on demand)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    return sorted({n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module})


def test_the_package_loads_its_parsing_and_its_stdout_errors():
    assert _loaded_with_the_package() == ["parsing", "stdout_errors"]


def test_no_module_the_package_loads_imports_the_package_back():
    back = []
    for name in _loaded_with_the_package():
        for node in _imports(PACKAGE / f"{name}.py"):
            from_package = (node.level == 1 and node.module is None) or node.module == "magsag_mcp.cli"
            if from_package:
                back.append(f"{name}.py:{node.lineno} imports {', '.join(a.name for a in node.names)}")
    assert back == []


def test_the_export_points_stdout_at_nothing_by_the_same_helper():
    """output.py (an export cut back) and the package (a reader gone) share one way of sending what stdout still
    buffers nowhere, from the module that holds it, not the package."""
    from magsag_mcp.cli import output, stdout_errors

    assert output.point_at_nowhere is stdout_errors.point_at_nowhere
    assert not [n for n in _imports(PACKAGE / "output.py") if n.level == 1 and n.module is None]
