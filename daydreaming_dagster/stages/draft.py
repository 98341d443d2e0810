"""Draft stage: brainstorm from a concept combination (``concepts``), optional draft parser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daydreaming_dagster.cohort.combinations import Combination, concept_payload
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.stages._common import grammar_loader, template_loader
from daydreaming_dagster.utils.draft_parsers import IDENTITY_PARSER, get_draft_parser
from daydreaming_dagster.utils.generation_engine import (
    GenerationContext,
    GenerationError,
    Parser,
    StageSpec,
    TaskRow,
    Validators,
    count_nonempty_lines,
)
from daydreaming_dagster.utils.raw_data import RawData

VARIABLES = frozenset({"concepts"})


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
            )
        return {"concepts": concept_payload(raw, combo)}

    def select_parser(template_id: str) -> Parser:
        name = raw.template("draft", template_id).parser
        return Parser(name or IDENTITY_PARSER, get_draft_parser(name))

    def check_min_lines(text: str, _response: object) -> None:
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
            )

    return StageSpec(
        stage="draft",
        template_kind="draft",
        function_name="draft_response",
        template_column="draft_template",
        task_id_column="draft_task_id",
        input_resolver=resolve_inputs,
        template_loader=template_loader(raw, "draft"),
        grammar_loader=grammar_loader(raw, "draft"),
        generator_mode=lambda template_id: "llm",
        model_selector=lambda row: str(row["generation_model"]),
        parser_selector=select_parser,
        max_tokens_selector=lambda context: config.draft_generation_max_tokens,
        temperature=config.generation_temperature,
        validators=Validators(post_llm=check_min_lines),
        metadata_extras=lambda context, row, payload: {"combo_id": str(row.get("combo_id") or "")},
    )
