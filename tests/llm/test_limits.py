"""Per-provider limits: in-flight cap shared across threads and clients, rpm spacing, no slot held
during a retry's backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from daydreaming_dagster.llm import (
    LLMClient,
    LLMRequest,
    LLMSettings,
    ModelRoute,
    OpenAICompatibleProvider,
    ProviderLimits,
    RetryPolicy,
    TransientLLMError,
    build_llm_client,
)
from daydreaming_dagster.llm._limiter import Limiter, shared_limiter
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply
from tests.llm._fakes import FakeClock

ROUTES = {"m": ModelRoute("m", "openrouter", "vendor/model")}


class ConcurrencyProbe:
    """A provider function that holds each call for ``hold_s`` and records peak concurrency."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, request: LLMRequest) -> ScriptedReply:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        time.sleep(self.hold_s)
        with self._lock:
            self.current -= 1
        return ScriptedReply(f"ok {request.prompt}")


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_s=0.15) as server:
        yield server


def test_in_flight_cap_across_threads_at_the_server(srv: FakeOpenAIServer) -> None:
    provider = OpenAICompatibleProvider(srv.base_url, "k-limits", timeout_s=10)
    client = LLMClient.with_provider(ROUTES, provider, limits=ProviderLimits(max_in_flight=3))
    with ThreadPoolExecutor(max_workers=9) as pool:
        results = list(pool.map(lambda i: client.generate("m", f"p{i}", max_tokens=5, temperature=0.7), range(9)))
    assert all(r.attempts == 1 for r in results)
    assert srv.request_count == 9
    assert srv.max_in_flight == 3


def test_clients_with_the_same_provider_account_share_the_cap() -> None:
    probe = ConcurrencyProbe(hold_s=0.05)
    provider = ScriptedProvider(probe)
    limits = ProviderLimits(max_in_flight=2)
    clients = [LLMClient.with_provider(ROUTES, provider, limits=limits) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda i: clients[i % 3].generate("m", str(i), max_tokens=5, temperature=0.7), range(12)))
    assert probe.peak == 2
    assert len(provider.calls) == 12


def test_registry_keys_by_provider_account_and_limits() -> None:
    a = shared_limiter("acct-a", ProviderLimits(max_in_flight=4))
    assert shared_limiter("acct-a", ProviderLimits(max_in_flight=4)) is a
    assert shared_limiter("acct-b", ProviderLimits(max_in_flight=4)) is not a
    assert shared_limiter("acct-a", ProviderLimits(max_in_flight=5)) is not a


def test_limit_key_hides_the_key_but_separates_accounts() -> None:
    one = OpenAICompatibleProvider("http://127.0.0.1:1/v1", "secret-one")
    two = OpenAICompatibleProvider("http://127.0.0.1:1/v1", "secret-two")
    assert one.limit_key() != two.limit_key()
    assert "secret" not in one.limit_key() + two.limit_key()
    assert one.limit_key() == OpenAICompatibleProvider("http://127.0.0.1:1/v1/", "secret-one").limit_key()


def test_rpm_spaces_starts_with_a_fake_clock() -> None:
    clock = FakeClock()
    limiter = Limiter(ProviderLimits(max_in_flight=8, requests_per_minute=30))  # one start every 2 s
    starts: list[float] = []
    for _ in range(4):
        with limiter.slot(sleep=clock.sleep, clock=clock):
            starts.append(clock())
    assert starts == [0.0, 2.0, 4.0, 6.0]
    assert clock.sleeps == [2.0, 2.0, 2.0]


def test_rpm_reservations_from_many_threads_are_distinct() -> None:
    clock = FakeClock()  # frozen unless slept on: each thread's wait reflects its reserved start
    limiter = Limiter(ProviderLimits(max_in_flight=8, requests_per_minute=60))
    waits: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    def one(_: int) -> None:
        with limiter.slot(sleep=sleep, clock=clock):
            pass

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(one, range(6)))
    assert sorted(waits) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_rpm_through_the_client_with_real_time() -> None:
    provider = ScriptedProvider(lambda request: ScriptedReply("ok"))
    client = LLMClient.with_provider(ROUTES, provider, limits=ProviderLimits(requests_per_minute=1200))  # 50 ms
    started = time.monotonic()
    for i in range(5):
        client.generate("m", str(i), max_tokens=5, temperature=0.7)
    assert time.monotonic() - started >= 4 * 0.05 * 0.9


def test_backoff_does_not_hold_an_in_flight_slot() -> None:
    first_call = threading.Event()

    def script(request: LLMRequest) -> ScriptedReply | Exception:
        if request.prompt == "A" and not first_call.is_set():
            first_call.set()
            return TransientLLMError("HTTP 503", status=503)
        return ScriptedReply(f"ok {request.prompt}")

    provider = ScriptedProvider(script)
    other_finished_during_backoff: list[bool] = []
    holder: dict[str, LLMClient] = {}

    def sleep(seconds: float) -> None:
        # thread A is backing off: with max_in_flight=1, B can only run if A released its slot
        worker = threading.Thread(
            target=lambda: holder["client"].generate("m", "B", max_tokens=5, temperature=0.7), daemon=True
        )
        worker.start()
        worker.join(timeout=5)
        other_finished_during_backoff.append(not worker.is_alive())

    client = LLMClient.with_provider(
        ROUTES,
        provider,
        limits=ProviderLimits(max_in_flight=1),
        retry=RetryPolicy(max_attempts=3, initial_wait_s=0.01, jitter=False),
        sleep=sleep,
    )
    holder["client"] = client
    response = client.generate("m", "A", max_tokens=5, temperature=0.7)
    assert response.attempts == 2
    assert other_finished_during_backoff == [True]
    assert [c.prompt for c in provider.calls] == ["A", "B", "A"]


def test_embedded_model_is_limited_to_one_in_flight(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")  # resolved, never loaded
    routes = {
        "local": ModelRoute("local", "local", str(gguf)),
        "remote": ModelRoute("remote", "openrouter", "vendor/model"),
    }
    client = build_llm_client(routes, LLMSettings(api_key="k", max_in_flight=8, requests_per_minute=20))
    assert client.limiter(routes["local"]).limits == ProviderLimits(max_in_flight=1)
    assert client.limiter(routes["remote"]).limits == ProviderLimits(max_in_flight=8, requests_per_minute=20)
