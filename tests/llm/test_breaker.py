"""The whole-client back-off: a circuit breaker per provider account, shared by every thread."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from daydreaming_dagster.llm import (
    BreakerPolicy,
    CircuitBreaker,
    LLMClient,
    ModelRoute,
    OpenAICompatibleProvider,
    PermanentLLMError,
    RetryBudget,
    RetryBudgetExceeded,
    RetryPolicy,
    TransientLLMError,
)
from daydreaming_dagster.llm._breaker import CLOSED, HALF_OPEN, OPEN, shared_breaker
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply

from ._fakes import FakeClock, always_503

ROUTES = {"m": ModelRoute("m", "openrouter", "vendor/model")}
LOGGER = "daydreaming_dagster.llm"


def breaker_warnings(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    opened = [m for m in messages if "circuit breaker open" in m]
    closed = [m for m in messages if "circuit breaker closed" in m]
    return opened, closed


def test_state_machine_with_a_fake_clock(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("openai_compatible:http://x/v1#fingerprint", BreakerPolicy(3, 1.0, 3.0))
    budget = RetryBudget(100, clock=clock)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(2):
            breaker.record_failure(reason="HTTP 503", clock=clock)
        breaker.record_success(clock=clock)  # a success in between resets the count
        for _ in range(2):
            breaker.record_failure(reason="HTTP 503", clock=clock)
        assert breaker.state == CLOSED
        assert breaker.admit(budget, sleep=clock.sleep, clock=clock) is False
        breaker.record_failure(reason="HTTP 503", clock=clock)
        assert breaker.state == OPEN
        breaker.record_failure(reason="late answer of an attempt sent earlier", clock=clock)  # ignored
        assert breaker.admit(budget, sleep=clock.sleep, clock=clock) is True  # waited 1 s, then probes
        assert breaker.state == HALF_OPEN and clock.sleeps == [1.0]
        breaker.record_failure(True, "HTTP 503", clock=clock)  # failed probe: open twice as long
        assert breaker.admit(budget, sleep=clock.sleep, clock=clock) is True
        breaker.record_failure(True, "HTTP 503", clock=clock)
        assert breaker.admit(budget, sleep=clock.sleep, clock=clock) is True
        assert clock.sleeps == [1.0, 2.0, 3.0]  # capped at max_open_s
        breaker.record_success(True, clock=clock)
        assert breaker.state == CLOSED
        assert breaker.admit(budget, sleep=clock.sleep, clock=clock) is False
    opened, closed = breaker_warnings(caplog)
    assert len(opened) == 1 and len(closed) == 1 and breaker.times_opened == 1
    assert "fingerprint" not in caplog.text and "3 transient failures in a row" in opened[0]


def test_waiting_for_the_breaker_counts_against_the_budget() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("k", BreakerPolicy(1, 50.0, 60.0))
    breaker.record_failure(reason="HTTP 503", clock=clock)
    with pytest.raises(RetryBudgetExceeded, match="open for 50.0s more"):
        breaker.admit(RetryBudget(10, clock=clock), sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []

    provider = ScriptedProvider(always_503)
    client = LLMClient.with_provider(
        ROUTES,
        provider,
        retry=RetryPolicy(budget_s=10, jitter=False),
        breaker=BreakerPolicy(failure_threshold=1, initial_open_s=50),
        sleep=clock.sleep,
        clock=clock,
    )
    with pytest.raises(TransientLLMError) as info:
        client.generate("m", "x", max_tokens=5, temperature=0.7)
    message = str(info.value)
    assert "HTTP 503" in message and "gave up after 1 attempt" in message
    assert "circuit breaker" in message and "retry budget of 10s" in message
    assert len(provider.calls) == 1  # the second attempt was never sent


def test_a_permanent_error_or_a_success_closes_it_and_a_bug_hands_the_probe_on() -> None:
    clock = FakeClock()
    policy = BreakerPolicy(failure_threshold=2, initial_open_s=1.0)
    script: list[ScriptedReply | Exception] = [
        TransientLLMError("HTTP 503", status=503),
        TransientLLMError("HTTP 503", status=503),
        ValueError("bug in the provider"),
        PermanentLLMError("HTTP 400: bad request", status=400),
        ScriptedReply("fine"),
    ]
    provider = ScriptedProvider(script)
    client = LLMClient.with_provider(
        ROUTES,
        provider,
        retry=RetryPolicy(budget_s=100, max_attempts=2, jitter=False),
        breaker=policy,
        sleep=clock.sleep,
        clock=clock,
    )
    breaker = client.breaker(ROUTES["m"])
    with pytest.raises(TransientLLMError):
        client.generate("m", "a", max_tokens=5, temperature=0.7)
    assert breaker.state == OPEN
    with pytest.raises(ValueError, match="bug"):
        client.generate("m", "b", max_tokens=5, temperature=0.7)  # the probe learnt nothing
    assert breaker.state == OPEN
    with pytest.raises(PermanentLLMError):
        client.generate("m", "c", max_tokens=5, temperature=0.7)  # the next probe: the server answered
    assert breaker.state == CLOSED
    assert client.generate("m", "d", max_tokens=5, temperature=0.7).text == "fine"


def test_breakers_are_shared_per_provider_account() -> None:
    policy = BreakerPolicy()
    assert shared_breaker("acct-a", policy) is shared_breaker("acct-a", policy)
    assert shared_breaker("acct-a", policy) is not shared_breaker("acct-b", policy)
    provider = ScriptedProvider()
    one = LLMClient.with_provider(ROUTES, provider)
    two = LLMClient.with_provider(ROUTES, provider)
    assert one.breaker(ROUTES["m"]) is two.breaker(ROUTES["m"])


def test_breaker_limits_attempts_during_an_outage_and_closes_after(caplog: pytest.LogCaptureFixture) -> None:
    with FakeOpenAIServer() as srv:
        provider = OpenAICompatibleProvider(srv.base_url, "k-breaker", timeout_s=5)
        client = LLMClient.with_provider(
            ROUTES,
            provider,
            retry=RetryPolicy(budget_s=30, initial_wait_s=0.05, max_wait_s=0.1),
            breaker=BreakerPolicy(failure_threshold=3, initial_open_s=0.2, max_open_s=0.4),
        )
        client.generate("m", "warm-up", max_tokens=5, temperature=0.7)  # lazy imports done before the outage
        srv.reset()
        srv.outage(1.0)
        with caplog.at_level(logging.WARNING, logger=LOGGER), ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(
                pool.map(lambda i: client.generate("m", f"p{i}", max_tokens=5, temperature=0.7), range(4))
            )
    assert all(r.text for r in responses)
    # without the breaker: 4 threads retrying every ~0.075 s for 1 s, about 50 failed requests
    assert srv.outage_requests <= 25
    assert srv.completion_count == 4 and srv.duplicate_completions() == {}
    opened, closed = breaker_warnings(caplog)
    assert len(opened) == 1 and len(closed) == 1
    assert client.breaker(ROUTES["m"]).state == CLOSED
