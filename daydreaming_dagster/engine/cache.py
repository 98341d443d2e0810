"""Never pay twice: stored LLM responses keyed by everything that determines the output.

The key (``CachedCall.key``) covers the endpoint that answers (server URL, or the embedded model),
the provider's model string, the exact prompt, max_tokens, temperature, the replicate index
(replicates never share an entry) and, for the embedded model, the grammar. The gen_id is not part
of the key, so a generation whose id changed (e.g. a new cohort salt) reuses the stored response.
Entries are written right after the provider answers, before any validation.

At most one paid call per key, across threads and processes: threads of one process share one
in-flight call (single flight); processes take an OS lock per key (``engine/locks.py``; released by
the OS if the holder dies, even by SIGKILL) and look in the cache again once they hold it, so a
second ``daydream run`` or Dagster run waits for the first one's answer instead of paying again.

An entry that cannot be read back (not UTF-8, not JSON, another schema, a wrong type) is a miss:
it is moved aside (``<key>.json.damaged``) with a warning naming it, and never fails a generation.
Answers are always stored, even when a run asks not to reuse them (``refresh``): an entry is how a
paid answer survives everything that can fail after it arrives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daydreaming_dagster.engine.locks import KeyLocks
from daydreaming_dagster.engine.record import RecordProblem, response_from_dict
from daydreaming_dagster.engine.store import atomic_write_text
from daydreaming_dagster.llm import LLMResponse, ModelRoute

logger = logging.getLogger("daydreaming_dagster.cache")
DAMAGED_SUFFIX = ".damaged"

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


StoreFailure = Callable[[str, Mapping[str, Any], OSError], None]


@dataclass(frozen=True)
class ResponseCache:
    """Files under ``<data_root>/cache/llm/<key[:2]>/<key>.json`` (locks: ``<cache>/.locks``)."""

    root: Path

    @classmethod
    def for_data_root(cls, data_root: Path) -> ResponseCache:
        return cls(Path(data_root) / "cache" / "llm")

    def _path(self, key: str, suffix: str = ".json") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    @property
    def _locks(self) -> KeyLocks:
        locks = _KEY_LOCKS.get(self.root)
        if locks is None:
            with _IN_FLIGHT_LOCK:
                locks = _KEY_LOCKS.setdefault(self.root, KeyLocks(self.root))
        return locks

    def get(self, key: str) -> CachedResponse | None:
        """The stored response, or None (absent, or damaged: then moved aside with a warning)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            entry = json.loads(data.decode("utf-8"))
            if not isinstance(entry, dict):
                raise RecordProblem(f"not a JSON object (a {type(entry).__name__})")
            response = response_from_dict(entry, text=None, where="entry")
        except (UnicodeDecodeError, ValueError) as exc:  # RecordProblem and JSONDecodeError are ValueErrors
            self._set_aside(path, exc)
            return None
        source = entry.get("gen_id")
        return CachedResponse(
            response,
            source if isinstance(source, str) else None,
            entry.get("created_at") if isinstance(entry.get("created_at"), str) else None,
            entry.get("endpoint") if isinstance(entry.get("endpoint"), str) else None,
        )

    @staticmethod
    def _set_aside(path: Path, exc: Exception) -> None:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc) or type(exc).__name__
        aside = path.with_name(path.name + DAMAGED_SUFFIX)
        try:
            os.replace(path, aside)
            where = f"moved to {aside}"
        except OSError:
            where = "left in place"
        logger.warning(
            "response cache entry %s cannot be read (%s): %s; it counts as absent (at most one new call).",
            path, reason, where,
        )

    @staticmethod
    def entry(response: LLMResponse, *, gen_id: str, endpoint: str | None) -> dict[str, Any]:
        """What ``put`` stores: the response with its text, who asked, where from, when."""
        entry = response.to_dict()
        entry.update(gen_id=gen_id, endpoint=endpoint, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
        return entry

    def put_entry(self, key: str, entry: Mapping[str, Any]) -> None:
        atomic_write_text(self._path(key), json.dumps(entry, ensure_ascii=False))

    def put(self, key: str, response: LLMResponse, *, gen_id: str, endpoint: str | None = None) -> None:
        self.put_entry(key, self.entry(response, gen_id=gen_id, endpoint=endpoint))

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

    def get_or_call(
        self,
        call: CachedCall,
        paid_call: Callable[[], LLMResponse],
        *,
        gen_id: str,
        refresh: bool = False,
        stored_answer: Callable[[], LLMResponse | None] | None = None,
        on_store_failure: StoreFailure | None = None,
    ) -> tuple[LLMResponse, bool, dict[str, Any]]:
        """``(response, cache_hit, info for metadata.json)``; ``refresh`` pays for a fresh answer.

        ``stored_answer``: an answer already on disk elsewhere (the generation's raw.txt), asked
        after a miss under the key's lock, before paying. ``on_store_failure``: what to do with a
        paid answer whose entry the disk refused (the spill file); without it the error is raised.
        """
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
            with self._locks.hold(key):
                # Look again under the lock: another thread or process may have just stored it.
                cached = None if refresh else self.get(key)
                if cached is not None:
                    pending.set_result((cached.response, cached.source_gen_id or ""))
                    return cached.response, True, _hit_info(key, cached)
                on_disk = None if refresh or stored_answer is None else stored_answer()
                if on_disk is not None:
                    self._store(key, on_disk, gen_id, call.endpoint, on_store_failure)
                    pending.set_result((on_disk, gen_id))
                    return on_disk, True, {"hit": True, "key": key, "source": "raw.txt", "source_gen_id": gen_id}
                response = paid_call()
                self._store(key, response, gen_id, call.endpoint, on_store_failure)
            pending.set_result((response, gen_id))
        except BaseException as exc:
            if not pending.done():
                pending.set_exception(exc)
            raise
        finally:
            with _IN_FLIGHT_LOCK:
                del _IN_FLIGHT[key]
        return response, False, {"hit": False, "key": key}

    def _store(
        self, key: str, response: LLMResponse, gen_id: str, endpoint: str, on_failure: StoreFailure | None
    ) -> None:
        entry = self.entry(response, gen_id=gen_id, endpoint=endpoint)
        try:
            self.put_entry(key, entry)
        except OSError as exc:
            if on_failure is None:
                raise
            on_failure(key, entry, exc)


_KEY_LOCKS: dict[Path, KeyLocks] = {}


def _hit_info(key: str, cached: CachedResponse) -> dict[str, Any]:
    return {"hit": True, "key": key, "source_gen_id": cached.source_gen_id, "stored_at": cached.created_at}
