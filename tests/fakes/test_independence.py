"""The fake providers judge agentwrap's wire code, so they must not share any of it."""

from __future__ import annotations

import ast
from pathlib import Path

import agentwrap.fakes

PACKAGE = Path(agentwrap.fakes.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, absolute names only."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_fakes_import_nothing_of_agentwrap_but_themselves() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 8  # the walk really found the package
    for path in sources:
        foreign = {
            name
            for name in imported_modules(path)
            if name.startswith("agentwrap") and not name.startswith("agentwrap.fakes")
        }
        assert not foreign, f"{path.relative_to(PACKAGE)} imports {sorted(foreign)}"


def test_relative_imports_are_not_used_to_hide_one() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{path.relative_to(PACKAGE)} uses a relative import"
