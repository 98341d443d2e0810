"""A cohort from inputs to results: the plain functions both ``daydream run`` and the assets call.

``load_cohort`` validates every input and builds the task tables (nothing is written and no call is
made if an input is bad); ``preflight`` checks that every model the pending generations need is
usable; ``run_stages`` generates; ``write_results`` aggregates the scores.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daydreaming_dagster.cohort.combinations import Combination, build_combinations
from daydreaming_dagster.cohort.runner import CohortRunner, ProgressReporter, RunSummary, WorkItem, work_items
from daydreaming_dagster.cohort.tasks import TaskTables, build_task_tables, write_task_tables
from daydreaming_dagster.llm import LLMClient
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.stages import build_stage_specs, check_active_templates
from daydreaming_dagster.utils.document import GensStore, Stage
from daydreaming_dagster.utils.generation_engine import GenerationContext, StageSpec
from daydreaming_dagster.utils.raw_data import RawData, load_raw_data

_TABLE_OF: Mapping[Stage, str] = {"draft": "drafts", "essay": "essays", "evaluation": "evaluations"}
_MODEL_COLUMN: Mapping[Stage, str] = {
    "draft": "generation_model",
    "essay": "generation_model",
    "evaluation": "evaluation_model",
}


@dataclass(frozen=True)
class Cohort:
    data_root: Path
    raw: RawData
    config: ExperimentConfig
    combinations: list[Combination]
    tables: TaskTables

    def specs(self) -> dict[Stage, StageSpec]:
        return build_stage_specs(self.raw, self.config, self.combinations)

    def rows(self, stage: Stage) -> list[dict[str, str]]:
        frame: pd.DataFrame = getattr(self.tables, _TABLE_OF[stage])
        return frame.to_dict("records")  # type: ignore[return-value]

    def items(self, stages: Iterable[Stage]) -> list[WorkItem]:
        return [item for stage in stages for item in work_items(stage, self.rows(stage))]


def load_cohort(data_root: Path, config: ExperimentConfig, *, cohort_env: str | None = None) -> Cohort:
    """Validate the inputs and build the task tables in memory (raises InputError)."""
    raw = load_raw_data(data_root)
    check_active_templates(raw)
    combos = build_combinations(raw, k_max=config.k_max, description_level=config.description_level)
    env = cohort_env if cohort_env is not None else (os.environ.get("DD_COHORT") or None)
    tables = build_task_tables(
        raw,
        combos,
        cohort_env=env,
        draft_replicates=config.draft_replicates,
        essay_replicates=config.essay_replicates,
        evaluation_replicates=config.evaluation_replicates,
    )
    return Cohort(Path(data_root), raw, config, combos, tables)


def save_task_tables(cohort: Cohort) -> None:
    write_task_tables(cohort.data_root, cohort.tables)


def pending_model_ids(cohort: Cohort, items: Sequence[WorkItem], store: GensStore, *, force: bool) -> set[str]:
    """Model ids that the not-yet-complete LLM-mode generations will call."""
    ids = set()
    essay_modes = {t.template_id: t.generator for t in cohort.raw.essay_templates}
    for item in items:
        if item.stage == "essay" and essay_modes.get(item.row["essay_template"]) == "copy":
            continue
        if force or not store.is_complete(item.stage, item.gen_id):
            ids.add(item.row[_MODEL_COLUMN[item.stage]])
    return ids


def preflight(client: LLMClient, model_ids: Iterable[str]) -> None:
    """Fail before the first generation if a needed model is unknown or unusable."""
    ids = sorted(set(model_ids))
    if ids:
        client.check_ready(ids)


def run_items(
    context: GenerationContext,
    specs: Mapping[Stage, StageSpec],
    items: Sequence[WorkItem],
    *,
    concurrency: int,
    force: bool = False,
    progress: ProgressReporter | None = None,
) -> RunSummary:
    runner = CohortRunner(context, specs, concurrency=concurrency, force=force, progress=progress)
    return runner.run(items)
