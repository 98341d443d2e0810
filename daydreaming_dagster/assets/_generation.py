"""What the six stage assets share: build the engine's context from resources, run partitions.

A run covering one partition calls the engine once. A run covering several (a single-run backfill,
``BackfillPolicy.single_run()``) runs them concurrently through the CohortRunner, so one Dagster run
works at the provider's limit instead of one process launch per generation.

The engine writes every file of a generation, ``prompt.txt`` included, as in ``daydream run``; no IO
manager writes into ``gens/``. The prompt asset renders and checks the prompts (a missing parent
or a template problem fails it, before any call) and records their size; the response asset
generates, rendering the prompt again inside the engine (cheaper than handing 100,000 prompts
between steps through files, and the prompt written is the one sent).

Every partition's materialization carries the same metadata as ``daydream run`` reports
(``resources/materialization_metadata.py``). Every LLM request holds a slot of the instance's pool
``llm/<provider>`` (``resources/pool_gate.py``), so concurrent runs share the provider's limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue

from daydreaming_dagster.assets._run_inputs import RunInputs, run_inputs
from daydreaming_dagster.cohort.budget import SpendingCap
from daydreaming_dagster.cohort.pipeline import prepare_run
from daydreaming_dagster.cohort.runner import CohortRunner, Status, WorkItem, generation_slots, work_items
from daydreaming_dagster.cohort.tasks import read_task_table
from daydreaming_dagster.core.errors import DaydreamError
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.engine.flow import (
    GenerationContext,
    GenerationError,
    GenerationOutcome,
    StageSpec,
    orchestrate_generation,
    prepare_prompt,
)
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs.combinations import combinations_from_selection
from daydreaming_dagster.llm import RequestGate
from daydreaming_dagster.resources.dagster_internals import add_partition_metadata
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.resources.materialization_metadata import materialization_metadata, prompt_metadata
from daydreaming_dagster.resources.pool_gate import InstancePoolGate
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
    combos = combinations_from_selection(read_task_table(data_root.root, "selection"))
    return build_stage_specs(inputs.raw, inputs.config, combos)[stage]


def _prompt_context(context: AssetExecutionContext, data_root: DataRootResource) -> GenerationContext:
    """The engine's context for rendering prompts: no client, nothing paid."""
    return GenerationContext(run_id=context.run_id, store=GensStore(data_root.root), log=context.log)


def _request_gate(context: AssetExecutionContext) -> RequestGate:
    """Cross-run provider limits: a slot of the instance's pool ``llm/<provider>`` per request."""
    return InstancePoolGate(context.instance, context.run_id, context.asset_key.to_user_string())


def _failure(exc: GenerationError) -> Failure:
    metadata = {k: MetadataValue.text(str(v)) for k, v in exc.metadata.items()}
    return Failure(description=exc.message, metadata=metadata)


def prompt_asset(
    context: AssetExecutionContext,
    stage: Stage,
    tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment: ExperimentResource,
) -> MaterializeResult:
    """Body of ``<stage>_prompt``: render and check the prompt(s); writes nothing (module doc)."""
    inputs = run_inputs(context, data_root, experiment)
    spec = _spec(stage, inputs, data_root)
    engine = _prompt_context(context, data_root)
    prompts: dict[str, str | None] = {}
    for row in _rows(context, tasks, stage):
        try:
            prompts[row["gen_id"]] = prepare_prompt(engine, row, spec, gen_id=row["gen_id"])
        except GenerationError as exc:
            raise _failure(exc) from exc
    if len(prompts) == 1:
        (prompt,) = prompts.values()
        return MaterializeResult(metadata=prompt_metadata(prompt))
    add_partition_metadata(context, {gen_id: prompt_metadata(prompt) for gen_id, prompt in prompts.items()})
    return MaterializeResult()


def response_asset(
    context: AssetExecutionContext,
    stage: Stage,
    tasks: pd.DataFrame,
    data_root: DataRootResource,
    experiment: ExperimentResource,
    llm: LLMResource,
) -> MaterializeResult:
    """Body of ``<stage>_response``: generate the partition(s) through the engine (it writes the files)."""
    inputs = run_inputs(context, data_root, experiment)
    spec = _spec(stage, inputs, data_root)
    rows = _rows(context, tasks, stage)
    items = work_items(stage, rows)
    client = llm.build_client(
        inputs.raw.routes(), default_max_in_flight=inputs.config.concurrency, request_gate=_request_gate(context)
    )
    try:  # the same setup as `daydream run`: models, prices, journal, spill, caps
        prepared = prepare_run(
            data_root.root,
            inputs.raw,
            inputs.config,
            {stage: spec},
            items,
            client,
            run_id=context.run_id,
            force=True,  # a materialization makes its partitions again...
            refresh=False,  # ...reusing stored answers
            log=context.log,
            generation_slots=generation_slots(inputs.config.concurrency),
        )
    except (DaydreamError, OSError) as exc:
        raise Failure(description=str(exc)) from exc
    try:
        return _generate(context, stage, spec, rows, items, prepared.context, prepared.cap, inputs.config.concurrency)
    finally:
        prepared.close()


def _generate(
    context: AssetExecutionContext,
    stage: Stage,
    spec: StageSpec,
    rows: Sequence[Mapping[str, str]],
    items: Sequence[WorkItem],
    engine: GenerationContext,
    cap: SpendingCap | None,
    concurrency: int,
) -> MaterializeResult:
    if len(items) == 1 and cap is None:
        item = items[0]
        try:
            outcome = orchestrate_generation(engine, item.row, spec, gen_id=item.gen_id, parent_gen_id=item.parent_gen_id)
        except GenerationError as exc:
            raise _failure(exc) from exc
        return MaterializeResult(metadata=materialization_metadata(engine.store, outcome.record, outcome.cache_hit))
    metadata = _PartitionMetadata(context, engine.store)
    runner = CohortRunner(
        engine, {stage: spec}, concurrency=generation_slots(concurrency), force=True, observers=[metadata], admission=cap
    )
    summary = runner.run(items)
    add_partition_metadata(context, metadata.by_partition)
    if summary.stopped == "budget" and cap is not None:
        raise Failure(
            description=f"Spending cap reached ({cap.stopped_by or 'cohort'} cap; max_cost {cap.cap}, "
            f"study_max_cost {cap.study_cap} USD, every process on the data root counted): "
            f"{summary.not_started} of {len(rows)} {stage} generations not started; those done are stored. "
            "Fix: raise max_cost (experiment.toml or the experiment_config run config) and materialize again."
        )
    if summary.failures:
        shown = "\n".join(f"- {f.gen_id}: {f.message}" for f in summary.failures[:20])
        raise Failure(description=f"{len(summary.failures)} of {len(rows)} {stage} generations failed:\n{shown}")
    return MaterializeResult(
        metadata={"generations": len(rows), "llm_calls": summary.llm_calls, "cache_hits": summary.cache_hits}
    )


class _PartitionMetadata:
    """Collects each partition's materialization metadata in a multi-partition run (a RunObserver)."""

    def __init__(self, context: AssetExecutionContext, store: GensStore) -> None:
        self.context = context
        self.store = store
        self.by_partition: dict[str, dict[str, Any]] = {}

    def finished(self, item: WorkItem, status: Status, outcome: GenerationOutcome | None) -> None:
        if status == "done" and outcome is not None:
            self.by_partition[item.gen_id] = materialization_metadata(self.store, outcome.record, outcome.cache_hit)


__all__ = ["prompt_asset", "response_asset"]
