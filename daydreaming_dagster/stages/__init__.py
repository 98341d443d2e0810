"""The three stages as StageSpecs: only what differs between them lives here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from daydreaming_dagster.cohort.combinations import Combination
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.stages import draft, essay, evaluation
from daydreaming_dagster.stages.draft import build_draft_spec
from daydreaming_dagster.stages.essay import build_essay_spec
from daydreaming_dagster.stages.evaluation import build_evaluation_spec
from daydreaming_dagster.utils.document import Stage
from daydreaming_dagster.utils.generation_engine import StageSpec
from daydreaming_dagster.utils.raw_data import InputError, InputProblem, RawData
from daydreaming_dagster.utils.templates import TemplateProblem, check_template, read_template

STAGE_VARIABLES: Mapping[Stage, frozenset[str]] = {
    "draft": draft.VARIABLES,
    "essay": essay.VARIABLES,
    "evaluation": evaluation.VARIABLES,
}

__all__ = [
    "STAGE_VARIABLES",
    "build_draft_spec",
    "build_essay_spec",
    "build_evaluation_spec",
    "build_stage_specs",
    "check_active_templates",
]


def build_stage_specs(
    raw: RawData, config: ExperimentConfig, combos: Sequence[Combination]
) -> dict[Stage, StageSpec]:
    by_id = {c.combo_id: c for c in combos}
    return {
        "draft": build_draft_spec(raw, config, by_id),
        "essay": build_essay_spec(raw, config),
        "evaluation": build_evaluation_spec(raw, config),
    }


def check_active_templates(raw: RawData) -> None:
    """Compile every active template and check its variables, before any paid call."""
    problems = []
    for kind, provided in STAGE_VARIABLES.items():
        for row in raw.active_templates(kind):
            if kind == "essay" and row.generator == "copy":
                continue
            path = raw.template_path(kind, row.template_id)
            try:
                check_template(read_template(path), provided=provided, where=str(path))
            except TemplateProblem as exc:
                problems.append(InputProblem(path, None, None, str(exc).removeprefix(f"{path}: "), "see above"))
    if problems:
        raise InputError(problems)
