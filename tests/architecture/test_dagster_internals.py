"""Dagster's private API is used in one module only: ``resources/dagster_internals.py``.

Read from the source (AST), like test_layers.py. A private name is a ``dagster._...`` module, or a
``_``-prefixed name imported from Dagster, or (in a module that imports Dagster) a ``_``-prefixed
attribute that the package does not define itself, such as a storage's ``_event_to_row``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture.test_layers import PACKAGE

INTERNALS = PACKAGE / "resources" / "dagster_internals.py"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_dagster(module: str) -> bool:
    return module == "dagster" or module.startswith("dagster.")


def private_dagster_imports(tree: ast.AST) -> list[str]:
    """``import dagster._x``, ``from dagster._x import y``, ``from dagster import _y`` (any depth)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                a.name for a in node.names if _is_dagster(a.name) and any(map(_is_private, a.name.split(".")))
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _is_dagster(node.module):
            if any(map(_is_private, node.module.split("."))):
                found.append(f"from {node.module} import ...")
            found += [f"from {node.module} import {a.name}" for a in node.names if _is_private(a.name)]
    return found


def _imports_dagster(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_is_dagster(a.name) for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _is_dagster(node.module):
            return True
    return False


def _defined_names(trees: list[ast.AST]) -> set[str]:
    """Every name the package defines: functions, classes, arguments, assigned names and attributes."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
    return names


def private_attribute_uses(tree: ast.AST, ours: set[str]) -> list[str]:
    """``x._name`` where ``_name`` is defined nowhere in the package (so it is a library's)."""
    return sorted(
        {
            f"line {node.lineno}: ._{node.attr[1:]}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in ours
        }
    )


def _package() -> dict[Path, ast.AST]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_internals_module_imports_private_dagster_names() -> None:
    wrong = {
        str(path.relative_to(PACKAGE)): found
        for path, tree in _package().items()
        if path != INTERNALS and (found := private_dagster_imports(tree))
    }
    assert wrong == {}, "move these into resources/dagster_internals.py (pinned, with a why)"


def test_only_the_internals_module_touches_private_dagster_attributes() -> None:
    package = _package()
    ours = _defined_names([tree for path, tree in package.items() if path != INTERNALS])
    wrong = {
        str(path.relative_to(PACKAGE)): found
        for path, tree in package.items()
        if path != INTERNALS and _imports_dagster(tree) and (found := private_attribute_uses(tree, ours))
    }
    assert wrong == {}, "move these into resources/dagster_internals.py (pinned, with a why)"


def test_the_checks_see_what_the_internals_module_does() -> None:
    """The two checks above would catch the internals module itself: they are not vacuous."""
    tree = ast.parse(INTERNALS.read_text(encoding="utf-8"))
    imports = private_dagster_imports(tree)
    assert "from dagster._core.execution.context.metadata_logging import ..." in imports
    ours = _defined_names([t for p, t in _package().items() if p != INTERNALS])
    used = " ".join(private_attribute_uses(tree, ours))
    for name in ("_event_to_row", "_store_asset_event_tags", "_step_execution_context", "_metadata_accumulator"):
        assert f"{name}" in used


def test_a_private_import_anywhere_is_found() -> None:
    source = (
        "def f():\n"
        "    import dagster._core.events\n"
        "    from dagster import _check\n"
        "    from dagster._core.storage import x\n"
        "    from dagster import AssetKey\n"
    )
    assert private_dagster_imports(ast.parse(source)) == [
        "dagster._core.events",
        "from dagster import _check",
        "from dagster._core.storage import ...",
    ]
