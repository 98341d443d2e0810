"""Asset groups ``task_definitions`` and ``cohorts``: what each cohort will generate.

- the default cohort's tables, one asset each (``2_tasks/*.csv``, from the ``active`` flags):
  ``selected_combo_mappings``, ``draft_generation_tasks``, ``essay_generation_tasks``,
  ``evaluation_tasks``; ``raw_inputs_sensor`` rebuilds them when ``1_raw`` changes;
- ``cohort_tasks`` (group ``cohorts``), partitioned by cohort: plans one cohort as
  ``daydream run --cohort`` does (``load_cohort`` + ``save_task_tables``: a named cohort's tables,
  membership.csv and manifest.json under ``cohorts/<name>/``; the default cohort's ``2_tasks/``)
  and registers its gen_ids; ``cohort_specs_sensor`` adds a partition per spec on disk (no
  restart) and plans new or edited specs.

Every task asset registers its gen_ids as partitions of the stage's set without removing another
cohort's (``resources/partition_sync.py``).

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotation at runtime.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AddDynamicPartitionsRequest,
    AssetExecutionContext,
    AssetKey,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    sensor,
)

from daydreaming_dagster.assets._run_inputs import run_inputs
from daydreaming_dagster.assets.partitions import COHORT_PARTITIONS
from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
from daydreaming_dagster.cohort.tasks import (
    build_draft_tasks,
    build_essay_tasks,
    build_evaluation_tasks,
    cohort_of_essays,
    read_task_table,
    write_manifest,
)
from daydreaming_dagster.core.config import EXPERIMENT_FILE
from daydreaming_dagster.core.errors import DaydreamError
from daydreaming_dagster.core.ids import cohort_from_env
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout, cohort_name
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.inputs.combinations import (
    build_combinations,
    combinations_from_selection,
    selection_table,
)
from daydreaming_dagster.inputs.types import RAW_DIR
from daydreaming_dagster.resources.cohort_materializations import COHORT_TASKS, cohort_tasks_metadata
from daydreaming_dagster.resources.partition_sync import (
    ensure_cohort_partition,
    every_cohort,
    sync_stage_partitions,
)
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource

GROUP = "task_definitions"
# cohort_tasks has a group of its own: task_definitions stays unpartitioned, so the group (and
# build_tasks_job, raw_inputs_sensor's target) materializes in one run as before.
COHORTS_GROUP = "cohorts"


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
    return _register(context, data_root, "draft", frame)


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
    return _register(context, data_root, "essay", frame)


@asset(group_name=GROUP, io_manager_key="tasks_io_manager")
def evaluation_tasks(
    context: AssetExecutionContext,
    essay_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentResource,
) -> pd.DataFrame:
    """Essays x evaluation models x evaluation templates; ids salted with the cohort."""
    inputs = run_inputs(context, data_root, experiment_config)
    cohort, manifest = cohort_of_essays(
        inputs.raw, essay_generation_tasks, selected_combo_ids(data_root), cohort_from_env()
    )
    manifest_path = write_manifest(data_root.root, cohort, manifest)
    ensure_cohort_partition(context.instance, DEFAULT_COHORT)  # its results partition, sensor or not
    frame = build_evaluation_tasks(
        inputs.raw, essay_generation_tasks, cohort=cohort, replicates=inputs.config.evaluation_replicates
    )
    return _register(
        context,
        data_root,
        "evaluation",
        frame,
        cohort_id=cohort,
        manifest_path=MetadataValue.path(str(manifest_path)),
    )


def _register(
    context: AssetExecutionContext, data_root: DataRootResource, stage: Stage, frame: pd.DataFrame, **metadata: Any
) -> pd.DataFrame:
    """Sync the stage's dynamic partitions with the default cohort's new table (keeping every named
    cohort's gen_ids) and report counts."""
    stats = sync_stage_partitions(context.instance, data_root.root, stage, frame["gen_id"], cohort=DEFAULT_COHORT)
    context.add_output_metadata({"task_count": len(frame), **stats, **metadata})
    return frame


@asset(
    name=COHORT_TASKS,
    group_name=COHORTS_GROUP,
    partitions_def=COHORT_PARTITIONS,
    description="Plans one cohort (partition = cohort) as `daydream run --cohort` does, without any call: "
    "a named cohort's spec (cohorts/<name>/spec/) becomes cohorts/<name>/tasks/*.csv, membership.csv and "
    "manifest.json; `default` writes 2_tasks/ from the active flags. Registers the cohort's gen_ids as "
    "partitions of the stage assets (other cohorts' are kept).",
)
def cohort_tasks(
    context: AssetExecutionContext, data_root: DataRootResource, experiment_config: ExperimentResource
) -> MaterializeResult:
    root = data_root.root
    name = partition_cohort(context.partition_key)
    config = experiment_config.load(root)
    try:
        cohort = load_cohort(root, config, name=name)
        save_task_tables(cohort)
    except (DaydreamError, ValueError, OSError) as exc:  # a bad spec, a bad @cohort: reference, a full disk
        raise Failure(description=f"cohort {name!r} could not be planned: {exc}") from exc
    keys = {stage: [str(g) for g in getattr(cohort.tables, STAGE_FACTS[stage].task_table)["gen_id"]] for stage in STAGES}
    partitions: dict[str, dict[str, int]] = {
        stage: sync_stage_partitions(context.instance, root, stage, keys[stage], cohort=name) for stage in STAGES
    }
    counts: dict[str, int] = {"selection": len(cohort.tables.selection), **{stage: len(keys[stage]) for stage in STAGES}}
    return MaterializeResult(metadata=cohort_tasks_metadata(root, name, counts, partitions))


def partition_cohort(key: str) -> str:
    """The cohort a ``cohorts`` partition key names, checked as a folder name (a Failure otherwise)."""
    try:
        return cohort_name(key)
    except DaydreamError as exc:
        raise Failure(description=f"partition {key!r} of cohorts: {exc}") from exc


def selected_combo_ids(data_root: DataRootResource) -> list[str]:
    """Combo ids of the selection table (the manifest's combos when there are no essays)."""
    return [str(c) for c in read_task_table(data_root.root, "selection")["combo_id"]]


def files_fingerprint(base: Path, paths: list[Path]) -> str:
    """A hash of ``paths`` by path (relative to ``base``), size and modification time: a sensor's
    cheap way to see that files changed, without reading them."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(base)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def inputs_fingerprint(data_root: Path) -> str:
    """The fingerprint of every file the task tables depend on: 1_raw (CSVs, templates,
    descriptions, grammars, a curated selection) and experiment.toml."""
    paths = sorted(p for p in (data_root / RAW_DIR).rglob("*") if p.is_file())
    settings = data_root / EXPERIMENT_FILE
    return files_fingerprint(data_root, [*paths, *([settings] if settings.is_file() else [])])


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


def spec_fingerprint(data_root: Path, name: str) -> str:
    """The fingerprint of cohort ``name``'s spec folder (the spec and its ``@file:`` CSVs)."""
    spec_dir = CohortLayout(data_root, name).spec_dir
    return files_fingerprint(spec_dir, sorted(p for p in spec_dir.rglob("*") if p.is_file()))


@sensor(
    asset_selection=[AssetKey(COHORT_TASKS)],
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Follows cohorts/<name>/spec/ at each tick, with no restart: adds a `cohorts` partition for "
    "each new spec and removes the partitions whose spec is gone (their files and history stay), then plans "
    "each new or edited spec (a cohort_tasks run for that partition; planning makes no LLM call).",
)
def cohort_specs_sensor(context: SensorEvaluationContext, data_root: DataRootResource) -> SensorResult:
    root = data_root.root
    wanted = every_cohort(root)  # read now, not when the code location loaded
    existing = set(context.instance.get_dynamic_partitions(COHORT_PARTITIONS.name or ""))
    added = [name for name in wanted if name not in existing]
    removed = sorted(existing.difference(wanted))
    partition_requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if added:
        partition_requests.append(COHORT_PARTITIONS.build_add_request(added))
    if removed:
        partition_requests.append(COHORT_PARTITIONS.build_delete_request(removed))
    planned = json.loads(context.cursor) if context.cursor else {}
    fingerprints = {name: spec_fingerprint(root, name) for name in wanted if name != DEFAULT_COHORT}
    # The run key names the spec's content: an edited spec is planned again, an unchanged one never.
    plans = [
        RunRequest(run_key=f"{name}:{fingerprint}", partition_key=name)
        for name, fingerprint in fingerprints.items()
        if planned.get(name) != fingerprint
    ]
    cursor = json.dumps(fingerprints, sort_keys=True)
    if not partition_requests and not plans:
        return SensorResult(skip_reason=SkipReason("no cohort spec added, removed or edited"), cursor=cursor)
    return SensorResult(run_requests=plans, dynamic_partitions_requests=partition_requests, cursor=cursor)
