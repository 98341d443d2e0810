"""Every test starts with closed circuit breakers (they are process-wide, keyed by provider account,
and a fake server's port may be reused by a later test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daydreaming_dagster.llm import reset_circuit_breakers


@pytest.fixture(autouse=True)
def _fresh_circuit_breakers() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()
