"""The generation engine: one flow for the draft, essay and evaluation stages.

A stage is a ``StageSpec`` of hooks (what differs); ``orchestrate_generation`` is the flow (what is
shared): resolve inputs -> load template -> render -> generate (LLM or copy) -> normalize newlines ->
persist RAW -> validate -> parse -> write prompt/raw/parsed/metadata. The engine owns ids on disk,
persistence, the response cache, truncation and metadata; retries and rate limits belong to the
LLM client it is given. Nothing here needs a Dagster instance.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol

from daydreaming_dagster.llm import LLMClient, LLMError, LLMResponse
from daydreaming_dagster.utils.document import (
    PARSED,
    PROMPT,
    RAW,
    STATUS_COMPLETE,
    STATUS_FAILED,
    GensStore,
    Stage,
)
from daydreaming_dagster.utils.response_cache import ResponseCache, response_cache_key
from daydreaming_dagster.utils.templates import TemplateProblem
from daydreaming_dagster.utils.templates import render_prompt as _render

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
    "build_generation_metadata",
    "detect_truncation",
    "llm_generate",
    "normalize_newlines",
    "orchestrate_generation",
    "prepare_prompt",
    "render_prompt",
    "resolve_cohort_id",
    "run_generation",
]


class Logger(Protocol):
    def info(self, msg: str, *args: Any) -> None: ...
    def warning(self, msg: str, *args: Any) -> None: ...


class GenerationError(Exception):
    """A generation failed; ``metadata`` is structured detail (Dagster Failure metadata)."""

    def __init__(self, message: str, *, metadata: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, Any] = dict(metadata or {})
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
    cohort_env: str | None = field(default_factory=lambda: os.environ.get("DD_COHORT") or None)


class Parser(NamedTuple):
    name: str
    parse: Callable[[str], str]  # raw text -> parsed.txt content


@dataclass(frozen=True)
class Validators:
    # Runs on the resolved inputs, before any LLM call (e.g. the parent draft is long enough).
    pre_prompt: Callable[[GenerationContext, TaskRow, Payload], None] | None = None
    # Runs on the generated RAW text, after it is on disk (e.g. draft minimum lines).
    post_llm: Callable[[str, LLMResponse | None], None] | None = None


@dataclass(frozen=True)
class StageSpec:
    """The hooks of one stage (see docs/architecture.md)."""

    stage: Stage
    template_kind: Stage
    function_name: str  # upstream's asset function name, kept in metadata.json ("function")
    template_column: str  # task-row column holding the template id
    task_id_column: str  # task-row column holding the task id
    input_resolver: Callable[[GenerationContext, TaskRow], Payload]
    template_loader: Callable[[str], str]
    generator_mode: Callable[[str], GeneratorMode]
    model_selector: Callable[[TaskRow], str]  # -> the project's model id (llm_models.csv id)
    parser_selector: Callable[[str], Parser]
    max_tokens_selector: Callable[[GenerationContext], int]
    temperature: float
    validators: Validators = Validators()
    metadata_extras: Callable[[GenerationContext, TaskRow, Payload], dict[str, Any]] = (
        lambda ctx, row, payload: {}
    )
    # Optional GBNF grammar per template (a ``<template>.gbnf`` beside it): constrains the embedded
    # model's output, so a tiny local model always answers in the parseable shape.
    grammar_loader: Callable[[str], str | None] = lambda template_id: None
    copy_source: str = "draft_block"  # payload key whose text becomes RAW in copy mode
    returns: Literal["raw", "parsed"] = "parsed"


@dataclass(frozen=True)
class GenerationOutcome:
    stage: Stage
    gen_id: str
    mode: GeneratorMode
    text: str  # what the stage's asset returns
    raw: str
    parsed: str
    response: LLMResponse | None
    cache_hit: bool
    duration_s: float


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
    """One generation through the client: ``(text, info)``; ``model`` is a models-table id."""
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        raise ValueError("llm_generate requires an explicit positive max_tokens")
    response = client.generate(model, prompt, max_tokens=max_tokens, temperature=temperature, seed=seed)
    return response.text, response.info()


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


def build_generation_metadata(
    context: GenerationContext,
    task_row: TaskRow,
    spec: StageSpec,
    *,
    gen_id: str,
    parent_gen_id: str | None,
    template_id: str,
    model_id: str,
    extras: Mapping[str, Any],
) -> dict[str, Any]:
    """Upstream's keys, in upstream's order; the engine appends its own after them."""
    metadata: dict[str, Any] = {
        "stage": spec.stage,
        "gen_id": gen_id,
        "parent_gen_id": parent_gen_id or "",
        "template_id": template_id or "",
        "model_id": model_id or "",
        "task_id": str(task_row.get(spec.task_id_column) or ""),
        "function": spec.function_name,
        "run_id": context.run_id,
    }
    cohort = resolve_cohort_id(context, task_row)
    if cohort:
        metadata["cohort_id"] = cohort
    metadata.update(extras)
    return metadata


# ---------------------------------------------------------------------------- the flow


@dataclass
class _Prepared:
    template_id: str
    mode: GeneratorMode
    payload: Payload
    prompt: str | None


def _prepare(context: GenerationContext, task_row: TaskRow, spec: StageSpec, gen_id: str) -> _Prepared:
    template_id = str(task_row.get(spec.template_column) or "").strip()
    if not template_id:
        raise GenerationError(
            f"{spec.stage} {gen_id}: task row has no {spec.template_column}",
            metadata={"gen_id": gen_id, "column": spec.template_column},
        )
    mode = spec.generator_mode(template_id)
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
            str(exc), metadata={"gen_id": gen_id, "template_id": template_id, "stage": spec.stage}
        ) from exc
    return _Prepared(template_id, mode, payload, prompt)


def prepare_prompt(context: GenerationContext, task_row: TaskRow, spec: StageSpec, *, gen_id: str) -> str | None:
    """The rendered prompt (None in copy mode): what the ``*_prompt`` assets return."""
    return _prepare(context, task_row, spec, gen_id).prompt


def orchestrate_generation(
    context: GenerationContext,
    task_row: TaskRow,
    spec: StageSpec,
    *,
    gen_id: str,
    parent_gen_id: str | None,
) -> str:
    """Run one generation end to end and return the text the stage's asset returns."""
    return run_generation(context, task_row, spec, gen_id=gen_id, parent_gen_id=parent_gen_id).text


