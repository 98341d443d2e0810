"""The generation engine: one flow for the draft, essay and evaluation stages.

A stage is a ``StageSpec`` of hooks (what differs), with the design's fields
(``../shared/design/generation_engine_plan.md``); ``orchestrate_generation`` is the flow (what is
shared): claim -> resolve inputs -> load template -> render -> route -> generate (LLM or copy) ->
record the payment -> persist RAW -> validate -> parse -> write parsed/metadata. The engine owns
ids on disk, persistence, the response cache, the payment journal, truncation and the generation
record; retries and rate limits belong to the LLM client it is given. Nothing here imports Dagster.

Money: a paid answer is kept before anything else can fail. Its payment goes to the journal
(``engine/ledger.py``), its text to the response cache, then to raw.txt; on a full disk to the
run's spill file (``engine/spill.py``), and the run stops starting generations (StorageError).
An answer already on disk is never paid again: the cache answers first, then the generation's own
raw.txt when its prompt.txt (and metadata, when readable) show it answers this very call.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol

from daydreaming_dagster.core.errors import (
    DamagedFileError,
    GenerationError,
    StorageError,
    describe_os_error,
    is_storage_failure,
)
from daydreaming_dagster.core.ids import cohort_from_env
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage, StageFacts
from daydreaming_dagster.engine.cache import CachedCall, ResponseCache
from daydreaming_dagster.engine.ledger import (
    DEFAULT_COHORT,
    Payment,
    PaymentJournal,
    PriceLookup,
    usage_cost,
)
from daydreaming_dagster.engine.record import STATUS_COMPLETE, STATUS_FAILED, GenerationRecord
from daydreaming_dagster.engine.spill import KIND_ANSWER, KIND_PAYMENT, AnswerSpill
from daydreaming_dagster.engine.store import METADATA, PARSED, PROMPT, RAW, GensStore
from daydreaming_dagster.engine.templates import TemplateProblem
from daydreaming_dagster.engine.templates import render_prompt as _render
from daydreaming_dagster.llm import LLMClient, LLMError, LLMResponse, ModelRoute

TaskRow = Mapping[str, str]
Payload = dict[str, Any]
GeneratorMode = Literal["llm", "copy"]
#: Upstream's ``ExperimentConfig`` default, used when a spec's max_tokens_selector gives None.
DEFAULT_MAX_TOKENS = 20480

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "GenerationContext",
    "GenerationError",
    "GenerationOutcome",
    "Parser",
    "StageSpec",
    "StorageError",
    "Validators",
    "detect_truncation",
    "llm_generate",
    "normalize_newlines",
    "orchestrate_generation",
    "plan_call",
    "prepare_prompt",
    "render_prompt",
    "resolve_cohort_id",
]


class Logger(Protocol):
    def info(self, msg: str, *args: Any) -> None: ...
    def warning(self, msg: str, *args: Any) -> None: ...


@dataclass(frozen=True)
class GenerationContext:
    """What one run gives the engine: where to write, whom to call, how to log, whom to bill."""

    run_id: str
    store: GensStore
    llm: LLMClient | None = None
    cache: ResponseCache | None = None
    log: Logger = field(default_factory=lambda: logging.getLogger("daydreaming_dagster.engine"))
    # True: ignore stored answers (cache, raw.txt) and pay for a fresh call (still stored).
    refresh_cache: bool = False
    cohort_env: str | None = field(default_factory=cohort_from_env)
    # The cohort whose run this is: every payment is recorded under its name.
    cohort: str = DEFAULT_COHORT
    journal: PaymentJournal | None = None  # where payments are recorded (None: not recorded)
    price_of: PriceLookup | None = None  # prices the run knows, for calls whose cost is not reported
    spill: AnswerSpill | None = None  # room for answers on a full disk (engine/spill.py)


class Parser(NamedTuple):
    name: str
    parse: Callable[[str], str]  # raw text -> parsed.txt content


@dataclass(frozen=True)
class Validators:
    # Runs on the resolved inputs, before any LLM call (e.g. the parent draft is long enough).
    pre_prompt: Callable[[GenerationContext, TaskRow, Payload], None] | None = None
    # Runs on the generated RAW text and the call's info, after RAW is on disk (e.g. draft minimum lines).
    post_llm: Callable[[str, Mapping[str, Any]], None] | None = None


def _no_max_tokens(context: GenerationContext) -> int | None:
    return None


def _no_extras(context: GenerationContext, task_row: TaskRow, payload: Payload) -> Mapping[str, Any]:
    return {}


def _no_grammar(template_id: str) -> str | None:
    return None


ParserChoice = Parser | Callable[[str], Any] | None


@dataclass(frozen=True)
class StageSpec:
    """The hooks of one stage, with the design's fields: only what differs between stages.

    The stage's names and links (task columns, parent stage, upstream function name...) are its
    ``facts`` from the one stage table, ``core/stages.py``; the builders in ``stages/`` fill the
    selectors from those facts, so each fact is still decided once.
    """

    stage: Stage
    template_kind: Stage  # which templates folder and CSV the loader reads
    input_resolver: Callable[[GenerationContext, TaskRow], Payload]
    template_loader: Callable[[str], str]
    generator_mode: Callable[[str], GeneratorMode]
    model_selector: Callable[[TaskRow], str]  # the llm_models.csv id the task names
    parser_selector: Callable[[str], ParserChoice]  # None: identity
    max_tokens_selector: Callable[[GenerationContext], int | None] = _no_max_tokens
    validators: Validators = Validators()
    metadata_extras: Callable[[GenerationContext, TaskRow, Payload], Mapping[str, Any]] = _no_extras
    # --- beyond the design
    temperature: float = 0.7
    # Optional GBNF grammar per template (a ``<template>.gbnf`` beside it): constrains the embedded
    # model's output, so a tiny local model always answers in the parseable shape.
    grammar_loader: Callable[[str], str | None] = _no_grammar

    @property
    def facts(self) -> StageFacts:
        return STAGE_FACTS[self.stage]

    def template_id(self, task_row: TaskRow) -> str:
        return str(task_row.get(self.facts.template_column) or "").strip()

    def model_id(self, task_row: TaskRow) -> str:
        return str(self.model_selector(task_row) or "").strip()

    def resolve_max_tokens(self, context: GenerationContext) -> int:
        value = self.max_tokens_selector(context)
        return int(value) if value else DEFAULT_MAX_TOKENS

    def parser(self, template_id: str) -> Parser:
        """``parser_selector``'s choice as a named parser (a bare callable keeps its name)."""
        chosen = self.parser_selector(template_id)
        if chosen is None:
            return Parser("identity", lambda text: text)
        if isinstance(chosen, Parser):
            return chosen
        return Parser(getattr(chosen, "__name__", "parser"), chosen)


