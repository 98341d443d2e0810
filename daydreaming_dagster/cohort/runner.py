"""Run a cohort's generations concurrently inside one process, pipelined across stages.

Each generation is one ``run_generation`` call on a worker thread; at most ``concurrency`` run at
once (the LLM client's per-provider limiter is the real throttle on requests). An essay starts as
soon as its draft is done and an evaluation as soon as its essay is done: there is no barrier
between stages. Generations already complete on disk are skipped without any call (resume), unless
``force`` is set. A failure blocks only its own descendants.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal, Protocol

from daydreaming_dagster.llm import LLMResponse
from daydreaming_dagster.utils.document import STAGES, Stage
from daydreaming_dagster.utils.generation_engine import (
    GenerationContext,
    GenerationError,
    GenerationOutcome,
    StageSpec,
    cost_of,
    run_generation,
)

Status = Literal["done", "skipped", "failed", "blocked"]
_PARENT_STAGE: Mapping[Stage, Stage | None] = {"draft": None, "essay": "draft", "evaluation": "essay"}
# Longest remaining chain first (drafts, then essays): every slot stays busy until the end, and
# children still start as soon as slots free up. Deeper-first gave earlier scores but left the last
# drafts' chains to run alone at the end (0.89 vs 0.94 efficiency, docs/benchmarks.md).
_PRIORITY: Mapping[Stage, int] = {"draft": 0, "essay": 1, "evaluation": 2}


class ProgressReporter(Protocol):
    def start(self, totals: Mapping[Stage, int]) -> None: ...
    def advance(self, stage: Stage, status: Status) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def start(self, totals: Mapping[Stage, int]) -> None:
        pass

    def advance(self, stage: Stage, status: Status) -> None:
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
    parent_column = None if stage == "draft" else "parent_gen_id"
    return [
        WorkItem(stage, str(row["gen_id"]), str(row[parent_column]) if parent_column else None, row)
        for row in rows
    ]


class CohortRunner:
    def __init__(
        self,
        context: GenerationContext,
        specs: Mapping[Stage, StageSpec],
        *,
        concurrency: int,
        force: bool = False,
        progress: ProgressReporter | None = None,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.context = context
        self.specs = specs
        self.concurrency = concurrency
        self.force = force
        self.progress = progress or NullProgress()

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
            parent_stage = _PARENT_STAGE[item.stage]
            parent_key = (parent_stage, item.parent_gen_id) if parent_stage and item.parent_gen_id else None
            if parent_key is not None and parent_key in selected:
                children[parent_key].append(item)
            else:
                heapq.heappush(ready, (_PRIORITY[item.stage], order, item))
                order += 1
        self.progress.start(Counter(i.stage for i in items))

        def finish(item: WorkItem, status: Status, message: str | None = None) -> None:
            summary.counts[item.stage][status] += 1
            self.progress.advance(item.stage, status)
            if message is not None:
                summary.failures.append(Failure(item.stage, item.gen_id, message))
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
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="dd-gen") as pool:
            try:
                while ready or in_flight:
                    while ready and len(in_flight) < self.concurrency:
                        _, _, item = heapq.heappop(ready)
                        if not self.force and store.is_complete(item.stage, item.gen_id):
                            finish(item, "skipped")
                            continue
                        future = pool.submit(
                            run_generation,
                            self.context,
                            item.row,
                            self.specs[item.stage],
                            gen_id=item.gen_id,
                            parent_gen_id=item.parent_gen_id,
                        )
                        in_flight[future] = item
                    if not in_flight:
                        continue
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = in_flight.pop(future)
                        try:
                            outcome = future.result()
                        except GenerationError as exc:
                            summary.record(exc.response, exc.cache_hit)
                            finish(item, "failed", exc.message)
                        except Exception as exc:  # a bug or an I/O error: report it, keep going
                            finish(item, "failed", f"{type(exc).__name__}: {exc}")
                        else:
                            summary.record(outcome.response, outcome.cache_hit)
                            finish(item, "done")
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise
            finally:
                self.progress.stop()
        summary.wall_s = time.perf_counter() - started
        return summary


def stage_order(stages: Iterable[str]) -> list[Stage]:
    wanted = set(stages)
    unknown = wanted - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in wanted]
