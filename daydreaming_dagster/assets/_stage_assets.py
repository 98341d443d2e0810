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
    DynamicPartitionsDefinition,
    asset,
)

from daydreaming_dagster.assets._generation import prompt_asset, response_asset
from daydreaming_dagster.resources.data_root import DataRootResource
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.utils.document import Stage


def stage_assets(
    stage: Stage, *, group: str, tasks_asset: str, partitions: DynamicPartitionsDefinition
) -> tuple[AssetsDefinition, AssetsDefinition]:
    """``<stage>_prompt`` and ``<stage>_response``: one partition per gen_id, single-run backfills."""

    @asset(
        name=f"{stage}_prompt",
        group_name=group,
        partitions_def=partitions,
        ins={"tasks": AssetIn(tasks_asset)},
        io_manager_key=f"{stage}_prompt_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        description=f"The rendered {stage} prompt, persisted as gens/{stage}/<gen_id>/prompt.txt "
        "(none for copy-mode essays).",
    )
    def prompt(
        context: AssetExecutionContext,
        tasks: pd.DataFrame,
        data_root: DataRootResource,
        experiment_config: ExperimentConfig,
    ) -> Any:  # str, None (copy mode), or {gen_id: prompt} for a multi-partition run
        return prompt_asset(context, stage, tasks, data_root, experiment_config)

    @asset(
        name=f"{stage}_response",
        group_name=group,
        partitions_def=partitions,
        ins={"tasks": AssetIn(tasks_asset)},
        deps=[prompt],
        io_manager_key=f"{stage}_response_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        description=f"Generate (or copy), validate, parse and write gens/{stage}/<gen_id>/* through the "
        "generation engine; several partitions in one run are generated concurrently.",
    )
    def response(
        context: AssetExecutionContext,
        tasks: pd.DataFrame,
        data_root: DataRootResource,
        experiment_config: ExperimentConfig,
        llm: LLMResource,
    ) -> Any:  # str, or {gen_id: text} for a multi-partition run
        return response_asset(context, stage, tasks, data_root, experiment_config, llm)

    return prompt, response
