"""Essay stage: write up the parent draft (``llm``) or copy it (``copy``), per essay_templates.csv."""

from __future__ import annotations

from typing import Any, cast

from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.stages._common import grammar_loader, load_parent_text, template_loader
from daydreaming_dagster.utils.draft_parsers import IDENTITY_PARSER, identity_parser
from daydreaming_dagster.utils.generation_engine import (
    GenerationContext,
    GenerationError,
    GeneratorMode,
    Parser,
    Payload,
    StageSpec,
    TaskRow,
    Validators,
    normalize_newlines,
)
from daydreaming_dagster.utils.raw_data import RawData

VARIABLES = frozenset({"draft_block", "draft_lines", "links_block"})


def build_essay_spec(raw: RawData, config: ExperimentConfig) -> StageSpec:
    # The essay checks its parent's parsed text with max(1, min_draft_lines), as upstream did.
    min_lines = max(1, config.min_draft_lines)

    def resolve_inputs(context: GenerationContext, task_row: TaskRow) -> dict[str, Any]:
        text = normalize_newlines(load_parent_text(context, task_row, parent_stage="draft", child_stage="essay"))
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        # links_block is the legacy name every upstream essay template uses.
        return {"draft_block": text, "links_block": text, "draft_lines": lines}

    def check_parent(context: GenerationContext, task_row: TaskRow, payload: Payload) -> None:
        count = len(payload["draft_lines"])
        if count < min_lines:
            raise GenerationError(
                f"essay {task_row.get('gen_id')}: parent draft {task_row.get('parent_gen_id')} is too short "
                f"({count} non-empty lines, at least {min_lines} required).",
                metadata={"draft_line_count": count, "min_required_lines": min_lines},
            )

    def mode(template_id: str) -> GeneratorMode:
        generator = raw.template("essay", template_id).generator
        if generator not in ("llm", "copy"):
            raise GenerationError(
                f"essay template '{template_id}' declares unsupported generator {generator!r}. "
                "Fix: set generator to llm or copy in essay_templates.csv.",
                metadata={"template_id": template_id, "generator": generator},
            )
        return cast(GeneratorMode, generator)

    return StageSpec(
        stage="essay",
        template_kind="essay",
        function_name="essay_response",
        template_column="essay_template",
        task_id_column="essay_task_id",
        input_resolver=resolve_inputs,
        template_loader=template_loader(raw, "essay"),
        grammar_loader=grammar_loader(raw, "essay"),
        generator_mode=mode,
        model_selector=lambda row: str(row["generation_model"]),
        parser_selector=lambda template_id: Parser(IDENTITY_PARSER, identity_parser),
        max_tokens_selector=lambda context: config.essay_generation_max_tokens,
        temperature=config.generation_temperature,
        validators=Validators(pre_prompt=check_parent),
        metadata_extras=lambda context, row, payload: {"essay_template": str(row.get("essay_template") or "")},
        copy_source="draft_block",
    )
