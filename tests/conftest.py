"""Shared fixtures: the compat fixtures beside the repo and small data roots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPAT = REPO.parent / "shared" / "compat"


def require_compat() -> Path:
    if not COMPAT.is_dir():
        pytest.skip("../shared/compat not found: golden tests need the shared compat fixtures beside the repo")
    return COMPAT


@pytest.fixture
def compat_data_root(tmp_path: Path) -> Path:
    """A writable copy of ../shared/compat/data (upstream's real inputs)."""
    src = require_compat() / "data"
    dst = tmp_path / "data"
    shutil.copytree(src / "1_raw", dst / "1_raw")
    for path in dst.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


@pytest.fixture(autouse=True)
def _no_cohort_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests set DD_COHORT explicitly where they need it; a developer's shell must not leak in.
    for name in ("DD_COHORT", "DD_LLM_BASE_URL", "DD_LLM_API_KEY", "OPENROUTER_API_KEY", "DD_DATA_ROOT"):
        monkeypatch.delenv(name, raising=False)
