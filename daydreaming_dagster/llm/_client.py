"""LLMClient: the one place that owns routing, retries and per-provider limits."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._breaker import BreakerPolicy, CircuitBreaker, shared_breaker
from ._limiter import Limiter, ProviderLimits, shared_limiter
from ._retry import RetryBudget, RetryPolicy, run_with_retries
from ._types import (
    LLMConfigurationError,
    LLMRequest,
    LLMResponse,
    ModelProvider,
    ModelRoute,
    PermanentLLMError,
    TransientLLMError,
)
from .catalog import ModelInfo

#: ``request_gate(limit_key)``: a context manager every attempt runs inside (cross-process limits).
RequestGate = Callable[[str], contextlib.AbstractContextManager[None]]

logger = logging.getLogger("daydreaming_dagster.llm")

MODELS_TABLE = "llm_models.csv"


class LLMClient:
    """Blocking, thread-safe access to every model of a run.

    ``routes`` maps the project's model ids (llm_models.csv ``id``) to ModelRoutes;
    ``provider_for`` returns the adapter serving a route (called lazily, once per route; it may raise
    LLMConfigurationError, e.g. for a missing API key). Adapters make one attempt; this class adds:

    - the retry layer (``retry``: a time budget per generation, back-off, Retry-After; ``sleep`` and
      ``clock`` are injectable so tests can use a fake clock);
    - a circuit breaker per provider account shared by all threads of the process (``breaker``):
      after repeated transient failures new attempts wait, then one probe goes through;
    - per-provider limits shared by all threads of the process (``limits``, or ``limits_for(route)``
      to choose them per route), applied to each attempt, never held during a backoff;
    - an optional ``request_gate(limit_key)`` context manager around each attempt, entered after the
      in-process limiter admitted it and before the request (cross-process limits);
    - response checks common to every provider: empty content (unless ``finish_reason`` is
      ``length``) and ``finish_reason == "error"`` are transient failures. ``length`` is returned
      as is (``response.truncated``); the engine decides what truncation means.

    ``endpoint_for(route)`` names the server answering a route (``endpoint``; default: asked of the
    provider); ``models_for(route)`` lists its models (``list_models``; default: asked of the provider).

    On retries the request seed changes deterministically (attempt k uses ``(seed or 0) + k - 1``)
    so a seeded local model does not repeat the same empty answer.
    """

    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        provider_for: Callable[[ModelRoute], ModelProvider],
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe default
        limits: ProviderLimits = ProviderLimits(),  # noqa: B008 - frozen dataclass, safe default
        sleep: Callable[[float], None] = time.sleep,
        readiness: Callable[[ModelRoute], None] | None = None,
        limits_for: Callable[[ModelRoute], ProviderLimits] | None = None,
        clock: Callable[[], float] = time.monotonic,
        breaker: BreakerPolicy = BreakerPolicy(),  # noqa: B008 - frozen dataclass, safe default
        request_gate: RequestGate | None = None,
        endpoint_for: Callable[[ModelRoute], str] | None = None,
        models_for: Callable[[ModelRoute], list[ModelInfo] | None] | None = None,
    ) -> None:
        self._routes: dict[str, ModelRoute] = dict(routes)
        self._provider_for = provider_for
        self.retry = retry
        self.limits = limits
        self.breaker_policy = breaker
        self.request_gate = request_gate
        self._limits_for = limits_for
        self._sleep = sleep
        self._clock = clock
        self._readiness = readiness
        self._endpoint_for = endpoint_for
        self._models_for = models_for
        self._providers: dict[ModelRoute, ModelProvider] = {}
        self._providers_lock = threading.Lock()

    @classmethod
    def with_provider(
        cls, routes: Mapping[str, ModelRoute], provider: ModelProvider, **kwargs: Any
    ) -> LLMClient:
        """A client whose every route is served by ``provider`` (tests, benchmarks)."""
        return cls(routes, lambda _route: provider, **kwargs)

    def __repr__(self) -> str:
        return f"LLMClient(models={sorted(self._routes)!r}, retry={self.retry!r}, limits={self.limits!r})"

    @property
    def model_ids(self) -> list[str]:
        return sorted(self._routes)

    def route(self, model_id: str) -> ModelRoute:
        """The route of a model id; LLMConfigurationError if the id is not in llm_models.csv."""
        route = self._routes.get(model_id)
        if route is None:
            ids = sorted(self._routes)
            known = ", ".join(ids[:20]) + (f", ... ({len(ids)} in all)" if len(ids) > 20 else "") if ids else "none"
            raise LLMConfigurationError(
                f"Unknown model id {model_id!r}: it is not in {MODELS_TABLE} (known ids: {known})"
            )
        return route

    def provider(self, route: ModelRoute) -> ModelProvider:
        """The adapter serving ``route`` (built on first use, then reused)."""
        with self._providers_lock:
            provider = self._providers.get(route)
            if provider is None:
                provider = self._provider_for(route)
                self._providers[route] = provider
            return provider

    def limiter(self, route: ModelRoute) -> Limiter:
        limits = self._limits_for(route) if self._limits_for is not None else self.limits
        return shared_limiter(self.provider(route).limit_key(), limits)

    def breaker(self, route: ModelRoute) -> CircuitBreaker:
        """The process-wide circuit breaker of the provider account serving ``route``."""
        return shared_breaker(self.provider(route).limit_key(), self.breaker_policy)

    def endpoint(self, model: str | ModelRoute) -> str:
        """A stable name of the server answering ``model_id``, for the response cache key.

        ``openai_compatible:<base_url without trailing />`` for remote routes, ``local:<model string
        as given in the route>`` for the embedded model (never loaded for this). The API key is
        never part of it.
        """
        route = model if isinstance(model, ModelRoute) else self.route(model)
        if route.is_local:  # decided here alone: the model string is the embedded model's address
            return local_endpoint(route.model)
        if self._endpoint_for is not None:
            return self._endpoint_for(route)
        provider = self.provider(route)
        named = getattr(provider, "endpoint", None)
        if callable(named):
            return str(named())
        return str(provider.name)

    def list_models(self, model_id: str) -> list[ModelInfo] | None:
        """The catalogue of the server serving ``model_id`` (one HTTP request for remote routes).

        Local routes: one ModelInfo for the route's model string, priced 0. Remote routes: the
        server's ``/models`` with OpenRouter's per-token prices when it gives them; None when the
        server has no catalogue (404/405/501, or an empty list). Raises TransientLLMError when the
        catalogue cannot be fetched now (connection refused, timeout, 429, 5xx, malformed body) and
        LLMConfigurationError for 401/403 or a missing key.
        """
        route = self.route(model_id)
        if self._models_for is not None:
            return self._models_for(route)
        if route.is_local:
            return [ModelInfo(route.model, 0.0, 0.0)]
        lister = getattr(self.provider(route), "list_models", None)
        return lister() if callable(lister) else None

    def check_ready(self, model_ids: Iterable[str]) -> None:
        """Check, without calling any model, that every id can be served.

        Validates each id against llm_models.csv and runs the readiness check of each distinct route
        (remote: API key present; local: llama.cpp extra installed and GGUF found). Raises one
        LLMConfigurationError listing every problem.
        """
        problems: list[str] = []
        seen: dict[ModelRoute, list[str]] = {}
        for model_id in dict.fromkeys(model_ids):
            try:
                route = self.route(model_id)
            except LLMConfigurationError as exc:
                problems.append(str(exc))
                continue
            seen.setdefault(route, []).append(model_id)
        messages: dict[str, list[str]] = {}
        for route, ids in seen.items():
            try:
                if self._readiness is not None:
                    self._readiness(route)
                else:
                    self.provider(route)
            except LLMConfigurationError as exc:
                messages.setdefault(str(exc), []).extend(ids)
        for message, ids in messages.items():
            problems.append(f"{message} (model ids: {', '.join(ids)})")
        if problems:
            if len(problems) == 1:
                raise LLMConfigurationError(f"LLM configuration problem: {problems[0]}")
            listing = "\n".join(f"  - {p}" for p in problems)
            raise LLMConfigurationError(f"LLM configuration problems ({len(problems)}):\n{listing}")

    def generate(
        self,
        model: str | ModelRoute,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None = None,
        grammar: str | None = None,
    ) -> LLMResponse:
        """One generation (single user message), retried on transient errors. Thread-safe, blocking.

        Returns the response with ``attempts`` and ``latency_s`` (of the successful attempt) set.
        Raises LLMConfigurationError (unknown id, missing key...) before any call,
        PermanentLLMError at once, TransientLLMError once the retry budget (or ``max_attempts``)
        is spent.
        """
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
            raise LLMConfigurationError(f"max_tokens must be a positive int, got {max_tokens!r}")
        # A route already resolved by the caller (the engine resolves it once per generation).
        route = model if isinstance(model, ModelRoute) else self.route(model)
        provider = self.provider(route)
        limiter = self.limiter(route)
        limit_key = provider.limit_key()
        breaker = shared_breaker(limit_key, self.breaker_policy)
        gate = self.request_gate
        budget = RetryBudget(self.retry.budget_s, clock=self._clock)
        last_error: list[str] = []
        base = LLMRequest(
            model=route.model,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            grammar=grammar,  # the engine sends one only to local routes; remote adapters ignore it
        )

        def attempt(number: int) -> LLMResponse:
            request = base
            if number > 1:
                request = dataclasses.replace(base, seed=(seed or 0) + number - 1)

            def no_time_left(wait: float, why: str) -> str:
                made = number - 1
                last = last_error[-1] if last_error else f"provider failing (last error: {breaker.last_failure})"
                return (
                    f"{last} (gave up after {made} attempt{'s' if made != 1 else ''}: {why}, "
                    f"longer than the {max(0.0, budget.remaining()):.1f}s left of {budget.describe()})"
                )

            probe = breaker.admit(budget, sleep=self._sleep, clock=self._clock, no_time_left=no_time_left)
            recorded = False  # the breaker learns from the provider's answer, not from the gate
            try:
                with limiter.slot(sleep=self._sleep, clock=self._clock):
                    with gate(limit_key) if gate is not None else contextlib.nullcontext():
                        started = time.perf_counter()
                        try:
                            response = provider.generate(request)
                        except TransientLLMError as exc:
                            recorded = True
                            breaker.record_failure(probe, exc.reason, clock=self._clock)
                            last_error.append(exc.reason)
                            raise
                        except PermanentLLMError:
                            recorded = True
                            breaker.record_success(probe, clock=self._clock)  # the server answered
                            raise
                        latency = time.perf_counter() - started
                        recorded = True
                        breaker.record_success(probe, clock=self._clock)
            finally:
                if not recorded:
                    breaker.record_neutral(probe, clock=self._clock)
            try:
                _check_response(response)
            except TransientLLMError as exc:
                last_error.append(exc.reason)
                raise
            return dataclasses.replace(response, latency_s=latency)

        response, attempts = run_with_retries(
            attempt,
            policy=self.retry,
            sleep=self._sleep,
            describe=f"call to {route.model_id} ({route.model})",
            budget=budget,
        )
        return dataclasses.replace(response, attempts=attempts)


def local_endpoint(model: str) -> str:
    """The endpoint name of an embedded-model route: its model string as given."""
    return f"local:{model}"


def openai_compatible_endpoint(base_url: str) -> str:
    """The endpoint name of an OpenAI-compatible server: its base URL without trailing slashes."""
    return f"openai_compatible:{base_url.strip().rstrip('/')}"


def _check_response(response: LLMResponse) -> None:
    """Failures every provider shares: an error finish or empty content (unless truncated)."""
    if response.finish_reason == "error":
        native = f", native {response.native_finish_reason}" if response.native_finish_reason else ""
        raise TransientLLMError(f"the model finished with an error (finish_reason=error{native})")
    if not response.text and response.finish_reason != "length":
        raise TransientLLMError(f"empty content (finish_reason={response.finish_reason})")
