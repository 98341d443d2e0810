"""Asset group ``task_definitions``: combinations and the three task tables (``2_tasks/*.csv``)."""


import os
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, asset

from daydreaming_dagster.assets.partitions import PARTITIONS_BY_STAGE, sync_dynamic_partitions
from daydreaming_dagster.cohort.combinations import (
    build_combinations,
    combinations_from_selection,
    selection_table,
)
from daydreaming_dagster.cohort.tasks import (
    build_draft_tasks,
    build_essay_tasks,
    build_evaluation_tasks,
    cohort_manifest,
    write_manifest,
)
from daydreaming_dagster.resources.data_root import DataRootResource
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.stages import check_active_templates
from daydreaming_dagster.utils.ids import compute_cohort_id
from daydreaming_dagster.utils.raw_data import InputError, RawData, load_raw_data

GROUP = "task_definitions"


def _raw(data_root: DataRootResource) -> RawData:
    try:
        raw = load_raw_data(data_root.root)
        check_active_templates(raw)
    except InputError as exc:
        raise Failure(description=str(exc)) from exc
    return raw


def _cohort_env() -> str | None:
    return os.environ.get("DD_COHORT") or None


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def selected_combo_mappings(
    context: AssetExecutionContext, data_root: DataRootResource, experiment_config: ExperimentConfig
) -> pd.DataFrame:
    """Every k-combination of the active concepts, or the curated 1_raw/selected_combo_mappings.csv."""
    raw = _raw(data_root)
    combos = build_combinations(raw, k_max=experiment_config.k_max, description_level=experiment_config.description_level)
    context.add_output_metadata({"combinations": len(combos), "curated": raw.curated_selection_path is not None})
    return selection_table(combos)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def draft_generation_tasks(
    context: AssetExecutionContext,
    selected_combo_mappings: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
) -> pd.DataFrame:
    raw = _raw(data_root)
    combos = combinations_from_selection(selected_combo_mappings)
    frame = build_draft_tasks(raw, combos, cohort=_cohort_env(), replicates=experiment_config.draft_replicates)
    return _register(context, "draft", frame)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def essay_generation_tasks(
    context: AssetExecutionContext,
    draft_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
) -> pd.DataFrame:
    raw = _raw(data_root)
    frame = build_essay_tasks(raw, draft_generation_tasks, cohort=_cohort_env(), replicates=experiment_config.essay_replicates)
    return _register(context, "essay", frame)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def evaluation_tasks(
    context: AssetExecutionContext,
    essay_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
) -> pd.DataFrame:
    """Essays x evaluation models x evaluation templates; ids salted with the cohort."""
    raw = _raw(data_root)
    manifest = cohort_manifest(raw, list(essay_generation_tasks["combo_id"]))
    cohort = _cohort_env() or compute_cohort_id(manifest)
    manifest_path = write_manifest(data_root.root, cohort, manifest)
    frame = build_evaluation_tasks(raw, essay_generation_tasks, cohort=cohort, replicates=experiment_config.evaluation_replicates)
    return _register(
        context, "evaluation", frame, cohort_id=cohort, manifest_path=MetadataValue.path(str(manifest_path))
    )


def _register(context: AssetExecutionContext, stage: str, frame: pd.DataFrame, **metadata: Any) -> pd.DataFrame:
    """Sync the stage's dynamic partitions with the table's gen_ids and report counts."""
    stats = sync_dynamic_partitions(context.instance, PARTITIONS_BY_STAGE[stage], frame["gen_id"])
    context.add_output_metadata({"task_count": len(frame), **stats, **metadata})
    return frame
