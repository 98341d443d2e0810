"""A cohort from inputs to results: the plain functions ``daydream run``, ``plan`` and the assets call.

``load_cohort`` validates every input and builds the task tables (nothing is written and no call is
made if an input is bad); ``prepare_run`` is the one run setup (a writable data root, every model
the pending generations need usable and priced, the journal and the spill file ready, the engine's
context and the spending caps); ``CohortRunner`` (``cohort/runner.py``) generates.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daydreaming_dagster.cohort.prices import (
    Catalogues,
    ModelPrice,
    fetch_catalogues,
    model_problems,
    resolve_prices,
    unknown_price_message,
    unknown_prices,
)
from daydreaming_dagster.cohort.runner import (
    WorkItem,
    work_items,
)
from daydreaming_dagster.cohort.tasks import TaskTables, build_task_tables, write_task_tables
from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.errors import DataRootNotWritable, InputError, InputProblem
from daydreaming_dagster.core.ids import cohort_from_env
from daydreaming_dagster.core.layout import CohortLayout, cohort_name
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, TASKS_DIR, Stage
from daydreaming_dagster.engine.cache import ResponseCache
from daydreaming_dagster.engine.flow import GenerationContext, Logger, StageSpec
from daydreaming_dagster.engine.ledger import DEFAULT_COHORT, Payment, PaymentJournal
from daydreaming_dagster.engine.spill import AnswerSpill, open_spill, recover_spills, spill_size
from daydreaming_dagster.engine.store import GENS_DIR, GensStore
from daydreaming_dagster.inputs import RawData, load_raw_data
from daydreaming_dagster.inputs.combinations import Combination, build_combinations
from daydreaming_dagster.llm import LLMClient, LLMConfigurationError
from daydreaming_dagster.stages import build_stage_specs, check_active_templates

if TYPE_CHECKING:
    from daydreaming_dagster.cohort.budget import Spend, SpendingCap


@dataclass(frozen=True)
class Cohort:
    data_root: Path
    raw: RawData
    config: ExperimentConfig
    combinations: list[Combination]
    tables: TaskTables
    name: str = DEFAULT_COHORT  # the default cohort, or a named cohort's folder under cohorts/
    # Every (stage, gen_id) the cohort covers, reused generations included (named cohorts).
    membership: tuple[tuple[str, str], ...] = ()

    @property
    def layout(self) -> CohortLayout:
        return CohortLayout(self.data_root, self.name)

    def specs(self) -> dict[Stage, StageSpec]:
        return build_stage_specs(self.raw, self.config, self.combinations)

    def rows(self, stage: Stage) -> list[dict[str, str]]:
        frame: pd.DataFrame = getattr(self.tables, STAGE_FACTS[stage].task_table)
        return frame.to_dict("records")  # type: ignore[return-value]

    def items(self, stages: Iterable[Stage]) -> list[WorkItem]:
        return [item for stage in stages for item in work_items(stage, self.rows(stage))]


def load_cohort(
    data_root: Path, config: ExperimentConfig, *, cohort_env: str | None = None, name: str | None = None
) -> Cohort:
    """Validate the inputs and build the task tables in memory (raises InputError).

    ``name``: a named cohort (its spec at ``cohorts/<name>/spec/``); None or ``default``: the
    cohort made from the ``active`` flags.
    """
    from daydreaming_dagster.cohort.named import plan_named_cohort

    name = cohort_name(name)
    raw = load_raw_data(data_root)
    if name != DEFAULT_COHORT:
        tables, plan = plan_named_cohort(Path(data_root), raw, config, name)
        used = {
            stage: list(getattr(tables, STAGE_FACTS[stage].task_table)[STAGE_FACTS[stage].template_column])
            for stage in STAGES
        }
        for stage, ids in used.items():
            raw.require_usable(stage, sorted(set(ids)))  # inactive rows are not checked when loaded
        check_active_templates(raw, used)
        return Cohort(Path(data_root), raw, config, tables.combinations, tables, name, plan.membership)
    if not raw.selects_by_flags:
        raise InputError([InputProblem(
            Path(data_root) / "1_raw", None, None,
            "this data root's catalogs have no active flags: its cohorts are chosen by specs",
            f"run a named cohort: --cohort NAME (specs: {Path(data_root) / 'cohorts' / '<name>' / 'spec'})",
        )])
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


@dataclass(frozen=True)
class OpenedRun:
    """A cohort opened for ``daydream run`` or ``daydream plan``: what they share before either
    checks a model (``plan`` then reads; ``run`` goes on to ``prepare_run``)."""

    cohort: Cohort
    stages: list[Stage]
    items: list[WorkItem]
    specs: dict[Stage, StageSpec]
    client: LLMClient


def open_run(
    data_root: Path,
    config: ExperimentConfig,
    stages: Sequence[Stage],
    *,
    name: str | None = None,
    max_in_flight: int | None = None,
) -> OpenedRun:
    """The cohort (inputs checked, tables in memory), its work items and specs, and the LLM client.

    The client's request limit: ``max_in_flight`` (``--concurrency``) > ``DD_LLM_MAX_IN_FLIGHT`` >
    the experiment's concurrency, so one number bounds generations and requests in flight unless the
    environment splits them. Raises DaydreamError (InputError, LLMConfigurationError...); makes no
    call. The Dagster assets build their client from the ``llm`` resource (the port) instead.
    """
    from daydreaming_dagster.llm import LLMSettings, build_llm_client

    cohort = load_cohort(data_root, config, name=name)
    settings = LLMSettings.from_env(defaults={"max_in_flight": config.concurrency}, max_in_flight=max_in_flight)
    client = build_llm_client(cohort.raw.routes(), settings)
    return OpenedRun(cohort, list(stages), cohort.items(stages), cohort.specs(), client)


def save_task_tables(cohort: Cohort) -> None:
    """The default cohort: ``2_tasks/`` and upstream's manifest, and its combos in the data root's
    catalog; a named cohort: its tables, membership.csv and manifest.json under cohorts/<name>/."""
    from daydreaming_dagster.cohort.named import append_combo_catalog, write_named_tables

    if cohort.name == DEFAULT_COHORT:
        write_task_tables(cohort.data_root, cohort.tables)
        append_combo_catalog(cohort.data_root, cohort.combinations)
    else:
        write_named_tables(cohort.data_root, cohort.tables, cohort.membership)


def pending_model_ids(
    specs: Mapping[Stage, StageSpec], items: Sequence[WorkItem], store: GensStore, *, force: bool
) -> set[str]:
    """Model ids that the not-yet-complete LLM-mode generations will call."""
    ids = set()
    for item in items:
        if needs_llm(specs[item.stage], item) and (force or not store.is_complete(item.stage, item.gen_id)):
            ids.add(specs[item.stage].model_id(item.row))
    return ids


def needs_llm(spec: StageSpec, item: WorkItem) -> bool:
    """False for copy-mode essays (no call): the spec's generator mode says."""
    return spec.generator_mode(spec.template_id(item.row)) == "llm"


