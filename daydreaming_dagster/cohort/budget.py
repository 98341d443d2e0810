"""What a cohort has spent, and a spending cap a run can trust.

- ``cohort_ledger``: the cohort's spend is the sum over its generations' ``metadata.json`` (every
  run's, not only the last one): the cost the server reported (``usage.cost``), else the tokens at
  the model's known price. Responses reused from the response cache, and copy-mode essays, cost 0.
- ``SpendingCap``: the runner's ``Admission``. A generation starts only if the spend so far plus
  the worst case of every call in flight, its own included, stays within the cap. A call's worst
  case is its prompt at one token per UTF-8 byte (no tokenizer makes more) plus ``max_tokens``
  completion tokens, at the model's price; a call the response cache will answer, a copy-mode
  essay and a local model cost 0. The cap bounds the cohort's total spend: the ledger before the
  run plus this run's calls.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from daydreaming_dagster.cohort.pipeline import Cohort
from daydreaming_dagster.cohort.prices import ModelPrice
from daydreaming_dagster.cohort.runner import WorkItem
from daydreaming_dagster.core.stages import STAGES, Stage
from daydreaming_dagster.engine.flow import GenerationContext, GenerationError, StageSpec, plan_call
from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.llm import LLMResponse

#: Tokens a chat template may add around the prompt (role markers...), counted in the worst case.
CHAT_OVERHEAD_TOKENS = 32


def prompt_token_bound(prompt: str) -> int:
    """An upper bound on the prompt's tokens for any byte-level tokenizer: its UTF-8 bytes, plus
    the chat template's overhead."""
    return len(prompt.encode("utf-8")) + CHAT_OVERHEAD_TOKENS


def is_paid(record: GenerationRecord) -> bool:
    """Whether this generation's response was a paid call (not a cache reuse, not a copy)."""
    if record.response is None:
        return False
    cache = record.cache or {}
    return not bool(cache.get("hit"))


def record_cost(record: GenerationRecord, price: ModelPrice | None) -> tuple[float | None, bool]:
    """``(USD, estimated)`` of one generation's paid call: the reported cost, else its tokens at
    ``price`` (estimated), else ``(None, False)``. 0 when it was no paid call."""
    if not is_paid(record):
        return 0.0, False
    assert record.response is not None
    usage = record.response.usage
    if usage.cost is not None and math.isfinite(usage.cost):
        return float(usage.cost), False
    if price is not None and usage.prompt_tokens is not None and usage.completion_tokens is not None:
        cost = price.cost(usage.prompt_tokens, usage.completion_tokens)
        if cost is not None:
            return cost, True
    return None, False


