"""What was paid: one line per paid call, for the whole data root, whichever process paid it.

``<data_root>/ledger/paid_calls.jsonl`` is append-only. The process that makes a call appends its
``Payment`` the moment the provider answers, before anything else is written, and only that process
does: an answer reused from the response cache or from ``raw.txt`` is no payment. So every money
figure (the run summary, ``plan``, the caps, the report, the tables, the export) is a sum over these
lines, and each paid call counts exactly once.

Why a journal and not the cache entries: a ``--force`` call replaces its cache entry (the earlier
payment would vanish), and a spending cap shared by several processes must learn new payments
cheaply: the journal is read from the offset where the reader stopped.

Appends take the ledger's lock (a thread lock and an OS lock, ``engine/locks.py``), so lines never
interleave, even on NFS; a write cut short (a full disk) is cut back to the line before it.

Each payment carries its cohort (the name of the cohort whose run paid it), its generation and its
cost: the cost the server reported, else its tokens at the price the run knew, else unknown.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from daydreaming_dagster.core.layout import DEFAULT_COHORT as _DEFAULT
from daydreaming_dagster.engine.locks import KeyLocks
from daydreaming_dagster.llm import Usage

LEDGER_DIR = "ledger"
JOURNAL_FILE = "paid_calls.jsonl"
LEDGER_LOCK = "ledger"
DEFAULT_COHORT = _DEFAULT  # the cohort made from the ``active`` flags, without a spec

COST_REPORTED, COST_PRICED, COST_FREE, COST_UNKNOWN = "reported", "priced", "free", "unknown"

# USD per token (prompt, completion) of a model id, or None when unknown.
PriceLookup = Callable[[str], "tuple[float, float] | None"]


@dataclass(frozen=True)
class Payment:
    """One paid call."""

    at: str
    run_id: str
    cohort: str
    stage: str
    gen_id: str
    model_id: str
    model: str
    endpoint: str
    key: str  # the response cache key of the call
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None  # USD; None: neither reported nor priced
    cost_source: str  # COST_REPORTED | COST_PRICED | COST_FREE | COST_UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Payment:
        cost = data.get("cost")
        return cls(
            at=str(data.get("at") or ""),
            run_id=str(data.get("run_id") or ""),
            cohort=str(data.get("cohort") or DEFAULT_COHORT),
            stage=str(data.get("stage") or ""),
            gen_id=str(data.get("gen_id") or ""),
            model_id=str(data.get("model_id") or ""),
            model=str(data.get("model") or ""),
            endpoint=str(data.get("endpoint") or ""),
            key=str(data.get("key") or ""),
            prompt_tokens=_int(data.get("prompt_tokens")),
            completion_tokens=_int(data.get("completion_tokens")),
            cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost) else None,
            cost_source=str(data.get("cost_source") or (COST_REPORTED if cost is not None else COST_UNKNOWN)),
        )

    def line(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def payment_cost(
    *, reported: float | None, prompt_tokens: int | None, completion_tokens: int | None,
    price: tuple[float, float] | None, local: bool,
) -> tuple[float | None, str]:
    """``(USD, source)`` of one paid call: the reported cost, else its tokens at ``price``."""
    if local:
        return 0.0, COST_FREE
    if reported is not None and math.isfinite(reported):
        return float(reported), COST_REPORTED
    if price is not None and prompt_tokens is not None and completion_tokens is not None:
        return prompt_tokens * price[0] + completion_tokens * price[1], COST_PRICED
    return None, COST_UNKNOWN


def usage_cost(usage: Usage, *, price: tuple[float, float] | None, local: bool) -> tuple[float | None, str]:
    """``payment_cost`` of one response's usage: what the journal records for its call."""
    return payment_cost(
        reported=usage.cost,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        price=price,
        local=local,
    )


class PaymentJournal:
    """``<data_root>/ledger/paid_calls.jsonl``: append one payment, read them all or the new ones."""

    def __init__(self, data_root: Path | str) -> None:
        self.folder = Path(data_root) / LEDGER_DIR
        self.path = self.folder / JOURNAL_FILE
        self._locks = KeyLocks(self.folder)
        self._local = threading.local()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The ledger's lock (re-entrant in one thread): appends and the spending caps take it."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._locks.hold(LEDGER_LOCK):
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0

    def append(self, payment: Payment) -> None:
        """Append one line (OSError when the disk refuses it: the journal is left as it was)."""
        data = payment.line().encode("utf-8")
        with self.locked():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                size = os.fstat(fd).st_size
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                except OSError:
                    os.ftruncate(fd, size)  # no torn line: a later line must not glue onto it
                    raise
            finally:
                os.close(fd)

    def read(self, offset: int = 0) -> tuple[list[Payment], int]:
        """The payments from byte ``offset`` on, and the offset to read from next time.

        A last line without its newline is left for next time (another process may be writing
        it); a line that is not a payment is skipped.
        """
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1
        payments = []
        for raw_line in data[:end].splitlines():
            try:
                value = json.loads(raw_line)
            except ValueError:
                continue
            if isinstance(value, dict):
                payments.append(Payment.from_dict(value))
        return payments, offset + end

    def payments(self) -> list[Payment]:
        return self.read(0)[0]

    def exists(self) -> bool:
        return self.path.is_file()


@dataclass
class SpendTotals:
    """Sums over payments: in all, and per cohort, run and generation."""

    total: float = 0.0
    calls: int = 0
    unpriced: int = 0  # payments whose cost is unknown (counted in ``calls``, not in ``total``)
    priced_part: float = 0.0  # USD computed from prices (the server reported no cost)

    def add(self, payment: Payment) -> None:
        self.calls += 1
        if payment.cost is None:
            self.unpriced += 1
            return
        self.total += payment.cost
        if payment.cost_source == COST_PRICED:
            self.priced_part += payment.cost

    def to_json(self) -> dict[str, Any]:
        return {
            "spent_usd": round(self.total, 8),
            "estimated_part_usd": round(self.priced_part, 8),
            "paid_calls": self.calls,
            "unpriced_calls": self.unpriced,
        }
