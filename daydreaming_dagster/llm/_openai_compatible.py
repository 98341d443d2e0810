"""Adapter for any OpenAI-compatible chat-completions server (OpenRouter by default).

One attempt per call, no retries of its own (``max_retries=0``): LLMClient owns the retry layer.
The API key never appears in a log, an exception message or a repr.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import itertools
import json
import math
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, cast

from ._client import openai_compatible_endpoint
from ._types import (
    LLMConfigurationError,
    LLMRequest,
    LLMResponse,
    PermanentLLMError,
    TransientLLMError,
    Usage,
)
from .catalog import ModelInfo, parse_models_payload

if TYPE_CHECKING:  # the SDK is imported when a provider is built, not with the package
    import openai

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
#: Sent as the key to custom servers configured without one (llama-server, vLLM... need none).
PLACEHOLDER_API_KEY = "no-key-configured"

#: Statuses meaning "this server has no model catalogue" for ``list_models``.
NO_CATALOGUE_STATUSES = frozenset({404, 405, 501})
#: Per-request timeout cap of ``list_models`` (a preflight request, not a generation).
LIST_MODELS_TIMEOUT_S = 30.0

#: Statuses worth retrying (besides timeouts and connection errors): rate limits and server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "error": "error",
    "max_tokens": "length",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
}

_MAX_EXCERPT = 300
#: SDK clients (each with its own connection pool) that the calling threads are spread over.
CLIENT_SHARDS = 8


def is_openrouter(base_url: str) -> bool:
    return base_url.rstrip("/").lower().startswith("https://openrouter.ai/")


def missing_key_message(base_url: str) -> str:
    return (
        f"no API key for {base_url}: set DD_LLM_API_KEY (or OPENROUTER_API_KEY), "
        "or point DD_LLM_BASE_URL at an OpenAI-compatible server that needs no key"
    )


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible tag of the key (for limiter keys; never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def parse_retry_after(headers: Mapping[str, str] | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_usage(raw: object) -> Usage:
    """Usage from the raw JSON ``usage`` object, including OpenRouter's ``cost`` and reasoning tokens."""
    if not isinstance(raw, Mapping):
        return Usage()
    details = raw.get("completion_tokens_details")
    reasoning = _as_int(details.get("reasoning_tokens")) if isinstance(details, Mapping) else None
    if reasoning is None:
        reasoning = _as_int(raw.get("reasoning_tokens"))
    return Usage(
        prompt_tokens=_as_int(raw.get("prompt_tokens")),
        completion_tokens=_as_int(raw.get("completion_tokens")),
        total_tokens=_as_int(raw.get("total_tokens")),
        reasoning_tokens=reasoning,
        cost=_as_float(raw.get("cost")),
    )


def normalize_finish_reason(raw: object) -> tuple[str, str | None]:
    """(normalized finish_reason, the raw value when normalization changed it)."""
    if not isinstance(raw, str) or not raw:
        return "unknown", None
    normalized = _FINISH_REASONS.get(raw.lower(), "unknown")
    return normalized, (None if normalized == raw else raw)


def _content_text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return str(content)


def _error_message(body: object) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message")
            code = inner.get("code")
            metadata = inner.get("metadata")
            parts = [str(message) if message is not None else json.dumps(inner, default=str)[:_MAX_EXCERPT]]
            if code is not None:
                parts.insert(0, f"code {code}:")
            if isinstance(metadata, Mapping) and metadata.get("provider_name"):
                parts.append(f"(provider {metadata['provider_name']})")
            return " ".join(parts)
        if isinstance(inner, str):
            return inner
    if isinstance(body, str):
        return body[:_MAX_EXCERPT]
    return ""


def sdk_http_response_class(openai_module: Any) -> type:
    """The Response class of the HTTP library the SDK runs on (httpx, or httpx2 since openai 3):
    with it as ``cast_to``, ``client.post`` returns the HTTP response untouched."""
    client_class = next(c for c in openai_module.DefaultHttpxClient.__mro__ if c.__name__ == "Client")
    http = importlib.import_module(client_class.__module__.split(".")[0])
    return cast(type, http.Response)


