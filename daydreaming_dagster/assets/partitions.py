"""Dynamic partitions keyed by gen_id, one set per stage, updated incrementally."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

draft_gens_partitions = DynamicPartitionsDefinition(name="draft_gens")
essay_gens_partitions = DynamicPartitionsDefinition(name="essay_gens")
evaluation_gens_partitions = DynamicPartitionsDefinition(name="evaluation_gens")

PARTITIONS_BY_STAGE = {
    "draft": draft_gens_partitions,
    "essay": essay_gens_partitions,
    "evaluation": evaluation_gens_partitions,
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
