"""`daydream plan`: exact counts on a known cohort, a cost range that contains what the run then
costs, the ledger of what is already spent, and no chat request."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, EXIT_OK, main
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from tests.conftest import REPO
from tests.cost.conftest import PAID_CALLS, ledger_spent, plan_json, run, server_cost


def _rows(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["stage"]: row for row in plan["rows"]}


def _counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[k] for k in ("total", "complete", "copy", "cached", "to_call", "blocked"))


def test_plan_counts_are_exact_and_the_range_contains_the_actual_cost(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_json(cost_root, capsys)
    assert server.request_count == 0  # no chat request: only GET /models
    assert server.models_requests == 1
    rows = _rows(plan)
    assert rows["draft"]["model_id"] == "gen-a" and rows["evaluation"]["model_id"] == "eval-b"
    assert _counts(rows["draft"]) == (3, 0, 0, 0, 3, 0)
    assert _counts(rows["essay"]) == (6, 0, 3, 0, 3, 0)
    assert _counts(rows["evaluation"]) == (6, 0, 0, 0, 6, 0)
    assert rows["draft"]["prompts_rendered"] == 3  # drafts are always rendered
    assert rows["essay"]["prompts_rendered"] == 0  # their drafts are not on disk yet
    assert rows["draft"]["price"] == {
        "prompt_usd_per_mtok": pytest.approx(1.0),
        "completion_usd_per_mtok": pytest.approx(10.0),
        "source": rows["draft"]["price"]["source"],
    }
    assert rows["draft"]["price"]["source"].startswith("provider /models 2")
    assert plan["totals"]["to_call"] == PAID_CALLS and plan["totals"]["cost_complete"] is True
    assert plan["spent"]["spent_usd"] == 0
    assert rows["draft"]["output_tokens_per_call"] == {"low": 0.0, "expected": None, "high": 64.0}
    low, high = plan["totals"]["cost_usd"]["low"], plan["totals"]["cost_usd"]["high"]
    assert (cost_root / "cache" / "prices.json").is_file()  # prices cached with their date

    assert run(cost_root) == EXIT_OK
    actual = ledger_spent(cost_root)
    assert actual == pytest.approx(server_cost(server))
    assert server.completion_count == PAID_CALLS
    assert low <= actual <= high

    after = plan_json(cost_root, capsys)
    assert [_counts(r) for r in after["rows"]] == [(3, 3, 0, 0, 0, 0), (6, 6, 0, 0, 0, 0), (6, 6, 0, 0, 0, 0)]
    assert after["spent"]["spent_usd"] == pytest.approx(actual, rel=1e-6)
    assert after["spent"]["paid_calls"] == PAID_CALLS
    assert sum(r["spent_usd"] for r in after["rows"]) == pytest.approx(actual, rel=1e-6)
    assert _rows(after)["draft"]["output_tokens_per_call"] == {"low": 50.0, "expected": 50.0, "high": 64.0}


def test_plan_after_drafts_renders_essays_and_counts_cache_answers(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cost_root, "--stages", "draft") == EXIT_OK
    plan = plan_json(cost_root, capsys)
    rows = _rows(plan)
    assert _counts(rows["draft"]) == (3, 3, 0, 0, 0, 0)
    assert _counts(rows["essay"]) == (6, 0, 3, 0, 3, 0)
    assert rows["essay"]["prompts_rendered"] == 3  # parents on disk: counted from the prompt
    # learnt from the finished drafts: 50 completion tokens each
    assert rows["essay"]["output_tokens_per_call"]["high"] == 64.0
    assert plan["spent"]["paid_calls"] == 3 and plan["spent"]["spent_usd"] > 0
    low, high = plan["totals"]["cost_usd"]["low"], plan["totals"]["cost_usd"]["high"]
    spent_before = plan["spent"]["spent_usd"]

    # A finished draft whose folder is lost comes back from the response cache, not from a call.
    shutil.rmtree(next((cost_root / "gens" / "draft").iterdir()))
    rows = _rows(plan_json(cost_root, capsys))
    assert _counts(rows["draft"]) == (3, 2, 0, 1, 0, 0)
    assert server.request_count == 3

    # Only essays selected: their evaluations are not counted; the lost draft's 2 essays are blocked.
    rows = _rows(plan_json(cost_root, capsys, "--stages", "essay"))
    assert set(rows) == {"essay"}
    assert _counts(rows["essay"]) == (6, 0, 2, 0, 2, 2)

    assert run(cost_root) == EXIT_OK
    assert server.duplicate_completions() == {}
    assert low <= ledger_spent(cost_root) - spent_before <= high


def test_plan_table_is_readable(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--data-root", str(cost_root)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "DayDreaming plan" in out
    assert "Calls to make: 12 (of 15 generations: 0 complete, 3 copies, 0 from the response cache)" in out
    assert "Estimated cost: $" in out and "Already spent by this cohort: $0" in out
    assert server.request_count == 0


@pytest.mark.parametrize("where", ["terminal", "pipe"])
def test_plan_at_80_columns_and_in_a_pipe_keeps_every_row_whole(
    where: str,
    cost_root: Path,
    server: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stage, model, calls and cost of every row are there, and no cell is cut to "…"."""
    rows = plan_json(cost_root, capsys)["rows"]
    if where == "terminal":  # an 80-column terminal (colours on: rich believes it is one)
        monkeypatch.setenv("COLUMNS", "80")
        monkeypatch.setenv("FORCE_COLOR", "1")
        assert main(["plan", "--data-root", str(cost_root)]) == EXIT_OK
        out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    else:  # `daydream plan | less`: a real pipe, no COLUMNS
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
        command = [sys.executable, "-m", "daydreaming_dagster.cli", "plan", "--data-root", str(cost_root)]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO, check=True)
        out = done.stdout
    assert "…" not in out
    lines = out.splitlines()
    for row in rows:
        header = f"{row['stage']}  {row['model_id']}"
        assert header in lines, out
        block = lines[lines.index(header) + 1 : lines.index(header) + 4]
        assert f"calls to make  {row['to_call']} (of {row['total']} generations" in block[0]
        assert re.match(r"  cost USD +\$[0-9.,]+–\$[0-9.,]+, expected ", block[1]), block[1]
        assert max(map(len, block)) <= 80


def test_plan_is_a_table_where_it_fits_whole(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["plan", "--data-root", str(cost_root)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "┃ model " in out and "to call" in out and "…" not in out
    assert re.search(r"│ evaluation +│ eval-b +│", out)


def test_plan_names_a_typo_model_with_exit_2(
    cost_root: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = cost_root / "1_raw" / "llm_models.csv"
    csv.write_text(csv.read_text().replace("vendor/eval-b", "vendor/eval-bb"))
    assert main(["plan", "--data-root", str(cost_root)]) == EXIT_BAD_INPUT
    out = capsys.readouterr().out
    assert f"{csv}:3" in out and "'vendor/eval-b'" in out
    assert "unknown" in out  # its price is unknown, never $0
    assert server.request_count == 0


def test_plan_without_a_models_list_warns_and_keeps_prices_unknown(
    cost_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(models_endpoint=False) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        plan = plan_json(cost_root, capsys)
    assert plan["problems"] == []
    assert any("no /models list" in w for w in plan["warnings"])
    assert plan["totals"]["unknown_price_models"] == ["eval-b", "gen-a"]
    assert plan["totals"]["cost_complete"] is False
    assert all(r["cost_usd"] is None for r in plan["rows"] if r["to_call"])
