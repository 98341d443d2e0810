"""Every use of Dagster's private API in the package, in one place (pinned to ``dagster==1.13.27``).

Dagster's public API is too slow for three things this project does at scale, or lacks them, so
they reach into Dagster 1.13.27's internals (``pyproject.toml`` pins that exact version). Nothing
else in the package may import a private Dagster name (``tests/architecture/test_dagster_internals.py``
checks it); ``tests/dagster/test_dagster_internals.py`` fails naming what moved when Dagster is
upgraded, and each use below has a behavioural test:

- ``runless_batch_writer``: runless materializations written in batches (``daydream run``'s
  reporter). The public ``report_runless_asset_event`` takes one event, which on SQLite is two or
  three transactions (20-25 ms) each. Uses ``dagster._core.events`` (building the event log entry
  the public call would store), the event log tables and ``RUNLESS_RUN_ID``, and the SQLite
  storage's row and tag helpers (``_event_to_row``, ``_store_asset_event_tags``,
  ``_store_asset_event``). Tested by ``tests/dagster/test_store_materializations.py`` (batches read
  back exactly like Dagster's own reports, SQLite and PostgreSQL).
- ``add_partition_metadata``: per-partition metadata of a multi-partition run, in O(N). The public
  ``context.add_asset_metadata(..., partition_key=k)`` is O(N) per call (it loads every key of the
  dynamic partitions set), O(N^2) per backfill. Uses the step's ``_metadata_accumulator``. Tested by
  ``tests/dagster/test_cli_reports.py::test_dagster_run_metadata_matches_the_cli_report``.
- ``claim_pool_slot`` / ``free_pool_slot``: one request's slot of a concurrency pool, claimed with
  one compare-and-set on Dagster's ``concurrency_slots`` table (``ConcurrencySlotsTable``). The
  public ``claim_concurrency_slot`` is check-then-act and gives a slot twice on PostgreSQL under
  contention (``resources/pool_gate.py``). Tested by ``tests/dagster/test_pool_gate.py``.

When an upgrade moves these, each use falls back to the public path where there is one (events one
by one; the run's totals as every partition's metadata); the pool gate has none and fails loudly.
Dagster is imported inside the functions: ``daydream run`` imports the reporter, and its process
never loads Dagster.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster import AssetExecutionContext, AssetMaterialization, DagsterInstance

#: The Dagster version whose internals this module uses (``pyproject.toml`` pins it).
PINNED_DAGSTER = "1.13.27"

BatchWriter = Callable[[Sequence["AssetMaterialization"]], None]


# ---------------------------------------------------------------------------- runless event batches


def runless_batch_writer(instance: DagsterInstance) -> BatchWriter:
    """A function storing a batch of one asset's runless materializations, as cheaply as the storage allows.

    - SQLite (Dagster's default): one transaction on the index shard (what asset queries and the UI
      read) and one on the runless run shard, through the storage's own row and tag helpers;
    - a storage with its own ``store_event_batch`` (PostgreSQL): one multi-row INSERT;
    - any other storage, or a Dagster whose internals moved: the public one-by-one report.

    A batch records its last event as the asset's latest, so a batch must hold one asset only.
    """
    storage = instance.event_log_storage

    def one_by_one(mats: Sequence[AssetMaterialization]) -> None:
        for mat in mats:
            instance.report_runless_asset_event(mat)

    try:
        from dagster._core.storage.event_log.base import EventLogStorage
        from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    except ImportError:  # pragma: no cover - a Dagster whose internals moved: the public path
        return one_by_one
    if isinstance(storage, SqliteEventLogStorage):

        def sqlite_batch(mats: Sequence[AssetMaterialization]) -> None:
            _sqlite_store_batch(storage, [_runless_entry(m) for m in mats])

        return sqlite_batch
    if type(storage).store_event_batch is not EventLogStorage.store_event_batch:

        def storage_batch(mats: Sequence[AssetMaterialization]) -> None:
            storage.store_event_batch([_runless_entry(m) for m in mats])

        return storage_batch
    return one_by_one


def _runless_entry(materialization: AssetMaterialization) -> Any:
    """The event log entry ``report_runless_asset_event`` would store (without storing it)."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        event_specific_data=StepMaterializationData(materialization),
        job_name=RUNLESS_JOB_NAME,
    )
    return EventLogEntry(
        user_message="",
        level=logging.INFO,
        job_name=RUNLESS_JOB_NAME,
        run_id=RUNLESS_RUN_ID,
        error_info=None,
        timestamp=time.time(),
        step_key=None,
        dagster_event=event,
    )


