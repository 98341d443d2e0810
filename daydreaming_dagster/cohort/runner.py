"""Run a cohort's generations concurrently inside one process, pipelined across stages.

Each generation is one ``orchestrate_generation`` call on a worker thread; at most ``concurrency`` run at
once (the LLM client's per-provider limiter is the real throttle on requests). An essay starts as
soon as its draft is done and an evaluation as soon as its essay is done: there is no barrier
between stages. Generations already complete on disk are skipped without any call (resume), unless
``force`` is set; one that another process completes while this run waits for it is skipped too
(the engine's claim). A failure blocks only its own descendants. A disk that refuses a write
(``StorageError``: full, failing) stops the run from starting generations, as Ctrl-C does: the
generations in flight finish, their answers kept (docs/costs.md).
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

from daydreaming_dagster.core.errors import StorageError
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.flow import (
    GenerationContext,
    GenerationError,
    GenerationOutcome,
    StageSpec,
    cost_of,
    orchestrate_generation,
)
from daydreaming_dagster.llm import LLMResponse

Status = Literal["done", "skipped", "failed", "blocked"]
# Longest remaining chain first (drafts, then essays): every slot stays busy until the end, and
# children still start as soon as slots free up. Deeper-first gave earlier scores but left the last
# drafts' chains to run alone at the end (0.89 vs 0.94 efficiency, docs/benchmarks.md).
_PRIORITY: Mapping[Stage, int] = {stage: depth for depth, stage in enumerate(STAGES)}


def generation_slots(request_slots: int) -> int:
    """Generations to keep in flight so that ``request_slots`` requests always are.

    A quarter more (at least one): while some generations render, write their files and parse,
    the others' requests keep every request slot busy. The LLM client's limiter still caps the
    requests at ``request_slots``; the extra generations wait there. At 100 requests in flight,
    a generation's own work (~70 ms of GIL waits and file writes around a 1 s request) left its
    request slot idle: about 0.90 of the ideal throughput, 0.92 with the headroom (0.93 -> 0.96
    at 24; docs/dagster.md section 6).
    """
    return request_slots + max(1, request_slots // 4)


class ProgressReporter(Protocol):
    def start(self, totals: Mapping[Stage, int]) -> None: ...
    def advance(self, stage: Stage, status: Status) -> None: ...
    def stopping(self, in_flight: int, seconds_left: float) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def start(self, totals: Mapping[Stage, int]) -> None:
        pass

    def advance(self, stage: Stage, status: Status) -> None:
        pass

    def stopping(self, in_flight: int, seconds_left: float) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class WorkItem:
    stage: Stage
    gen_id: str
    parent_gen_id: str | None
    row: Mapping[str, str]


@dataclass(frozen=True)
class Failure:
    stage: Stage
    gen_id: str
    message: str
    cause: str = ""  # the message without the gen_id: failures of one cause are grouped


class Admission(Protocol):
    """Decides whether one more generation may start (e.g. a spending cap)."""

    def admit(self, item: WorkItem) -> bool: ...
    def release(self, item: WorkItem, response: LLMResponse | None, cache_hit: bool) -> None: ...


class RunObserver(Protocol):
    """Told about every generation as it ends (e.g. to report it to a Dagster instance)."""

    def finished(self, item: WorkItem, status: Status, outcome: GenerationOutcome | None) -> None: ...


@dataclass
class RunSummary:
    counts: dict[Stage, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[Failure] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    llm_calls: int = 0
    cache_hits: int = 0
    wall_s: float = 0.0
    # Why the run stopped starting generations before the end ("interrupted", "budget", "disk").
    stopped: str | None = None
    storage_errors: list[StorageError] = field(default_factory=list)  # what the disk refused
    not_started: int = 0  # generations never started (stopped early), abandoned ones included
    abandoned: int = 0  # calls still in flight when the run gave up waiting for them

    def total(self, status: str) -> int:
        return sum(c[status] for c in self.counts.values())

    @property
    def ok(self) -> bool:
        return self.total("failed") == 0 and self.total("blocked") == 0

    def record(self, response: LLMResponse | None, cache_hit: bool) -> None:
        """Count one generation's call (a failed generation may still have paid for one)."""
        if cache_hit:
            self.cache_hits += 1
        elif response is not None:
            self.llm_calls += 1
            self.prompt_tokens += response.usage.prompt_tokens or 0
            self.completion_tokens += response.usage.completion_tokens or 0
            self.cost += cost_of(response)


