"""The dynamic partitions follow the task tables: one partition per gen_id, one per cohort.

Per stage (``draft_gens``, ``essay_gens``, ``evaluation_gens``): one partition per gen_id that any
cohort of the data root lists. Cohorts share generations (content-addressed ids), so a stage's
partitions are the union of the default cohort's task table (``2_tasks/``) and every named cohort's
(``cohorts/<name>/tasks/``): registering one cohort never deletes another cohort's partitions.

``cohorts``: one partition per cohort (``default`` and each named cohort with a spec); the results
assets and ``cohort_tasks`` are partitioned by it.

The task-table assets (``assets/group_task_definitions.py``) and ``daydream run``'s reporter
(``resources/reporter.py``) both register partitions through ``sync_stage_partitions``, so the two
front doors agree on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from daydreaming_dagster.cohort.tasks import read_table_file
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout, named_cohorts
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage

if TYPE_CHECKING:
    from dagster import DagsterInstance, DynamicPartitionsDefinition

# SQLite allows a bounded number of bound variables per statement; add keys in chunks.
PARTITION_CHUNK = 1000
# The dynamic partitions set of cohorts (the results assets' partitions); keys: every_cohort().
COHORT_PARTITIONS_NAME = "cohorts"


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


def every_cohort(data_root: Path) -> list[str]:
    """The cohorts of a data root, read now: ``default`` first, then each named cohort with a spec."""
    return [DEFAULT_COHORT, *named_cohorts(Path(data_root))]


def cohort_gen_ids(data_root: Path, cohort: str, stage: Stage) -> list[str]:
    """The gen_ids of ``stage`` in cohort ``cohort``'s task table on disk (empty before it is planned)."""
    table = read_table_file(CohortLayout(Path(data_root), cohort).tasks_dir / STAGE_FACTS[stage].task_file)
    return [str(g) for g in table["gen_id"]] if "gen_id" in table.columns else []


def sync_stage_partitions(
    instance: DagsterInstance, data_root: Path, stage: Stage, keys: Iterable[str], *, cohort: str
) -> dict[str, int]:
    """Register ``keys`` (cohort ``cohort``'s fresh table) as ``stage``'s partitions, keeping every
    other cohort's gen_ids (their tables on disk); delete only ids that no cohort lists any more.

    ``cohort``'s own table on disk is not read: the caller's keys replace it (a task asset returns
    its table before the IO manager writes it).
    """
    wanted = list(keys)
    for other in every_cohort(data_root):
        if other != cohort:
            wanted.extend(cohort_gen_ids(data_root, other, stage))
    stats = sync_dynamic_partitions(instance, STAGE_FACTS[stage].partitions, wanted)
    return {**stats, "cohort_partitions": len(set(keys))}


def ensure_cohort_partition(instance: DagsterInstance, cohort: str) -> bool:
    """Add ``cohort`` to the ``cohorts`` partitions if missing (never removes one); True if added."""
    if instance.has_dynamic_partition(COHORT_PARTITIONS_NAME, cohort):
        return False
    instance.add_dynamic_partitions(COHORT_PARTITIONS_NAME, [cohort])
    return True
