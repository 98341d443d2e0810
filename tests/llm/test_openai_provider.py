"""OpenAICompatibleProvider + LLMClient retry layer against the fake OpenAI-compatible server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from daydreaming_dagster.llm import (
    OPENROUTER_BASE_URL,
    LLMClient,
    LLMConfigurationError,
    LLMSettings,
    ModelRoute,
    OpenAICompatibleProvider,
    PermanentLLMError,
    RetryPolicy,
    TransientLLMError,
    parse_retry_after,
)
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import canned_compat_text

KEY = "sk-or-v1-TESTSECRET-0123456789abcdef"
ROUTES = {"sonnet-4": ModelRoute("sonnet-4", "anthropic", "anthropic/claude-sonnet-4")}
PROMPT = "Write three lines about daydreaming machines."
# small, deterministic waits; the fake sleep only records them
POLICY = RetryPolicy(max_attempts=4, initial_wait_s=0.01, max_wait_s=0.04, max_retry_after_s=0.5, jitter=False)


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def make_client(
    srv: FakeOpenAIServer, waits: list[float], *, timeout_s: float = 5.0, policy: RetryPolicy = POLICY
) -> LLMClient:
    provider = OpenAICompatibleProvider(srv.base_url, KEY, timeout_s=timeout_s)
    return LLMClient.with_provider(ROUTES, provider, retry=policy, sleep=waits.append)


def generate(client: LLMClient, prompt: str = PROMPT) -> object:
    return client.generate("sonnet-4", prompt, max_tokens=2048, temperature=0.7)


def test_normal_answer_sends_exactly_upstream_request(srv: FakeOpenAIServer) -> None:
    waits: list[float] = []
    response = make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=2048, temperature=0.7)

    assert response.text == canned_compat_text(PROMPT)
    assert response.finish_reason == "stop" and not response.truncated
    assert response.native_finish_reason == "stop"
    assert response.usage.prompt_tokens == len(PROMPT) // 4
    assert response.usage.completion_tokens == 50
    assert response.usage.total_tokens == len(PROMPT) // 4 + 50
    assert response.served_model == "anthropic/claude-sonnet-4"
    assert response.provider == "openai_compatible"
    assert response.attempts == 1 and response.latency_s > 0
    assert response.response_id == "gen-fake-1"
    assert waits == []
    assert srv.request_count == 1
    request = srv.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["json"] == {
        "model": "anthropic/claude-sonnet-4",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 2048,
        "temperature": 0.7,
    }
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers.get("x-stainless-retry-count", "0") == "0"


def test_usage_cost_reasoning_and_served_model_captured() -> None:
    extra = {"cost": 0.00123, "completion_tokens_details": {"reasoning_tokens": 12}}
    with FakeOpenAIServer(
        usage_extra=extra, served_model="anthropic/claude-4-sonnet-20250522", served_provider="Anthropic"
    ) as srv:
        response = make_client(srv, []).generate("sonnet-4", PROMPT, max_tokens=100, temperature=0.1)
    assert response.usage.cost == pytest.approx(0.00123)
    assert response.usage.reasoning_tokens == 12
    assert response.served_model == "anthropic/claude-4-sonnet-20250522"
    info = response.to_dict(text=False)
    assert info["usage"] == {
        "prompt_tokens": len(PROMPT) // 4,
        "completion_tokens": 50,
        "total_tokens": len(PROMPT) // 4 + 50,
        "reasoning_tokens": 12,
        "cost": 0.00123,
    }
    assert info["served_provider"] == "Anthropic" and info["attempts"] == 1


def test_429_retry_after_is_honoured(srv: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    srv.add_faults(("status", 429, {"Retry-After": "0.05"}))
    waits: list[float] = []
    with caplog.at_level(logging.WARNING, logger="daydreaming_dagster.llm"):
        response = make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert response.attempts == 2
    assert waits == [0.05]
    assert srv.request_count == 2
    retry_logs = [r for r in caplog.records if r.name == "daydreaming_dagster.llm"]
    assert len(retry_logs) == 1
    message = retry_logs[0].getMessage()
    assert "attempt 1/4" in message and "HTTP 429" in message and "retrying in 0.05s" in message


def test_retry_after_is_capped(srv: FakeOpenAIServer) -> None:
    srv.add_faults(("status", 503, {"Retry-After": "3600"}))
    waits: list[float] = []
    assert make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7).attempts == 2
    assert waits == [POLICY.max_retry_after_s]


def test_retry_after_ms_and_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 12:00:30 GMT"}, now=now) == 30.0
    assert parse_retry_after({"retry-after": "Wed, 01 Jan 2025 11:00:00 GMT"}, now=now) == 0.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_with_exponential_backoff(srv: FakeOpenAIServer, status: int) -> None:
    srv.add_faults(("status", status), ("status", status), ("status", status))
    waits: list[float] = []
    response = make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert response.attempts == 4
    assert waits == [0.01, 0.02, 0.04]
    assert srv.request_count == 4


def test_backoff_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(initial_wait_s=1.0, max_wait_s=8.0, jitter=True)
    for attempt in range(1, 8):
        base = min(8.0, 2.0 ** (attempt - 1))
        for _ in range(20):
            assert base / 2 <= policy.backoff_s(attempt) <= base


@pytest.mark.parametrize(
    "fault",
    [("reset",), ("malformed",), ("error_body",), ("no_choices",), ("empty",)],
    ids=["connection-reset", "malformed-json", "http200-error-body", "no-choices", "empty-content"],
)
def test_transient_body_and_connection_faults_are_retried(srv: FakeOpenAIServer, fault: tuple[str]) -> None:
    srv.add_faults(fault)
    waits: list[float] = []
    response = make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert response.attempts == 2
    assert response.text == canned_compat_text(PROMPT)
    assert waits == [0.01]
    assert srv.request_count == 2


def test_timeout_is_transient(srv: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    srv.add_faults(("sleep", 1.0))
    waits: list[float] = []
    with caplog.at_level(logging.WARNING, logger="daydreaming_dagster.llm"):
        response = make_client(srv, waits, timeout_s=0.25).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert response.attempts == 2
    assert "timed out after 0.25s" in caplog.text


def test_empty_content_fails_after_bounded_attempts(srv: FakeOpenAIServer) -> None:
    srv.add_faults(*[("empty",)] * 3)
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=3, initial_wait_s=0.01, jitter=False)
    with pytest.raises(TransientLLMError) as info:
        make_client(srv, waits, policy=policy).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert "empty content" in str(info.value)
    assert "after 3 attempts" in str(info.value)
    assert srv.request_count == 3
    assert waits == [0.01, 0.02]


def test_length_is_returned_as_truncated(srv: FakeOpenAIServer) -> None:
    srv.add_faults(("length",))
    waits: list[float] = []
    response = make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert response.finish_reason == "length" and response.truncated
    assert response.text == canned_compat_text(PROMPT)[:40].strip()
    assert response.attempts == 1 and waits == [] and srv.request_count == 1


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_client_errors_are_permanent(srv: FakeOpenAIServer, status: int) -> None:
    srv.add_faults(("status", status))
    waits: list[float] = []
    with pytest.raises(PermanentLLMError) as info:
        make_client(srv, waits).generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value)
    assert srv.request_count == 1 and waits == []


def test_key_never_in_logs_errors_or_reprs(srv: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    echoed = {"error": {"code": 401, "message": f"Incorrect API key provided: {KEY}"}}
    srv.add_faults(("status", 429, {"Retry-After": "0"}), ("reset",), ("status", 401, {}, echoed))
    waits: list[float] = []
    client = make_client(srv, waits)
    with caplog.at_level(logging.DEBUG):  # every logger, the SDK's and the HTTP library's included
        with pytest.raises(PermanentLLMError) as info:
            client.generate("sonnet-4", PROMPT, max_tokens=10, temperature=0.7)
        generate(client)
    assert srv.request_count == 4
    assert KEY in srv.requests[0]["headers"].get("authorization", "")  # it was sent...
    texts = [
        caplog.text,
        str(info.value),
        repr(info.value),
        repr(client),
        repr(client.provider(ROUTES["sonnet-4"])),
        client.provider(ROUTES["sonnet-4"]).limit_key(),
        repr(LLMSettings(api_key=KEY)),
        str(LLMSettings(api_key=KEY)),
    ]
    for text in texts:  # ...and never shown
        assert KEY not in text
        assert "TESTSECRET" not in text
    assert "***" in str(info.value)


def test_openrouter_needs_a_key_custom_server_does_not(srv: FakeOpenAIServer) -> None:
    with pytest.raises(LLMConfigurationError, match="DD_LLM_API_KEY"):
        OpenAICompatibleProvider(OPENROUTER_BASE_URL, None)
    provider = OpenAICompatibleProvider(srv.base_url, None)
    client = LLMClient.with_provider(ROUTES, provider, retry=POLICY, sleep=lambda s: None)
    assert client.generate("sonnet-4", PROMPT, max_tokens=5, temperature=0.7).text
    assert srv.requests[0]["headers"].get("authorization", "").startswith("Bearer ")


@pytest.mark.parametrize("path", ["/v1", "/api/v1", ""])
def test_fake_server_accepts_openrouter_like_paths(srv: FakeOpenAIServer, path: str) -> None:
    base = f"http://127.0.0.1:{srv.port}{path}"
    client = LLMClient.with_provider(ROUTES, OpenAICompatibleProvider(base, KEY), sleep=lambda s: None)
    assert client.generate("sonnet-4", PROMPT, max_tokens=5, temperature=0.7).attempts == 1
    assert srv.requests[-1]["path"] == f"{path}/chat/completions"
