"""Provider limits across runs: requests hold slots of the instance's pool ``llm/<provider>``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
from daydreaming_dagster.core.config import load_experiment_config
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.resources.partition_sync import sync_dynamic_partitions
from daydreaming_dagster.resources.pool_gate import InstancePoolGate, pool_for, set_pool_limits
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.sample_data import write_minimal_data_root
from tests.conftest import REPO


def test_pools_are_named_by_provider() -> None:
    assert pool_for("openai_compatible:https://openrouter.ai/api/v1#abc123") == "llm/openrouter"
    assert pool_for("openai_compatible:http://127.0.0.1:8000/v1#none") == "llm/openai_compatible"
    assert pool_for("local:SmolLM2-135M.gguf#0123456789ab") == "llm/local"


def test_gate_caps_requests_across_threads_and_frees_slots(sqlite_home: Path) -> None:
    with DagsterInstance.get() as instance:
        set_pool_limits(instance, {"llm/openai_compatible": 2})
        gates = [InstancePoolGate(instance, f"run-{i}", min_poll_s=0.01, max_poll_s=0.05) for i in range(2)]
        lock, active, peak = threading.Lock(), [0], [0]

        def request(gate: InstancePoolGate) -> None:
            with gate("openai_compatible:http://x/v1#k"):
                with lock:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                time.sleep(0.05)
                with lock:
                    active[0] -= 1

        threads = [threading.Thread(target=request, args=(gates[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert peak[0] == 2
        info = instance.event_log_storage.get_concurrency_info("llm/openai_compatible")
        assert info.active_slot_count == 0 and info.pending_step_count == 0
        # A pool without its own limit gets dagster.yaml's default_limit (8), as Dagster's op pools do.
        assert gates[0].limit("llm/local") == 8
    # Without any limit a pool does not gate: only the per-process limiter applies.
    with DagsterInstance.ephemeral() as bare:
        gate = InstancePoolGate(bare, "run")
        assert gate.limit("llm/local") is None
        with gate("local:model.gguf#x"):
            pass
        assert gate.claims == 0


def test_two_concurrent_dagster_runs_share_a_pool_of_4(
    tmp_path: Path, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Dagster runs (two processes), 8 requests in flight allowed per process, 16 drafts: the
    server never sees more than the pool's 4 requests at once."""
    root = write_minimal_data_root(tmp_path / "data")
    (root / "experiment.toml").write_text("draft_replicates = 16\nconcurrency = 8\n")
    cohort = load_cohort(root, load_experiment_config(root))
    save_task_tables(cohort)
    keys = [row["gen_id"] for row in cohort.rows("draft")]
    assert len(keys) == 16
    with DagsterInstance.get() as instance:
        sync_dynamic_partitions(instance, "draft_gens", keys)
        set_pool_limits(instance, {"llm/openai_compatible": 4})
    with FakeOpenAIServer(latency_s=0.4) as server:
        env = {**os.environ, "DD_LLM_BASE_URL": server.base_url, "DAGSTER_HOME": str(sqlite_home)}
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.dagster._dagster_run", str(root), "draft", part[0], part[-1]],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for part in (keys[:8], keys[8:])
        ]
        outputs = [run.communicate(timeout=240) for run in runs]
        for run, (_out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, err[-3000:]
        assert server.request_count == 16
        assert server.max_in_flight == 4  # never more than the pool, and the pool was used
    store = GensStore(root)
    assert all(store.is_complete("draft", key) for key in keys)
    with DagsterInstance.get() as instance:
        info = instance.event_log_storage.get_concurrency_info("llm/openai_compatible")
        assert info.active_slot_count == 0 and info.pending_step_count == 0
