"""Asset group ``generation_essays``: ``essay_prompt`` and ``essay_response``, one partition per gen_id.

Thin wrappers over the generation engine (daydreaming_dagster/utils/generation_engine.py); the
stage's hooks are in daydreaming_dagster/stages/essay.py.
An essay reads its parent draft from disk: materialize the draft first (docs/architecture.md).
"""

from daydreaming_dagster.assets._stage_assets import stage_assets
from daydreaming_dagster.assets.partitions import essay_gens_partitions

essay_prompt, essay_response = stage_assets(
    "essay", group="generation_essays", tasks_asset="essay_generation_tasks", partitions=essay_gens_partitions
)
