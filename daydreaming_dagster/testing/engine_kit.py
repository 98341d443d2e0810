"""Build a cohort, its specs and an engine context over a scripted provider, for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daydreaming_dagster.cohort.pipeline import Cohort, load_cohort, save_task_tables
from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.stages import Stage
from daydreaming_dagster.engine.cache import ResponseCache
from daydreaming_dagster.engine.flow import GenerationContext
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.llm import LLMClient, RetryPolicy
from daydreaming_dagster.testing.mock_llm import ScriptedProvider


def make_cohort(root: Path, **config: Any) -> Cohort:
    cohort = load_cohort(root, ExperimentConfig(**config))
    save_task_tables(cohort)
    return cohort


def make_context(
    root: Path, cohort: Cohort, provider: ScriptedProvider, *, cache: bool = True, run_id: str = "test-run"
) -> GenerationContext:
    client = LLMClient.with_provider(
        cohort.raw.routes(), provider, retry=RetryPolicy(max_attempts=3, jitter=False), sleep=provider.record_wait
    )
    return GenerationContext(
        run_id=run_id,
        store=GensStore(root),
        llm=client,
        cache=ResponseCache.for_data_root(root) if cache else None,
    )


def row(cohort: Cohort, stage: Stage, **match: str) -> dict[str, str]:
    """The first task row of ``stage`` whose columns equal ``match``."""
    for candidate in cohort.rows(stage):
        if all(candidate.get(k) == v for k, v in match.items()):
            return candidate
    raise LookupError(f"no {stage} row matches {match}")
