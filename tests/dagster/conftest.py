"""Fixtures for the Dagster-instance tests: persistent instances in a temporary DAGSTER_HOME
(SQLite, or a private PostgreSQL cluster started here), configured from the shipped deploy/*.yaml."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from daydreaming_dagster.testing.postgres import PostgresCluster, postgres_unavailable
from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def make_home(path: Path, yaml_name: str, *, default_limit: int | None = None) -> Path:
    """A DAGSTER_HOME holding the shipped ``deploy/<yaml_name>`` (``default_limit`` rewritten when given)."""
    path.mkdir(parents=True, exist_ok=True)
    text = (DEPLOY / yaml_name).read_text()
    if default_limit is not None:
        text = text.replace("default_limit: 8", f"default_limit: {default_limit}")
    (path / "dagster.yaml").write_text(text)
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One private PostgreSQL server for the session (each test uses its own database)."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(f"no PostgreSQL here: {reason}")
    with PostgresCluster(settings={"fsync": "off", "synchronous_commit": "off"}) as cluster:
        yield cluster


@pytest.fixture
def sqlite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = make_home(tmp_path / "dagster_home", "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def postgres_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres: PostgresCluster, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """DAGSTER_HOME with deploy/dagster-postgres.yaml and DAGSTER_PG_URL pointing at a fresh database."""
    database = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    postgres.create_database(database)
    home = make_home(tmp_path / "dagster_home", "dagster-postgres.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres.url_for(database))
    yield home
    shutil.rmtree(home, ignore_errors=True)
