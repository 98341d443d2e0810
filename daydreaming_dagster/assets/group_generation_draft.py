"""Asset group ``generation_draft``: ``draft_prompt`` and ``draft_response``, one partition per gen_id.

Thin wrappers over the generation engine (daydreaming_dagster/utils/generation_engine.py); the
stage's hooks are in daydreaming_dagster/stages/draft.py.
"""

from daydreaming_dagster.assets._stage_assets import stage_assets
from daydreaming_dagster.assets.partitions import draft_gens_partitions

draft_prompt, draft_response = stage_assets(
    "draft", group="generation_draft", tasks_asset="draft_generation_tasks", partitions=draft_gens_partitions
)
