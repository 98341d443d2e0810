"""What the six stage assets share: build the engine's context from resources, run partitions.

A run covering one partition calls the engine once. A run covering several (a single-run backfill,
``BackfillPolicy.single_run()``) runs them concurrently through the CohortRunner, so one Dagster run
works at the provider's limit instead of one process launch per generation.

The engine writes every file of a generation, ``prompt.txt`` included, as in ``daydream run``; no IO
manager writes into ``gens/``. The prompt asset renders and checks the prompts (a missing parent
or a template problem fails it, before any call) and records their size; the response asset
generates, rendering the prompt again inside the engine (cheaper than handing 100,000 prompts
between steps through files, and the prompt written is the one sent).

A partition is a gen_id, and cohorts share gen_ids (content-addressed ids): its task row comes
from whichever cohort lists it (``locate_rows``: the default cohort's ``2_tasks/`` first, then each
named cohort's ``cohorts/<name>/tasks/``), and its run setup (``prepare_run``) names that cohort, so
the payment journal charges the cohort that asked, as ``daydream run --cohort`` does.

Every partition's materialization carries the same metadata as ``daydream run`` reports
(``resources/materialization_metadata.py``). Every LLM request holds a slot of the instance's pool
``llm/<provider>`` (``resources/pool_gate.py``), so concurrent runs share the provider's limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue

from daydreaming_dagster.assets._run_inputs import RunInputs, run_inputs
from daydreaming_dagster.cohort.budget import SpendingCap
from daydreaming_dagster.cohort.pipeline import prepare_run
from daydreaming_dagster.cohort.runner import CohortRunner, Status, WorkItem, generation_slots, work_items
from daydreaming_dagster.cohort.tasks import TABLE_FILES, read_table_file
from daydreaming_dagster.core.errors import DaydreamError
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout
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
from daydreaming_dagster.resources.partition_sync import every_cohort
from daydreaming_dagster.resources.pool_gate import InstancePoolGate
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource
from daydreaming_dagster.stages import build_stage_specs


def locate_rows(context: AssetExecutionContext, data_root: Path, stage: Stage) -> dict[str, list[dict[str, str]]]:
    """The task rows of the run's partitions, grouped by the cohort that lists them (a Failure naming
    the partitions no cohort lists).

    Generations are shared by cohorts (content-addressed ids), so a gen_id may be in several
    cohorts' tables: its row is taken from the first that lists it, the default cohort's
    (``2_tasks/``) first, then the named cohorts' (``cohorts/<name>/tasks/``) by name. That cohort is
    the one its payment is attributed to (the row itself is the same in every cohort).
    """
    keys = list(context.partition_keys)
    wanted = set(keys)
    file_name = STAGE_FACTS[stage].task_file
    found: dict[str, tuple[str, dict[str, str]]] = {}
    cohorts = every_cohort(data_root)
    for cohort in cohorts:
        table = read_table_file(CohortLayout(data_root, cohort).tasks_dir / file_name)
        if table.empty or "gen_id" not in table.columns:
            continue
        hits = table[table["gen_id"].isin(wanted.difference(found))]
        for record in hits.to_dict("records"):
            found.setdefault(str(record["gen_id"]), (cohort, {str(k): str(v) for k, v in record.items()}))
        if len(found) == len(wanted):
            break  # the usual case: one table answers, the others are not read
    missing = [k for k in keys if k not in found]
    if missing:
        raise Failure(
            description=f"{len(missing)} {stage} partition(s) listed by no cohort: {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}. Looked in 2_tasks/{file_name} and "
            f"cohorts/<name>/tasks/{file_name} of {', '.join(cohorts)}. Fix: materialize the task_definitions "
            "group (the default cohort) or the cohort_tasks partition of the cohort that should list it "
            "(its tables or its spec changed since the partition was added).",
            metadata={"missing": MetadataValue.text(", ".join(missing[:50])), "stage": MetadataValue.text(stage)},
        )
    by_cohort: dict[str, list[dict[str, str]]] = {}
    for key in keys:
        cohort, row = found[key]
        by_cohort.setdefault(cohort, []).append(row)
    return by_cohort


def _spec(stage: Stage, inputs: RunInputs, data_root: Path, cohort: str) -> StageSpec:
    """The stage's spec with the cohort's combinations (a draft's concepts come from its combo)."""
    selection = read_table_file(CohortLayout(data_root, cohort).tasks_dir / TABLE_FILES["selection"])
    return build_stage_specs(inputs.raw, inputs.config, combinations_from_selection(selection))[stage]


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
    data_root: DataRootResource,
    experiment: ExperimentResource,
) -> MaterializeResult:
    """Body of ``<stage>_prompt``: render and check the prompt(s); writes nothing (module doc)."""
    inputs = run_inputs(context, data_root, experiment)
    engine = _prompt_context(context, data_root)
    prompts: dict[str, str | None] = {}
    for cohort, rows in locate_rows(context, data_root.root, stage).items():
        spec = _spec(stage, inputs, data_root.root, cohort)
        for row in rows:
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
    data_root: DataRootResource,
    experiment: ExperimentResource,
    llm: LLMResource,
) -> MaterializeResult:
    """Body of ``<stage>_response``: generate the partition(s) through the engine (it writes the files).

    Partitions listed by different cohorts are generated one cohort after the other, each with its
    own run setup, so the journal attributes each payment to its cohort and each cohort's cap applies.
    """
    inputs = run_inputs(context, data_root, experiment)
    by_cohort = locate_rows(context, data_root.root, stage)
    client = llm.build_client(
        inputs.raw.routes(), default_max_in_flight=inputs.config.concurrency, request_gate=_request_gate(context)
    )
    one_partition = len(context.partition_keys) == 1
    totals: Counter[str] = Counter()
    for cohort, rows in by_cohort.items():
        spec = _spec(stage, inputs, data_root.root, cohort)
        items = work_items(stage, rows)
        try:  # the same setup as `daydream run`: models, prices, journal, spill, caps
            prepared = prepare_run(
                data_root.root,
                inputs.raw,
                inputs.config,
                {stage: spec},
                items,
                client,
                run_id=context.run_id,
                cohort=cohort,
                force=True,  # a materialization makes its partitions again...
                refresh=False,  # ...reusing stored answers
                log=context.log,
                generation_slots=generation_slots(inputs.config.concurrency),
            )
        except (DaydreamError, OSError) as exc:
            raise Failure(description=str(exc)) from exc
        try:
            if one_partition and prepared.cap is None:
                return _generate_one(spec, items[0], prepared.context)
            totals.update(
                _generate(context, stage, cohort, spec, items, prepared.context, prepared.cap, inputs.config.concurrency)
            )
        finally:
            prepared.close()
    return MaterializeResult(metadata=dict(totals))


