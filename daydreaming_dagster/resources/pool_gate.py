"""Provider limits across Dagster runs: one concurrency-pool slot per LLM request.

The LLM client's limiter caps requests in flight per process. Dagster runs are processes (several
at once under the daemon, possibly on several machines), so inside Dagster every request also
holds a slot of the instance's concurrency pool for its provider: a row of Dagster's own
``concurrency_slots`` table, the one ``dagster instance concurrency set POOL N`` and the UI's pools
page manage (the UI shows each held slot with its run). Any number of runs sharing the instance
together never have more requests in flight than the pool's limit.

Pools (``pool_for``), from the provider's ``limit_key()``:

- ``llm/openrouter``: the OpenAI-compatible provider at openrouter.ai;
- ``llm/openai_compatible``: the OpenAI-compatible provider at any other base URL;
- ``llm/local``: the embedded llama.cpp model;
- ``llm/<name>``: any other provider name.

A pool without a limit (neither set for it, nor ``concurrency: pools: default_limit`` in
dagster.yaml) does not gate: only the per-process limiter applies, as before. A slot is held for
one attempt (after the process limiter admitted it), never during a retry's back-off.

Why not ``claim_concurrency_slot``: Dagster's step-level claim is a check-then-act sequence (count
free slots, enqueue, select a free slot, then update it by id); on PostgreSQL (autocommit) two
claimants can take the same row, which is rare for steps but measured here for requests (3 in
flight with a limit of 2, 8 threads). The gate claims with one compare-and-set per candidate row,
``UPDATE concurrency_slots SET run_id, step_key WHERE id = ? AND step_key IS NULL``, inside a
transaction: exactly one claimant wins a row, on SQLite and on PostgreSQL (that SQL on Dagster's
private table is in ``resources/dagster_internals.py``). Waiters poll with a
jittered back-off (``min_poll_s`` growing to ``max_poll_s``); there is no queue, so no strict FIFO
among waiters. Do not give an asset one of the request pools (Dagster's own step claims on the same
rows would race with these). If a process dies holding a slot, the daemon's run monitoring frees
the slots of finished runs (``run_monitoring: free_slots_after_run_end_seconds``), or free them
from the UI's pools page.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from dagster import DagsterInstance

from daydreaming_dagster.resources.dagster_internals import claim_pool_slot, free_pool_slot

POOL_PREFIX = "llm"
#: The pool of the generation steps (the ``<stage>_response`` assets): generation steps in
#: progress across runs. Distinct from the request pools, so a step never waits for its own requests.
STEP_POOL = POOL_PREFIX


def pool_for(limit_key: str) -> str:
    """The Dagster pool gating requests to the provider account ``limit_key`` (module docstring)."""
    kind = limit_key.split(":", 1)[0].strip() or "unknown"
    if kind == "openai_compatible" and "openrouter.ai" in limit_key:
        return f"{POOL_PREFIX}/openrouter"
    return f"{POOL_PREFIX}/{kind}"


class InstancePoolGate:
    """``gate(limit_key)`` -> a context manager holding one slot of ``pool_for(limit_key)``.

    Thread-safe; one per Dagster step (``run_id`` and ``step_key`` name the claims, each request
    gets its own claim key ``<step_key>/<uuid>``).
    """

    def __init__(
        self,
        instance: DagsterInstance,
        run_id: str,
        step_key: str = "llm",
        *,
        pools: Callable[[str], str] = pool_for,
        min_poll_s: float = 0.05,
        max_poll_s: float = 0.5,
        refresh_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.instance = instance
        self.run_id = run_id
        self.step_key = step_key
        self.pools = pools
        self.min_poll_s = min_poll_s
        self.max_poll_s = max_poll_s
        self.refresh_s = refresh_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limits: dict[str, int] = {}
        self._limits_at = -float("inf")
        self.claims = 0  # requests that held a slot (stats)
        self.waited_s = 0.0  # time spent blocked on a full pool

    @property
    def storage(self) -> Any:  # a SqlEventLogStorage (SQLite, PostgreSQL, MySQL)
        return self.instance.event_log_storage

    def limit(self, pool: str) -> int | None:
        """The pool's limit, initializing it to ``default_limit`` if it has none (as Dagster does
        for op pools); None: not limited."""
        if not self.storage.supports_global_concurrency_limits:
            return None
        with self._lock:
            now = time.monotonic()
            if now - self._limits_at > self.refresh_s or pool not in self._limits:
                self._limits = {p.name: p.limit for p in self.storage.get_pool_limits()}
                self._limits_at = now
                if pool not in self._limits and self.storage.get_pool_config().default_pool_limit is not None:
                    self.storage.initialize_concurrency_limit_to_default(pool)
                    self._limits = {p.name: p.limit for p in self.storage.get_pool_limits()}
            return self._limits.get(pool)

    def __call__(self, limit_key: str) -> contextlib.AbstractContextManager[None]:
        pool = self.pools(limit_key)
        if self.limit(pool) is None:
            return contextlib.nullcontext()
        return self._slot(pool)

    @contextlib.contextmanager
    def _slot(self, pool: str) -> Iterator[None]:
        claim_key = f"{self.step_key}/{uuid.uuid4().hex}"
        delay = self.min_poll_s
        started = time.monotonic()
        try:
            while not self._try_claim(pool, claim_key):
                self._sleep(delay * random.uniform(0.8, 1.2))
                delay = min(self.max_poll_s, delay * 1.5)
            with self._lock:
                self.claims += 1
                self.waited_s += time.monotonic() - started
            yield
        finally:
            self._free(claim_key)

    def _try_claim(self, pool: str, claim_key: str) -> bool:
        """One compare-and-set over the pool's free slot rows; True when one is ours."""
        return claim_pool_slot(self.storage, pool, self.run_id, claim_key)

    def _free(self, claim_key: str) -> None:
        free_pool_slot(self.storage, self.run_id, claim_key)


def set_pool_limits(instance: DagsterInstance, limits: dict[str, int]) -> None:
    """Set pool limits on an instance (what ``dagster instance concurrency set POOL N`` does)."""
    for pool, limit in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
