"""Dynamic partitions keyed by gen_id, one set per stage (named in the stage table), kept in sync.

``sync_dynamic_partitions`` lives in ``resources/instance.py`` (``daydream run`` registers the same
partitions without importing the assets); it is re-exported here for the task assets.
"""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.resources.instance import PARTITION_CHUNK as _CHUNK
from daydreaming_dagster.resources.instance import sync_dynamic_partitions

PARTITIONS_BY_STAGE: dict[Stage, DynamicPartitionsDefinition] = {
    stage: DynamicPartitionsDefinition(name=facts.partitions) for stage, facts in STAGE_FACTS.items()
}

__all__ = ["PARTITIONS_BY_STAGE", "_CHUNK", "sync_dynamic_partitions"]
