"""The three stages as StageSpecs: only what differs between them lives here.

``build_stage_specs`` gives the specs of one run; ``parser_for`` the parser a stage applies to a
template's RAW text (also used by ``daydream reparse``); ``check_active_templates`` renders every
active template once with representative inputs, so a template error stops the run before any call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.errors import TemplateProblem
from daydreaming_dagster.core.stages import STAGES, Stage
from daydreaming_dagster.engine.flow import GeneratorMode, Parser, StageSpec
from daydreaming_dagster.engine.templates import read_template, render_prompt, variables_used
from daydreaming_dagster.inputs import InputError, InputProblem, RawData
from daydreaming_dagster.inputs.combinations import Combination
from daydreaming_dagster.stages import draft, essay, evaluation
from daydreaming_dagster.stages._common import TemplateInputs
from daydreaming_dagster.stages.draft import build_draft_spec, draft_parser
from daydreaming_dagster.stages.essay import ESSAY_PARSER, build_essay_spec
from daydreaming_dagster.stages.evaluation import build_evaluation_spec, evaluation_parser

__all__ = [
    "GENERATOR_MODES",
    "TEMPLATE_INPUTS",
    "build_stage_specs",
    "check_active_templates",
    "parser_for",
]

#: llm or copy per template: the stage modules decide (only an essay template can copy).
GENERATOR_MODES: Mapping[Stage, Callable[[RawData, str], GeneratorMode]] = {
    "draft": draft.GENERATOR_MODE,
    "essay": essay.GENERATOR_MODE,
    "evaluation": evaluation.GENERATOR_MODE,
}

#: What each stage's templates can use: the stage modules' own descriptions.
TEMPLATE_INPUTS: Mapping[Stage, TemplateInputs] = {
    "draft": draft.TEMPLATE_INPUTS,
    "essay": essay.TEMPLATE_INPUTS,
    "evaluation": evaluation.TEMPLATE_INPUTS,
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


def check_active_templates(raw: RawData, used: Mapping[Stage, Iterable[str]] | None = None) -> None:
    """Read, compile and render every active template (or, with ``used``, every template a named
    cohort uses) once; raise InputError naming file and line.

    Refused before any call: a template that cannot be read (missing, not UTF-8, empty), that
    does not compile or render with inputs of the stage's real shape (a typo such as
    ``c.description`` surfaces now), or that never uses its stage's input (its prompt would be the
    same for every generation: paid for again and again with nothing to tell them apart).
    """
    problems = []
    for stage in STAGES:
        inputs = TEMPLATE_INPUTS[stage]
        payload = inputs.sample(raw)
        rows = raw.active_templates(stage) if used is None else [raw.template(stage, t) for t in sorted(set(used[stage]))]
        for row in rows:
            if GENERATOR_MODES[stage](raw, row.template_id) == "copy":
                continue  # no template is rendered
            path = raw.template_path(stage, row.template_id)
            try:
                source = read_template(path)
                prompt = render_prompt(source, payload, where=str(path))
                # Named (lexically), and shown: two different inputs must give two different prompts
                # (``{% if false %}{{ concepts }}{% endif %}`` names its input and never shows it).
                if not variables_used(source, str(path)) & set(inputs.names) or prompt == render_prompt(
                    source, inputs.other_sample(raw), where=str(path)
                ):
                    raise TemplateProblem(
                        str(path),
                        f"the template never uses its input ({' or '.join(inputs.names)})",
                        kind="unused_input",
                        fix=f"show the {stage}'s input, e.g. {{{{ {inputs.names[0]} }}}} ({inputs.describe})",
                    )
            except TemplateProblem as exc:
                fix = f"{stage} templates can use only {inputs.describe}" if exc.kind == "undefined" else exc.fix
                problems.append(InputProblem(path, exc.line, None, exc.detail, fix))
    if problems:
        raise InputError(problems)
