"""The environment is read in one place: ``core/settings.py`` names every variable the product reads.

Read from the source (AST), like the layer test: a new ``os.environ`` read, or a variable's name
written as a string literal, outside the settings modules fails here with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from daydreaming_dagster.core import settings

PACKAGE = Path(__file__).resolve().parents[2] / "daydreaming_dagster"

# Where the environment may be touched, and why.
READERS = {
    "core/settings.py": "the one reader of the DD_* variables and DAGSTER_HOME",
    "llm/_settings.py": "LLMSettings.from_env reads the DD_LLM_* variables (names from core/settings.py)",
    "resources/reporter.py": "passes the whole environment on to its child process",
}
TEST_KIT = "testing/"  # test doubles and their own variables (DD_PG_BIN), never product code


def _product_files() -> list[tuple[str, ast.Module]]:
    files = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if not rel.startswith(TEST_KIT):
            files.append((rel, ast.parse(path.read_text(encoding="utf-8"))))
    return files


def _environment_uses(tree: ast.Module) -> list[int]:
    """Lines of ``os.environ`` and ``os.getenv`` / ``getenv`` uses."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == "getenv":
            lines.append(node.lineno)
    return lines


def test_only_the_settings_modules_read_the_environment() -> None:
    found = [
        f"{rel}:{line}"
        for rel, tree in _product_files()
        if rel not in READERS
        for line in _environment_uses(tree)
    ]
    assert found == [], "read the variable through daydreaming_dagster.core.settings"


def test_variable_names_are_written_only_in_core_settings() -> None:
    names = set(settings.VARIABLES)
    found = [
        f"{rel}:{node.lineno} {node.value!r}"
        for rel, tree in _product_files()
        if rel != "core/settings.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    ]
    assert found == [], "use the name's constant from daydreaming_dagster.core.settings"


def test_variables_lists_every_name_core_settings_defines() -> None:
    defined = {
        value for name, value in vars(settings).items()
        if name.isupper() and isinstance(value, str) and (value.startswith("DD_") or value.endswith(("_HOME", "_KEY")))
    }
    assert defined and defined == set(settings.VARIABLES)
    assert len(settings.VARIABLES) == len(set(settings.VARIABLES))


def test_dagster_reporting_follows_dagster_home_and_dd_dagster_report() -> None:
    assert not settings.dagster_reporting({})
    assert not settings.dagster_reporting({"DAGSTER_HOME": "  "})
    assert settings.dagster_reporting({"DAGSTER_HOME": "/tmp/home"})
    assert settings.dagster_reporting({"DAGSTER_HOME": "/tmp/home", "DD_DAGSTER_REPORT": " "})
    for off in ("0", "false", "No", " OFF "):
        assert not settings.dagster_reporting({"DAGSTER_HOME": "/tmp/home", "DD_DAGSTER_REPORT": off})
