"""Room kept on the data root for paid answers, so a full disk never loses one.

A run reserves a file of its own, ``<data_root>/ledger/spill-<pid>-<token>.jsonl``, with its blocks
allocated up front (``posix_fallocate``): writing inside it needs no new disk space. When the disk
fills up, an answer (or its payment line) that cannot reach the response cache or the journal is
written there instead, and the run stops starting generations. The next run, in any process,
moves what a spill file holds into the cache and the journal (``recover_spills``), then deletes
it, so an answer that reached disk in any form is never paid again.

Each file is locked (``lockf``) by the process that owns it: a file whose lock can be taken
belongs to a process that is gone, and only such files are recovered.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daydreaming_dagster.core.errors import is_disk_full
from daydreaming_dagster.engine.ledger import LEDGER_DIR
from daydreaming_dagster.engine.locks import create_process_file, other_process_file

try:
    import fcntl
except ImportError:  # Windows: no spill file (answers that cannot be written are reported)
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("daydreaming_dagster.spill")

SPILL_PREFIX = "spill-"
MIN_SPILL_BYTES = 64 * 1024
ANSWER_ROOM_BYTES = 128 * 1024  # per generation in flight: the text of a long reply, twice over
MAX_SPILL_BYTES = 32 * 1024 * 1024

KIND_ANSWER, KIND_PAYMENT = "answer", "payment"


def spill_size(generations_in_flight: int) -> int:
    return max(MIN_SPILL_BYTES, min(MAX_SPILL_BYTES, generations_in_flight * ANSWER_ROOM_BYTES))


@dataclass
class LostAnswer:
    """A paid answer that reached no file: not the cache, not raw.txt, not the spill."""

    stage: str
    gen_id: str
    size: int  # bytes it needs


@dataclass
class AnswerSpill:
    """This process's spill file (``open_spill``); ``save`` returns False when it is full."""

    path: Path
    size: int
    _fd: int
    _offset: int = 0
    saved: int = 0  # entries written
    lost: list[LostAnswer] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # "stage gen_id" of each entry still held, in order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def save(self, kind: str, payload: Mapping[str, Any], *, owner: str = "") -> bool:
        """Append one entry (``owner``: the generation it belongs to); False when it does not fit."""
        line = (json.dumps({"kind": kind, "owner": owner, **payload}, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0 or self._offset + len(line) > self.size:
                return False
            self._write_at(line, self._offset)
            self._offset += len(line)
            self.saved += 1
            self.held.append(owner)
            return True

    def _write_at(self, data: bytes, at: int) -> None:
        view = memoryview(data)
        while view:  # inside allocated blocks: no new disk space needed
            written = os.pwrite(self._fd, view, at)
            view, at = view[written:], at + written

    @property
    def held_bytes(self) -> int:
        return self._offset

    def drain(
        self,
        store_answer: Callable[[Mapping[str, Any]], None],
        record_payment: Callable[[Mapping[str, Any]], None],
    ) -> int:
        """Try once more to move the entries where they belong (the disk may have room again): an
        answer into the response cache, a payment into the journal. What moved leaves the file;
        what still cannot be written stays for the next run. Returns how many moved."""
        with self._lock:
            if self._fd < 0 or not self._offset:
                return 0
            lines = os.pread(self._fd, self._offset, 0).split(b"\n")
            kept: list[bytes] = []
            owners: list[str] = []
            for line in (line for line in lines if line.strip()):
                entry = json.loads(line)
                try:
                    (store_answer if entry.get("kind") == KIND_ANSWER else record_payment)(entry)
                except OSError:
                    kept.append(line + b"\n")
                    owners.append(str(entry.get("owner") or ""))
            body = b"".join(kept)
            # Rewritten in place, the rest zeroed: a moved entry must never be recovered twice.
            self._write_at(body + b"\0" * (self._offset - len(body)), 0)
            moved = len(self.held) - len(owners)
            self._offset, self.held, self.saved = len(body), owners, len(owners)
            return moved

    def lose(self, stage: str, gen_id: str, size: int) -> None:
        with self._lock:
            self.lost.append(LostAnswer(stage, gen_id, size))

    def close(self) -> None:
        """Delete the file when it holds nothing (else the next run recovers it)."""
        with self._lock:
            if self._fd < 0:
                return
            empty = self._offset == 0
            os.close(self._fd)  # drops the lock: the file is now recoverable
            self._fd = -1
        if empty:
            try:
                self.path.unlink()
            except OSError:
                pass


def open_spill(data_root: Path | str, size: int) -> AnswerSpill | None:
    """A new spill file of ``size`` bytes (less when the disk has less: halved down to 64 KiB).

    None on a system without POSIX locks. Raises OSError when not even the smallest one fits:
    the data root cannot take this run's answers, so the run must not start.
    """
    if fcntl is None:
        return None
    folder = Path(data_root) / LEDGER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{SPILL_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
    fd = create_process_file(path)
    try:
        want = size
        while True:
            try:
                os.posix_fallocate(fd, 0, want)
                break
            except OSError as exc:
                if exc.errno == 95:  # EOPNOTSUPP: a filesystem without fallocate: write zeros instead
                    os.pwrite(fd, b"\0" * want, 0)
                    break
                if not is_disk_full(exc) or want <= MIN_SPILL_BYTES:
                    raise
                want = max(MIN_SPILL_BYTES, want // 2)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return AnswerSpill(path, want, fd)


def recover_spills(
    data_root: Path | str,
    *,
    store_answer: Callable[[Mapping[str, Any]], None],
    record_payment: Callable[[Mapping[str, Any]], None],
) -> int:
    """Move what spill files of finished processes hold into the cache and the journal.

    Returns how many entries were recovered. A file is deleted only once all its entries are
    stored; an error while storing leaves it for the next run.
    """
    if fcntl is None:
        return 0
    folder = Path(data_root) / LEDGER_DIR
    try:
        names = sorted(p for p in folder.iterdir() if p.name.startswith(SPILL_PREFIX))
    except FileNotFoundError:
        return 0
    recovered = 0
    for path in names:
        with other_process_file(path) as opened:
            if opened is None or opened[1]:
                continue  # gone, or its process is still running
            fd = opened[0]
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read()
            entries = []
            for line in data.split(b"\n"):
                line = line.strip(b"\0 \r\t")
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    entries.append(entry)
            for entry in entries:
                if entry.get("kind") == KIND_ANSWER:
                    store_answer(entry)
                elif entry.get("kind") == KIND_PAYMENT:
                    record_payment(entry)
            recovered += len(entries)
            path.unlink(missing_ok=True)
            if entries:
                logger.warning("recovered %d answer(s) and payment(s) saved in %s on a full disk", len(entries), path)
    return recovered
