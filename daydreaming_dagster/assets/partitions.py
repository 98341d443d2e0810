"""The dynamic partitions: one set per stage keyed by gen_id, and one set of cohorts.

- ``draft_gens``, ``essay_gens``, ``evaluation_gens`` (named in the stage table): every gen_id any
  cohort lists. The task assets keep them in sync with the task tables through
  ``resources/partition_sync.py::sync_stage_partitions``, as ``daydream run`` does.
- ``cohorts``: ``default`` and each named cohort (``cohorts/<name>/spec/``). ``cohort_specs_sensor``
  follows the specs on disk at each tick (no restart); the results assets and ``cohort_tasks`` are
  partitioned by it.
"""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.resources.partition_sync import COHORT_PARTITIONS_NAME

PARTITIONS_BY_STAGE: dict[Stage, DynamicPartitionsDefinition] = {
    stage: DynamicPartitionsDefinition(name=facts.partitions) for stage, facts in STAGE_FACTS.items()
}
COHORT_PARTITIONS = DynamicPartitionsDefinition(name=COHORT_PARTITIONS_NAME)
