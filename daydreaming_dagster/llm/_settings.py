"""LLM settings from the environment, and the factory wiring routes to providers."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from daydreaming_dagster.core import settings

from ._client import LLMClient, RequestGate, local_endpoint, openai_compatible_endpoint
from ._limiter import ProviderLimits
from ._llama_cpp import LlamaCppProvider, check_local_ready
from ._openai_compatible import (
    OPENROUTER_BASE_URL,
    OpenAICompatibleProvider,
    is_openrouter,
    missing_key_message,
)
from ._retry import ENV_MAX_ATTEMPTS, ENV_RETRY_BUDGET, RetryPolicy
from ._types import LLMConfigurationError, ModelProvider, ModelRoute

# The variables' names: one list of every variable the product reads (core/settings.py).
ENV_BASE_URL = settings.LLM_BASE_URL
ENV_API_KEY = settings.LLM_API_KEY
ENV_OPENROUTER_KEY = settings.OPENROUTER_API_KEY
ENV_MAX_IN_FLIGHT = settings.LLM_MAX_IN_FLIGHT
ENV_RPM = settings.LLM_RPM
ENV_TIMEOUT = settings.LLM_TIMEOUT

#: The embedded llama.cpp model runs one completion at a time, whatever the settings say.
LOCAL_LIMITS = ProviderLimits(max_in_flight=1)


@dataclass(frozen=True)
class LLMSettings:
    """How remote models are reached; every field can come from the environment (``from_env``).

    base_url: any OpenAI-compatible endpoint (``DD_LLM_BASE_URL``), OpenRouter by default.
    api_key: ``DD_LLM_API_KEY``, else ``OPENROUTER_API_KEY``. Required only for OpenRouter; other
      servers get a placeholder. Hidden from repr, never logged.
    timeout_s: per-attempt HTTP timeout (``DD_LLM_TIMEOUT_S``, 300 s; long essays take minutes).
    max_in_flight: concurrent requests per provider account (``DD_LLM_MAX_IN_FLIGHT``, 8).
    requests_per_minute: optional start-rate cap (``DD_LLM_RPM``; unset/0 = none, the default, fine for
      paid models; use 20 for OpenRouter ``:free`` models).
    retry_budget_s: time allowed to one generation, retries, back-off and waits included
      (``DD_LLM_RETRY_BUDGET_S``, 900 s): transient failures are retried until it is spent.
    max_attempts: optional extra cap on attempts per generation including the first
      (``DD_LLM_MAX_ATTEMPTS``; unset or 0 = unlimited within the budget, the default).
    """

    base_url: str = OPENROUTER_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 300.0
    max_in_flight: int = 8
    requests_per_minute: float | None = None
    max_attempts: int | None = None
    retry_budget_s: float = 900.0

    def __post_init__(self) -> None:
        if not self.base_url.strip():
            raise LLMConfigurationError("base_url must not be empty")
        if self.timeout_s <= 0:
            raise LLMConfigurationError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise LLMConfigurationError(f"max_attempts must be >= 1 or None, got {self.max_attempts}")
        if self.retry_budget_s < 0:
            raise LLMConfigurationError(f"retry_budget_s must be >= 0, got {self.retry_budget_s}")
        self.limits()  # validates max_in_flight / requests_per_minute

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        return (
            f"LLMSettings(base_url={self.base_url!r}, api_key={key}, timeout_s={self.timeout_s}, "
            f"max_in_flight={self.max_in_flight}, requests_per_minute={self.requests_per_minute}, "
            f"max_attempts={self.max_attempts}, retry_budget_s={self.retry_budget_s})"
        )

    @property
    def requires_api_key(self) -> bool:
        return is_openrouter(self.base_url)

    def limits(self) -> ProviderLimits:
        return ProviderLimits(max_in_flight=self.max_in_flight, requests_per_minute=self.requests_per_minute)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, budget_s=self.retry_budget_s)

    @property
    def endpoint(self) -> str:
        """The name of the remote server for cache keys (``LLMClient.endpoint``)."""
        return openai_compatible_endpoint(self.base_url)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        defaults: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> LLMSettings:
        """Settings from ``environ`` (default ``os.environ``); non-None ``overrides`` win.

        ``defaults`` (e.g. the experiment's concurrency as ``max_in_flight``) apply where the
        environment says nothing: override > environment > defaults > the field's default.
        """
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        def number(name: str, kind: Callable[[str], Any]) -> Any:
            raw = text(name)
            if raw is None:
                return None
            try:
                return kind(raw)
            except ValueError:
                raise LLMConfigurationError(f"{name} must be a number, got {raw!r}") from None

        values: dict[str, Any] = {k: v for k, v in (defaults or {}).items() if v is not None}
        if (base_url := text(ENV_BASE_URL)) is not None:
            values["base_url"] = base_url
        values["api_key"] = text(ENV_API_KEY) or text(ENV_OPENROUTER_KEY)
        for name, attr, kind in (
            (ENV_MAX_IN_FLIGHT, "max_in_flight", int),
            (ENV_TIMEOUT, "timeout_s", float),
            (ENV_RETRY_BUDGET, "retry_budget_s", float),
        ):
            parsed = number(name, kind)
            if parsed is not None:
                values[attr] = parsed
        attempts = number(ENV_MAX_ATTEMPTS, int)
        if attempts is not None:
            values["max_attempts"] = attempts if attempts > 0 else None
        rpm = number(ENV_RPM, float)
        values["requests_per_minute"] = rpm if rpm else None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = (set(overrides) | set(defaults or {})) - known
        if unknown:
            raise TypeError(f"unknown LLMSettings fields: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def build_llm_client(
    routes: Mapping[str, ModelRoute],
    settings: LLMSettings | None = None,
    *,
    request_gate: RequestGate | None = None,
    **client_kwargs: Any,
) -> LLMClient:
    """A client serving local routes with LlamaCppProvider (1 in flight per model) and every other
    route with one shared OpenAICompatibleProvider built from ``settings`` (default: from_env()).

    ``request_gate(limit_key)``: an optional context manager around every attempt (cross-process
    limits, e.g. Dagster concurrency pools). ``client.endpoint(id)`` is computed from the settings
    and the route, without building a provider or loading a model.

    Providers are created on first use, so a missing key or extra only matters for the models a
    run uses; call ``client.check_ready(ids)`` before the first generation to fail early.
    """
    settings = settings if settings is not None else LLMSettings.from_env()
    lock = threading.Lock()
    remote: list[OpenAICompatibleProvider] = []
    local: dict[str, LlamaCppProvider] = {}

    def provider_for(route: ModelRoute) -> ModelProvider:
        with lock:
            if route.is_local:
                if route.model not in local:
                    local[route.model] = LlamaCppProvider(route.model)
                return local[route.model]
            if not remote:
                remote.append(
                    OpenAICompatibleProvider(settings.base_url, settings.api_key, timeout_s=settings.timeout_s)
                )
            return remote[0]

    def readiness(route: ModelRoute) -> None:
        if route.is_local:
            check_local_ready(route.model)
        elif settings.requires_api_key and not settings.api_key:
            raise LLMConfigurationError(missing_key_message(settings.base_url))

    def limits_for(route: ModelRoute) -> ProviderLimits:
        return LOCAL_LIMITS if route.is_local else settings.limits()

    def endpoint_for(route: ModelRoute) -> str:
        return local_endpoint(route.model) if route.is_local else settings.endpoint

    client_kwargs.setdefault("retry", settings.retry_policy())
    client_kwargs.setdefault("endpoint_for", endpoint_for)
    return LLMClient(
        routes,
        provider_for,
        limits=settings.limits(),
        readiness=readiness,
        limits_for=limits_for,
        request_gate=request_gate,
        **client_kwargs,
    )
