"""The two assets of a stage, built once for all three stages (no per-stage copy).

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotation at runtime.
"""

from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    asset,
)

from daydreaming_dagster.assets._generation import prompt_asset, response_asset
from daydreaming_dagster.assets.partitions import PARTITIONS_BY_STAGE
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource


def stage_assets(stage: Stage) -> tuple[AssetsDefinition, AssetsDefinition]:
    """``<stage>_prompt`` and ``<stage>_response``: one partition per gen_id, single-run backfills."""
    facts = STAGE_FACTS[stage]

    @asset(
        name=f"{stage}_prompt",
        group_name=facts.asset_group,
        partitions_def=PARTITIONS_BY_STAGE[stage],
        ins={"tasks": AssetIn(facts.task_asset)},
        io_manager_key=f"{stage}_prompt_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        description=f"The rendered {stage} prompt, persisted as gens/{stage}/<gen_id>/prompt.txt "
        "(none for copy-mode essays).",
    )
    def prompt(
        context: AssetExecutionContext,
        tasks: pd.DataFrame,
        data_root: DataRootResource,
        experiment_config: ExperimentResource,
    ) -> Any:  # str, None (copy mode), or {gen_id: prompt} for a multi-partition run
        return prompt_asset(context, stage, tasks, data_root, experiment_config)

    @asset(
        name=f"{stage}_response",
        group_name=facts.asset_group,
        partitions_def=PARTITIONS_BY_STAGE[stage],
        ins={"tasks": AssetIn(facts.task_asset), "prompts": AssetIn(f"{stage}_prompt")},
        io_manager_key=f"{stage}_response_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        description=f"Generate (or copy), validate, parse and write gens/{stage}/<gen_id>/* through the "
        "generation engine; several partitions in one run are generated concurrently.",
    )
    def response(
        context: AssetExecutionContext,
        tasks: pd.DataFrame,
        prompts: Any,
        data_root: DataRootResource,
        experiment_config: ExperimentResource,
        llm: LLMResource,
    ) -> Any:  # str, or {gen_id: text} for a multi-partition run
        return response_asset(context, stage, tasks, prompts, data_root, experiment_config, llm)

    return prompt, response