def run_generation(
    context: GenerationContext,
    task_row: TaskRow,
    spec: StageSpec,
    *,
    gen_id: str,
    parent_gen_id: str | None,
) -> GenerationOutcome:
    """``orchestrate_generation`` with the full outcome (usage, cache hit) for run summaries."""
    started_at, t0 = _now(), time.perf_counter()
    store = context.store
    store.gen_dir(spec.stage, gen_id)  # validates gen_id before anything else
    prepared = _prepare(context, task_row, spec, gen_id)
    model_id = spec.model_selector(task_row)
    replicate = _replicate(task_row)
    metadata = build_generation_metadata(
        context,
        task_row,
        spec,
        gen_id=gen_id,
        parent_gen_id=parent_gen_id,
        template_id=prepared.template_id,
        model_id=model_id,
        extras=spec.metadata_extras(context, task_row, prepared.payload),
    )
    metadata["mode"] = prepared.mode
    if replicate != 1:
        metadata["replicate"] = replicate

    response: LLMResponse | None = None
    cache_hit = False
    if prepared.mode == "copy":
        # Copy mode: no LLM call, no prompt (upstream wrote a placeholder prompt.txt; see
        # docs/compatibility.md). RAW is the parent's parsed text.
        raw = normalize_newlines(str(prepared.payload[spec.copy_source]))
        store.write(spec.stage, gen_id, RAW, raw)
        store.remove(spec.stage, gen_id, PROMPT)
    else:
        assert prepared.prompt is not None
        store.write(spec.stage, gen_id, PROMPT, prepared.prompt)
        max_tokens = spec.max_tokens_selector(context)
        grammar = spec.grammar_loader(prepared.template_id)
        call = _LLMCall(model_id, prepared.prompt, max_tokens, spec.temperature, replicate, grammar)
        response, cache_hit, cache_info = _generate(context, spec.stage, gen_id, call)
        raw = normalize_newlines(response.text)
        store.write(spec.stage, gen_id, RAW, raw)  # RAW is on disk before any validation
        metadata.update(_llm_metadata(context, model_id, max_tokens, spec.temperature, response))
        if grammar is not None and context.llm is not None and context.llm.route(model_id).is_local:
            metadata["grammar"] = f"{prepared.template_id}.gbnf"
        metadata["cache"] = cache_info

    def fail(message: str, detail: Mapping[str, Any]) -> GenerationError:
        if gen_id not in message:
            message = f"{spec.stage} {gen_id}: {message}"
        metadata.update(
            status=STATUS_FAILED,
            error={"message": message, **detail},
            started_at=started_at,
            finished_at=_now(),
            duration_s=round(time.perf_counter() - t0, 4),
        )
        store.write_metadata(spec.stage, gen_id, metadata)
        error = GenerationError(message, metadata={"gen_id": gen_id, "stage": spec.stage, **detail})
        error.response, error.cache_hit = response, cache_hit
        return error

    if response is not None and detect_truncation(response):
        usage = response.usage
        raise fail(
            f"{spec.stage} {gen_id} truncated: model {model_id} stopped with finish_reason "
            f"'{response.finish_reason}' after {usage.completion_tokens} completion tokens "
            f"(max_tokens {metadata.get('max_tokens')}). RAW kept in {store.gen_dir(spec.stage, gen_id)}. "
            "Fix: raise the stage's max_tokens in the experiment config.",
            {
                "model_id": model_id,
                "finish_reason": response.finish_reason,
                "completion_tokens": usage.completion_tokens,
                "requested_max_tokens": metadata.get("max_tokens"),
                "raw_chars": len(raw),
            },
        )
    if spec.validators.post_llm is not None:
        try:
            spec.validators.post_llm(raw, response)
        except GenerationError as exc:
            raise fail(exc.message, exc.metadata) from exc

    parser = spec.parser_selector(prepared.template_id)
    try:
        parsed = parser.parse(raw)
    except Exception as exc:  # any parser error is a failure with RAW kept (upstream swallowed some)
        raise fail(
            f"{spec.stage} {gen_id}: parser '{parser.name}' failed on RAW: {exc}",
            {"parser": parser.name, "error_type": type(exc).__name__, "raw_chars": len(raw)},
        ) from exc
    if not isinstance(parsed, str) or not parsed.strip():
        raise fail(f"{spec.stage} {gen_id}: parser '{parser.name}' returned empty text", {"parser": parser.name})

    store.write(spec.stage, gen_id, PARSED, parsed)
    finished_at = time.perf_counter()
    metadata["parser"] = parser.name
    metadata.update(
        status=STATUS_COMPLETE,
        started_at=started_at,
        finished_at=_now(),
        duration_s=round(finished_at - t0, 4),
    )
    store.write_metadata(spec.stage, gen_id, metadata)  # last: marks the generation complete
    return GenerationOutcome(
        stage=spec.stage,
        gen_id=gen_id,
        mode=prepared.mode,
        text=parsed if spec.returns == "parsed" else raw,
        raw=raw,
        parsed=parsed,
        response=response,
        cache_hit=cache_hit,
        duration_s=finished_at - t0,
    )


