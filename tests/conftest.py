"""Shared fixtures: the compat fixtures beside the repo and small data roots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPAT = REPO.parent / "shared" / "compat"
MISSING_REASON = "../shared/compat not found: golden tests need the shared compat fixtures beside the repo"


def require_compat() -> Path:
    if not COMPAT.is_dir():
        pytest.skip(MISSING_REASON)
    return COMPAT


def compare_tree(golden: Path, ours: Path) -> list[str]:
    """Differences between a golden gens tree and ours (metadata: golden keys, run_id masked)."""
    problems = []
    for path in sorted(golden.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(golden)
        mine = ours / rel
        if not mine.is_file():
            problems.append(f"missing {rel}")
        elif path.name == "metadata.json":
            want, got = json.loads(path.read_text()), json.loads(mine.read_text())
            for key, value in want.items():
                if key != "run_id" and got.get(key) != value:
                    problems.append(f"{rel}: {key} = {got.get(key)!r}, golden {value!r}")
            if "run_id" not in got:
                problems.append(f"{rel}: no run_id")
        elif path.read_bytes() != mine.read_bytes():
            problems.append(f"bytes differ: {rel}")
    return problems


@pytest.fixture
def compat_data_root(tmp_path: Path) -> Path:
    """A writable copy of ../shared/compat/data (upstream's real inputs)."""
    src = require_compat() / "data"
    dst = tmp_path / "data"
    shutil.copytree(src / "1_raw", dst / "1_raw")
    for path in dst.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A small valid data root (3 concepts, 1 draft, 2 essay, 1 evaluation template, 1 model)."""
    from daydreaming_dagster.testing.sample_data import write_minimal_data_root

    return write_minimal_data_root(tmp_path / "data")


@pytest.fixture(autouse=True)
def _fresh_circuit_breakers() -> None:
    # Breakers are process-wide and keyed by endpoint; a reused port must not inherit a state.
    from daydreaming_dagster.llm import reset_circuit_breakers

    reset_circuit_breakers()


@pytest.fixture(autouse=True)
def _no_cohort_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests set DD_COHORT and the others explicitly where they need them; a developer's shell must not leak in.
    from daydreaming_dagster.core.settings import VARIABLES

    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
