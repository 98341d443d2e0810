"""The three stages as StageSpecs: only what differs between them lives here.

``build_stage_specs`` gives the specs of one run; ``parser_for`` the parser a stage applies to a
template's RAW text (also used by ``daydream reparse``); ``check_active_templates`` renders every
active template once with representative inputs, so a template error stops the run before any call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.stages import Stage
from daydreaming_dagster.engine.flow import Parser, StageSpec
from daydreaming_dagster.engine.templates import TemplateProblem, read_template, render_prompt
from daydreaming_dagster.inputs import InputError, InputProblem, RawData
from daydreaming_dagster.inputs.combinations import Combination
from daydreaming_dagster.stages.draft import build_draft_spec, draft_parser
from daydreaming_dagster.stages.essay import ESSAY_PARSER, build_essay_spec, essay_payload
from daydreaming_dagster.stages.evaluation import build_evaluation_spec, evaluation_parser

__all__ = [
    "build_stage_specs",
    "check_active_templates",
    "parser_for",
]

# What each stage's templates can use, as the fix of a template error says it.
AVAILABLE: Mapping[Stage, str] = {
    "draft": "concepts (a list; each item has name and content)",
    "essay": "draft_block (text), links_block (the same text), draft_lines (a list of lines)",
    "evaluation": "response (the essay's text)",
}


def build_stage_specs(
    raw: RawData, config: ExperimentConfig, combos: Sequence[Combination]
) -> dict[Stage, StageSpec]:
    by_id = {c.combo_id: c for c in combos}
    return {
        "draft": build_draft_spec(raw, config, by_id),
        "essay": build_essay_spec(raw, config, by_id),
        "evaluation": build_evaluation_spec(raw, config, by_id),
    }


def parser_for(raw: RawData, stage: Stage, template_id: str) -> Parser:
    """The parser the stage applies to RAW text generated with ``template_id``."""
    if stage == "draft":
        return draft_parser(raw, template_id)
    if stage == "essay":
        return ESSAY_PARSER
    return evaluation_parser(raw, template_id)


def _sample_payload(raw: RawData, stage: Stage) -> dict[str, Any]:
    """Inputs of the stage's real shape, so attribute typos (``c.description``) surface now."""
    if stage == "draft":
        concepts = raw.active_concepts()[:2] or list(raw.concepts[:1])
        return {"concepts": [{"name": c.name, "content": c.content("paragraph")} for c in concepts]}
    if stage == "essay":
        return essay_payload("First line of a draft\nSecond line\nThird line")
    return {"response": "An essay.\nIt has several lines."}


def check_active_templates(raw: RawData) -> None:
    """Compile and render every active template once; raise InputError naming file and line."""
    problems = []
    for stage in ("draft", "essay", "evaluation"):
        payload = _sample_payload(raw, stage)
        for row in raw.active_templates(stage):
            if stage == "essay" and row.generator == "copy":
                continue
            path = raw.template_path(stage, row.template_id)
            try:
                render_prompt(read_template(path), payload, where=str(path))
            except TemplateProblem as exc:
                problems.append(
                    InputProblem(
                        path,
                        exc.line,
                        None,
                        exc.detail,
                        f"{stage} templates can use only {AVAILABLE[stage]}" if exc.kind == "undefined" else exc.fix,
                    )
                )
    if problems:
        raise InputError(problems)
