"""``resources/dagster_internals.py``: the pinned Dagster, the private names it relies on, each use.

When Dagster is upgraded, ``test_the_private_names_still_exist`` names what moved; the other tests
show each use still does its job. (Readback of batched events: test_store_materializations.py;
the pool gate under contention: test_pool_gate.py.)
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import dagster
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    BackfillPolicy,
    DagsterInstance,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from daydreaming_dagster.resources.dagster_internals import (
    PINNED_DAGSTER,
    add_partition_metadata,
    claim_pool_slot,
    free_pool_slot,
    runless_batch_writer,
)
from daydreaming_dagster.resources.pool_gate import set_pool_limits
from tests.conftest import REPO

# module -> names it must define (what dagster_internals.py imports or calls on them)
PRIVATE_NAMES = {
    "dagster._core.events": ["DagsterEvent", "DagsterEventType", "StepMaterializationData"],
    "dagster._core.events.log": ["EventLogEntry"],
    "dagster._core.instance.utils": ["RUNLESS_JOB_NAME", "RUNLESS_RUN_ID"],
    "dagster._core.storage.event_log.schema": ["SqlEventLogStorageTable", "ConcurrencySlotsTable"],
    "dagster._core.storage.event_log.base": ["EventLogStorage"],
    "dagster._core.execution.context.metadata_logging": ["AssetMetadataHandle", "OutputMetadataAccumulator"],
}
SQLITE_STORAGE_HELPERS = ["_event_to_row", "_store_asset_event_tags", "_store_asset_event", "index_transaction", "run_connection"]


def test_the_pinned_dagster_is_installed_and_required() -> None:
    assert dagster.__version__ == PINNED_DAGSTER
    assert f'"dagster=={PINNED_DAGSTER}"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def test_the_private_names_still_exist() -> None:
    missing = [
        f"{module}.{name}"
        for module, names in PRIVATE_NAMES.items()
        for name in names
        if not hasattr(importlib.import_module(module), name)
    ]
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    missing += [f"SqliteEventLogStorage.{n}" for n in SQLITE_STORAGE_HELPERS if not hasattr(SqliteEventLogStorage, n)]
    from dagster._core.execution.context.system import StepExecutionContext

    if "self._metadata_accumulator" not in inspect.getsource(StepExecutionContext):
        missing.append("StepExecutionContext._metadata_accumulator")
    from dagster._core.execution.context.op_execution_context import OpExecutionContext

    if "self._step_execution_context" not in inspect.getsource(OpExecutionContext):
        missing.append("OpExecutionContext._step_execution_context")
    assert missing == [], "update resources/dagster_internals.py for this Dagster"


@pytest.mark.parametrize("storage,path", [("sqlite", "sqlite_batch"), ("postgres", "storage_batch")])
def test_runless_batches_take_the_storage_s_fast_path(storage: str, path: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("sqlite_home" if storage == "sqlite" else "postgres_home")
    with DagsterInstance.get() as instance:
        writer = runless_batch_writer(instance)
        assert writer.__name__ == path
        writer([AssetMaterialization(asset_key=AssetKey("x"), partition=p, metadata={"p": p}) for p in ("a", "b")])
        assert set(instance.get_materialized_partitions(AssetKey("x"))) == {"a", "b"}
    with DagsterInstance.ephemeral() as memory:  # no batch path: Dagster's public one-by-one report
        assert runless_batch_writer(memory).__name__ == "one_by_one"


def test_each_partition_of_one_run_gets_its_own_metadata() -> None:
    keys = ["p1", "p2", "p3"]

    @asset(partitions_def=StaticPartitionsDefinition(keys), backfill_policy=BackfillPolicy.single_run())
    def numbers(context) -> dagster.MaterializeResult:  # unannotated: Dagster rejects the string annotation `from __future__` makes
        add_partition_metadata(context, {k: {"n": i} for i, k in enumerate(context.partition_keys)})
        return dagster.MaterializeResult(metadata={"total": len(context.partition_keys)})

    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [numbers],
            instance=instance,
            tags={"dagster/asset_partition_range_start": "p1", "dagster/asset_partition_range_end": "p3"},
        )
        assert result.success
        by_partition = {m.partition: m.metadata for m in result.asset_materializations_for_node("numbers")}
    assert {p: (md["n"].value, md["total"].value) for p, md in by_partition.items()} == {
        "p1": (0, 3),
        "p2": (1, 3),
        "p3": (2, 3),
    }


def test_a_pool_slot_is_claimed_once_and_freed(sqlite_home: Path) -> None:
    with DagsterInstance.get() as instance:
        set_pool_limits(instance, {"llm/test": 1})
        storage = instance.event_log_storage
        assert claim_pool_slot(storage, "llm/test", "run-1", "step/a")
        assert not claim_pool_slot(storage, "llm/test", "run-2", "step/b")  # the only slot is held
        assert instance.event_log_storage.get_concurrency_info("llm/test").active_slot_count == 1
        free_pool_slot(storage, "run-1", "step/a")
        assert claim_pool_slot(storage, "llm/test", "run-2", "step/b")

