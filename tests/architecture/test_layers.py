"""The package's layers, as docs/architecture.md draws them: each imports only the layers below.

The import graph is read from the source (AST), so the check is exact and needs no import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "daydreaming_dagster"

# Lower numbers are lower layers. A unit (a folder, or a top-level module) may import units of a
# lower layer, and itself.
LAYERS: dict[str, int] = {
    "core": 0,
    "llm": 1,
    "engine": 2,
    "inputs": 3,
    "stages": 4,
    "cohort": 5,
    "results": 6,
    "resources": 7,
    "utils": 7,
    "cli": 8,
    "assets": 8,
    "definitions": 9,
    "testing": 10,
}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Units of the package this file imports (at any depth: lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "daydreaming_dagster" and len(parts) > 1:
                found.add(parts[1])
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit(path)
        if unit == "__init__":
            continue
        for target in _imports(path):
            if target != unit:
                graph[unit][target].append(str(path.relative_to(PACKAGE)))
    return graph


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units <= set(LAYERS), f"add {sorted(units - set(LAYERS))} to LAYERS and docs/architecture.md"


def test_each_unit_imports_only_lower_layers() -> None:
    wrong = [
        f"{files[0]} ({unit}, layer {LAYERS[unit]}) imports {target} (layer {LAYERS.get(target)})"
        for unit, targets in _graph().items()
        for target, files in targets.items()
        if LAYERS.get(target, 99) >= LAYERS[unit]
    ]
    assert wrong == []


def test_no_import_cycle_between_units() -> None:
    graph = {unit: set(targets) for unit, targets in _graph().items()}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> None:
        if unit in done:
            return
        assert unit not in visiting, f"import cycle: {' -> '.join([*path, unit])}"
        visiting.add(unit)
        for target in graph.get(unit, ()):
            visit(target, [*path, unit])
        visiting.discard(unit)
        done.add(unit)

    for unit in graph:
        visit(unit, [])


def test_product_code_never_imports_the_test_kit() -> None:
    users = [unit for unit, targets in _graph().items() if "testing" in targets and unit != "testing"]
    assert users == []


def _imported_modules(statement: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    return {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}


HEAVY = {"dagster", "openai", "pandas", "llama_cpp"}


@pytest.mark.parametrize(
    "statement,forbidden",
    [
        ("import daydreaming_dagster.cli", HEAVY),
        ("from daydreaming_dagster.cli import build_parser; build_parser().format_help()", HEAVY),
        ("import daydreaming_dagster.engine.flow", {"dagster"}),
        ("import daydreaming_dagster.stages", {"dagster"}),
        ("import daydreaming_dagster.utils.generation_engine", {"dagster"}),
        ("import daydreaming_dagster.utils.draft_parsers, daydreaming_dagster.utils.eval_response_parser", HEAVY),
    ],
)
def test_light_imports(statement: str, forbidden: set[str]) -> None:
    assert _imported_modules(statement) & forbidden == set()
