"""What the six stage assets share: build the engine's context from resources, run partitions.

A run covering one partition calls the engine once. A run covering several (a single-run backfill,
``BackfillPolicy.single_run()``) runs them concurrently through the CohortRunner, so one Dagster run
works at the provider's limit instead of one process launch per generation. The response asset
receives the prompts its prompt asset rendered, so nothing is rendered twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue

from daydreaming_dagster.assets._run_inputs import RunInputs, run_inputs
from daydreaming_dagster.cohort.pipeline import preflight
from daydreaming_dagster.cohort.runner import CohortRunner, WorkItem, work_items
from daydreaming_dagster.cohort.tasks import read_task_table
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.engine.cache import ResponseCache
from daydreaming_dagster.engine.flow import (
    GenerationContext,
    GenerationError,
    StageSpec,
    orchestrate_generation,
    prepare_prompt,
)
from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs.combinations import combinations_from_selection
from daydreaming_dagster.llm import LLMError
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource
from daydreaming_dagster.stages import build_stage_specs


def _rows(context: AssetExecutionContext, tasks: pd.DataFrame, stage: Stage) -> list[dict[str, str]]:
    keys = context.partition_keys
    by_id: dict[str, dict[str, str]] = {
        str(r["gen_id"]): {str(k): str(v) for k, v in r.items()} for r in tasks.to_dict("records")
    }
    missing = [k for k in keys if k not in by_id]
    if missing:
        raise Failure(
            description=f"{len(missing)} partition(s) not in {STAGE_FACTS[stage].task_file}: "
            f"{', '.join(missing[:5])}. Fix: materialize the task_definitions group again (the tables changed).",
        )
    return [by_id[k] for k in keys]


def _spec(stage: Stage, inputs: RunInputs, data_root: DataRootResource) -> StageSpec:
    combos = []
    if stage == "draft":
        combos = combinations_from_selection(read_task_table(data_root.root, "selection"))
    return build_stage_specs(inputs.raw, inputs.config, combos)[stage]


def _engine_context(
    context: AssetExecutionContext, data_root: DataRootResource, inputs: RunInputs, llm: LLMResource | None
) -> GenerationContext:
    client = None
    if llm is not None:
        client = llm.build_client(inputs.raw.routes(), default_max_in_flight=inputs.config.concurrency)
    return GenerationContext(
        run_id=context.run_id,
        store=GensStore(data_root.root),
        llm=client,
        cache=ResponseCache.for_data_root(data_root.root) if inputs.config.response_cache else None,
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
    experiment: ExperimentResource,
) -> str | None | dict[str, str | None]:
    """Body of ``<stage>_prompt``: render the prompt(s); None in copy mode."""
    inputs = run_inputs(context, data_root, experiment)
    spec = _spec(stage, inputs, data_root)
    engine = _engine_context(context, data_root, inputs, None)
    prompts: dict[str, str | None] = {}
    for row in _rows(context, tasks, stage):
        try:
            prompts[row["gen_id"]] = prepare_prompt(engine, row, spec, gen_id=row["gen_id"])
        except GenerationError as exc:
            raise _failure(exc) from exc
    if len(prompts) == 1:
        (prompt,) = prompts.values()
        context.add_output_metadata(
            {"prompt_chars": len(prompt) if prompt else 0, "mode": "copy" if prompt is None else "llm"}
        )
        return prompt
    return prompts


def response_asset(
    context: AssetExecutionContext,
    stage: Stage,
    tasks: pd.DataFrame,
    prompts: str | None | Mapping[str, str | None],
    data_root: DataRootResource,
    experiment: ExperimentResource,
    llm: LLMResource,
) -> str | dict[str, str]:
    """Body of ``<stage>_response``: generate the partition(s) through the engine."""
    inputs = run_inputs(context, data_root, experiment)
    spec = _spec(stage, inputs, data_root)
    engine = _engine_context(context, data_root, inputs, llm)
    rows = _rows(context, tasks, stage)
    by_gen = prompts if isinstance(prompts, Mapping) else {rows[0]["gen_id"]: prompts} if len(rows) == 1 else {}
    items = [
        WorkItem(stage, item.gen_id, item.parent_gen_id, item.row, prompt=by_gen.get(item.gen_id))
        for item in work_items(stage, rows)
    ]
    assert engine.llm is not None
    try:
        preflight(engine.llm, _needed_models(rows, spec))
    except LLMError as exc:
        raise Failure(description=str(exc)) from exc
    if len(items) == 1:
        item = items[0]
        try:
            outcome = orchestrate_generation(
                engine, item.row, spec, gen_id=item.gen_id, parent_gen_id=item.parent_gen_id, prompt=item.prompt
            )
        except GenerationError as exc:
            raise _failure(exc) from exc
        context.add_output_metadata(materialization_metadata(engine.store, outcome.record, outcome.cache_hit))
        return outcome.parsed
    runner = CohortRunner(engine, {stage: spec}, concurrency=inputs.config.concurrency, force=True)
    summary = runner.run(items)
    if summary.failures:
        shown = "\n".join(f"- {f.gen_id}: {f.message}" for f in summary.failures[:20])
        raise Failure(description=f"{len(summary.failures)} of {len(rows)} {stage} generations failed:\n{shown}")
    context.add_output_metadata(
        {"generations": len(rows), "llm_calls": summary.llm_calls, "cache_hits": summary.cache_hits}
    )
    store = engine.store
    return {item.gen_id: store.read(stage, item.gen_id, "parsed.txt") or "" for item in items}


def _needed_models(rows: Sequence[Mapping[str, str]], spec: StageSpec) -> set[str]:
    return {spec.model_id(row) for row in rows if spec.generator_mode(spec.template_id(row)) == "llm"}


def materialization_metadata(store: GensStore, record: GenerationRecord, cache_hit: bool) -> dict[str, Any]:
    """A generation's materialization metadata, from its record (same for Dagster and CLI runs)."""
    out: dict[str, Any] = {
        "gen_id": record.gen_id,
        "gen_dir": MetadataValue.path(str(store.gen_dir(record.stage, record.gen_id))),  # type: ignore[arg-type]
        "mode": record.mode or "",
        "parser": record.parser or "",
        "cache_hit": cache_hit,
    }
    usage = record.usage
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
        if key in usage:
            out[key] = usage[key]
    if record.finish_reason is not None:
        out["finish_reason"] = record.finish_reason
    return out