class FinishedCall(NamedTuple):
    """What estimates learn from one finished generation (not its whole record: a ledger of a
    100,000-generation cohort held ~390 MB of records)."""

    gen_id: str
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass
class Ledger:
    """A cohort's spend, summed over its generations' metadata."""

    spent: float = 0.0  # USD: reported costs plus the estimated part
    estimated: float = 0.0  # USD computed from prices (the server reported no cost)
    paid_calls: int = 0
    unpriced_calls: int = 0  # paid calls with no reported cost and no known price (not in ``spent``)
    by_stage_model: dict[tuple[Stage, str], float] = field(default_factory=lambda: defaultdict(float))
    by_run: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # Finished generations (complete, with a response) per (stage, model): what estimates learn from.
    finished: dict[tuple[Stage, str], list[FinishedCall]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def run(self, run_id: str) -> float:
        return self.by_run.get(run_id, 0.0)

    def to_json(self) -> dict[str, object]:
        return {
            "spent_usd": round(self.spent, 8),
            "estimated_part_usd": round(self.estimated, 8),
            "paid_calls": self.paid_calls,
            "unpriced_calls": self.unpriced_calls,
        }


def cohort_ledger(
    store: GensStore,
    gen_ids: Mapping[Stage, Iterable[str]],
    prices: Mapping[str, ModelPrice] | None = None,
) -> Ledger:
    """The spend of the generations ``gen_ids`` (a cohort's, per stage) from their metadata."""
    ledger = Ledger()
    for stage in STAGES:
        for gen_id in gen_ids.get(stage, ()):
            record = store.read_record(stage, gen_id)
            if record is None:
                continue
            model_id = record.model_id
            if record.response is not None and record.complete and record.status is not None:
                usage = record.response.usage
                ledger.finished[(stage, model_id)].append(
                    FinishedCall(record.gen_id, usage.prompt_tokens, usage.completion_tokens)
                )
            if not is_paid(record):
                continue
            ledger.paid_calls += 1
            cost, estimated = record_cost(record, (prices or {}).get(model_id))
            if cost is None:
                ledger.unpriced_calls += 1
                continue
            ledger.spent += cost
            if estimated:
                ledger.estimated += cost
            ledger.by_stage_model[(stage, model_id)] += cost
            ledger.by_run[record.run_id] += cost
    return ledger


def cohort_spend(cohort: Cohort, store: GensStore, prices: Mapping[str, ModelPrice] | None = None) -> Ledger:
    """The ledger of every generation of ``cohort`` (all stages, whatever a run selects)."""
    return cohort_ledger(
        store, {stage: [str(r["gen_id"]) for r in cohort.rows(stage)] for stage in STAGES}, prices
    )


class SpendingCap:
    """``Admission`` for ``CohortRunner``: never start a call that could take the spend past ``cap``.

    ``spent_before``: the cohort's spend before this run (``cohort_ledger(...).spent``).
    ``prices``: per model id; a model with an unknown price is refused unless ``allow_unknown``
    (then its calls count only with the cost the server reports).
    """

    def __init__(
        self,
        cap: float,
        *,
        spent_before: float,
        context: GenerationContext,
        specs: Mapping[Stage, StageSpec],
        prices: Mapping[str, ModelPrice],
        allow_unknown: bool = False,
    ) -> None:
        if not math.isfinite(cap) or cap < 0:
            raise ValueError(f"the spending cap must be a number >= 0, got {cap!r}")
        self.cap = float(cap)
        self.spent_before = float(spent_before)
        self.spent_run = 0.0
        self.context = context
        self.specs = specs
        self.prices = prices
        self.allow_unknown = allow_unknown
        self.refused = 0  # admissions refused (the same waiting generation may count several times)
        self.next_worst: float | None = None  # worst case of the last generation refused
        self._reserved: dict[tuple[Stage, str], float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SpendingCap(cap={self.cap}, spent={self.spent:.6f}, reserved={self.reserved:.6f})"

    @property
    def spent(self) -> float:
        """The cohort's total: before this run plus this run's calls."""
        return self.spent_before + self.spent_run

    @property
    def reserved(self) -> float:
        with self._lock:
            return sum(self._reserved.values())

    def worst_case(self, item: WorkItem) -> float | None:
        """The most ``item`` can cost now (USD); None when its model's price is unknown."""
        spec = self.specs[item.stage]
        try:
            if spec.generator_mode(spec.template_id(item.row)) == "copy":
                return 0.0
        except (GenerationError, KeyError):  # e.g. an unknown template: the engine fails it before any call
            return 0.0
        price = self.prices.get(spec.model_id(item.row))
        if price is None or not price.known:
            return None
        if price.prompt == 0 and price.completion == 0:
            return 0.0
        assert price.prompt is not None and price.completion is not None
        try:
            call = plan_call(self.context, item.row, spec, gen_id=item.gen_id)
        except GenerationError:
            return 0.0  # its inputs are missing (e.g. the parent failed): the engine fails it before any call
        if call is None:
            return 0.0
        cache = self.context.cache
        if cache is not None and not self.context.refresh_cache and cache.lookup(call)[1] is not None:
            return 0.0
        prompt_tokens = prompt_token_bound(item.prompt if item.prompt is not None else call.prompt)
        max_tokens = call.max_tokens
        return prompt_tokens * price.prompt + max_tokens * price.completion

    def admit(self, item: WorkItem) -> bool:
        worst = self.worst_case(item)
        if worst is None:
            if not self.allow_unknown:
                with self._lock:
                    self.refused += 1
                return False
            worst = 0.0
        with self._lock:
            committed = self.spent + sum(self._reserved.values())
            if worst > 0 and committed + worst > self.cap:
                self.refused += 1
                self.next_worst = worst
                return False
            self._reserved[(item.stage, item.gen_id)] = worst
            return True

    def release(self, item: WorkItem, response: LLMResponse | None, cache_hit: bool) -> None:
        with self._lock:
            worst = self._reserved.pop((item.stage, item.gen_id), 0.0)
            if cache_hit or response is None:
                return
            self.spent_run += self._actual(item, response, worst)

    def _actual(self, item: WorkItem, response: LLMResponse, worst: float) -> float:
        usage = response.usage
        if usage.cost is not None and math.isfinite(usage.cost):
            return float(usage.cost)
        price = self.prices.get(self.specs[item.stage].model_id(item.row))
        if price is not None and usage.prompt_tokens is not None and usage.completion_tokens is not None:
            cost = price.cost(usage.prompt_tokens, usage.completion_tokens)
            if cost is not None:
                return cost
        return worst  # nothing reported: count what it could have cost
