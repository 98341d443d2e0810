"""A cohort from inputs to results: the plain functions both ``daydream run`` and the assets call.

``load_cohort`` validates every input and builds the task tables (nothing is written and no call is
made if an input is bad); ``preflight`` checks that every model the pending generations need is
usable; ``run_items`` generates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daydreaming_dagster.cohort.prices import Catalogues, fetch_catalogues, model_problems
from daydreaming_dagster.cohort.runner import (
    Admission,
    CohortRunner,
    ProgressReporter,
    RunObserver,
    RunSummary,
    WorkItem,
    work_items,
)
from daydreaming_dagster.cohort.tasks import TaskTables, build_task_tables, write_task_tables
from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.ids import cohort_from_env
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.engine.flow import GenerationContext, StageSpec
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs import RawData, load_raw_data
from daydreaming_dagster.inputs.combinations import Combination, build_combinations
from daydreaming_dagster.llm import LLMClient, LLMConfigurationError
from daydreaming_dagster.stages import build_stage_specs, check_active_templates
from daydreaming_dagster.stages.essay import essay_mode


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
        frame: pd.DataFrame = getattr(self.tables, STAGE_FACTS[stage].task_table)
        return frame.to_dict("records")  # type: ignore[return-value]

    def items(self, stages: Iterable[Stage]) -> list[WorkItem]:
        return [item for stage in stages for item in work_items(stage, self.rows(stage))]


def load_cohort(data_root: Path, config: ExperimentConfig, *, cohort_env: str | None = None) -> Cohort:
    """Validate the inputs and build the task tables in memory (raises InputError)."""
    raw = load_raw_data(data_root)
    check_active_templates(raw)
    combos = build_combinations(raw, k_max=config.k_max, description_level=config.description_level)
    env = cohort_env if cohort_env is not None else cohort_from_env()
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
    for item in items:
        if needs_llm(cohort.raw, item) and (force or not store.is_complete(item.stage, item.gen_id)):
            ids.add(item.row[STAGE_FACTS[item.stage].model_column])
    return ids


def needs_llm(raw: RawData, item: WorkItem) -> bool:
    """False for copy-mode essays (no call); the one place that asks."""
    if item.stage != "essay":
        return True
    return essay_mode(raw, item.row[STAGE_FACTS["essay"].template_column]) == "llm"


def preflight(
    client: LLMClient,
    model_ids: Iterable[str],
    *,
    raw: RawData | None = None,
    check_models: bool = True,
    catalogues: Catalogues | None = None,
) -> Catalogues:
    """Fail before the first generation if a needed model is unknown or unusable.

    Checks each id against llm_models.csv and its readiness (key, local model), then, with
    ``check_models``, every remote model string against its server's ``/models`` list: an unknown
    string raises LLMConfigurationError naming the row (file:line when ``raw`` is given) and the
    closest known ids. A server without a list only adds a warning to the returned catalogues
    (whose lists also give the prices: ``cohort.prices.resolve_prices``).
    """
    ids = sorted(set(model_ids))
    if not ids:
        return Catalogues()
    client.check_ready(ids)
    if not check_models:
        return Catalogues()
    found = catalogues if catalogues is not None else fetch_catalogues(client, ids)
    problems = model_problems(client, found, raw=raw)
    if len(problems) == 1:
        raise LLMConfigurationError(f"Unknown model string: {problems[0]}")
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise LLMConfigurationError(f"Unknown model strings ({len(problems)}):\n{listing}")
    return found


def run_items(
    context: GenerationContext,
    specs: Mapping[Stage, StageSpec],
    items: Sequence[WorkItem],
    *,
    concurrency: int,
    force: bool = False,
    progress: ProgressReporter | None = None,
    admission: Admission | None = None,
    observers: Sequence[RunObserver] = (),
    stop: threading.Event | None = None,
    abandon: threading.Event | None = None,
    grace_s: float = 120.0,
) -> RunSummary:
    runner = CohortRunner(
        context,
        specs,
        concurrency=concurrency,
        force=force,
        progress=progress,
        admission=admission,
        observers=observers,
        stop=stop,
        abandon=abandon,
        grace_s=grace_s,
    )
    return runner.run(items)
