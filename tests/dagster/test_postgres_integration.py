"""Acceptance, against a real PostgreSQL server started here (private cluster, free port): the
shipped deploy/dagster-postgres.yaml, the task tables built through Dagster, `daydream run` on the
compat cohort over HTTP, every partition of the six stage assets materialized in the instance, then
a Dagster run over a range of evaluation partitions that pays for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from daydreaming_dagster.cli import EXIT_OK, main
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.definitions import build_definitions
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def test_cli_and_dagster_share_one_postgres_instance(
    compat_data_root: Path, postgres_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = compat_data_root
    defs = build_definitions(str(root))
    store = GensStore(root)
    with FakeOpenAIServer() as server, DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)

        assert defs.resolve_job_def("build_tasks_job").execute_in_process(instance=instance, run_config=QUIET).success
        assert len(instance.get_dynamic_partitions("evaluation_gens")) == 60

        assert main(["run", "--data-root", str(root), "--concurrency", "6", "--quiet"]) == EXIT_OK
        paid = server.request_count
        assert paid == 42

        for stage in STAGES:
            partitions = set(instance.get_dynamic_partitions(STAGE_FACTS[stage].partitions))
            assert partitions and all(store.is_complete(stage, key) for key in partitions)
            for kind in ("prompt", "response"):
                assert set(instance.get_materialized_partitions(AssetKey(f"{stage}_{kind}"))) == partitions, (stage, kind)

        keys = list(instance.get_dynamic_partitions("evaluation_gens"))[10:30]
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[AssetKey("evaluation_prompt"), AssetKey("evaluation_response")],
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            run_config=QUIET,
        )
        assert result.success
        assert server.request_count == paid  # 0 new paid calls: the response cache answered
        ran = [
            r for r in instance.fetch_materializations(AssetKey("evaluation_response"), limit=200).records
            if r.run_id == result.run_id
        ]
        assert sorted(r.partition_key for r in ran) == sorted(keys)
        assert all(r.asset_materialization and r.asset_materialization.metadata["cache_hit"].value for r in ran)
