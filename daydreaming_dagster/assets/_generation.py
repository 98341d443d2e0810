"""What the six stage assets share: build the engine's context from resources, run partitions.

A run covering one partition calls the engine once. A run covering several (a single-run backfill,
``BackfillPolicy.single_run()``) runs them concurrently through the CohortRunner, so one Dagster run
works at the provider's limit instead of one process launch per generation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue

from daydreaming_dagster.cohort.combinations import combinations_from_selection
from daydreaming_dagster.cohort.pipeline import preflight
from daydreaming_dagster.cohort.runner import CohortRunner, work_items
from daydreaming_dagster.cohort.tasks import TABLE_FILES, TASKS_DIR
from daydreaming_dagster.llm import LLMError
from daydreaming_dagster.resources.data_root import DataRootResource
from daydreaming_dagster.resources.experiment_config import ExperimentConfig
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.stages import build_stage_specs
from daydreaming_dagster.utils.document import GensStore, Stage
from daydreaming_dagster.utils.generation_engine import (
    GenerationContext,
    GenerationError,
    StageSpec,
    prepare_prompt,
    run_generation,
)
from daydreaming_dagster.utils.raw_data import InputError, load_raw_data
from daydreaming_dagster.utils.response_cache import ResponseCache

_MODEL_COLUMN = {"draft": "generation_model", "essay": "generation_model", "evaluation": "evaluation_model"}


def _rows(context: AssetExecutionContext, tasks: pd.DataFrame, table: str) -> list[dict[str, str]]:
    keys = context.partition_keys
    by_id: dict[str, dict[str, str]] = {str(r["gen_id"]): {str(k): str(v) for k, v in r.items()} for r in tasks.to_dict("records")}
    missing = [k for k in keys if k not in by_id]
    if missing:
        raise Failure(
            description=f"{len(missing)} partition(s) not in {table}: {', '.join(missing[:5])}. "
            "Fix: materialize the task_definitions group again (the tables changed).",
        )
    return [by_id[k] for k in keys]


def _spec(stage: Stage, data_root: DataRootResource, config: ExperimentConfig) -> StageSpec:
    try:
        raw = load_raw_data(data_root.root)
    except InputError as exc:
        raise Failure(description=str(exc)) from exc
    combos = []
    if stage == "draft":
        selection = Path(data_root.root) / TASKS_DIR / TABLE_FILES["selection"]
        combos = combinations_from_selection(pd.read_csv(selection, dtype=str, keep_default_na=False))
    return build_stage_specs(raw, config, combos)[stage]


def _engine_context(
    context: AssetExecutionContext,
    data_root: DataRootResource,
    config: ExperimentConfig,
    llm: LLMResource | None,
) -> GenerationContext:
    client = None
    if llm is not None:
        client = llm.build_client(load_raw_data(data_root.root).routes(), default_max_in_flight=config.concurrency)
    return GenerationContext(
        run_id=context.run_id,
        store=GensStore(data_root.root),
        llm=client,
        cache=ResponseCache.for_data_root(data_root.root) if config.response_cache else None,
        log=context.log,
    )


def _failure(exc: GenerationError) -> Failure:
    metadata = {k: MetadataValue.text(str(v)) for k, v in exc.metadata.items()}
    return Failure(description=exc.message, metadata=metadata)


def prompt_asset(
    context: AssetExecutionContext,
    stage: Stage,
    tasks: pd.DataFrame,
    data_root: DataRootResource,
    config: ExperimentConfig,
) -> str | None | dict[str, str | None]:
    """Body of ``<stage>_prompt``: render the prompt(s); None in copy mode."""
    spec = _spec(stage, data_root, config)
    engine = _engine_context(context, data_root, config, None)
    prompts: dict[str, str | None] = {}
    for row in _rows(context, tasks, stage):
        try:
            prompts[row["gen_id"]] = prepare_prompt(engine, row, spec, gen_id=row["gen_id"])
        except GenerationError as exc:
            raise _failure(exc) from exc
    if len(prompts) == 1:
        (prompt,) = prompts.values()
        context.add_output_metadata({"prompt_chars": len(prompt) if prompt else 0, "mode": "copy" if prompt is None else "llm"})
        return prompt
    return prompts


def response_asset(
    context: AssetExecutionContext,
    stage: Stage,
    tasks: pd.DataFrame,
    data_root: DataRootResource,
    config: ExperimentConfig,
    llm: LLMResource,
) -> str | dict[str, str]:
    """Body of ``<stage>_response``: generate the partition(s) through the engine."""
    spec = _spec(stage, data_root, config)
    engine = _engine_context(context, data_root, config, llm)
    rows = _rows(context, tasks, stage)
    assert engine.llm is not None
    try:
        preflight(engine.llm, _needed_models(stage, rows, spec))
    except LLMError as exc:
        raise Failure(description=str(exc)) from exc
    if len(rows) == 1:
        row = rows[0]
        try:
            outcome = run_generation(engine, row, spec, gen_id=row["gen_id"], parent_gen_id=_parent(stage, row))
        except GenerationError as exc:
            raise _failure(exc) from exc
        context.add_output_metadata(_outcome_metadata(engine.store, stage, row["gen_id"], outcome.cache_hit))
        return outcome.text
    runner = CohortRunner(engine, {stage: spec}, concurrency=config.concurrency, force=True)
    summary = runner.run(work_items(stage, rows))
    if summary.failures:
        shown = "\n".join(f"- {f.gen_id}: {f.message}" for f in summary.failures[:20])
        raise Failure(description=f"{len(summary.failures)} of {len(rows)} {stage} generations failed:\n{shown}")
    context.add_output_metadata({"generations": len(rows), "llm_calls": summary.llm_calls, "cache_hits": summary.cache_hits})
    store = engine.store
    return {row["gen_id"]: store.read(stage, row["gen_id"], "parsed.txt") or "" for row in rows}


def _parent(stage: Stage, row: Mapping[str, str]) -> str | None:
    return None if stage == "draft" else row.get("parent_gen_id")


def _needed_models(stage: Stage, rows: Sequence[Mapping[str, str]], spec: StageSpec) -> set[str]:
    column = _MODEL_COLUMN[stage]
    return {row[column] for row in rows if spec.generator_mode(row[spec.template_column]) == "llm"}


def _outcome_metadata(store: GensStore, stage: Stage, gen_id: str, cache_hit: bool) -> dict[str, Any]:
    metadata = store.read_metadata(stage, gen_id) or {}
    out: dict[str, Any] = {
        "gen_id": gen_id,
        "gen_dir": MetadataValue.path(str(store.gen_dir(stage, gen_id))),
        "mode": metadata.get("mode", ""),
        "parser": metadata.get("parser", ""),
        "cache_hit": cache_hit,
    }
    usage = metadata.get("usage") or {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
        if key in usage:
            out[key] = usage[key]
    if "finish_reason" in metadata:
        out["finish_reason"] = metadata["finish_reason"]
    return out
