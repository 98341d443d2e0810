"""Retries bounded by time: the per-generation budget, back-off, Retry-After, permanent errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from daydreaming_dagster.llm import (
    BreakerPolicy,
    LLMClient,
    LLMConfigurationError,
    LLMSettings,
    ModelRoute,
    OpenAICompatibleProvider,
    PermanentLLMError,
    RetryBudget,
    RetryPolicy,
    TransientLLMError,
)
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply, canned_compat_text

from ._fakes import FakeClock, always_503

ROUTES = {"m": ModelRoute("m", "openrouter", "vendor/model")}
NO_BREAKER = BreakerPolicy(failure_threshold=0)


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def remote_client(srv: FakeOpenAIServer, policy: RetryPolicy, **kwargs: object) -> LLMClient:
    provider = OpenAICompatibleProvider(srv.base_url, "k-budget", timeout_s=5)
    return LLMClient.with_provider(ROUTES, provider, retry=policy, breaker=NO_BREAKER, **kwargs)  # type: ignore[arg-type]


def test_an_outage_shorter_than_the_budget_is_ridden_out(srv: FakeOpenAIServer) -> None:
    policy = RetryPolicy(budget_s=20, initial_wait_s=0.1, max_wait_s=0.4, jitter=False)
    client = remote_client(srv, policy)
    client.generate("m", "warm-up", max_tokens=5, temperature=0.7)  # lazy imports done before the outage
    srv.reset()
    srv.outage(1.5)
    response = client.generate("m", "hello", max_tokens=5, temperature=0.7)
    assert response.text == canned_compat_text("hello")
    assert response.attempts >= 3 and srv.outage_requests == response.attempts - 1
    assert srv.completion_count == 1


def test_constant_503_fails_once_the_budget_is_spent(srv: FakeOpenAIServer) -> None:
    srv.outage(60)
    policy = RetryPolicy(budget_s=1.0, initial_wait_s=0.1, max_wait_s=0.3, jitter=False)
    started = time.monotonic()
    with pytest.raises(TransientLLMError) as info:
        remote_client(srv, policy).generate("m", "hello", max_tokens=5, temperature=0.7)
    message = str(info.value)
    assert "HTTP 503" in message and "retry budget of 1s" in message and "DD_LLM_RETRY_BUDGET_S" in message
    assert info.value.status == 503
    assert time.monotonic() - started >= 0.9  # real sleeps: the budget was used, not skipped
    assert srv.completion_count == 0 and srv.outage_requests >= 3


def test_unlimited_attempts_end_with_the_budget_even_with_a_fake_sleep() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(always_503)
    client = LLMClient.with_provider(
        ROUTES, provider, retry=RetryPolicy(budget_s=30, jitter=False), sleep=clock.sleep, clock=clock
    )
    with pytest.raises(
        TransientLLMError, match=r"gave up after 6 attempts in 30\.0s: the retry budget of 30s"
    ):
        client.generate("m", "x", max_tokens=5, temperature=0.7)
    # back-off 1, 2, 4, 8, then 16 cut to the 15 s left; the breaker's first probe fits in there
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 15.0]
    assert len(provider.calls) == 6


def test_waits_never_exceed_what_is_left_of_the_budget() -> None:
    waits: list[float] = []
    budget = RetryBudget(10, clock=lambda: 0.0)
    budget.sleep(4, waits.append)
    assert budget.remaining() == 6 and budget.elapsed() == 4
    policy = RetryPolicy(budget_s=10, initial_wait_s=8, jitter=False)
    provider = ScriptedProvider([TransientLLMError("HTTP 502", status=502), ScriptedReply("ok")])
    client = LLMClient.with_provider(ROUTES, provider, retry=policy, sleep=waits.append, clock=lambda: 3.0)
    assert client.generate("m", "x", max_tokens=5, temperature=0.7).attempts == 2
    assert waits == [4, 8.0]
    provider = ScriptedProvider([TransientLLMError("HTTP 502", status=502)] * 2 + [ScriptedReply("ok")])
    waits.clear()
    client = LLMClient.with_provider(ROUTES, provider, retry=policy, sleep=waits.append)
    assert client.generate("m", "x", max_tokens=5, temperature=0.7).attempts == 3
    assert waits == [8.0, 2.0]  # the second back-off (16 s) is cut to the 2 s left


def test_retry_after_is_honoured_in_full(srv: FakeOpenAIServer) -> None:
    srv.add_faults(("status", 429, {"Retry-After": "0.3"}))
    waits: list[float] = []
    policy = RetryPolicy(budget_s=10, initial_wait_s=0.01, jitter=False)
    response = remote_client(srv, policy, sleep=waits.append).generate(
        "m", "p", max_tokens=5, temperature=0.7
    )
    assert response.attempts == 2 and waits == [0.3]


def test_retry_after_longer_than_the_budget_ends_the_retries(srv: FakeOpenAIServer) -> None:
    srv.add_faults(("status", 429, {"Retry-After": "120"}))
    waits: list[float] = []
    policy = RetryPolicy(budget_s=5, jitter=False)
    with pytest.raises(TransientLLMError) as info:
        remote_client(srv, policy, sleep=waits.append).generate("m", "p", max_tokens=5, temperature=0.7)
    message = str(info.value)
    assert "HTTP 429" in message and "retry after 120s" in message and "retry budget of 5s" in message
    assert waits == [] and srv.request_count == 1


def test_permanent_401_fails_on_the_first_attempt_whatever_the_budget(srv: FakeOpenAIServer) -> None:
    srv.add_faults(("status", 401))
    waits: list[float] = []
    with pytest.raises(PermanentLLMError, match="HTTP 401"):
        remote_client(srv, RetryPolicy(), sleep=waits.append).generate(
            "m", "p", max_tokens=5, temperature=0.7
        )
    assert srv.request_count == 1 and waits == []


def test_max_attempts_is_an_optional_extra_cap() -> None:
    provider = ScriptedProvider(always_503)
    client = LLMClient.with_provider(
        ROUTES,
        provider,
        retry=RetryPolicy(max_attempts=2, budget_s=900),
        sleep=lambda s: None,
        breaker=NO_BREAKER,
    )
    with pytest.raises(TransientLLMError, match="gave up after 2 attempts"):
        client.generate("m", "x", max_tokens=5, temperature=0.7)
    assert len(provider.calls) == 2
    assert RetryPolicy().max_attempts is None and RetryPolicy().budget_s == 900
    assert RetryPolicy().max_retry_after_s is None


def test_settings_budget_and_attempts_from_env() -> None:
    s = LLMSettings.from_env({"DD_LLM_RETRY_BUDGET_S": "120", "DD_LLM_MAX_ATTEMPTS": "0"})
    assert s.retry_budget_s == 120 and s.max_attempts is None
    assert s.retry_policy() == RetryPolicy(max_attempts=None, budget_s=120)
    default = LLMSettings.from_env({})
    assert default.retry_budget_s == 900 and default.max_attempts is None
    assert LLMSettings.from_env({"DD_LLM_MAX_ATTEMPTS": "3"}).retry_policy().max_attempts == 3
    with pytest.raises(LLMConfigurationError, match="DD_LLM_RETRY_BUDGET_S"):
        LLMSettings.from_env({"DD_LLM_RETRY_BUDGET_S": "forever"})
    assert "retry_budget_s=120" in repr(s)