@dataclass(frozen=True)
class GenerationOutcome:
    """What one generation produced: its texts, its record (metadata.json) and how it was obtained."""

    record: GenerationRecord
    raw: str
    parsed: str
    cache_hit: bool
    duration_s: float
    skipped: bool = False  # another process completed it while this one waited for its claim

    @property
    def response(self) -> LLMResponse | None:
        return self.record.response

    @property
    def paid(self) -> bool:
        """This generation made the call (it is in the payment journal)."""
        return not self.skipped and not self.cache_hit and self.record.response is not None


# ---------------------------------------------------------------------------- helpers (the design's)


def render_prompt(template: str, variables: Mapping[str, Any], *, where: str = "<template>") -> str:
    return _render(template, variables, where=where)


def normalize_newlines(text: str) -> str:
    """CRLF -> LF only, as upstream (a lone CR is kept)."""
    return str(text).replace("\r\n", "\n")


def detect_truncation(info: Mapping[str, Any] | LLMResponse) -> bool:
    if isinstance(info, LLMResponse):
        return info.truncated
    return bool(info.get("truncated")) or str(info.get("finish_reason", "")).lower() == "length"


def llm_generate(
    client: LLMClient,
    prompt: str,
    model: str,
    max_tokens: int | None,
    *,
    temperature: float = 0.7,
    seed: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The design's one-call helper: ``(text, info)`` through the client (retries and limits inside).

    ``model`` is a models-table id. The flow itself goes through the response cache instead.
    """
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        raise ValueError("llm_generate requires an explicit positive max_tokens")
    response = client.generate(model, prompt, max_tokens=max_tokens, temperature=temperature, seed=seed)
    return response.text, response.to_dict(text=False)


def resolve_cohort_id(context: GenerationContext, task_row: TaskRow) -> str | None:
    """DD_COHORT first, then the task row's ``cohort_id``."""
    if context.cohort_env:
        return context.cohort_env
    value = task_row.get("cohort_id")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _replicate(task_row: TaskRow) -> int:
    value = str(task_row.get("replicate") or "1").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else 1


# ---------------------------------------------------------------------------- the flow


class _Row(ChainMap[str, str]):
    """The task row as the hooks see it: the flow's parent gen_id is the one they read."""


def _hook_row(task_row: TaskRow, parent_gen_id: str | None) -> TaskRow:
    if parent_gen_id is None or task_row.get("parent_gen_id") == parent_gen_id:
        return task_row
    return _Row({"parent_gen_id": parent_gen_id}, dict(task_row))


@dataclass
class _Prepared:
    template_id: str
    mode: GeneratorMode
    payload: Payload
    prompt: str | None


def _prepare(context: GenerationContext, task_row: TaskRow, spec: StageSpec, gen_id: str) -> _Prepared:
    template_id = spec.template_id(task_row)
    column = spec.facts.template_column
    if not template_id:
        raise GenerationError(
            f"{spec.stage} {gen_id}: task row has no {column}", metadata={"gen_id": gen_id, "column": column}
        )
    mode = spec.generator_mode(template_id)
    if mode not in ("llm", "copy"):  # an unknown mode must never be paid as if it were "llm"
        raise GenerationError(
            f"{spec.stage} {gen_id}: template '{template_id}' has generator mode {mode!r}. "
            "Fix: its generator must be llm or copy.",
            metadata={"gen_id": gen_id, "template_id": template_id, "generator": str(mode)},
        )
    payload = spec.input_resolver(context, task_row)
    if spec.validators.pre_prompt is not None:
        spec.validators.pre_prompt(context, task_row, payload)
    if mode == "copy":
        return _Prepared(template_id, mode, payload, None)
    try:
        source = spec.template_loader(template_id)
        prompt = render_prompt(source, payload, where=f"{spec.template_kind} template '{template_id}'")
    except TemplateProblem as exc:
        raise GenerationError(
            str(exc),
            metadata={"gen_id": gen_id, "template_id": template_id, "stage": spec.stage},
            cause=str(exc),
        ) from exc
    return _Prepared(template_id, mode, payload, prompt)


def prepare_prompt(context: GenerationContext, task_row: TaskRow, spec: StageSpec, *, gen_id: str) -> str | None:
    """The rendered prompt (None in copy mode): what the ``*_prompt`` assets return."""
    return _prepare(context, task_row, spec, gen_id).prompt


def _call(
    context: GenerationContext, spec: StageSpec, route: ModelRoute, prompt: str, template_id: str, replicate: int
) -> CachedCall:
    """The one place a generation's call (what the cache and the journal key on) is built."""
    assert context.llm is not None
    return CachedCall(
        endpoint=context.llm.endpoint(route),
        route=route,
        prompt=prompt,
        max_tokens=spec.resolve_max_tokens(context),
        temperature=spec.temperature,
        replicate=replicate,
        grammar=spec.grammar_loader(template_id) if route.is_local else None,
    )


def plan_call(context: GenerationContext, task_row: TaskRow, spec: StageSpec, *, gen_id: str) -> CachedCall | None:
    """The LLM call this generation would make now (None in copy mode), without making it.

    Raises GenerationError when its inputs cannot be resolved yet (e.g. the parent is missing).
    Used to tell, before a run, what the response cache will answer and what a run will cost.
    """
    prepared = _prepare(context, task_row, spec, gen_id)
    if prepared.prompt is None:
        return None
    route = _route(context, spec.stage, gen_id, spec.model_id(task_row))
    return _call(context, spec, route, prepared.prompt, prepared.template_id, _replicate(task_row))


def _new_record(
    context: GenerationContext, task_row: TaskRow, spec: StageSpec, gen_id: str, parent_gen_id: str | None, prepared: _Prepared
) -> GenerationRecord:
    facts = spec.facts
    record = GenerationRecord(
        stage=facts.stage,
        gen_id=gen_id,
        parent_gen_id=parent_gen_id or "",
        template_id=prepared.template_id,
        model_id=spec.model_id(task_row),
        task_id=str(task_row.get(facts.task_id_column) or ""),
        function=facts.function_name,
        run_id=context.run_id,
        cohort_id=resolve_cohort_id(context, task_row),
        task_keys={key: str(task_row.get(key) or "") for key in facts.task_keys},
        mode=prepared.mode,
        replicate=_replicate(task_row),
    )
    for key, value in spec.metadata_extras(context, task_row, prepared.payload).items():
        if key == "concepts":  # a typed field of the record
            record.concepts = value
        else:
            record.extra[key] = value
    return record


def _write(store: GensStore, stage: Stage, gen_id: str, name: str, text: str, *, what: str) -> None:
    """Write one file of the generation; a disk that refuses it is a StorageError naming it."""
    try:
        store.write(stage, gen_id, name, text)
    except OSError as exc:
        path = str(store.gen_dir(stage, gen_id) / name)
        raise StorageError(
            f"{stage} {gen_id}: could not write {name} ({describe_os_error(exc)}). {what}",
            path=path,
            error=exc,
            metadata={"gen_id": gen_id, "stage": stage},
        ) from exc


def orchestrate_generation(
    context: GenerationContext,
    task_row: TaskRow,
    spec: StageSpec,
    *,
    gen_id: str,
    parent_gen_id: str | None,
) -> GenerationOutcome:
    """Run one generation end to end; raises GenerationError (files kept as far as they got).

    One process at a time makes a generation (its claim):
    a generation another process completed while this one waited is returned as ``skipped``,
    never made (or paid for) again.
    """
    store = context.store
    stage = spec.stage
    store.gen_dir(stage, gen_id)  # validates gen_id before anything else
    complete_before = store.is_complete(stage, gen_id)
    with store.claim(stage, gen_id):
        if not complete_before:
            record = store.read_record(stage, gen_id)
            if record is not None and store.is_complete(stage, gen_id, record):
                raw, parsed = store.read(stage, gen_id, RAW) or "", store.read(stage, gen_id, PARSED) or ""
                return GenerationOutcome(record, raw, parsed, cache_hit=True, duration_s=0.0, skipped=True)
        return _generate_claimed(context, _hook_row(task_row, parent_gen_id), spec, gen_id, parent_gen_id)


def _generate_claimed(
    context: GenerationContext,
    task_row: TaskRow,
    spec: StageSpec,
    gen_id: str,
    parent_gen_id: str | None,
) -> GenerationOutcome:
    started_at, t0 = _now(), time.perf_counter()
    store = context.store
    stage = spec.stage
    prepared = _prepare(context, task_row, spec, gen_id)
    record = _new_record(context, task_row, spec, gen_id, parent_gen_id, prepared)

    cache_hit = False
    if prepared.mode == "copy":
        # Copy mode: no LLM call, no prompt (upstream wrote a placeholder prompt.txt; see
        # docs/compatibility.md). RAW is the parent's parsed text.
        raw = normalize_newlines(str(prepared.payload["draft_block"]))
        _write(store, stage, gen_id, RAW, raw, what="Nothing was paid: free space and run again.")
        store.remove(stage, gen_id, PROMPT)
    else:
        assert prepared.prompt is not None
        # The route first: an unknown model writes nothing at all.
        route = _route(context, stage, gen_id, record.model_id)
        call = _call(context, spec, route, prepared.prompt, prepared.template_id, record.replicate)
        earlier = _EarlierFiles.read(store, stage, gen_id)
        _write(store, stage, gen_id, PROMPT, prepared.prompt, what="Nothing was paid: free space and run again.")
        record.model, record.max_tokens, record.temperature = route.model, call.max_tokens, call.temperature
        record.grammar = f"{prepared.template_id}.gbnf" if call.grammar is not None else None
        try:
            record.response, cache_hit, record.cache = _generate(context, record, call, earlier)
        except OSError as exc:  # the cache's folder or its lock file refused (read-only, full, failing)
            if exc.filename is None and not is_storage_failure(exc):
                raise  # not a file (e.g. a socket error that escaped the client): not the disk's doing
            raise StorageError(
                f"{stage} {gen_id}: the response cache could not be used ({describe_os_error(exc)}). "
                "An answer already paid for is kept in the run's spill file.",
                path=str(exc.filename or (context.cache.root if context.cache is not None else store.root)),
                error=exc,
                metadata={"gen_id": gen_id, "stage": stage},
            ) from exc
        raw = normalize_newlines(record.response.text)
        _write(  # RAW is on disk before any validation
            store, stage, gen_id, RAW, raw,
            what="The answer is kept in the response cache (or the run's spill file): the next run uses it.",
        )

    def fail(message: str, detail: Mapping[str, Any], cause: str) -> GenerationError:
        if gen_id not in message:
            message = f"{stage} {gen_id}: {message}"
        record.status, record.error = STATUS_FAILED, {"message": message, **detail}
        record.started_at, record.finished_at = started_at, _now()
        record.duration_s = round(time.perf_counter() - t0, 4)
        _write(store, stage, gen_id, METADATA, record.to_json(), what=message)
        error = GenerationError(message, metadata={"gen_id": gen_id, "stage": stage, **detail}, cause=cause)
        error.response, error.cache_hit = record.response, cache_hit
        return error

    response = record.response
    if response is not None and detect_truncation(response):
        usage = response.usage
        raise fail(
            f"{stage} {gen_id} truncated: model {record.model_id} stopped with finish_reason "
            f"'{response.finish_reason}' after {usage.completion_tokens} completion tokens "
            f"(max_tokens {record.max_tokens}). RAW kept in {store.gen_dir(stage, gen_id)}. "
            f"Fix: raise {spec.facts.max_tokens_setting} in experiment.toml.",
            {
                "model_id": record.model_id,
                "finish_reason": response.finish_reason,
                "completion_tokens": usage.completion_tokens,
                "requested_max_tokens": record.max_tokens,
                "raw_chars": len(raw),
            },
            cause=f"{stage} truncated at max_tokens {record.max_tokens} (model {record.model_id}). "
            f"Fix: raise {spec.facts.max_tokens_setting} in experiment.toml",
        )
    if spec.validators.post_llm is not None:
        try:
            spec.validators.post_llm(raw, response.to_dict(text=False) if response is not None else {})
        except GenerationError as exc:
            raise fail(exc.message, exc.metadata, exc.cause) from exc

    parser = spec.parser(prepared.template_id)
    try:
        parsed = parser.parse(raw)
    except Exception as exc:  # any parser error is a failure with RAW kept (upstream swallowed some)
        raise fail(
            f"{stage} {gen_id}: parser '{parser.name}' failed on RAW: {exc}",
            {"parser": parser.name, "error_type": type(exc).__name__, "raw_chars": len(raw)},
            cause=f"{stage} parser '{parser.name}' (template {prepared.template_id}) failed: {type(exc).__name__}",
        ) from exc
    if not isinstance(parsed, str) or not parsed.strip():
        raise fail(
            f"{stage} {gen_id}: parser '{parser.name}' returned empty text",
            {"parser": parser.name},
            cause=f"{stage} parser '{parser.name}' (template {prepared.template_id}) returned empty text",
        )

    saved = "The answer is kept: the next run uses it."
    _write(store, stage, gen_id, PARSED, parsed, what=saved)
    duration = time.perf_counter() - t0
    record.parser, record.status = parser.name, STATUS_COMPLETE
    record.started_at, record.finished_at, record.duration_s = started_at, _now(), round(duration, 4)
    _write(store, stage, gen_id, METADATA, record.to_json(), what=saved)  # last: marks it complete
    return GenerationOutcome(record=record, raw=raw, parsed=parsed, cache_hit=cache_hit, duration_s=duration)


def _route(context: GenerationContext, stage: str, gen_id: str, model_id: str) -> ModelRoute:
    """The model's route, resolved once per generation."""
    if context.llm is None:
        raise GenerationError(f"{stage} {gen_id}: no LLM client configured", metadata={"gen_id": gen_id})
    try:
        return context.llm.route(model_id)
    except LLMError as exc:
        raise GenerationError(str(exc), metadata={"gen_id": gen_id, "model_id": model_id}, cause=str(exc)) from exc


@dataclass(frozen=True)
class _EarlierFiles:
    """What an earlier attempt left in the generation's folder, read before anything is rewritten."""

    raw: str | None
    prompt: str | None
    record: GenerationRecord | None
    stage: str = ""
    gen_id: str = ""

    @classmethod
    def read(cls, store: GensStore, stage: Stage, gen_id: str) -> _EarlierFiles:
        try:
            raw = store.read(stage, gen_id, RAW)
            if raw is None:  # the usual case: a new generation
                return cls(None, None, None)
            prompt = store.read(stage, gen_id, PROMPT)
        except DamagedFileError:
            return cls(None, None, None)
        try:
            record = store.load_record(stage, gen_id)
        except DamagedFileError:
            record = None
        return cls(raw, prompt, record, stage, gen_id)

    def answer(self, call: CachedCall, context: GenerationContext) -> LLMResponse | None:
        """raw.txt as the answer to ``call``, when the files show it is one (else None).

        Its prompt.txt must be this call's prompt, or, when prompt.txt is gone, the payment journal
        must hold this generation's payment for this very call (its key); a readable metadata.json
        must name this call's model string, max_tokens, temperature and replicate (then its
        finish_reason and usage are kept, so a truncated answer is still seen as truncated).
        """
        if self.raw is None:
            return None
        paid_for_this_call = self.prompt == call.prompt or (
            self.prompt is None and self._paid_in_journal(call, context)
        )
        if not paid_for_this_call:
            if self.prompt is None:
                context.log.warning(
                    "%s %s: raw.txt is on disk, but neither prompt.txt nor the payment journal shows which "
                    "call it answers: a new call replaces it",
                    self.stage, self.gen_id,
                )
            return None
        old = self.record
        if old is None or old.response is None:
            return LLMResponse(text=self.raw, finish_reason="unknown", provider="raw.txt")
        same = (old.model, old.max_tokens, old.temperature, old.replicate) == (
            call.route.model, call.max_tokens, call.temperature, call.replicate
        )
        return dataclasses.replace(old.response, text=self.raw) if same else None

    def _paid_in_journal(self, call: CachedCall, context: GenerationContext) -> bool:
        """The journal holds this generation's payment for ``call`` (read only on this rare path)."""
        if context.journal is None:
            return False
        try:
            paid = context.journal.payments()
        except OSError:
            return False
        key = call.key()
        return any(p.key == key and p.stage == self.stage and p.gen_id == self.gen_id for p in paid)


def _generate(
    context: GenerationContext, record: GenerationRecord, call: CachedCall, earlier: _EarlierFiles
) -> tuple[LLMResponse, bool, dict[str, Any]]:
    """The stored answer, or one paid call through the client (kept at once); see engine/cache.py."""
    client = context.llm
    assert client is not None

    def paid_call() -> LLMResponse:
        try:
            response = client.generate(
                call.route,
                call.prompt,
                max_tokens=call.max_tokens,
                temperature=call.temperature,
                seed=call.replicate,
                grammar=call.grammar,
            )
        except LLMError as exc:
            raise GenerationError(
                f"{record.stage} {record.gen_id}: LLM call to {call.route.model_id} failed: {exc}",
                metadata={"gen_id": record.gen_id, "model_id": call.route.model_id, "error_type": type(exc).__name__},
                cause=f"LLM call to {call.route.model_id} failed: {type(exc).__name__}: {exc}",
            ) from exc
        payment = _record_payment(context, record, call, response)  # before anything else can fail
        record.payment = {"usd": payment.cost, "source": payment.cost_source}
        return response

    cache = context.cache
    if cache is None:
        on_disk = None if context.refresh_cache else earlier.answer(call, context)
        if on_disk is not None:
            return on_disk, True, {"hit": True, "source": "raw.txt"}
        return paid_call(), False, {"hit": False}

    def keep_elsewhere(key: str, entry: Mapping[str, Any], error: OSError) -> None:
        _spill(context, record, KIND_ANSWER, {"key": key, "entry": dict(entry)}, error)

    return cache.get_or_call(
        call,
        paid_call,
        gen_id=record.gen_id,
        refresh=context.refresh_cache,
        stored_answer=lambda: earlier.answer(call, context),
        on_store_failure=keep_elsewhere,
    )


def _record_payment(
    context: GenerationContext, record: GenerationRecord, call: CachedCall, response: LLMResponse
) -> Payment:
    """Append the call's payment to the journal (when the run keeps one) and return it; never
    raises (the answer must be kept next)."""
    usage = response.usage
    price = context.price_of(record.model_id) if context.price_of is not None else None
    cost, source = usage_cost(usage, price=price, local=call.route.is_local)
    payment = Payment(
        at=_now(),
        run_id=context.run_id,
        cohort=context.cohort,
        stage=record.stage,
        gen_id=record.gen_id,
        model_id=record.model_id,
        model=call.route.model,
        endpoint=call.endpoint,
        key=call.key(),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=cost,
        cost_source=source,
    )
    if context.journal is None:
        return payment
    try:
        context.journal.append(payment)
    except OSError as exc:
        _spill(context, record, KIND_PAYMENT, {"payment": payment.to_dict()}, exc)
    return payment


def _spill(context: GenerationContext, record: GenerationRecord, kind: str, payload: Mapping[str, Any], error: OSError) -> None:
    """Keep what the disk refused in the run's spill file; say so loudly when even that fails."""
    spill = context.spill
    if spill is not None and spill.save(kind, payload, owner=f"{record.stage} {record.gen_id}"):
        context.log.warning(
            "%s %s: the %s could not be written (%s); kept in %s for the next run",
            record.stage, record.gen_id, kind, describe_os_error(error), spill.path,
        )
        return
    size = len(str(payload).encode("utf-8"))
    if spill is not None:
        spill.lose(record.stage, record.gen_id, size)
    context.log.warning(
        "%s %s: the %s could not be written anywhere (%s); it needs about %d bytes",
        record.stage, record.gen_id, kind, describe_os_error(error), size,
    )


def count_nonempty_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def cost_of(response: LLMResponse | None) -> float:
    if response is None or response.usage.cost is None or math.isnan(response.usage.cost):
        return 0.0
    return float(response.usage.cost)