def work_items(stage: Stage, rows: Iterable[Mapping[str, str]]) -> list[WorkItem]:
    parent_column = None if STAGE_FACTS[stage].parent is None else "parent_gen_id"
    return [
        WorkItem(stage, str(row["gen_id"]), str(row[parent_column]) if parent_column else None, row)
        for row in rows
    ]


def failure_groups(failures: Sequence[Failure]) -> list[tuple[str, int, Failure]]:
    """``(cause, count, first failure)`` per distinct cause, most frequent first."""
    groups: dict[str, list[Failure]] = defaultdict(list)
    for failure in failures:
        groups[failure.cause or failure.message].append(failure)
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    return [(cause, len(items), items[0]) for cause, items in ranked]


class CohortRunner:
    def __init__(
        self,
        context: GenerationContext,
        specs: Mapping[Stage, StageSpec],
        *,
        concurrency: int,
        force: bool = False,
        progress: ProgressReporter | None = None,
        admission: Admission | None = None,
        observers: Sequence[RunObserver] = (),
        stop: threading.Event | None = None,
        abandon: threading.Event | None = None,
        grace_s: float = 120.0,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.context = context
        self.specs = specs
        self.concurrency = concurrency
        self.force = force
        self.progress = progress or NullProgress()
        self.admission = admission
        self.observers = list(observers)
        # Set from outside (Ctrl-C, SIGTERM, a Dagster run termination): no new generation starts;
        # those in flight finish and are stored.
        self.stop = stop or threading.Event()
        # Set too (a second Ctrl-C): stop waiting for the calls in flight.
        self.abandon = abandon or threading.Event()
        self.grace_s = grace_s

    def run(self, items: Sequence[WorkItem]) -> RunSummary:
        """Generate ``items`` (any mix of stages); parents outside ``items`` must be on disk."""
        started = time.perf_counter()
        summary = RunSummary()
        store = self.context.store
        selected = {(i.stage, i.gen_id) for i in items}
        children: dict[tuple[Stage, str], list[WorkItem]] = defaultdict(list)
        ready: list[tuple[int, int, WorkItem]] = []
        order = 0
        for item in items:
            parent_stage = STAGE_FACTS[item.stage].parent
            parent_key = (parent_stage, item.parent_gen_id) if parent_stage and item.parent_gen_id else None
            if parent_key is not None and parent_key in selected:
                children[parent_key].append(item)
            else:
                heapq.heappush(ready, (_PRIORITY[item.stage], order, item))
                order += 1
        self.progress.start(Counter(i.stage for i in items))

        def finish(
            item: WorkItem,
            status: Status,
            error: GenerationError | Exception | None = None,
            outcome: GenerationOutcome | None = None,
        ) -> None:
            summary.counts[item.stage][status] += 1
            self.progress.advance(item.stage, status)
            if error is not None:
                if isinstance(error, GenerationError):
                    summary.failures.append(Failure(item.stage, item.gen_id, error.message, error.cause))
                else:  # a bug or an I/O error: report it, keep going
                    message = f"{type(error).__name__}: {error}"
                    summary.failures.append(Failure(item.stage, item.gen_id, message, message))
            for observer in self.observers:
                observer.finished(item, status, outcome)
            pending = list(children.pop((item.stage, item.gen_id), []))
            if status in ("done", "skipped"):
                nonlocal order
                for child in pending:
                    heapq.heappush(ready, (_PRIORITY[child.stage], order, child))
                    order += 1
            else:
                while pending:  # a failed parent blocks its whole subtree
                    child = pending.pop()
                    summary.counts[child.stage]["blocked"] += 1
                    self.progress.advance(child.stage, "blocked")
                    pending.extend(children.pop((child.stage, child.gen_id), []))

        in_flight: dict[Future[GenerationOutcome], WorkItem] = {}
        # Each future reports itself here when done. ``concurrent.futures.wait`` would instead
        # install and remove a waiter on every future in flight at each completion: O(C) lock
        # operations per generation, which at 100 in flight showed as a futex storm.
        completed: queue.SimpleQueue[Future[GenerationOutcome]] = queue.SimpleQueue()

        def next_done(timeout: float) -> list[Future[GenerationOutcome]]:
            try:
                done = [completed.get(timeout=timeout)]
            except queue.Empty:
                return []
            while True:
                try:
                    done.append(completed.get_nowait())
                except queue.Empty:
                    return done

        def collect(done: Iterable[Future[GenerationOutcome]]) -> None:
            for future in done:
                item = in_flight.pop(future)
                response, cache_hit = None, False
                try:
                    outcome = future.result()
                except GenerationError as exc:
                    response, cache_hit = exc.response, exc.cache_hit
                    summary.record(response, cache_hit)
                    finish(item, "failed", exc)
                    if isinstance(exc, StorageError):
                        summary.storage_errors.append(exc)
                        if summary.stopped is None:
                            summary.stopped = "disk"
                except Exception as exc:
                    finish(item, "failed", exc)
                else:
                    if outcome.skipped:  # another process made it meanwhile
                        finish(item, "skipped", outcome=outcome)
                    else:
                        response, cache_hit = outcome.response, outcome.cache_hit
                        summary.record(response, cache_hit)
                        finish(item, "done", outcome=outcome)
                if self.admission is not None:
                    self.admission.release(item, response, cache_hit)

        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="dd-gen")
        stop_deadline: float | None = None
        try:
            while ready or in_flight:
                if summary.stopped is None and self.stop.is_set():
                    summary.stopped = "interrupted"
                while ready and len(in_flight) < self.concurrency and summary.stopped is None:
                    entry = heapq.heappop(ready)
                    item = entry[2]
                    if not self.force and store.is_complete(item.stage, item.gen_id):
                        finish(item, "skipped")
                        continue
                    if self.admission is not None and not self.admission.admit(item):
                        heapq.heappush(ready, entry)
                        if not in_flight:
                            summary.stopped = "budget"
                        break
                    future = pool.submit(
                        orchestrate_generation,
                        self.context,
                        item.row,
                        self.specs[item.stage],
                        gen_id=item.gen_id,
                        parent_gen_id=item.parent_gen_id,
                    )
                    in_flight[future] = item
                    future.add_done_callback(completed.put)
                if not in_flight:
                    if summary.stopped is not None:
                        break
                    continue
                if summary.stopped == "interrupted":
                    # Calls in flight finish and are stored, within the grace period.
                    now = time.monotonic()
                    stop_deadline = stop_deadline if stop_deadline is not None else now + self.grace_s
                    if now >= stop_deadline or self.abandon.is_set():
                        break
                    self.progress.stopping(len(in_flight), stop_deadline - now)
                # A short timeout: a stop request is seen even while every slot is busy.
                collect(next_done(0.5))
        except BaseException:
            # An interrupt from the host (a Dagster run termination): same rules as a stop request.
            summary.stopped = "interrupted"
            deadline = time.monotonic() + self.grace_s
            while in_flight and time.monotonic() < deadline and not self.abandon.is_set():
                collect(next_done(0.5))
            summary.abandoned = len(in_flight)
            pool.shutdown(wait=False, cancel_futures=True)
            self.progress.stop()
            raise
        summary.abandoned = len(in_flight)
        # Abandoned calls keep running in their threads; the caller decides whether to wait.
        pool.shutdown(wait=not in_flight, cancel_futures=True)
        self.progress.stop()
        summary.not_started = len(ready) + sum(len(c) for c in children.values()) + summary.abandoned
        summary.wall_s = time.perf_counter() - started
        return summary
