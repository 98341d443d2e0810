"""Test doubles for the LLM layer: a scripted provider, the compat canned LLM and a mock resource."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from daydreaming_dagster.llm import (
    LLMClient,
    LLMRequest,
    LLMResponse,
    ModelRoute,
    RequestGate,
    RetryPolicy,
    Usage,
)
from daydreaming_dagster.resources.llm import LLMResource


@dataclass(frozen=True)
class ScriptedReply:
    """What the scripted provider answers to one attempt."""

    text: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    served_model: str | None = None
    native_finish_reason: str | None = None


Step = ScriptedReply | Exception
Script = Iterable[Step] | Callable[[LLMRequest], Step]


def canned_compat_text(prompt: str) -> str:
    """The canned LLM of shared/compat/README.md ("Canned LLM (exact)")."""
    h = hashlib.sha256(prompt.encode()).hexdigest()
    n = int(h[:2], 16) % 10
    return (
        f"Canned response {h[:12]}\n- point one {h[:12]}\n- point two\n- point three\n"
        f'<essay-idea stage="1">\nIdea {h[:12]}\n</essay-idea>\n<essay>Essay {h[:12]}</essay>\nSCORE: {n}'
    )


def canned_compat_usage(prompt: str) -> Usage:
    prompt_tokens = len(prompt) // 4
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=50, total_tokens=prompt_tokens + 50)


def canned_compat_reply(request: LLMRequest) -> ScriptedReply:
    """Exactly the compat canned LLM: text from sha256 of the prompt, stop, fixed usage."""
    return ScriptedReply(
        text=canned_compat_text(request.prompt),
        finish_reason="stop",
        usage=canned_compat_usage(request.prompt),
    )


class ScriptedProvider:
    """A ModelProvider answering from a script: an iterable of replies/exceptions consumed one per
    attempt (exceptions are raised, e.g. TransientLLMError), or a function of the request.

    Thread-safe; records every request in ``calls``; ``waits`` collects the sleeps of a client built
    with ``sleep=provider.record_wait`` (MockLLMResource does that).
    """

    def __init__(self, script: Script = canned_compat_reply, name: str = "mock") -> None:
        self.name = name
        self.calls: list[LLMRequest] = []
        self.waits: list[float] = []
        self._lock = threading.Lock()
        self._fn: Callable[[LLMRequest], Step] | None = None
        self._steps: Iterator[Step] | None = None
        if callable(script):
            self._fn = script
        else:
            self._steps = iter(script)

    def __repr__(self) -> str:
        return f"ScriptedProvider(name={self.name!r}, calls={len(self.calls)})"

    def limit_key(self) -> str:
        return f"{self.name}#{id(self)}"

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)

    def generate(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            self.calls.append(request)
            if self._fn is None:
                assert self._steps is not None
                step = next(self._steps, None)
                if step is None:
                    raise AssertionError(f"ScriptedProvider {self.name!r}: script exhausted at call {len(self.calls)}")
            else:
                step = None
        if step is None:
            assert self._fn is not None
            step = self._fn(request)
        if isinstance(step, Exception):
            raise step
        return LLMResponse(
            text=step.text.strip(),
            finish_reason=step.finish_reason,
            usage=step.usage,
            native_finish_reason=step.native_finish_reason,
            served_model=step.served_model if step.served_model is not None else request.model,
            provider=self.name,
        )




_PROVIDERS: dict[str, ScriptedProvider] = {}
_PROVIDERS_LOCK = threading.Lock()


def _register(provider: ScriptedProvider) -> str:
    with _PROVIDERS_LOCK:
        key = f"scripted-{len(_PROVIDERS)}-{id(provider):x}"
        _PROVIDERS[key] = provider
        return key


class MockLLMResource(LLMResource):
    """LLMResource whose clients are served by a ScriptedProvider, offline and without waits.

    ``MockLLMResource()`` answers every call with the compat canned LLM (a fresh provider per
    resource). For a script: ``MockLLMResource.scripted([...])`` / ``.scripted(fn)``, or share an
    existing provider with ``MockLLMResource.with_provider(p)``. ``resource.provider`` is the provider
    (with its ``calls``). Retries do not sleep; their waits are recorded in ``provider.waits``.

    Dagster rebuilds resources from their config (pydantic private attributes are lost), so the
    provider lives in a module-level registry and the resource carries only its key
    (``provider_key``, a plain config string assigned at construction).
    """

    provider_key: str = ""

    def __init__(self, **data: Any) -> None:
        if not data.get("provider_key"):
            data["provider_key"] = _register(ScriptedProvider())
        super().__init__(**data)

    @classmethod
    def with_provider(cls, provider: ScriptedProvider, **fields: Any) -> MockLLMResource:
        return cls(provider_key=_register(provider), **fields)

    @classmethod
    def scripted(cls, script: Script, **fields: Any) -> MockLLMResource:
        return cls.with_provider(ScriptedProvider(script), **fields)

    @property
    def provider(self) -> ScriptedProvider:
        with _PROVIDERS_LOCK:
            provider = _PROVIDERS.get(self.provider_key)
        if provider is None:
            raise KeyError(f"no ScriptedProvider registered under {self.provider_key!r}")
        return provider

    def build_client(
        self,
        routes: Mapping[str, ModelRoute],
        *,
        default_max_in_flight: int | None = None,
        request_gate: RequestGate | None = None,
    ) -> LLMClient:
        provider = self.provider
        attempts = self.max_attempts if self.max_attempts is not None else RetryPolicy().max_attempts
        return LLMClient.with_provider(
            routes,
            provider,
            retry=RetryPolicy(max_attempts=attempts, jitter=False),
            sleep=provider.record_wait,
        )