def _sqlite_store_batch(storage: Any, entries: Sequence[Any]) -> None:
    """What ``SqliteEventLogStorage.store_event`` does per event, for a batch of one asset's
    materializations: the index shard in one transaction (what asset queries read), then the
    runless run shard in one."""
    from dagster._core.instance.utils import RUNLESS_RUN_ID
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as Events

    rows = [storage._event_to_row(entry) for entry in entries]
    with storage.index_transaction() as conn:
        try:
            result = conn.execute(Events.insert().returning(Events.c.id, sort_by_parameter_order=True), rows)
            ids = [int(row[0]) for row in result]
        except Exception:  # an SQLite without RETURNING (< 3.35): one insert per row, same transaction
            ids = [int(conn.execute(Events.insert().values(**row)).inserted_primary_key[0]) for row in rows]
        storage._store_asset_event_tags(conn, entries, ids)
        storage._store_asset_event(conn, entries[-1], ids[-1])  # the asset's latest event, as Dagster keeps it
    with storage.run_connection(RUNLESS_RUN_ID) as conn:
        conn.execute(Events.insert(), rows)


# ---------------------------------------------------------------------------- per-partition metadata


def add_partition_metadata(context: AssetExecutionContext, by_partition: Mapping[str, Mapping[str, Any]]) -> None:
    """Give each partition of a multi-partition run its own materialization metadata, in O(N).

    ``context.add_asset_metadata(..., partition_key=k)`` is the public way, but each call loads every
    key of the dynamic partitions set to validate ``k`` and copies all the metadata gathered so far:
    O(N^2) for a backfill of N partitions (minutes at 10,000). So the metadata goes into the step's
    accumulator at once (what ``add_asset_metadata`` updates); if that moved, the partitions keep
    the run's totals only.
    """
    if not by_partition:
        return
    try:
        from dagster._core.execution.context.metadata_logging import (
            AssetMetadataHandle,
            OutputMetadataAccumulator,
        )

        step = context.op_execution_context._step_execution_context
        merged = dict(step._metadata_accumulator.per_output_metadata)
        for partition, metadata in by_partition.items():
            handle = AssetMetadataHandle(asset_key=context.asset_key, partition_key=partition)
            merged[handle] = {**merged.get(handle, {}), **metadata}
        step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)
    except (ImportError, AttributeError, TypeError) as exc:  # pragma: no cover - a Dagster whose internals moved
        context.log.warning(f"per-partition metadata skipped ({type(exc).__name__}: {exc})")


# ---------------------------------------------------------------------------- concurrency pool slots


def _slots_table() -> Any:
    from dagster._core.storage.event_log.schema import ConcurrencySlotsTable

    return ConcurrencySlotsTable


def claim_pool_slot(storage: Any, pool: str, run_id: str, claim_key: str) -> bool:
    """Claim one free slot row of ``pool`` for ``claim_key``; False when every slot is held.

    One compare-and-set per candidate row (``UPDATE ... WHERE id = ? AND step_key IS NULL``) in a
    transaction: exactly one claimant wins a row, on SQLite and PostgreSQL. ``storage`` is a
    ``SqlEventLogStorage`` (SQLite, PostgreSQL, MySQL).
    """
    import sqlalchemy as db

    slots = _slots_table()
    free = db.and_(slots.c.concurrency_key == pool, slots.c.step_key.is_(None), slots.c.deleted.is_(False))
    with storage.index_transaction() as conn:
        ids = [row[0] for row in conn.execute(db.select(slots.c.id).where(free).limit(16))]
        random.shuffle(ids)  # claimants racing for the same row would mostly lose to each other
        for slot_id in ids:
            claimed = conn.execute(
                slots.update()
                .where(db.and_(slots.c.id == slot_id, slots.c.step_key.is_(None), slots.c.deleted.is_(False)))
                .values(run_id=run_id, step_key=claim_key)
            )
            if claimed.rowcount == 1:
                return True
    return False


def free_pool_slot(storage: Any, run_id: str, claim_key: str) -> None:
    """Give the slot held by ``claim_key`` back (or drop it, if the limit was lowered while it was held)."""
    import sqlalchemy as db

    slots = _slots_table()
    mine = db.and_(slots.c.run_id == run_id, slots.c.step_key == claim_key)
    with storage.index_transaction() as conn:
        conn.execute(slots.delete().where(db.and_(mine, slots.c.deleted.is_(True))))
        conn.execute(slots.update().where(mine).values(run_id=None, step_key=None))
