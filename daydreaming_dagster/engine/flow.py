"""The generation engine: one flow for the draft, essay and evaluation stages.

A stage is a ``StageSpec`` of hooks (what differs); ``orchestrate_generation`` is the flow (what is
shared): resolve inputs -> load template -> render -> generate (LLM or copy) -> normalize newlines ->
persist RAW -> validate -> parse -> write prompt/raw/parsed/metadata. The engine owns ids on disk,
persistence, the response cache, truncation and the generation record; retries and rate limits
belong to the LLM client it is given. Nothing here imports Dagster.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol

from daydreaming_dagster.core.ids import cohort_from_env
from daydreaming_dagster.core.stages import StageFacts
from daydreaming_dagster.engine.cache import CachedCall, ResponseCache
from daydreaming_dagster.engine.record import STATUS_COMPLETE, STATUS_FAILED, GenerationRecord
from daydreaming_dagster.engine.store import PARSED, PROMPT, RAW, GensStore
from daydreaming_dagster.engine.templates import TemplateProblem
from daydreaming_dagster.engine.templates import render_prompt as _render
from daydreaming_dagster.llm import LLMClient, LLMError, LLMResponse, ModelRoute

TaskRow = Mapping[str, str]
Payload = dict[str, Any]
GeneratorMode = Literal["llm", "copy"]

__all__ = [
    "GenerationContext",
    "GenerationError",
    "GenerationOutcome",
    "Parser",
    "StageSpec",
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


class GenerationError(Exception):
    """A generation failed; ``metadata`` is structured detail (Dagster Failure metadata)."""

    def __init__(self, message: str, *, metadata: Mapping[str, Any] | None = None, cause: str | None = None):
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, Any] = dict(metadata or {})
        # What went wrong, without the gen_id: failures of one cause are grouped in run summaries.
        self.cause = cause or message
        # Set when the failure came after a paid call, so run summaries still count its tokens.
        self.response: LLMResponse | None = None
        self.cache_hit = False


@dataclass(frozen=True)
class GenerationContext:
    """What one run gives the engine: where to write, whom to call, how to log."""

    run_id: str
    store: GensStore
    llm: LLMClient | None = None
    cache: ResponseCache | None = None
    log: Logger = field(default_factory=lambda: logging.getLogger("daydreaming_dagster.engine"))
    # True: ignore stored responses and pay for a fresh call (still stores the new one).
    refresh_cache: bool = False
    cohort_env: str | None = field(default_factory=cohort_from_env)


class Parser(NamedTuple):
    name: str
    parse: Callable[[str], str]  # raw text -> parsed.txt content


@dataclass(frozen=True)
class Validators:
    # Runs on the resolved inputs, before any LLM call (e.g. the parent draft is long enough).
    pre_prompt: Callable[[TaskRow, Payload], None] | None = None
    # Runs on the generated RAW text, after it is on disk (e.g. draft minimum lines).
    post_llm: Callable[[str], None] | None = None


@dataclass(frozen=True)
class StageSpec:
    """The hooks of one stage: only what differs between stages (see docs/architecture.md).

    The stage's names and links (task columns, parent stage, upstream function name...) are its
    ``facts`` from the one stage table, ``core/stages.py``.
    """

    facts: StageFacts
    input_resolver: Callable[[GenerationContext, TaskRow], Payload]
    template_loader: Callable[[str], str]
    generator_mode: Callable[[str], GeneratorMode]
    parser_selector: Callable[[str], Parser]
    max_tokens: int
    temperature: float
    validators: Validators = Validators()
    # Optional GBNF grammar per template (a ``<template>.gbnf`` beside it): constrains the embedded
    # model's output, so a tiny local model always answers in the parseable shape.
    grammar_loader: Callable[[str], str | None] = lambda template_id: None
    # The names of the task's concepts, recorded in metadata.json (every stage's row has combo_id).
    concept_names: Callable[[TaskRow], list[str] | None] = lambda task_row: None

    @property
    def stage(self) -> str:
        return self.facts.stage

    def template_id(self, task_row: TaskRow) -> str:
        return str(task_row.get(self.facts.template_column) or "").strip()

    def model_id(self, task_row: TaskRow) -> str:
        return str(task_row.get(self.facts.model_column) or "").strip()


@dataclass(frozen=True)
class GenerationOutcome:
    """What one generation produced: its texts, its record (metadata.json) and how it was obtained."""

    record: GenerationRecord
    raw: str
    parsed: str
    cache_hit: bool
    duration_s: float

    @property
    def response(self) -> LLMResponse | None:
        return self.record.response


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
    payload = spec.input_resolver(context, task_row)
    if spec.validators.pre_prompt is not None:
        spec.validators.pre_prompt(task_row, payload)
    if mode == "copy":
        return _Prepared(template_id, mode, payload, None)
    try:
        source = spec.template_loader(template_id)
        prompt = render_prompt(source, payload, where=f"{spec.stage} template '{template_id}'")
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


def plan_call(context: GenerationContext, task_row: TaskRow, spec: StageSpec, *, gen_id: str) -> CachedCall | None:
    """The LLM call this generation would make now (None in copy mode), without making it.

    Raises GenerationError when its inputs cannot be resolved yet (e.g. the parent is missing).
    Used to tell, before a run, what the response cache will answer and what a run will cost.
    """
    prepared = _prepare(context, task_row, spec, gen_id)
    if prepared.prompt is None:
        return None
    record = GenerationRecord(stage=spec.facts.stage, gen_id=gen_id, model_id=spec.model_id(task_row))
    route = _route(context, record)
    return CachedCall(
        endpoint=_endpoint(context, route),
        route=route,
        prompt=prepared.prompt,
        max_tokens=spec.max_tokens,
        temperature=spec.temperature,
        replicate=_replicate(task_row),
        grammar=spec.grammar_loader(prepared.template_id) if route.is_local else None,
    )


def _new_record(
    context: GenerationContext, task_row: TaskRow, spec: StageSpec, gen_id: str, parent_gen_id: str | None, prepared: _Prepared
) -> GenerationRecord:
    facts = spec.facts
    return GenerationRecord(
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
        concepts=spec.concept_names(task_row),
    )


def orchestrate_generation(
    context: GenerationContext,
    task_row: TaskRow,
    spec: StageSpec,
    *,
    gen_id: str,
    parent_gen_id: str | None,
    prompt: str | None = None,
) -> GenerationOutcome:
    """Run one generation end to end; raises GenerationError (files kept as far as they got).

    ``prompt``: the prompt already rendered for this generation (the Dagster prompt asset's
    output), so it is not rendered twice.
    """
    started_at, t0 = _now(), time.perf_counter()
    store = context.store
    stage = spec.facts.stage
    store.gen_dir(stage, gen_id)  # validates gen_id before anything else
    if prompt is not None and spec.generator_mode(spec.template_id(task_row)) == "llm":
        prepared = _Prepared(spec.template_id(task_row), "llm", {}, prompt)
    else:
        prepared = _prepare(context, task_row, spec, gen_id)
    record = _new_record(context, task_row, spec, gen_id, parent_gen_id, prepared)

    cache_hit = False
    if prepared.mode == "copy":
        # Copy mode: no LLM call, no prompt (upstream wrote a placeholder prompt.txt; see
        # docs/compatibility.md). RAW is the parent's parsed text.
        raw = normalize_newlines(str(prepared.payload["draft_block"]))
        store.write(stage, gen_id, RAW, raw)
        store.remove(stage, gen_id, PROMPT)
    else:
        assert prepared.prompt is not None
        store.write(stage, gen_id, PROMPT, prepared.prompt)
        route = _route(context, record)
        grammar = spec.grammar_loader(prepared.template_id) if route.is_local else None
        call = CachedCall(
            endpoint=_endpoint(context, route),
            route=route,
            prompt=prepared.prompt,
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            replicate=record.replicate,
            grammar=grammar,
        )
        record.model, record.max_tokens, record.temperature = route.model, spec.max_tokens, spec.temperature
        record.grammar = f"{prepared.template_id}.gbnf" if grammar is not None else None
        record.response, cache_hit, record.cache = _generate(context, record, call)
        raw = normalize_newlines(record.response.text)
        store.write(stage, gen_id, RAW, raw)  # RAW is on disk before any validation

    def fail(message: str, detail: Mapping[str, Any], cause: str) -> GenerationError:
        if gen_id not in message:
            message = f"{stage} {gen_id}: {message}"
        record.status, record.error = STATUS_FAILED, {"message": message, **detail}
        record.started_at, record.finished_at = started_at, _now()
        record.duration_s = round(time.perf_counter() - t0, 4)
        store.write_record(stage, gen_id, record)
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
            spec.validators.post_llm(raw)
        except GenerationError as exc:
            raise fail(exc.message, exc.metadata, exc.cause) from exc

    parser = spec.parser_selector(prepared.template_id)
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

    store.write(stage, gen_id, PARSED, parsed)
    duration = time.perf_counter() - t0
    record.parser, record.status = parser.name, STATUS_COMPLETE
    record.started_at, record.finished_at, record.duration_s = started_at, _now(), round(duration, 4)
    store.write_record(stage, gen_id, record)  # last: marks the generation complete
    return GenerationOutcome(record=record, raw=raw, parsed=parsed, cache_hit=cache_hit, duration_s=duration)


def _route(context: GenerationContext, record: GenerationRecord) -> ModelRoute:
    """The model's route, resolved once per generation."""
    if context.llm is None:
        raise GenerationError(
            f"{record.stage} {record.gen_id}: no LLM client configured", metadata={"gen_id": record.gen_id}
        )
    try:
        return context.llm.route(record.model_id)
    except LLMError as exc:
        raise GenerationError(
            str(exc), metadata={"gen_id": record.gen_id, "model_id": record.model_id}, cause=str(exc)
        ) from exc


def _endpoint(context: GenerationContext, route: ModelRoute) -> str:
    assert context.llm is not None
    return context.llm.endpoint(route)


def _generate(
    context: GenerationContext, record: GenerationRecord, call: CachedCall
) -> tuple[LLMResponse, bool, dict[str, Any]]:
    """The stored response, or one call through the client (stored at once); see engine/cache.py."""
    client = context.llm
    assert client is not None

    def paid_call() -> LLMResponse:
        try:
            return client.generate(
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

    cache = context.cache
    if cache is None:
        return paid_call(), False, {"hit": False}
    return cache.get_or_call(call, paid_call, gen_id=record.gen_id, refresh=context.refresh_cache)


def count_nonempty_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def cost_of(response: LLMResponse | None) -> float:
    if response is None or response.usage.cost is None or math.isnan(response.usage.cost):
        return 0.0
    return float(response.usage.cost)

