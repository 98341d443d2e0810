"""Asset group ``generation_draft``: ``draft_prompt`` and ``draft_response``, one partition per gen_id.

Thin wrappers over the generation engine (daydreaming_dagster/utils/generation_engine.py); the
stage's hooks are in daydreaming_dagster/stages/draft.py.
"""


from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, asset

from daydreaming_dagster.assets._generation import prompt_asset, response_asset
from daydreaming_dagster.assets.partitions import draft_gens_partitions
from daydreaming_dagster.resources.data_root import DataRootResource
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.resources.llm import LLMResource

GROUP = "generation_draft"


@asset(
    group_name=GROUP,
    partitions_def=draft_gens_partitions,
    io_manager_key="draft_prompt_io_manager",
    backfill_policy=BackfillPolicy.single_run(),
)
def draft_prompt(
    context: AssetExecutionContext,
    draft_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
) -> Any:  # str, None (copy mode), or {gen_id: prompt} for a multi-partition run
    """The rendered prompt, persisted as gens/draft/<gen_id>/prompt.txt."""
    return prompt_asset(context, "draft", draft_generation_tasks, data_root, experiment_config)


@asset(
    group_name=GROUP,
    partitions_def=draft_gens_partitions,
    io_manager_key="draft_response_io_manager",
    deps=[draft_prompt],
    backfill_policy=BackfillPolicy.single_run(),
)
def draft_response(
    context: AssetExecutionContext,
    draft_generation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
    llm: LLMResource,
) -> Any:  # str, or {gen_id: text} for a multi-partition run
    """Generate (or copy), validate, parse and write gens/draft/<gen_id>/*."""
    return response_asset(context, "draft", draft_generation_tasks, data_root, experiment_config, llm)
