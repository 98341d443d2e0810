"""The design's public face of the generation engine (``../shared/design/generation_engine_plan.md``).

The engine lives in ``daydreaming_dagster/engine/`` (``flow.py``: StageSpec and the flow; ``store.py``,
``cache.py``, ``record.py``, ``templates.py``); this module keeps the names the design gives it:
``StageSpec``, ``orchestrate_generation`` and the helpers, plus the types a stage's hooks are
written against (``TaskRow``, ``Payload``, ``GeneratorMode``, ``Validators``, ``Parser``).
"""

from daydreaming_dagster.engine.flow import (
    GenerationContext,
    GenerationError,
    GenerationOutcome,
    GeneratorMode,
    Parser,
    Payload,
    StageSpec,
    TaskRow,
    Validators,
    detect_truncation,
    llm_generate,
    normalize_newlines,
    orchestrate_generation,
    render_prompt,
    resolve_cohort_id,
)

__all__ = [
    "GenerationContext",
    "GenerationError",
    "GenerationOutcome",
    "GeneratorMode",
    "Parser",
    "Payload",
    "StageSpec",
    "TaskRow",
    "Validators",
    "detect_truncation",
    "llm_generate",
    "normalize_newlines",
    "orchestrate_generation",
    "render_prompt",
    "resolve_cohort_id",
]
