"""Evaluation stage: grade the parent essay (``response``); parsed.txt holds the score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.score_parser import format_score, parse_llm_response
from daydreaming_dagster.engine.flow import GenerationContext, Parser, StageSpec, TaskRow
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination
from daydreaming_dagster.stages._common import TemplateInputs, always_llm, common_hooks, load_parent_text

GENERATOR_MODE = always_llm

TEMPLATE_INPUTS = TemplateInputs(
    names=("response",),
    describe="response (the essay's text)",
    sample=lambda raw: {"response": "An essay.\nIt has several lines."},
    other_sample=lambda raw: {"response": "A different essay."},
)


def evaluation_parser(raw: RawData, template_id: str) -> Parser:
    strategy = raw.template("evaluation", template_id).parser or ""

    def parse(text: str) -> str:
        return format_score(parse_llm_response(text, strategy))

    return Parser(strategy, parse)


def build_evaluation_spec(
    raw: RawData, config: ExperimentConfig, combos: Mapping[str, Combination]
) -> StageSpec:
    def resolve_inputs(context: GenerationContext, task_row: TaskRow) -> dict[str, Any]:
        # Not newline-normalized, as upstream (essays on disk already are).
        return {"response": load_parent_text(context, task_row, child_stage="evaluation")}

    return StageSpec(
        **common_hooks(raw, config, "evaluation", combos, GENERATOR_MODE),
        input_resolver=resolve_inputs,
        parser_selector=lambda template_id: evaluation_parser(raw, template_id),
    )
