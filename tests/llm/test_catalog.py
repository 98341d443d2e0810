"""Endpoint identity, the request gate, model catalogues, model-string checks and the price cache."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from daydreaming_dagster.llm import (
    LLMClient,
    LLMConfigurationError,
    LLMRequest,
    LLMSettings,
    ModelInfo,
    ModelRoute,
    OpenAICompatibleProvider,
    PriceBook,
    RetryPolicy,
    TransientLLMError,
    Usage,
    build_llm_client,
    check_model_strings,
    parse_models_payload,
)
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer, fetch_stats, start_outage
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply

from ._fakes import CountingGate

SONNET = "anthropic/claude-sonnet-4"
GEMINI = "google/gemini-2.5-pro"
PRICES = {SONNET: (3e-06, 1.5e-05), GEMINI: (1.25e-06, 1e-05)}
ROUTES = {
    "sonnet-4": ModelRoute("sonnet-4", "anthropic", SONNET),
    "gemini_25_pro": ModelRoute("gemini_25_pro", "google", GEMINI),
    "smollm2": ModelRoute("smollm2", "local", "smollm2-135m-instruct"),
}
REPO = Path(__file__).resolve().parents[2]


# -- endpoint identity --------------------------------------------------------------------------


def test_endpoint_names_the_server_not_the_key(tmp_path: Path) -> None:
    routes = dict(ROUTES, missing=ModelRoute("missing", "local", str(tmp_path / "absent.gguf")))
    client = build_llm_client(routes, LLMSettings(base_url="http://127.0.0.1:9/v1/", api_key="sk-secret"))
    assert client.endpoint("sonnet-4") == "openai_compatible:http://127.0.0.1:9/v1"
    assert client.endpoint("gemini_25_pro") == client.endpoint("sonnet-4")
    assert client.endpoint("smollm2") == "local:smollm2-135m-instruct"
    assert client.endpoint("missing") == f"local:{tmp_path / 'absent.gguf'}"  # never resolved nor loaded
    default = build_llm_client(ROUTES, LLMSettings())  # OpenRouter without a key: no provider is built
    assert default.endpoint("sonnet-4") == "openai_compatible:https://openrouter.ai/api/v1"
    provider = OpenAICompatibleProvider("http://127.0.0.1:9/v1//", "sk-secret")
    assert provider.endpoint() == "openai_compatible:http://127.0.0.1:9/v1"
    assert "secret" not in provider.endpoint()
    with pytest.raises(LLMConfigurationError, match="llm_models.csv"):
        client.endpoint("nope")
    assert LLMClient.with_provider(ROUTES, ScriptedProvider(name="mock")).endpoint("sonnet-4") == "mock"


# -- request gate --------------------------------------------------------------------------------


def test_every_attempt_runs_inside_the_gate_after_the_limiter() -> None:
    provider = ScriptedProvider(
        [TransientLLMError("HTTP 503", status=503), ScriptedReply("ok"), ScriptedReply("2")]
    )
    seen_in_flight: list[int] = []
    gate = CountingGate(on_enter=lambda: seen_in_flight.append(limiter.in_flight))
    client = LLMClient.with_provider(
        ROUTES, provider, request_gate=gate, retry=RetryPolicy(initial_wait_s=0.0), sleep=lambda s: None
    )
    limiter = client.limiter(ROUTES["sonnet-4"])
    assert client.generate("sonnet-4", "x", max_tokens=5, temperature=0.7).attempts == 2
    assert client.generate("sonnet-4", "y", max_tokens=5, temperature=0.7).text == "2"
    assert gate.entries == [provider.limit_key()] * 3 and gate.peak == 1 and gate.current == 0
    assert seen_in_flight == [1, 1, 1]  # entered while the in-process limiter slot is held


def test_build_llm_client_passes_the_gate_to_every_request() -> None:
    gate = CountingGate()
    with FakeOpenAIServer() as srv:
        srv.add_faults(("status", 502))
        settings = LLMSettings(base_url=srv.base_url)
        client = build_llm_client(ROUTES, settings, request_gate=gate, retry=RetryPolicy(initial_wait_s=0.0))
        for prompt in ("a", "b"):
            client.generate("sonnet-4", prompt, max_tokens=5, temperature=0.7)
    assert srv.request_count == 3 and len(gate.entries) == 3
    assert set(gate.entries) == {client.provider(ROUTES["sonnet-4"]).limit_key()}


# -- catalogue -----------------------------------------------------------------------------------


def test_list_models_from_the_fake_server() -> None:
    with FakeOpenAIServer(models=PRICES) as srv:
        client = build_llm_client(ROUTES, LLMSettings(base_url=srv.base_url, api_key="k-models"))
        models = client.list_models("sonnet-4")
    assert models is not None
    assert {m.id: m.prices for m in models} == {SONNET: (3e-06, 1.5e-05), GEMINI: (1.25e-06, 1e-05)}
    assert srv.models_requests == 1 and srv.request_count == 0
    headers = {k.lower(): v for k, v in srv.models_request_headers[0].items()}
    assert headers["authorization"] == "Bearer k-models"


def test_list_models_without_a_catalogue_unreachable_and_local() -> None:
    with FakeOpenAIServer(models_endpoint=False) as srv:
        assert build_llm_client(ROUTES, LLMSettings(base_url=srv.base_url)).list_models("sonnet-4") is None
    with FakeOpenAIServer() as srv:  # today's default: an empty list, i.e. no catalogue
        assert build_llm_client(ROUTES, LLMSettings(base_url=srv.base_url)).list_models("sonnet-4") is None
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = build_llm_client(ROUTES, LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5))
    with pytest.raises(TransientLLMError, match="cannot reach"):
        client.list_models("sonnet-4")
    assert client.list_models("smollm2") == [ModelInfo("smollm2-135m-instruct", 0.0, 0.0)]


def test_parse_openrouter_models_payload() -> None:
    payload = {
        "data": [
            {"id": SONNET, "pricing": {"prompt": "0.000003", "completion": "0.000015", "request": "0"}},
            {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
            {"id": "vendor/free:free", "pricing": {"prompt": "0", "completion": "0"}},
            {"id": "no-pricing"},
            {"name": "no id"},
        ]
    }
    models = parse_models_payload(payload)
    assert models == [
        ModelInfo(SONNET, 3e-06, 1.5e-05),
        ModelInfo("openrouter/auto", None, None),
        ModelInfo("vendor/free:free", 0.0, 0.0),
        ModelInfo("no-pricing", None, None),
    ]
    assert parse_models_payload({"status": "ok"}) is None


def test_check_model_strings_names_id_and_closest_matches() -> None:
    catalogue = [
        ModelInfo(SONNET),
        ModelInfo(GEMINI),
        ModelInfo("anthropic/claude-opus-4"),
        ModelInfo("x/free:free"),
    ]
    routes = {
        "sonnet-typo": ModelRoute("sonnet-typo", "anthropic", "anthropic/claude-sonet-4"),
        "fast": ModelRoute("fast", "openrouter", f"{SONNET}:nitro"),
        "free": ModelRoute("free", "openrouter", "x/free:free"),
        "bare": ModelRoute("bare", "openrouter", "gemini-2.5-pro"),
        "alien": ModelRoute("alien", "openrouter", "zzz/qqqq"),
        "smollm2": ROUTES["smollm2"],
    }
    problems = check_model_strings(routes, catalogue)
    assert len(problems) == 3
    typo, bare, alien = problems
    assert "'sonnet-typo'" in typo and "'anthropic/claude-sonet-4'" in typo and f"'{SONNET}'" in typo
    assert "'bare'" in bare and f"'{GEMINI}'" in bare
    assert "'alien'" in alien and "no close match" in alien
    assert check_model_strings(routes, None) == [] and check_model_strings(routes, []) == []
    assert check_model_strings(ROUTES.values(), [SONNET, GEMINI]) == []


# -- price cache ---------------------------------------------------------------------------------


def test_price_book_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "prices.json"
    endpoint = "openai_compatible:https://openrouter.ai/api/v1"
    assert PriceBook.load(path).endpoints == []
    book = PriceBook()
    listed = [
        {"id": SONNET, "pricing": {"prompt": "0.000003", "completion": "0.000015"}},
        {"id": "auto", "pricing": {"prompt": "-1", "completion": "-1"}},
    ]
    book.update(endpoint, parse_models_payload({"data": listed}) or [], fetched_at=date(2025, 6, 1))
    book.update("local:smollm2-135m-instruct", [ModelInfo("smollm2-135m-instruct", 0.0, 0.0)])
    book.save(path)
    stored = json.loads(path.read_text())
    assert stored[endpoint] == {
        "fetched_at": "2025-06-01",
        "models": {SONNET: [3e-06, 1.5e-05], "auto": [None, None]},
    }
    again = PriceBook.load(path)
    assert again.lookup(endpoint, SONNET) == (3e-06, 1.5e-05)
    assert again.lookup(endpoint, f"{SONNET}:nitro") == (3e-06, 1.5e-05)
    assert again.lookup(endpoint, "auto") is None and again.lookup(endpoint, "unknown/model") is None
    assert again.lookup("openai_compatible:http://elsewhere/v1", SONNET) is None
    assert again.lookup("local:smollm2-135m-instruct", "smollm2-135m-instruct") == (0.0, 0.0)
    assert again.fetched_at(endpoint) == date(2025, 6, 1)
    cost = again.cost(endpoint, SONNET, Usage(prompt_tokens=1000, completion_tokens=100))
    assert cost == pytest.approx(0.0045)
    assert [p.name for p in path.parent.iterdir()] == ["prices.json"]  # no temporary file left
    path.write_text("{not json")
    assert PriceBook.load(path).endpoints == []


# -- fake server ---------------------------------------------------------------------------------


def test_fake_server_reports_cost_and_counts_paid_completions() -> None:
    with FakeOpenAIServer(models=PRICES) as srv:
        client = LLMClient.with_provider(
            ROUTES, OpenAICompatibleProvider(srv.base_url, "k"), retry=RetryPolicy(initial_wait_s=0.0)
        )
        srv.add_faults(("status", 503), ("empty",))
        first = client.generate("sonnet-4", "hello world", max_tokens=5, temperature=0.7)
        client.generate("sonnet-4", "hello world", max_tokens=5, temperature=0.7)
        client.generate("gemini_25_pro", "other", max_tokens=5, temperature=0.7)
        unpriced = LLMClient.with_provider(
            {"u": ModelRoute("u", "x", "vendor/unpriced")}, OpenAICompatibleProvider(srv.base_url, "k")
        ).generate("u", "p", max_tokens=5, temperature=0.7)
    usage = first.usage
    assert usage.prompt_tokens is not None and usage.completion_tokens is not None
    assert usage.cost == pytest.approx(usage.prompt_tokens * 3e-06 + usage.completion_tokens * 1.5e-05)
    assert first.attempts == 3 and unpriced.usage.cost is None
    assert srv.completions_by_call() == {
        (SONNET, "hello world"): 3,  # the empty reply was paid too
        (GEMINI, "other"): 1,
        ("vendor/unpriced", "p"): 1,
    }
    assert srv.duplicate_completions() == {(SONNET, "hello world"): 3} and srv.completion_count == 5


def test_fake_server_as_a_process_with_models_and_an_outage() -> None:
    models = json.dumps({SONNET: [3e-06, 1.5e-05]})
    command = [sys.executable, "-m", "daydreaming_dagster.testing.fake_openai_server", "--port", "0"]
    command += ["--models-json", models, "--outage-s", "60", "--outage-retry-after", "7"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        provider = OpenAICompatibleProvider(base_url, "k", timeout_s=10)
        assert provider.list_models() == [ModelInfo(SONNET, 3e-06, 1.5e-05)]
        with pytest.raises(TransientLLMError) as info:
            provider.generate(LLMRequest(SONNET, "p", 5, 0.7))
        assert info.value.status == 503 and info.value.retry_after == 7.0
        start_outage(base_url, 0)  # over
        for _ in range(2):
            assert provider.generate(LLMRequest(SONNET, "p", 5, 0.7)).usage.cost is not None
        stats = fetch_stats(base_url)
        assert stats["request_count"] == 3 and stats["outage_requests"] == 1 and stats["models_requests"] == 1
        assert stats["completions"] == [[SONNET, "p", 2]] and stats["duplicates"] == [[SONNET, "p", 2]]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_importing_the_llm_package_does_not_import_the_sdks() -> None:
    code = "import sys, daydreaming_dagster.llm\nprint('openai' in sys.modules, 'llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
