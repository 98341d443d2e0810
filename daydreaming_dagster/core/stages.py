"""What is true per stage, in one table: every other module reads it from here.

A stage's behaviour (how it resolves inputs, parses, validates) is its ``StageSpec`` in
``daydreaming_dagster.stages``; the facts below are the names and links that tables, ids, assets,
metadata and the CLI share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from daydreaming_dagster.core.errors import SettingError

Stage = Literal["draft", "essay", "evaluation"]
TASKS_DIR = "2_tasks"  # the task tables' folder under the data root
SELECTION_FILE = "selected_combo_mappings.csv"  # 2_tasks/<file>: the cohort's combinations
STAGES: tuple[Stage, ...] = ("draft", "essay", "evaluation")


@dataclass(frozen=True)
class StageFacts:
    stage: Stage
    parent: Stage | None  # the stage whose parsed text this one reads
    task_table: str  # TaskTables attribute (and key of the task files)
    task_file: str  # 2_tasks/<file>; also the Dagster task asset's name without ".csv"
    template_column: str  # task-row column holding the template id
    model_column: str  # task-row column holding the model id (llm_models.csv id)
    task_id_column: str  # task-row column holding the task id (metadata "task_id")
    function_name: str  # upstream's asset function name, kept in metadata.json ("function")
    task_keys: tuple[str, ...]  # task-row columns upstream copied into metadata.json after its keys
    partitions: str  # Dagster dynamic partitions set (keyed by gen_id)
    asset_group: str  # Dagster group of the stage's prompt and response assets
    max_tokens_setting: str  # ExperimentConfig field
    temperature_setting: str  # ExperimentConfig field
    replicates_setting: str  # ExperimentConfig field

    @property
    def task_asset(self) -> str:
        return self.task_file.removesuffix(".csv")


STAGE_FACTS: Mapping[Stage, StageFacts] = MappingProxyType(
    {
        "draft": StageFacts(
            stage="draft",
            parent=None,
            task_table="drafts",
            task_file="draft_generation_tasks.csv",
            template_column="draft_template",
            model_column="generation_model",
            task_id_column="draft_task_id",
            function_name="draft_response",
            task_keys=("combo_id",),
            partitions="draft_gens",
            asset_group="generation_draft",
            max_tokens_setting="draft_generation_max_tokens",
            temperature_setting="generation_temperature",
            replicates_setting="draft_replicates",
        ),
        "essay": StageFacts(
            stage="essay",
            parent="draft",
            task_table="essays",
            task_file="essay_generation_tasks.csv",
            template_column="essay_template",
            model_column="generation_model",
            task_id_column="essay_task_id",
            function_name="essay_response",
            task_keys=("essay_template",),
            partitions="essay_gens",
            asset_group="generation_essays",
            max_tokens_setting="essay_generation_max_tokens",
            temperature_setting="generation_temperature",
            replicates_setting="essay_replicates",
        ),
        "evaluation": StageFacts(
            stage="evaluation",
            parent="essay",
            task_table="evaluations",
            task_file="evaluation_tasks.csv",
            template_column="evaluation_template",
            model_column="evaluation_model",
            task_id_column="evaluation_task_id",
            function_name="evaluation_response",
            task_keys=("evaluation_template",),
            partitions="evaluation_gens",
            asset_group="evaluation",
            max_tokens_setting="evaluation_max_tokens",
            temperature_setting="evaluation_temperature",
            replicates_setting="evaluation_replicates",
        ),
    }
)


def facts(stage: Stage) -> StageFacts:
    try:
        return STAGE_FACTS[stage]
    except KeyError:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}") from None


def child_of(stage: Stage) -> Stage | None:
    return next((f.stage for f in STAGE_FACTS.values() if f.parent == stage), None)


def stage_order(stages: Iterable[str]) -> list[Stage]:
    """The given stage names in pipeline order; SettingError naming the unknown ones, or none given."""
    wanted = {s.strip() for s in stages if s.strip()}
    unknown = wanted - set(STAGES)
    if unknown:
        raise SettingError(f"unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
    if not wanted:
        raise SettingError(f"no stage given; choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in wanted]
