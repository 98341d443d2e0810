"""Acceptance: ``daydream run`` over HTTP against a fake OpenAI-compatible server answering with
the compat canned LLM writes upstream's tree (task tables, gen_ids, paths, bytes), and a second run
makes no call at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_OK, main
from daydreaming_dagster.cohort.tasks import TABLE_FILES
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from tests.conftest import compare_tree, require_compat


def test_cli_over_http_reproduces_golden_tree_then_resumes_for_free(
    compat_data_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = require_compat() / "golden" / "active"
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(compat_data_root), "--concurrency", "6", "--quiet"]) == EXIT_OK
        first_calls = server.request_count
        # 15 drafts + 15 essays + 12 distinct evaluation calls (identical calls share one response)
        assert first_calls == 42
        body = server.requests[0]["json"]
        assert body["max_tokens"] == 20480 and len(body["messages"]) == 1

        for name in TABLE_FILES.values():
            assert (compat_data_root / "2_tasks" / name).read_bytes() == (golden / "2_tasks" / name).read_bytes(), name
        assert compare_tree(golden / "gens", compat_data_root / "gens") == []
        scores = (compat_data_root / "5_parsing" / "parsed_scores.csv").read_text().splitlines()
        assert len(scores) == 61

        capsys.readouterr()
        assert main(["run", "--data-root", str(compat_data_root), "--quiet"]) == EXIT_OK
        assert server.request_count == first_calls  # resume: nothing paid twice
        assert "skipped" in capsys.readouterr().out


def test_cli_force_regenerates_with_fresh_calls(compat_data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(compat_data_root), "--stages", "draft", "--quiet"]) == EXIT_OK
        assert server.request_count == 15
        gen_dir = next((compat_data_root / "gens" / "draft").iterdir())
        run_before = json.loads((gen_dir / "metadata.json").read_text())["run_id"]
        assert main(["run", "--data-root", str(compat_data_root), "--stages", "draft", "--force", "--quiet"]) == EXIT_OK
        assert server.request_count == 30
        assert json.loads((gen_dir / "metadata.json").read_text())["run_id"] != run_before
