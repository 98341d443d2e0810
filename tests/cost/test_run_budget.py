"""`daydream run`: the model check before the first call, the spending cap and its resume, unknown
prices under a cap, and the spend lines of the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_OK, main
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from tests.cost.conftest import (
    EXPERIMENT,
    MODELS_CSV,
    MODELS_HEADER,
    PAID_CALLS,
    PRICES,
    ledger_spent,
    make_root,
    run,
    server_cost,
)


def _full_price(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    """The cohort's full price, from a reference run on its own server and data root."""
    root = make_root(tmp_path / "reference")
    with FakeOpenAIServer(models=PRICES) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        assert run(root) == EXIT_OK
        assert srv.completion_count == PAID_CALLS
    return ledger_spent(root)


def _gens(root: Path) -> int:
    return sum(1 for _ in (root / "gens").rglob("metadata.json")) if (root / "gens").is_dir() else 0


def test_a_typo_model_stops_the_run_before_any_chat_request(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = cost_root / "1_raw" / "llm_models.csv"
    csv.write_text(csv.read_text().replace("vendor/gen-a", "vendor/gen-aa"))
    assert run(cost_root) == EXIT_BAD_INPUT
    out = capsys.readouterr().out
    assert server.request_count == 0  # no chat request at all
    assert server.models_requests == 1
    assert f"{csv}:2" in out and "'vendor/gen-aa'" in out
    assert "closest known: 'vendor/gen-a'" in out
    assert _gens(cost_root) == 0


def test_a_server_without_a_models_list_gets_a_warning_not_a_failure(
    cost_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(models_endpoint=False) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        assert run(cost_root) == EXIT_OK
        assert srv.request_count == PAID_CALLS
    out = capsys.readouterr().out
    assert "warning" in out and "no /models list" in out
    # no cost reported and no price known: the ledger says so instead of calling it free
    assert "not counted" in out


def test_max_cost_at_40_percent_stops_within_the_cap_then_resumes_without_paying_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    full = _full_price(tmp_path, monkeypatch)
    cap = 0.4 * full
    root = make_root(tmp_path / "capped")
    with FakeOpenAIServer(models=PRICES) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        capsys.readouterr()
        assert run(root, "--max-cost", repr(cap)) == EXIT_BUDGET
        out = capsys.readouterr().out
        spent = ledger_spent(root)
        assert 0 < spent <= cap
        assert server_cost(srv) <= cap  # what the server billed, counted on its side
        assert 0 < srv.completion_count < PAID_CALLS
        assert "Spending cap reached" in out and f"${cap:.4f}" in out and f"${spent:.4f}" in out
        assert "--max-cost USD" in out
        assert "Spend: this run" in out

        # The same cap again: nothing more can start; nothing is paid.
        paid = srv.completion_count
        assert run(root, "--max-cost", repr(cap)) == EXIT_BUDGET
        assert srv.completion_count == paid

        capsys.readouterr()
        assert run(root, "--max-cost", repr(2 * full)) == EXIT_OK
        out = capsys.readouterr().out
        assert srv.completion_count == PAID_CALLS
        assert srv.duplicate_completions() == {}
        assert _gens(root) == 15
        assert ledger_spent(root) == pytest.approx(full, rel=1e-6)
        this_run = ledger_spent(root) - spent
        assert f"Spend: this run ${this_run:.4f}; cohort total ${full:.4f}" in out
        assert (root / "5_parsing" / "parsed_scores.csv").is_file()


def test_max_cost_from_experiment_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = _full_price(tmp_path, monkeypatch)
    root = make_root(tmp_path / "capped", experiment=EXPERIMENT + f"max_cost = {0.4 * full!r}\n")
    with FakeOpenAIServer(models=PRICES) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        assert run(root) == EXIT_BUDGET
        assert ledger_spent(root) <= 0.4 * full
        # The flag overrides the file. The last calls need room for their worst case, not their cost.
        assert run(root, "--max-cost", repr(2 * full)) == EXIT_OK
        assert srv.duplicate_completions() == {}


def test_a_zero_cap_still_runs_what_costs_nothing(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cost_root, "--stages", "draft") == EXIT_OK
    for meta in (cost_root / "gens" / "draft").rglob("metadata.json"):
        meta.unlink()  # redone from the response cache: free
    paid = server.completion_count
    assert run(cost_root, "--stages", "draft", "--max-cost", "0") == EXIT_OK
    assert server.completion_count == paid
    assert _gens(cost_root) == 3


def test_unknown_prices_under_a_cap_are_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path / "data")
    prices = dict(PRICES)
    prices["vendor/eval-b"] = (None, None)  # listed, price variable/unknown ("-1")
    with FakeOpenAIServer(models=prices) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        assert run(root, "--max-cost", "1") == EXIT_BAD_INPUT
        out = capsys.readouterr().out
        assert srv.request_count == 0
        csv = root / "1_raw" / "llm_models.csv"
        assert f"{csv}:3" in out and "'eval-b'" in out and "price unknown" in out
        assert "--allow-unknown-prices" in out and "prompt_usd_per_mtok" in out

        # Without a cap, an unknown price is no reason to stop.
        assert run(root, "--stages", "draft") == EXIT_OK
        # Or the user accepts it:
        assert run(root, "--max-cost", "1", "--allow-unknown-prices") == EXIT_OK
        assert srv.completion_count == PAID_CALLS


def test_price_columns_in_llm_models_override_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = (
        f"{MODELS_HEADER},prompt_usd_per_mtok,completion_usd_per_mtok\n"
        "gen-a,vendor/gen-a,openrouter,Gen A,true,false,general,,\n"
        "eval-b,vendor/eval-b,openrouter,Eval B,false,true,general,4,40\n"
    )
    root = make_root(tmp_path / "data", models_csv=csv)
    prices = dict(PRICES)
    prices["vendor/eval-b"] = (None, None)
    with FakeOpenAIServer(models=prices) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        capsys.readouterr()
        assert main(["plan", "--data-root", str(root), "--json"]) == EXIT_OK
        plan = json.loads(capsys.readouterr().out)
        evaluation = next(r for r in plan["rows"] if r["stage"] == "evaluation")
        assert evaluation["price"] == {
            "prompt_usd_per_mtok": pytest.approx(4.0),
            "completion_usd_per_mtok": pytest.approx(40.0),
            "source": "llm_models.csv",
        }
        assert plan["totals"]["cost_complete"] is True
        assert run(root, "--max-cost", "1") == EXIT_OK  # every price known now
        out = capsys.readouterr().out
        # eval-b's calls report no cost: the ledger estimates them at the csv price
        assert "estimated from prices" in out


def test_bad_max_cost_flag(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cost_root, "--max-cost", "-1") == EXIT_BAD_INPUT
    assert "max_cost" in capsys.readouterr().out
    assert server.request_count == 0


def test_local_models_cost_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from daydreaming_dagster.cohort.prices import SOURCE_LOCAL

    csv = MODELS_CSV.replace("vendor/gen-a,openrouter", "smollm2-135m-instruct,local")
    root = make_root(tmp_path / "data", models_csv=csv)
    capsys.readouterr()
    # No server at all: the local model is free, the remote one unknown (its list cannot be fetched).
    assert main(["plan", "--data-root", str(root), "--json"]) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    draft = next(r for r in plan["rows"] if r["stage"] == "draft")
    assert draft["price"]["source"] == SOURCE_LOCAL and draft["cost_usd"]["high"] == 0
    assert plan["totals"]["unknown_price_models"] == ["eval-b"]
    assert any("could not fetch" in w for w in plan["warnings"])
