"""The two assets of a stage, built once for all three stages (no per-stage copy).

Backfills: one run over every selected partition by default (``BackfillPolicy.single_run()``); with
``DD_BACKFILL_MAX_PARTITIONS_PER_RUN=N`` (read when the code location loads) a backfill fans out
into runs of at most N partitions each, which the daemon launches in parallel (docs/dagster.md).

Neither asset has an IO manager: the engine writes every file under ``gens/`` (prompt.txt included,
once), and the response asset depends on the prompt asset for order and lineage, not for a value.
Nor do they load a task table as an input: a partition's row is looked up in every cohort's task
tables (``_generation.locate_rows``), so the default cohort's ``2_tasks/`` and the named cohorts'
``cohorts/<name>/tasks/`` feed the same assets; both task assets are upstream for lineage.

The response assets run in the Dagster pool ``llm`` (generation steps in progress across runs);
their requests also hold slots of the pools ``llm/<provider>`` (``resources/pool_gate.py``).

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotation at runtime.
"""

from typing import Any

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from daydreaming_dagster.assets._generation import prompt_asset, response_asset
from daydreaming_dagster.assets.partitions import PARTITIONS_BY_STAGE
from daydreaming_dagster.core import settings
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.resources.cohort_materializations import COHORT_TASKS
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.resources.pool_gate import STEP_POOL
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource

ENV_MAX_PARTITIONS_PER_RUN = settings.BACKFILL_MAX_PARTITIONS_PER_RUN


def backfill_policy(environ: Any = None) -> BackfillPolicy:
    """Single-run backfills, or runs of at most ``DD_BACKFILL_MAX_PARTITIONS_PER_RUN`` partitions."""
    per_run = settings.backfill_max_partitions_per_run(environ)
    if per_run is None:
        return BackfillPolicy.single_run()
    return BackfillPolicy.multi_run(max_partitions_per_run=per_run)


def stage_assets(stage: Stage) -> tuple[AssetsDefinition, AssetsDefinition]:
    """``<stage>_prompt`` and ``<stage>_response``: one partition per gen_id (backfills: module doc)."""
    facts = STAGE_FACTS[stage]
    policy = backfill_policy()
    # Lineage only (no value is loaded): the default cohort's table, and every cohort's plan.
    task_deps = [AssetDep(facts.task_asset), AssetDep(COHORT_TASKS, partition_mapping=AllPartitionMapping())]

    @asset(
        name=f"{stage}_prompt",
        group_name=facts.asset_group,
        partitions_def=PARTITIONS_BY_STAGE[stage],
        deps=task_deps,
        backfill_policy=policy,
        description=f"The {stage} prompt, rendered and checked (template, parent) before any call; "
        f"gens/{stage}/<gen_id>/prompt.txt is written by the engine when the response is generated "
        "(none for copy-mode essays).",
    )
    def prompt(
        context: AssetExecutionContext,
        data_root: DataRootResource,
        experiment_config: ExperimentResource,
    ) -> MaterializeResult:
        return prompt_asset(context, stage, data_root, experiment_config)

    @asset(
        name=f"{stage}_response",
        group_name=facts.asset_group,
        partitions_def=PARTITIONS_BY_STAGE[stage],
        deps=[prompt, *task_deps],
        backfill_policy=policy,
        pool=STEP_POOL,
        description=f"Generate (or copy), validate, parse and write gens/{stage}/<gen_id>/* (prompt.txt, "
        "raw.txt, parsed.txt, metadata.json) through the generation engine; several partitions in one "
        "run are generated concurrently.",
    )
    def response(
        context: AssetExecutionContext,
        data_root: DataRootResource,
        experiment_config: ExperimentResource,
        llm: LLMResource,
    ) -> MaterializeResult:
        return response_asset(context, stage, data_root, experiment_config, llm)

    return prompt, response
