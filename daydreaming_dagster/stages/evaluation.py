"""Evaluation stage: grade the parent essay (``response``); parsed.txt holds the score."""

from __future__ import annotations

from typing import Any

from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.stages._common import grammar_loader, load_parent_text, template_loader
from daydreaming_dagster.utils.eval_response_parser import format_score, parse_llm_response
from daydreaming_dagster.utils.generation_engine import GenerationContext, Parser, StageSpec, TaskRow
from daydreaming_dagster.utils.raw_data import RawData

VARIABLES = frozenset({"response"})


def build_evaluation_spec(raw: RawData, config: ExperimentConfig) -> StageSpec:
    def resolve_inputs(context: GenerationContext, task_row: TaskRow) -> dict[str, Any]:
        # Not newline-normalized, as upstream (essays on disk already are).
        return {"response": load_parent_text(context, task_row, parent_stage="essay", child_stage="evaluation")}

    def select_parser(template_id: str) -> Parser:
        strategy = raw.template("evaluation", template_id).parser or ""

        def parse(text: str) -> str:
            return format_score(parse_llm_response(text, strategy))

        return Parser(strategy, parse)

    return StageSpec(
        stage="evaluation",
        template_kind="evaluation",
        function_name="evaluation_response",
        template_column="evaluation_template",
        task_id_column="evaluation_task_id",
        input_resolver=resolve_inputs,
        template_loader=template_loader(raw, "evaluation"),
        grammar_loader=grammar_loader(raw, "evaluation"),
        generator_mode=lambda template_id: "llm",
        model_selector=lambda row: str(row["evaluation_model"]),
        parser_selector=select_parser,
        max_tokens_selector=lambda context: config.evaluation_max_tokens,
        temperature=config.evaluation_temperature,
        metadata_extras=lambda context, row, payload: {
            "evaluation_template": str(row.get("evaluation_template") or "")
        },
        returns="raw",
    )
