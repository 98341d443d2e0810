"""SIGKILL ``daydream run`` mid-cohort; the same command completes it and pays only for calls
whose response was never stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from tests.conftest import compare_tree, require_compat

DISTINCT_CALLS = 42  # compat cohort: 15 drafts + 15 essays + 12 distinct evaluation calls


def _run(data_root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "daydreaming_dagster.cli", "run", "--data-root", str(data_root), "--concurrency", "4", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_killed_run_resumes_without_paying_twice(compat_data_root: Path) -> None:
    golden = require_compat() / "golden" / "active"
    with FakeOpenAIServer(latency_s=0.15) as server:
        env = {**os.environ, "DD_LLM_BASE_URL": server.base_url}
        first = _run(compat_data_root, env)
        deadline = time.monotonic() + 60
        while server.request_count < 12 and time.monotonic() < deadline:  # well into the cohort
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        stored = len(list((compat_data_root / "cache" / "llm").rglob("*.json")))
        assert 0 < stored < DISTINCT_CALLS
        before = server.request_count

        second = _run(compat_data_root, env)
        out, _ = second.communicate(timeout=300)
        assert second.returncode == 0, out.decode()
        assert server.request_count - before == DISTINCT_CALLS - stored
    assert compare_tree(golden / "gens", compat_data_root / "gens") == []