@dataclass
class ModelCheck:
    """What the models of a run's pending generations are worth before any call."""

    pending: set[str]  # model ids the not-yet-complete LLM generations call
    catalogues: Catalogues  # the servers' /models lists (also where prices come from)
    prices: dict[str, ModelPrice]  # per model id of every generation (complete ones included)
    not_ready: str | None = None  # why a model cannot be called now (a missing key or local model)
    problems: list[str] = field(default_factory=list)  # unknown model strings, each naming its row

    def raise_if_unusable(self) -> None:
        """LLMConfigurationError when ``daydream run`` must stop before its first call."""
        if self.not_ready is not None:
            raise LLMConfigurationError(self.not_ready)
        if len(self.problems) == 1:
            raise LLMConfigurationError(f"Unknown model string: {self.problems[0]}")
        if self.problems:
            listing = "\n".join(f"  - {p}" for p in self.problems)
            raise LLMConfigurationError(f"Unknown model strings ({len(self.problems)}):\n{listing}")


def check_models(
    data_root: Path,
    raw: RawData,
    specs: Mapping[Stage, StageSpec],
    items: Sequence[WorkItem],
    client: LLMClient,
    *,
    force: bool = False,
) -> ModelCheck:
    """Check, without raising, every model the pending generations call; resolve every price.

    Each id against llm_models.csv and its readiness (key, local model), then every remote model
    string against its server's ``/models`` list (a problem names the row, file:line, and the
    closest known ids). A server without a list only adds a warning to the catalogues.
    """
    store = GensStore(Path(data_root))
    pending = pending_model_ids(specs, items, store, force=force)
    not_ready = None
    try:
        client.check_ready(sorted(pending))
    except LLMConfigurationError as exc:
        not_ready = str(exc)
    catalogues = fetch_catalogues(client, pending)  # a server that cannot answer is a warning
    problems = model_problems(client, catalogues, raw=raw)
    used = {specs[item.stage].model_id(item.row) for item in items}
    prices = resolve_prices(raw, client, used, catalogues, data_root=data_root)
    return ModelCheck(pending, catalogues, prices, not_ready, problems)


# Folders a run writes into (besides the generations' own): checked before any call.
# Their subfolders too: one of them can be a read-only mount of its own.
WRITTEN_FOLDERS = (
    TASKS_DIR, GENS_DIR, *(f"{GENS_DIR}/{stage}" for stage in STAGES), "cache", "cache/llm", "ledger",
    "ledger/reservations", "cohorts", "5_parsing", "6_summary", "7_reporting",
)


def check_writable(data_root: Path) -> None:
    """Raise DataRootNotWritable naming the first folder of the data root a run cannot write.

    Probes the data root and each of its folders a run writes that already exists (a missing one
    is created in the data root, which was probed first); creates nothing that stays.
    """
    for name in ("", *WRITTEN_FOLDERS):
        folder = Path(data_root) / name if name else Path(data_root)
        if name and not folder.is_dir():
            continue
        probe = folder / f".dd-write-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        try:
            if not name:
                folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DataRootNotWritable(
                f"cannot write to {folder} ({(exc.strerror or str(exc)).lower()}); nothing was generated. "
                f"Fix: make the data root writable (e.g. chmod -R u+w {data_root}), or copy it elsewhere "
                "and pass --data-root. Reading commands work on a read-only data root: daydream plan, "
                "cohorts, report --output FILE and export --output FILE."
            ) from exc