def _generate_one(spec: StageSpec, item: WorkItem, engine: GenerationContext) -> MaterializeResult:
    """One partition, no cap: the engine directly; the record's metadata is the materialization's."""
    try:
        outcome = orchestrate_generation(engine, item.row, spec, gen_id=item.gen_id, parent_gen_id=item.parent_gen_id)
    except GenerationError as exc:
        raise _failure(exc) from exc
    return MaterializeResult(metadata=materialization_metadata(engine.store, outcome.record, outcome.cache_hit))


def _generate(
    context: AssetExecutionContext,
    stage: Stage,
    cohort: str,
    spec: StageSpec,
    items: Sequence[WorkItem],
    engine: GenerationContext,
    cap: SpendingCap | None,
    concurrency: int,
) -> dict[str, int]:
    """Generate one cohort's partitions through the runner; each partition gets its own metadata.
    Returns the totals (a Failure when the cap stopped it or a generation failed)."""
    metadata = _PartitionMetadata(context, engine.store)
    runner = CohortRunner(
        engine, {stage: spec}, concurrency=generation_slots(concurrency), force=True, observers=[metadata], admission=cap
    )
    summary = runner.run(items)
    add_partition_metadata(context, metadata.by_partition)
    whose = "" if cohort == DEFAULT_COHORT else f" (cohort {cohort})"
    if summary.stopped == "budget" and cap is not None:
        raise Failure(
            description=f"Spending cap reached ({cap.stopped_by or 'cohort'} cap; max_cost {cap.cap}, "
            f"study_max_cost {cap.study_cap} USD, every process on the data root counted): "
            f"{summary.not_started} of {len(items)} {stage} generations{whose} not started; those done are stored. "
            "Fix: raise max_cost (experiment.toml or the experiment_config run config) and materialize again."
        )
    if summary.failures:
        shown = "\n".join(f"- {f.gen_id}: {f.message}" for f in summary.failures[:20])
        raise Failure(description=f"{len(summary.failures)} of {len(items)} {stage} generations{whose} failed:\n{shown}")
    return {"generations": len(items), "llm_calls": summary.llm_calls, "cache_hits": summary.cache_hits}


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
