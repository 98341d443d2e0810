"""Never pay twice, never lose a paid answer: across processes, through Ctrl-C, through an outage,
and never across servers. Each test runs real ``daydream run`` processes (or ``main``) against the
project's fake OpenAI-compatible server over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_INTERRUPTED, EXIT_OK, main
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.sample_data import write_wide_data_root

DISTINCT_CALLS = 60  # write_wide_data_root: 15 drafts + 15 llm essays + 30 evaluations


def _cli(data_root: Path, server: FakeOpenAIServer, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "daydreaming_dagster.cli", "run", "--data-root", str(data_root), "--quiet", *extra],
        env={**os.environ, "DD_LLM_BASE_URL": server.base_url, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _complete(data_root: Path) -> int:
    return sum(1 for _ in (data_root / "gens").rglob("parsed.txt"))


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_concurrent_runs_on_one_data_root_pay_each_call_once(tmp_path: Path, processes: int) -> None:
    root = write_wide_data_root(tmp_path / "data")
    with FakeOpenAIServer(latency_s=0.1) as server:
        runs = [_cli(root, server, "--concurrency", "4") for _ in range(processes)]
        outputs = [run.communicate(timeout=240)[0] for run in runs]
        assert [run.returncode for run in runs] == [EXIT_OK] * processes, outputs
        assert server.duplicate_completions() == {}
        assert server.completion_count == DISTINCT_CALLS
    assert _complete(root) == 15 + 30 + 30
    assert all("Traceback" not in out for out in outputs)


@pytest.mark.slow
def test_sigint_stores_answers_in_flight_and_the_resume_completes(tmp_path: Path) -> None:
    root = write_wide_data_root(tmp_path / "data")
    with FakeOpenAIServer(latency_s=1.5) as server:
        run = _cli(root, server, "--concurrency", "4")
        deadline = time.monotonic() + 60
        while server.request_count < 6 and time.monotonic() < deadline:  # a second wave is in flight
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=120)
        assert run.returncode == EXIT_INTERRUPTED, out
        assert "Traceback" not in out
        assert "Resume with: daydream run --data-root" in out
        assert "stopping: waiting for" in out  # the countdown while calls in flight finish
        # Every answer the server gave is stored (the calls in flight were waited for).
        stored = len(list((root / "cache" / "llm").rglob("*.json")))
        assert stored == server.completion_count < DISTINCT_CALLS

        again = _cli(root, server, "--concurrency", "8")
        out, _ = again.communicate(timeout=240)
        assert again.returncode == EXIT_OK, out
        assert server.completion_count == DISTINCT_CALLS and server.duplicate_completions() == {}
    assert _complete(root) == 75


@pytest.mark.slow
def test_a_provider_outage_of_90_seconds_fails_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=4)  # 6 drafts, 12 essays, 12 evaluations
    with FakeOpenAIServer(latency_s=0.05) as server:
        server.outage(90)
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        started = time.monotonic()
        assert main(["run", "--data-root", str(root), "--quiet", "--concurrency", "4"]) == EXIT_OK
        assert time.monotonic() - started >= 90
        assert server.outage_requests > 0
        assert server.duplicate_completions() == {}
        assert server.completion_count == 6 + 6 + 12
    assert _complete(root) == 30


def test_another_server_with_the_same_model_string_gets_its_own_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)  # 3 drafts, 6 essays, 6 evaluations
    calls = 3 + 3 + 6
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        monkeypatch.setenv("DD_LLM_BASE_URL", first.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        assert first.completion_count == calls
        shutil.rmtree(root / "gens")  # the cache stays: only the endpoint differs now
        monkeypatch.setenv("DD_LLM_BASE_URL", second.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        assert second.completion_count == calls
        shutil.rmtree(root / "gens")
        monkeypatch.setenv("DD_LLM_BASE_URL", first.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        assert first.completion_count == calls  # the first server's answers are still reused
