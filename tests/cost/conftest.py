"""A small cohort on two remote models, served by the fake OpenAI-compatible server with prices.

3 concepts at k_max 2 -> 3 drafts (gen-a), 6 essays (3 written by gen-a, 3 copies), 6 evaluations
(eval-b): 12 paid calls on a fresh data root. max_tokens is 64 (the fake answers 50 completion
tokens), so a call's worst case is close to its real cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daydreaming_dagster.cli import main
from daydreaming_dagster.llm import reset_circuit_breakers
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.sample_data import write_minimal_data_root

PRICES: dict[str, tuple[float | None, float | None]] = {
    "vendor/gen-a": (1e-6, 1e-5),
    "vendor/eval-b": (2e-6, 2e-5),
    "vendor/other-model": (5e-7, 5e-6),
}
MODELS_HEADER = "id,model,provider,display_name,for_generation,for_evaluation,specialization"
MODELS_CSV = (
    f"{MODELS_HEADER}\n"
    "gen-a,vendor/gen-a,openrouter,Gen A,true,false,general\n"
    "eval-b,vendor/eval-b,openrouter,Eval B,false,true,general\n"
)
EXPERIMENT = (
    "k_max = 2\n"
    "draft_generation_max_tokens = 64\n"
    "essay_generation_max_tokens = 64\n"
    "evaluation_max_tokens = 64\n"
    "concurrency = 4\n"
)
PAID_CALLS = 12


def make_root(path: Path, models_csv: str = MODELS_CSV, experiment: str = EXPERIMENT) -> Path:
    root = write_minimal_data_root(path)
    (root / "1_raw" / "llm_models.csv").write_text(models_csv, encoding="utf-8")
    (root / "experiment.toml").write_text(experiment, encoding="utf-8")
    return root


@pytest.fixture
def cost_root(tmp_path: Path) -> Path:
    return make_root(tmp_path / "data")


@pytest.fixture(autouse=True)
def _fresh_circuit_breakers() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=PRICES) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        yield srv


def run(root: Path, *flags: str) -> int:
    return main(["run", "--data-root", str(root), "--quiet", *flags])


def plan_json(root: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--json", *flags]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def ledger_spent(root: Path) -> float:
    """The cohort's spend, summed here independently of the code under test: every metadata.json
    whose response was a paid call (not a cache reuse)."""
    total = 0.0
    for meta in (root / "gens").rglob("metadata.json"):
        data = json.loads(meta.read_text())
        if "llm" in data and not (data.get("cache") or {}).get("hit"):
            total += float(data["usage"].get("cost") or 0.0)
    return total


def server_cost(server: FakeOpenAIServer) -> float:
    """What the fake server billed: every completion it answered, at its prices."""
    from daydreaming_dagster.testing.mock_llm import canned_compat_usage

    total = 0.0
    for (model, prompt), count in server.completions_by_call().items():
        usage = canned_compat_usage(prompt)
        prompt_price, completion_price = PRICES[model]
        assert prompt_price is not None and completion_price is not None
        total += count * (
            (usage.prompt_tokens or 0) * prompt_price + (usage.completion_tokens or 0) * completion_price
        )
    return total