class OpenAICompatibleProvider:
    """Chat completions through the official ``openai`` SDK against any compatible server.

    Up to ``CLIENT_SHARDS`` ``openai.OpenAI`` clients per instance (thread-safe, reused, pooled
    connections; each thread keeps one) with ``max_retries=0`` and ``timeout=timeout_s`` per
    attempt. Each ``generate`` is exactly one HTTP request sending ``model``, one user message,
    ``max_tokens`` and ``temperature`` (nothing else, as upstream did). The raw JSON is parsed here
    so that OpenRouter extras (``cost``, reasoning tokens, ``native_finish_reason``, ``provider``)
    and bodies that the SDK would accept silently (``{"error": ...}`` with HTTP 200, no choices,
    malformed JSON) are all seen.

    ``api_key`` may be None only for a non-OpenRouter ``base_url`` (a placeholder is then sent).
    """

    name = "openai_compatible"

    def __init__(
        self,
        base_url: str = OPENROUTER_BASE_URL,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if not api_key:
            if is_openrouter(self.base_url):
                raise LLMConfigurationError(missing_key_message(self.base_url))
            api_key = PLACEHOLDER_API_KEY
        self._api_key = api_key
        self.timeout_s = float(timeout_s)
        import openai

        self._response_type = sdk_http_response_class(openai)
        self._new_client = functools.partial(
            openai.OpenAI,
            api_key=api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
            default_headers=dict(default_headers) if default_headers else None,
        )
        self._client = self._new_client()
        # Client shards, one per thread (round robin): the HTTP connection pool walks all its
        # connections under one lock on every request and every release, so a single pool of 100
        # connections cost ~20 % more CPU per call at 100 calls in flight than 8 pools of ~12.
        self._shards = [self._client]
        self._shards_lock = threading.Lock()
        self._next_shard = itertools.count()
        self._thread = threading.local()

    def __repr__(self) -> str:
        return f"OpenAICompatibleProvider(base_url={self.base_url!r}, timeout_s={self.timeout_s})"

    def limit_key(self) -> str:
        return f"{self.name}:{self.base_url}#{key_fingerprint(self._api_key)}"

    def endpoint(self) -> str:
        """The server's stable name for cache keys: ``openai_compatible:<base_url>`` (no key)."""
        return openai_compatible_endpoint(self.base_url)

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key != PLACEHOLDER_API_KEY:
            text = text.replace(self._api_key, "***")
        return text

    def generate(self, request: LLMRequest) -> LLMResponse:
        with self._sdk_errors("request", self.timeout_s, unreachable="connection error"):
            # The SDK's documented way to send a body as is (``client.post``): the same request as
            # ``chat.completions.create`` without its TypedDict transform of these four plain
            # fields, which was ~15 % of the client's CPU per call. The raw response is parsed here.
            raw: Any = self._thread_client().post(
                "/chat/completions",
                cast_to=self._response_type,
                body={
                    "model": request.model,
                    "messages": [{"role": "user", "content": request.prompt}],
                    "max_tokens": request.max_tokens,
                    "temperature": request.temperature,
                },
            )
        status = raw.status_code
        try:
            body_text = raw.text
        except Exception as exc:  # a broken stream while reading the body
            raise TransientLLMError(f"failed reading the response body ({type(exc).__name__})") from exc
        return self._parse_body(body_text, status)

    @contextlib.contextmanager
    def _sdk_errors(self, what: str, timeout_s: float, *, unreachable: str) -> Iterator[None]:
        """The SDK's exceptions as the client's, for every request this adapter makes (one translation)."""
        import openai

        try:
            yield
        except openai.APITimeoutError as exc:
            raise TransientLLMError(f"{what} timed out after {timeout_s:g}s") from exc
        except openai.APIConnectionError as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "unknown cause"
            raise TransientLLMError(f"{what}: {unreachable} ({cause})") from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except openai.APIError as exc:
            raise TransientLLMError(self._redact(f"{what}: API error: {exc.message}")) from exc

    def _thread_client(self) -> openai.OpenAI:
        client: openai.OpenAI | None = getattr(self._thread, "client", None)
        if client is None:
            index = next(self._next_shard) % CLIENT_SHARDS
            with self._shards_lock:
                while len(self._shards) <= index:
                    self._shards.append(self._new_client())
                client = self._thread.client = self._shards[index]
        return client

    def list_models(self) -> list[ModelInfo] | None:
        """``GET {base_url}/models`` (same auth header), one attempt: the catalogue with per-token prices.

        None when the server has no catalogue (404/405/501, or an empty list). TransientLLMError when
        it cannot be fetched now (connection error, timeout, 429, 5xx, a body that is not JSON).
        LLMConfigurationError on 401/403 (the key). Other statuses: PermanentLLMError.
        """

        timeout = min(self.timeout_s, LIST_MODELS_TIMEOUT_S)
        try:
            with self._sdk_errors(f"listing models at {self.base_url}", timeout, unreachable="cannot reach it"):
                raw = self._client.models.with_raw_response.list(timeout=timeout)
                body_text = raw.text
        except (TransientLLMError, PermanentLLMError) as exc:
            if exc.status in NO_CATALOGUE_STATUSES:
                return None
            if exc.status in (401, 403):
                raise LLMConfigurationError(f"listing models: {exc.reason}") from exc
            raise
        try:
            payload: Any = json.loads(body_text)
        except ValueError as exc:
            excerpt = self._redact(body_text[:80])
            raise TransientLLMError(f"malformed JSON listing models at {self.base_url}: {excerpt!r}") from exc
        models = parse_models_payload(payload)
        return models or None

    def _status_error(self, exc: openai.APIStatusError) -> TransientLLMError | PermanentLLMError:
        status = exc.status_code
        detail = self._redact(_error_message(exc.body))[:_MAX_EXCERPT]
        reason = f"HTTP {status} from {self.base_url}" + (f": {detail}" if detail else "")
        if status in RETRYABLE_STATUSES or status >= 500:
            headers = dict(exc.response.headers.items()) if exc.response is not None else None
            return TransientLLMError(reason, retry_after=parse_retry_after(headers), status=status)
        if status == 401:
            reason += " (check DD_LLM_API_KEY / OPENROUTER_API_KEY)"
        elif status == 402:
            reason += " (insufficient credits)"
        return PermanentLLMError(reason, status=status)

    def _parse_body(self, body_text: str, status: int) -> LLMResponse:
        try:
            data: Any = json.loads(body_text)
        except ValueError as exc:
            excerpt = self._redact(body_text[:80])
            raise TransientLLMError(f"malformed JSON in HTTP {status} response: {excerpt!r}") from exc
        if not isinstance(data, dict):
            raise TransientLLMError(f"unexpected JSON in HTTP {status} response: {type(data).__name__}")
        if data.get("error"):
            detail = self._redact(_error_message(data))[:_MAX_EXCERPT]
            raise TransientLLMError(f"error in HTTP {status} response body: {detail}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise TransientLLMError(f"HTTP {status} response has no choices")
        choice = choices[0]
        message = choice.get("message")
        content = _content_text(message.get("content") if isinstance(message, dict) else None)
        finish_reason, changed = normalize_finish_reason(choice.get("finish_reason"))
        native = choice.get("native_finish_reason")
        native_finish_reason = str(native) if native is not None else changed
        served_model = data.get("model")
        served_provider = data.get("provider")
        response_id = data.get("id")
        return LLMResponse(
            text=content.strip(),
            finish_reason=finish_reason,
            usage=parse_usage(data.get("usage")),
            native_finish_reason=native_finish_reason,
            served_model=str(served_model) if served_model else None,
            provider=self.name,
            served_provider=str(served_provider) if served_provider else None,
            response_id=str(response_id) if response_id else None,
        )
