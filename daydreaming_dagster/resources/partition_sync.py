"""The dynamic partitions of a stage follow its task table: one partition per gen_id.

The task-table assets (``assets/group_task_definitions.py``) and ``daydream run``'s reporter
(``resources/reporter.py``) both register partitions through ``sync_dynamic_partitions``, so the
two front doors agree on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance, DynamicPartitionsDefinition

# SQLite allows a bounded number of bound variables per statement; add keys in chunks.
PARTITION_CHUNK = 1000


def sync_dynamic_partitions(
    instance: DagsterInstance, partitions: DynamicPartitionsDefinition | str, keys: Iterable[str]
) -> dict[str, int]:
    """Add new keys and delete only keys no longer wanted (status of kept keys survives).

    Keys are added in chunks of ``PARTITION_CHUNK``. Stale keys are deleted one by one: Dagster 1.13
    has no public bulk delete (``DagsterInstance.delete_dynamic_partition`` is one transaction per
    key; the sensor daemon loops the same way, see docs/dagster.md).
    """
    name = partitions if isinstance(partitions, str) else partitions.name
    assert name is not None
    wanted = list(dict.fromkeys(keys))
    existing = set(instance.get_dynamic_partitions(name))
    new = [k for k in wanted if k not in existing]
    stale = existing.difference(wanted)
    for start in range(0, len(new), PARTITION_CHUNK):
        instance.add_dynamic_partitions(name, new[start : start + PARTITION_CHUNK])
    for key in sorted(stale):
        instance.delete_dynamic_partition(name, key)
    return {"partitions_added": len(new), "partitions_removed": len(stale), "partitions_total": len(wanted)}
