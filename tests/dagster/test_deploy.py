"""The shipped instance files and the backfill choice (cheap checks; the storages are exercised by
the other tests of this folder)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from dagster import BackfillPolicy, DagsterInstance

from daydreaming_dagster.assets._stage_assets import ENV_MAX_PARTITIONS_PER_RUN, backfill_policy
from tests.conftest import REPO


def test_sqlite_yaml_is_a_persistent_instance_with_pools(sqlite_home: Path) -> None:
    with DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 8 and pools.pool_granularity is not None
        assert pools.pool_granularity.value == "op"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
        instance.add_dynamic_partitions("draft_gens", ["a"])
    assert (sqlite_home / "history" / "runs" / "index.db").is_file()  # under DAGSTER_HOME: survives restarts
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("draft_gens") == ["a"]


def test_postgres_yaml_reads_its_url_from_the_environment() -> None:
    from dagster._core.instance.config import dagster_instance_config

    home = REPO / "deploy"
    text = (home / "dagster-postgres.yaml").read_text()
    assert "env: DAGSTER_PG_URL" in text
    config, _ = dagster_instance_config(str(home), config_filename="dagster-postgres.yaml")
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["concurrency"]["pools"]["default_limit"] == 8


def test_backfill_policy_single_run_or_bounded_runs() -> None:
    assert backfill_policy({}) == BackfillPolicy.single_run()
    multi = backfill_policy({ENV_MAX_PARTITIONS_PER_RUN: "50"})
    assert multi.max_partitions_per_run == 50
    with pytest.raises(ValueError, match=ENV_MAX_PARTITIONS_PER_RUN):
        backfill_policy({ENV_MAX_PARTITIONS_PER_RUN: "0"})


def test_dagster_home_script_installs_the_yaml_and_pool_limits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "DD_POOL_LIMITS": "llm/openrouter=3 llm/local=1"}
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "dagster_home.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert (home / "dagster.yaml").read_text() == (REPO / "deploy" / "dagster.yaml").read_text()
    assert "llm/local=1, llm/openrouter=3" in out.stdout