def _llm_metadata(
    context: GenerationContext, model_id: str, max_tokens: int, temperature: float, response: LLMResponse
) -> dict[str, Any]:
    route_model = context.llm.route(model_id).model if context.llm is not None else None
    return {
        "model": route_model,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "finish_reason": response.finish_reason,
        "usage": response.usage.to_dict(),
        "llm": response.info(),
    }


@dataclass(frozen=True)
class _LLMCall:
    model_id: str
    prompt: str
    max_tokens: int
    temperature: float
    replicate: int
    grammar: str | None


def _generate(
    context: GenerationContext, stage: Stage, gen_id: str, call: _LLMCall
) -> tuple[LLMResponse, bool, dict[str, Any]]:
    """Cached response or one call through the client; the new response is cached at once."""
    client = context.llm
    if client is None:
        raise GenerationError(f"{stage} {gen_id}: no LLM client configured", metadata={"gen_id": gen_id})
    try:
        route = client.route(call.model_id)
    except LLMError as exc:
        raise GenerationError(str(exc), metadata={"gen_id": gen_id, "model_id": call.model_id}) from exc
    if not route.is_local and call.grammar is not None:
        call = replace(call, grammar=None)  # remote providers never get a grammar
    key = response_cache_key(
        route,
        call.prompt,
        max_tokens=call.max_tokens,
        temperature=call.temperature,
        replicate=call.replicate,
        grammar=call.grammar,
    )
    cache = context.cache
    if cache is None:
        return _call(client, stage, gen_id, call), False, {"hit": False}
    if not context.refresh_cache:
        cached = cache.get(key)
        if cached is not None:
            info = {"hit": True, "key": key, "source_gen_id": cached.source_gen_id, "stored_at": cached.created_at}
            return cached.response, True, info
    # Single flight: identical calls running at the same time wait for the first one's answer.
    with _IN_FLIGHT_LOCK:
        pending = _IN_FLIGHT.get(key)
        owner = pending is None
        if pending is None:
            pending = _IN_FLIGHT[key] = Future()
    if not owner:
        response, source = pending.result()
        return response, True, {"hit": True, "key": key, "source_gen_id": source, "shared_in_flight": True}
    try:
        response = _call(client, stage, gen_id, call)
        cache.put(key, response, gen_id=gen_id)
        pending.set_result((response, gen_id))
    except BaseException as exc:
        pending.set_exception(exc)
        raise
    finally:
        with _IN_FLIGHT_LOCK:
            del _IN_FLIGHT[key]
    return response, False, {"hit": False, "key": key}


_IN_FLIGHT: dict[str, Future[tuple[LLMResponse, str]]] = {}
_IN_FLIGHT_LOCK = threading.Lock()


def _call(client: LLMClient, stage: Stage, gen_id: str, call: _LLMCall) -> LLMResponse:
    try:
        return client.generate(
            call.model_id,
            call.prompt,
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            seed=call.replicate,
            grammar=call.grammar,
        )
    except LLMError as exc:
        raise GenerationError(
            f"{stage} {gen_id}: LLM call to {call.model_id} failed: {exc}",
            metadata={"gen_id": gen_id, "model_id": call.model_id, "error_type": type(exc).__name__},
        ) from exc


def count_nonempty_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def cost_of(response: LLMResponse | None) -> float:
    if response is None or response.usage.cost is None or math.isnan(response.usage.cost):
        return 0.0
    return float(response.usage.cost)
