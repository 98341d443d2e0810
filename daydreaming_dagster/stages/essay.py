"""Essay stage: write up the parent draft (``llm``) or copy it (``copy``), per essay_templates.csv."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.draft_parsers import IDENTITY_PARSER, identity_parser
from daydreaming_dagster.engine.flow import (
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
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination
from daydreaming_dagster.stages._common import TemplateInputs, common_hooks, load_parent_text

ESSAY_PARSER = Parser(IDENTITY_PARSER, identity_parser)


def essay_mode(raw: RawData, template_id: str) -> GeneratorMode:
    """``llm`` or ``copy`` from essay_templates.csv: the one place that decides."""
    generator = raw.template("essay", template_id).generator
    if generator not in ("llm", "copy"):
        raise GenerationError(
            f"essay template '{template_id}' declares unsupported generator {generator!r}. "
            "Fix: set generator to llm or copy in essay_templates.csv.",
            metadata={"template_id": template_id, "generator": generator},
        )
    return cast(GeneratorMode, generator)


def essay_payload(draft_text: str) -> dict[str, Any]:
    text = normalize_newlines(draft_text)
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    # links_block is the legacy name every upstream essay template uses.
    return {"draft_block": text, "links_block": text, "draft_lines": lines}


GENERATOR_MODE = essay_mode  # essay_templates.csv's generator: llm or copy

TEMPLATE_INPUTS = TemplateInputs(
    names=("draft_block", "links_block", "draft_lines"),
    describe="draft_block (text), links_block (the same text), draft_lines (a list of lines)",
    sample=lambda raw: essay_payload("First line of a draft\nSecond line\nThird line"),
    other_sample=lambda raw: essay_payload("Another draft\nwith other lines"),
)


def build_essay_spec(raw: RawData, config: ExperimentConfig, combos: Mapping[str, Combination]) -> StageSpec:
    # The essay checks its parent's parsed text with max(1, min_draft_lines), as upstream did.
    min_lines = max(1, config.min_draft_lines)

    def resolve_inputs(context: GenerationContext, task_row: TaskRow) -> dict[str, Any]:
        return essay_payload(load_parent_text(context, task_row, child_stage="essay"))

    def check_parent(context: GenerationContext, task_row: TaskRow, payload: Payload) -> None:
        count = len(payload["draft_lines"])
        if count < min_lines:
            raise GenerationError(
                f"essay {task_row.get('gen_id')}: parent draft {task_row.get('parent_gen_id')} is too short "
                f"({count} non-empty lines, at least {min_lines} required).",
                metadata={"draft_line_count": count, "min_required_lines": min_lines},
                cause=f"essay: parent draft shorter than {min_lines} non-empty lines",
            )

    return StageSpec(
        **common_hooks(raw, config, "essay", combos, GENERATOR_MODE),
        input_resolver=resolve_inputs,
        parser_selector=lambda template_id: ESSAY_PARSER,
        validators=Validators(pre_prompt=check_parent),
    )
