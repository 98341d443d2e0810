"""Asset group ``evaluation``: ``evaluation_prompt`` and ``evaluation_response``, one partition per gen_id.

Thin wrappers over the generation engine (daydreaming_dagster/utils/generation_engine.py); the
stage's hooks are in daydreaming_dagster/stages/evaluation.py.
An evaluation reads its parent essay from disk: materialize the essay first.
"""


from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, asset

from daydreaming_dagster.assets._generation import prompt_asset, response_asset
from daydreaming_dagster.assets.partitions import evaluation_gens_partitions
from daydreaming_dagster.resources.data_root import DataRootResource
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.resources.llm import LLMResource

GROUP = "evaluation"


@asset(
    group_name=GROUP,
    partitions_def=evaluation_gens_partitions,
    io_manager_key="evaluation_prompt_io_manager",
    backfill_policy=BackfillPolicy.single_run(),
)
def evaluation_prompt(
    context: AssetExecutionContext,
    evaluation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
) -> Any:  # str, None (copy mode), or {gen_id: prompt} for a multi-partition run
    """The rendered prompt, persisted as gens/evaluation/<gen_id>/prompt.txt."""
    return prompt_asset(context, "evaluation", evaluation_tasks, data_root, experiment_config)


@asset(
    group_name=GROUP,
    partitions_def=evaluation_gens_partitions,
    io_manager_key="evaluation_response_io_manager",
    deps=[evaluation_prompt],
    backfill_policy=BackfillPolicy.single_run(),
)
def evaluation_response(
    context: AssetExecutionContext,
    evaluation_tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment_config: ExperimentConfig,
    llm: LLMResource,
) -> Any:  # str, or {gen_id: text} for a multi-partition run
    """Generate (or copy), validate, parse and write gens/evaluation/<gen_id>/*."""
    return response_asset(context, "evaluation", evaluation_tasks, data_root, experiment_config, llm)
