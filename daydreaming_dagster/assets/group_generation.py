"""The generation groups: ``<stage>_prompt`` and ``<stage>_response`` for each stage, one partition per
gen_id, in the stage's group (``generation_draft``, ``generation_essays``, ``evaluation``).

Thin wrappers over the generation engine (``daydreaming_dagster/engine/flow.py``); each stage's
hooks are in ``daydreaming_dagster/stages/<stage>.py``. An essay reads its parent draft from disk
and an evaluation its essay: materialize the parent stage first.
"""

from daydreaming_dagster.assets._stage_assets import stage_assets

draft_prompt, draft_response = stage_assets("draft")
essay_prompt, essay_response = stage_assets("essay")
evaluation_prompt, evaluation_response = stage_assets("evaluation")
