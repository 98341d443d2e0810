"""Asset group ``task_definitions``: combinations and the three task tables (``2_tasks/*.csv``)."""


import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    sensor,
)

from daydreaming_dagster.assets._run_inputs import run_inputs
from daydreaming_dagster.assets.partitions import PARTITIONS_BY_STAGE
from daydreaming_dagster.cohort.tasks import (
    build_draft_tasks,
    build_essay_tasks,
    build_evaluation_tasks,
    read_task_table,
    resolve_cohort,
    write_manifest,
)
from daydreaming_dagster.core.config import EXPERIMENT_FILE
from daydreaming_dagster.core.ids import cohort_from_env
from daydreaming_dagster.core.stages import Stage
from daydreaming_dagster.inputs.combinations import (
    build_combinations,
    combinations_from_selection,
    selection_table,
)
from daydreaming_dagster.inputs.types import RAW_DIR
from daydreaming_dagster.resources.partition_sync import sync_dynamic_partitions
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource

GROUP = "task_definitions"


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def selected_combo_mappings(
    context: AssetExecutionContext, data_root: DataRootResource, experiment_config: ExperimentResource
) -> pd.DataFrame:
    """Every k-combination of the active concepts, or the curated 1_raw/selected_combo_mappings.csv."""
    inputs = run_inputs(context, data_root, experiment_config)
    raw, config = inputs.raw, inputs.config
    combos = build_combinations(raw, k_max=config.k_max, description_level=config.description_level)
    context.add_output_metadata({"combinations": len(combos), "curated": raw.curated_selection_path is not None})
    return selection_table(combos)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def draft_generation_tasks(
    context: AssetExecutionContext,
    selected_combo_mappings: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentResource,
) -> pd.DataFrame:
    inputs = run_inputs(context, data_root, experiment_config)
    combos = combinations_from_selection(selected_combo_mappings)
    frame = build_draft_tasks(
        inputs.raw, combos, cohort=cohort_from_env(), replicates=inputs.config.draft_replicates
    )
    return _register(context, "draft", frame)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def essay_generation_tasks(
    context: AssetExecutionContext,
    draft_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentResource,
) -> pd.DataFrame:
    inputs = run_inputs(context, data_root, experiment_config)
    frame = build_essay_tasks(
        inputs.raw, draft_generation_tasks, cohort=cohort_from_env(), replicates=inputs.config.essay_replicates
    )
    return _register(context, "essay", frame)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def evaluation_tasks(
    context: AssetExecutionContext,
    essay_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentResource,
) -> pd.DataFrame:
    """Essays x evaluation models x evaluation templates; ids salted with the cohort."""
    inputs = run_inputs(context, data_root, experiment_config)
    combo_ids = list(essay_generation_tasks["combo_id"]) or list(selected_combo_ids(data_root))
    cohort, manifest = resolve_cohort(inputs.raw, combo_ids, cohort_from_env())
    manifest_path = write_manifest(data_root.root, cohort, manifest)
    frame = build_evaluation_tasks(
        inputs.raw, essay_generation_tasks, cohort=cohort, replicates=inputs.config.evaluation_replicates
    )
    return _register(
        context, "evaluation", frame, cohort_id=cohort, manifest_path=MetadataValue.path(str(manifest_path))
    )


def _register(context: AssetExecutionContext, stage: Stage, frame: pd.DataFrame, **metadata: Any) -> pd.DataFrame:
    """Sync the stage's dynamic partitions with the table's gen_ids and report counts."""
    stats = sync_dynamic_partitions(context.instance, PARTITIONS_BY_STAGE[stage], frame["gen_id"])
    context.add_output_metadata({"task_count": len(frame), **stats, **metadata})
    return frame


def selected_combo_ids(data_root: DataRootResource) -> list[str]:
    """Combo ids of the selection table (the manifest's combos when there are no essays)."""
    return [str(c) for c in read_task_table(data_root.root, "selection")["combo_id"]]


def inputs_fingerprint(data_root: Path) -> str:
    """A hash of every file the task tables depend on: 1_raw (CSVs, templates, descriptions,
    grammars, a curated selection) and experiment.toml, by path, size and modification time."""
    digest = hashlib.sha256()
    paths = sorted(p for p in (data_root / RAW_DIR).rglob("*") if p.is_file())
    settings = data_root / EXPERIMENT_FILE
    for path in [*paths, *([settings] if settings.is_file() else [])]:
        stat = path.stat()
        digest.update(f"{path.relative_to(data_root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@sensor(
    job_name="build_tasks_job",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description="Rebuilds the task tables (and the partitions) when anything under 1_raw/ or "
    "experiment.toml changes: CSVs, templates, concept descriptions, grammars. It only writes 2_tasks/ "
    "and cohorts/; a curated 1_raw/selected_combo_mappings.csv is an input and is never overwritten.",
)
def raw_inputs_sensor(context: SensorEvaluationContext, data_root: DataRootResource) -> SensorResult:
    fingerprint = inputs_fingerprint(data_root.root)
    if fingerprint == context.cursor:
        return SensorResult(skip_reason=SkipReason("1_raw/ and experiment.toml are unchanged"))
    return SensorResult(run_requests=[RunRequest(run_key=fingerprint)], cursor=fingerprint)
