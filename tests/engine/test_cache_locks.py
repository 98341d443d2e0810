"""The response cache's cross-process lock: one byte of ``<cache>/.locks`` per key (POSIX record
locks), held by another process for as long as its call runs; filelock where the OS has no fcntl."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from daydreaming_dagster.engine import locks as locks_module
from daydreaming_dagster.engine.cache import CachedCall, ResponseCache
from daydreaming_dagster.engine.locks import LOCKS_FILE
from daydreaming_dagster.llm import LLMResponse, ModelRoute

KEY_A = "a" * 64
KEY_B = "b" * 64
HOLD_S = 1.5

pytestmark = pytest.mark.skipif(locks_module.fcntl is None, reason="POSIX record locks need fcntl (not on Windows)")


def _holder(root: Path, key: str) -> subprocess.Popen[str]:
    """Another process that takes ``key``'s lock, says so, and holds it HOLD_S seconds."""
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from daydreaming_dagster.engine.cache import ResponseCache
        with ResponseCache(Path({str(root)!r}))._locks.hold({key!r}):
            print("held", flush=True)
            time.sleep({HOLD_S})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _acquire_s(cache: ResponseCache, key: str) -> float:
    started = time.monotonic()
    with cache._locks.hold(key):
        return time.monotonic() - started


def test_the_same_key_waits_for_the_other_process_and_another_key_does_not(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    holder = _holder(cache.root, KEY_A)
    try:
        assert _acquire_s(cache, KEY_B) < 0.5  # another key: its own byte, no wait
        assert _acquire_s(cache, KEY_A) > HOLD_S * 0.5  # waited for the holder to finish
    finally:
        holder.wait(timeout=30)
    assert [p.name for p in cache.root.iterdir()] == [LOCKS_FILE]  # no lock file per key


def test_crossed_keys_across_threads_and_processes_are_no_deadlock(tmp_path: Path) -> None:
    """Our thread 1 holds A while thread 2 wants B; the other process holds B and wants A. The
    kernel reports a deadlock (it sees processes, not threads); it is none: when thread 1 lets A
    go, the other process gets A, finishes and lets B go, and thread 2 gets B."""
    cache = ResponseCache(tmp_path / "cache")
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from daydreaming_dagster.engine.cache import ResponseCache
        cache = ResponseCache(Path({str(cache.root)!r}))
        with cache._locks.hold({KEY_B!r}):
            print("holding B", flush=True)
            time.sleep(0.5)
            with cache._locks.hold({KEY_A!r}):
                print("got A", flush=True)
    """)
    a_held = threading.Event()
    got_b: list[float] = []

    def thread_1() -> None:
        with cache._locks.hold(KEY_A):
            a_held.set()
            time.sleep(HOLD_S)

    def thread_2() -> None:
        a_held.wait(10)
        got_b.append(_acquire_s(cache, KEY_B))

    first = threading.Thread(target=thread_1)
    first.start()
    a_held.wait(10)
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline().strip() == "holding B"
    second = threading.Thread(target=thread_2)
    second.start()
    out, _ = other.communicate(timeout=30)
    first.join(30)
    second.join(30)
    assert other.returncode == 0 and out.strip() == "got A"
    assert len(got_b) == 1  # thread 2 got B (no OSError: EDEADLK was waited out)


def test_a_holder_killed_by_sigkill_releases_its_lock(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    holder = _holder(cache.root, KEY_A)
    holder.kill()
    holder.wait(timeout=30)
    assert _acquire_s(cache, KEY_A) < 0.5


def test_a_recreated_cache_folder_locks_its_new_file(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    with cache._locks.hold(KEY_A):
        pass
    shutil.rmtree(cache.root)  # a data root deleted and made again under a long-lived process
    with cache._locks.hold(KEY_A):
        assert (cache.root / LOCKS_FILE).is_file()
    holder = _holder(cache.root, KEY_A)  # and the lock still excludes another process
    try:
        assert _acquire_s(cache, KEY_A) > HOLD_S * 0.5
    finally:
        holder.wait(timeout=30)


def test_without_fcntl_filelock_locks_one_file_per_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks_module, "fcntl", None)
    cache = ResponseCache(tmp_path / "cache")
    call = CachedCall("openai_compatible:http://a", ModelRoute("m", "openrouter", "vendor/m"), "p", 10, 0.7, 1)
    response, hit, _ = cache.get_or_call(call, lambda: LLMResponse(text="answer", finish_reason="stop"), gen_id="g1")
    assert (response.text, hit) == ("answer", False)
    key = call.key()
    assert (cache.root / f"{key}.lock").is_file()
    assert cache.get_or_call(call, lambda: pytest.fail("paid twice"), gen_id="g2")[1] is True
    assert not (cache.root / LOCKS_FILE).exists()

