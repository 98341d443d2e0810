"""Draft stage: brainstorm from a concept combination (``concepts``), optional draft parser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.draft_parsers import IDENTITY_PARSER, get_draft_parser
from daydreaming_dagster.engine.flow import (
    GenerationContext,
    GenerationError,
    Parser,
    StageSpec,
    TaskRow,
    Validators,
    count_nonempty_lines,
)
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination, concept_payload
from daydreaming_dagster.stages._common import TemplateInputs, always_llm, common_hooks


def _sample(raw: RawData) -> dict[str, Any]:
    concepts = raw.active_concepts()[:2] or list(raw.concepts[:1])
    return {"concepts": [{"name": c.name, "content": c.content("paragraph")} for c in concepts]}


GENERATOR_MODE = always_llm

TEMPLATE_INPUTS = TemplateInputs(
    names=("concepts",),
    describe="concepts (a list; each item has name and content)",
    sample=_sample,
    other_sample=lambda raw: {"concepts": [{"name": "Another concept", "content": "Another description."}]},
)


def draft_parser(raw: RawData, template_id: str) -> Parser:
    name = raw.template("draft", template_id).parser
    return Parser(name or IDENTITY_PARSER, get_draft_parser(name))


def build_draft_spec(raw: RawData, config: ExperimentConfig, combos: Mapping[str, Combination]) -> StageSpec:
    min_lines = config.min_draft_lines

    def resolve_inputs(context: GenerationContext, task_row: TaskRow) -> dict[str, Any]:
        combo_id = str(task_row.get("combo_id") or "")
        combo = combos.get(combo_id)
        if combo is None:
            raise GenerationError(
                f"draft {task_row.get('gen_id')}: content combination '{combo_id}' not found "
                "in 2_tasks/selected_combo_mappings.csv. Fix: rebuild the task tables.",
                metadata={"combo_id": combo_id, "total_combinations": len(combos)},
                cause="draft: content combination not in 2_tasks/selected_combo_mappings.csv. "
                "Fix: rebuild the task tables",
            )
        return {"concepts": concept_payload(raw, combo)}

    def check_min_lines(text: str, info: Mapping[str, Any]) -> None:
        lines = count_nonempty_lines(text)
        if lines < min_lines:
            raise GenerationError(
                f"draft response insufficient: {lines} non-empty line(s), at least {min_lines} required "
                "(min_draft_lines). RAW kept in raw.txt.",
                metadata={
                    "response_line_count": lines,
                    "minimum_required": min_lines,
                    "response_content_preview": text[:200],
                },
                cause=f"draft shorter than min_draft_lines ({min_lines}). RAW kept in raw.txt",
            )

    return StageSpec(
        **common_hooks(raw, config, "draft", combos, GENERATOR_MODE),
        input_resolver=resolve_inputs,
        parser_selector=lambda template_id: draft_parser(raw, template_id),
        validators=Validators(post_llm=check_min_lines),
    )
