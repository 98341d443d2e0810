"""Dynamic partitions keyed by gen_id, one set per stage (named in the stage table).

The task assets keep them in sync with the task tables through
``resources/partition_sync.py::sync_dynamic_partitions``, as ``daydream run`` does.
"""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

from daydreaming_dagster.core.stages import STAGE_FACTS, Stage

PARTITIONS_BY_STAGE: dict[Stage, DynamicPartitionsDefinition] = {
    stage: DynamicPartitionsDefinition(name=facts.partitions) for stage, facts in STAGE_FACTS.items()
}