@dataclass
class PreparedRun:
    """Everything a run needs before its first generation, made the same way for every front door."""

    context: GenerationContext
    prices: dict[str, ModelPrice]
    catalogues: Catalogues
    spend_before: Spend  # the cohort's and the study's, from the journal
    cap: SpendingCap | None = None
    recovered: int = 0  # answers and payments moved in from spill files of earlier runs
    migrated: int = 0  # payments the journal was made from (a data root from before it)
    spill: AnswerSpill | None = None
    warnings: list[str] = field(default_factory=list)

    def retry_spill(self) -> int:
        """Move this run's spilled answers and payments into the cache and the journal, if the disk
        now takes them (what still does not fit stays for the next run); returns how many moved."""
        cache, journal = self.context.cache, self.context.journal
        if self.spill is None or not self.spill.saved or cache is None or journal is None:
            return 0
        return self.spill.drain(*_spill_targets(cache, journal))

    def close(self) -> None:
        """Release the cap's reservations and drop the spill file unless it holds answers."""
        if self.cap is not None:
            self.cap.close()
        if self.spill is not None:
            self.spill.close()


def _spill_targets(
    cache: ResponseCache, journal: PaymentJournal
) -> tuple[Callable[[Mapping[str, Any]], None], Callable[[Mapping[str, Any]], None]]:
    """Where spilled entries belong: answers in the response cache, payments in the journal."""

    def store_answer(entry: Mapping[str, Any]) -> None:
        cache.put_entry(str(entry["key"]), entry["entry"])

    def record_payment(entry: Mapping[str, Any]) -> None:
        journal.append(Payment.from_dict(entry["payment"]))

    return store_answer, record_payment


def prepare_run(
    data_root: Path,
    raw: RawData,
    config: ExperimentConfig,
    specs: Mapping[Stage, StageSpec],
    items: Sequence[WorkItem],
    client: LLMClient,
    *,
    run_id: str,
    cohort: str = DEFAULT_COHORT,
    force: bool = False,
    refresh: bool | None = None,
    allow_unknown_prices: bool = False,
    log: Logger | None = None,
    generation_slots: int = 1,
) -> PreparedRun:
    """The one run setup of ``daydream run`` and the Dagster response assets.

    In order, each step before any call: the data root is writable; every model the pending
    generations call is known, ready and served (``preflight``); prices are resolved, and every
    one is known under a cap (unless ``allow_unknown_prices``); spill files left by earlier runs
    on a full disk are recovered; the journal exists; this run's spill file is reserved; the
    caps are set. Raises DataRootNotWritable, LLMConfigurationError or OSError (a full disk).

    ``force``: complete generations are made again (their models are checked too); ``refresh``
    (default: ``force``): stored answers are not reused (Dagster re-materializes with them).
    """
    from daydreaming_dagster.cohort.budget import SpendingCap, ensure_journal, read_spend

    store = GensStore(Path(data_root))
    check_writable(data_root)
    models = check_models(data_root, raw, specs, items, client, force=force)
    models.raise_if_unusable()
    catalogues, prices = models.catalogues, models.prices
    capped = config.max_cost is not None or config.study_max_cost is not None
    unknown = unknown_prices(prices, models.pending) if capped else []
    if unknown and not allow_unknown_prices:
        raise LLMConfigurationError(unknown_price_message(raw, unknown))
    cache = ResponseCache.for_data_root(data_root)
    journal = PaymentJournal(data_root)
    store_answer, record_payment = _spill_targets(cache, journal)
    recovered = recover_spills(data_root, store_answer=store_answer, record_payment=record_payment)
    migrated = ensure_journal(data_root, store, prices)
    spill = open_spill(data_root, spill_size(generation_slots))
    context_kwargs: dict[str, Any] = {"log": log} if log is not None else {}
    context = GenerationContext(
        run_id=run_id,
        store=store,
        llm=client,
        cache=cache,
        refresh_cache=(force if refresh is None else refresh) or not config.response_cache,
        cohort=cohort,
        journal=journal,
        price_of=lambda model_id: prices[model_id].per_token() if model_id in prices else None,
        spill=spill,
        **context_kwargs,
    )
    cap = None
    if capped:
        cap = SpendingCap(
            config.max_cost,
            study_cap=config.study_max_cost,
            context=context,
            specs=specs,
            prices=prices,
            journal=journal,
            allow_unknown=allow_unknown_prices,
        )
        spend = cap.spend
    else:
        spend = read_spend(data_root, cohort, store=store)
    return PreparedRun(context, prices, catalogues, spend, cap, recovered, migrated, spill, list(catalogues.warnings))
