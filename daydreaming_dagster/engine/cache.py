"""Never pay twice: stored LLM responses keyed by everything that determines the output.

The key (``CachedCall.key``) covers the endpoint that answers (server URL, or the embedded model),
the provider's model string, the exact prompt, max_tokens, temperature, the replicate index
(replicates never share an entry) and, for the embedded model, the grammar. The gen_id is not part
of the key, so a generation whose id changed (e.g. a new cohort salt) reuses the stored response.
Entries are written right after the provider answers, before any validation.

At most one paid call per key, across threads and processes: threads of one process share one
in-flight call (single flight); processes take an OS lock per key (``_process_lock``; released by
the OS if the holder dies, even by SIGKILL) and look in the cache again once they hold it, so a
second ``daydream run`` or Dagster run waits for the first one's answer instead of paying again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daydreaming_dagster.engine.store import atomic_write_text
from daydreaming_dagster.llm import LLMResponse, ModelRoute

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCKS_FILE = ".locks"
LOCK_RETRY_S = 0.05  # after a false deadlock report (``_process_lock``)
# One descriptor per locks file for the life of the process: POSIX record locks belong to the
# process, and closing any descriptor of the file would drop every lock the process holds on it.
_LOCK_FDS: dict[str, int] = {}
_LOCK_FDS_GUARD = threading.Lock()


def _locks_fd(cache_root: Path) -> int:
    path = os.path.abspath(os.path.join(cache_root, LOCKS_FILE))
    with _LOCK_FDS_GUARD:
        fd = _LOCK_FDS.get(path)
        # A data root deleted and made again under a long-lived process (a code server): the old
        # file is gone (no link left), so lock the new one. The old descriptor is left open on
        # purpose: closing it would drop locks other threads may still hold on it.
        if fd is None or os.fstat(fd).st_nlink == 0:
            os.makedirs(cache_root, exist_ok=True)
            fd = _LOCK_FDS[path] = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        return fd

# v2: the endpoint joined the key. v1 entries (no endpoint) are reused only for the embedded
# model, whose endpoint is implied by its model string; remote v1 entries are never reused, since
# nothing records which server gave them (docs/compatibility.md).
CACHE_VERSION = 2


@dataclass(frozen=True)
class CachedCall:
    """One LLM call as the cache sees it."""

    endpoint: str  # LLMClient.endpoint(): which server (or embedded model) answers
    route: ModelRoute
    prompt: str
    max_tokens: int
    temperature: float
    replicate: int
    grammar: str | None = None  # only for the embedded model

    def key(self, version: int = CACHE_VERSION) -> str:
        payload: dict[str, object] = {
            "v": version,
            "provider": "local" if self.route.is_local else "openai_compatible",
            "model": self.route.model,
            "prompt": self.prompt,
            "max_tokens": int(self.max_tokens),
            "temperature": float(self.temperature),
            "replicate": int(self.replicate),
        }
        if version >= 2:
            payload["endpoint"] = self.endpoint
        if self.grammar is not None:  # only when it applies, so other keys never change
            payload["grammar"] = self.grammar
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    response: LLMResponse
    source_gen_id: str | None
    created_at: str | None
    endpoint: str | None


_IN_FLIGHT: dict[str, Future[tuple[LLMResponse, str]]] = {}
_IN_FLIGHT_LOCK = threading.Lock()


@dataclass(frozen=True)
class ResponseCache:
    """Files under ``<data_root>/cache/llm/<key[:2]>/<key>.json`` (and ``.lock`` beside them)."""

    root: Path

    @classmethod
    def for_data_root(cls, data_root: Path) -> ResponseCache:
        return cls(Path(data_root) / "cache" / "llm")

    def _path(self, key: str, suffix: str = ".json") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> CachedResponse | None:
        try:
            entry: dict[str, Any] = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        response = LLMResponse.from_dict(entry)
        return CachedResponse(response, entry.get("gen_id"), entry.get("created_at"), entry.get("endpoint"))

    def put(self, key: str, response: LLMResponse, *, gen_id: str, endpoint: str | None = None) -> None:
        entry = response.to_dict()
        entry.update(gen_id=gen_id, endpoint=endpoint, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
        atomic_write_text(self._path(key), json.dumps(entry, ensure_ascii=False))

    def lookup(self, call: CachedCall) -> tuple[str, CachedResponse | None]:
        """The call's key and its stored response (a v1 entry of the embedded model is re-keyed)."""
        key = call.key()
        cached = self.get(key)
        if cached is None and call.route.is_local:
            old = self.get(call.key(version=1))
            if old is not None:
                self.put(key, old.response, gen_id=old.source_gen_id or "", endpoint=call.endpoint)
                cached = self.get(key)
        return key, cached

    @contextlib.contextmanager
    def _process_lock(self, key: str) -> Iterator[None]:
        """Hold the key's OS lock against other processes (threads share one flight, above).

        One byte of one file, ``<cache>/.locks``, at an offset taken from the key: a POSIX record
        lock (``lockf``), which the OS releases when the holder dies and which works on NFS. No lock
        file per key: creating one cost a file creation per call (filelock 4 made about forty system
        calls per acquire, each handing the GIL to another thread at 100 calls in flight). Two keys
        share a byte only if their first 60 bits match.
        """
        if fcntl is None:  # no POSIX locks (Windows): filelock's portable lock, one file per key
            from filelock import FileLock

            path = self._path(key, ".lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(path), thread_local=False):
                yield
            return
        fd, offset = _locks_fd(self.root), int(key[:15], 16)
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)  # waits (without the GIL) while another process calls
                break
            except OSError as exc:
                # The kernel sees processes, not threads: our thread A holding one key while thread B
                # waits for a key another process holds, which waits for A's, looks like a deadlock
                # (EDEADLK). It is not one: A's call ends and releases its key. Wait and ask again.
                if exc.errno != errno.EDEADLK:
                    raise
                time.sleep(LOCK_RETRY_S)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def get_or_call(
        self, call: CachedCall, paid_call: Callable[[], LLMResponse], *, gen_id: str, refresh: bool = False
    ) -> tuple[LLMResponse, bool, dict[str, Any]]:
        """``(response, cache_hit, info for metadata.json)``; ``refresh`` pays for a fresh answer."""
        key, cached = self.lookup(call) if not refresh else (call.key(), None)
        if cached is not None:
            return cached.response, True, _hit_info(key, cached)
        with _IN_FLIGHT_LOCK:
            pending = _IN_FLIGHT.get(key)
            owner = pending is None
            if pending is None:
                pending = _IN_FLIGHT[key] = Future()
        if not owner:
            response, source = pending.result()
            return response, True, {"hit": True, "key": key, "source_gen_id": source, "shared_in_flight": True}
        try:
            with self._process_lock(key):
                # Look again under the lock: another thread or process may have just stored it.
                cached = None if refresh else self.get(key)
                if cached is not None:
                    pending.set_result((cached.response, cached.source_gen_id or ""))
                    return cached.response, True, _hit_info(key, cached)
                response = paid_call()
                self.put(key, response, gen_id=gen_id, endpoint=call.endpoint)
            pending.set_result((response, gen_id))
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with _IN_FLIGHT_LOCK:
                del _IN_FLIGHT[key]
        return response, False, {"hit": False, "key": key}


def _hit_info(key: str, cached: CachedResponse) -> dict[str, Any]:
    return {"hit": True, "key": key, "source_gen_id": cached.source_gen_id, "stored_at": cached.created_at}
