"""Dynamic partitions keyed by gen_id, one set per stage (named in the stage table), kept in sync."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

from daydreaming_dagster.core.stages import STAGE_FACTS, Stage

PARTITIONS_BY_STAGE: dict[Stage, DynamicPartitionsDefinition] = {
    stage: DynamicPartitionsDefinition(name=facts.partitions) for stage, facts in STAGE_FACTS.items()
}

# SQLite allows a bounded number of bound variables per statement; add keys in chunks.
_CHUNK = 1000


def sync_dynamic_partitions(
    instance: DagsterInstance, partitions: DynamicPartitionsDefinition, keys: Iterable[str]
) -> dict[str, int]:
    """Add new keys and delete only keys no longer wanted (status of kept keys survives)."""
    name = partitions.name
    assert name is not None
    wanted = list(dict.fromkeys(keys))
    existing = set(instance.get_dynamic_partitions(name))
    new = [k for k in wanted if k not in existing]
    stale = existing.difference(wanted)
    for start in range(0, len(new), _CHUNK):
        instance.add_dynamic_partitions(name, new[start : start + _CHUNK])
    for key in sorted(stale):
        instance.delete_dynamic_partition(name, key)
    return {"partitions_added": len(new), "partitions_removed": len(stale), "partitions_total": len(wanted)}
