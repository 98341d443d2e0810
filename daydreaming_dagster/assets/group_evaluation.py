"""Asset group ``evaluation``: ``evaluation_prompt`` and ``evaluation_response``, one partition per gen_id.

Thin wrappers over the generation engine (daydreaming_dagster/utils/generation_engine.py); the
stage's hooks are in daydreaming_dagster/stages/evaluation.py.
An evaluation reads its parent essay from disk: materialize the essay first.
"""

from daydreaming_dagster.assets._stage_assets import stage_assets
from daydreaming_dagster.assets.partitions import evaluation_gens_partitions

evaluation_prompt, evaluation_response = stage_assets(
    "evaluation", group="evaluation", tasks_asset="evaluation_tasks", partitions=evaluation_gens_partitions
)
