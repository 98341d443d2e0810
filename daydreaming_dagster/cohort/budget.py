"""What was spent, and spending caps that hold across every process on a data root.

- ``read_spend``: sums over the payment journal (``engine/ledger.py``): the data root's total (the
  study), one cohort's (payments made by its runs, whatever its inputs became since, so changing
  inputs never gives money back), one run's, per stage and model, and per generation. An answer
  reused from the response cache or from raw.txt, a copy-mode essay and a local model cost 0.
- ``ensure_journal``: a data root written before the journal existed gets one, made once from its
  generations' metadata (each call its generation paid for, attributed to the default cohort).
- ``SpendingCap``: the runner's ``Admission``. A generation starts only if the spend so far plus
  the worst case of every call in flight, in this process and in every other process on the data
  root, its own included, stays within the cohort's cap (``--max-cost``) and the study's cap
  (``study_max_cost``). A call's worst case is its prompt at one token per UTF-8 byte (no tokenizer
  makes more) plus ``max_tokens`` completion tokens, at the model's price; a call the response
  cache will answer, a copy-mode essay and a local model cost 0.

Reservations are shared through ``<data_root>/ledger/reservations/``: one file per process,
locked (``lockf``) by its owner for as long as it runs, rewritten under the ledger's lock. A file
whose lock another process can take belongs to a process that is gone: it is deleted.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from daydreaming_dagster.cohort.prices import ModelPrice
from daydreaming_dagster.cohort.runner import WorkItem
from daydreaming_dagster.core.errors import GenerationError, SettingError
from daydreaming_dagster.core.stages import STAGES, Stage
from daydreaming_dagster.engine.flow import GenerationContext, StageSpec, plan_call
from daydreaming_dagster.engine.ledger import (
    DEFAULT_COHORT,
    Payment,
    PaymentJournal,
    SpendTotals,
    usage_cost,
)
from daydreaming_dagster.engine.locks import create_process_file, other_process_file
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.llm import LLMResponse

try:
    import fcntl
except ImportError:  # Windows: reservations stay within the process
    fcntl = None  # type: ignore[assignment]

#: Tokens a chat template may add around the prompt (role markers...), counted in the worst case.
CHAT_OVERHEAD_TOKENS = 32
RESERVATIONS_DIR = "reservations"


def prompt_token_bound(prompt: str) -> int:
    """An upper bound on the prompt's tokens for any byte-level tokenizer: its UTF-8 bytes, plus
    the chat template's overhead."""
    return len(prompt.encode("utf-8")) + CHAT_OVERHEAD_TOKENS


@dataclass
class Spend:
    """Sums over the journal's payments, as every money figure reports them."""

    cohort_name: str
    study: SpendTotals = field(default_factory=SpendTotals)  # the whole data root
    cohort: SpendTotals = field(default_factory=SpendTotals)  # payments by this cohort's runs
    by_run: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_stage_model: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    # (stage, gen_id) -> USD this cohort's runs paid for that generation
    by_generation: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    paid_generations: set[tuple[str, str]] = field(default_factory=set)  # with a payment (priced or not)
    calls_by_generation: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls_by_run: Counter[str] = field(default_factory=Counter)

    def add(self, payment: Payment) -> None:
        self.study.add(payment)
        if payment.cohort != self.cohort_name:
            return
        self.cohort.add(payment)
        key = (payment.stage, payment.gen_id)
        self.paid_generations.add(key)
        self.calls_by_generation[key] += 1
        self.calls_by_run[payment.run_id] += 1
        if payment.cost is not None:
            self.by_run[payment.run_id] += payment.cost
            self.by_stage_model[(payment.stage, payment.model_id)] += payment.cost
            self.by_generation[key] += payment.cost

    def run(self, run_id: str) -> float:
        return self.by_run.get(run_id, 0.0)

    def outside(self, listed: Iterable[tuple[str, str]]) -> tuple[int, float]:
        """(calls, USD) this cohort paid for generations not in ``listed``: generations it no
        longer lists (its inputs or spec changed since it paid for them)."""
        rest = self.paid_generations.difference(listed)
        return (
            sum(self.calls_by_generation[key] for key in rest),
            sum(self.by_generation.get(key, 0.0) for key in rest),
        )

    @property
    def spent(self) -> float:
        return self.cohort.total

    def to_json(self) -> dict[str, object]:
        return {**self.cohort.to_json(), "cohort": self.cohort_name, "study": self.study.to_json()}


def read_spend(data_root: Path | str, cohort: str = DEFAULT_COHORT, *, store: GensStore | None = None) -> Spend:
    """The spend of ``cohort`` and of the data root (legacy data roots: from their metadata)."""
    spend = Spend(cohort)
    for payment in payments(data_root, store=store):
        spend.add(payment)
    return spend


def payments(data_root: Path | str, *, store: GensStore | None = None) -> list[Payment]:
    """The journal's payments; a data root without a journal yet: those its metadata records."""
    journal = PaymentJournal(data_root)
    if journal.exists():
        return journal.payments()
    return legacy_payments(store or GensStore(Path(data_root)))


def legacy_payments(store: GensStore, prices: Mapping[str, ModelPrice] | None = None) -> list[Payment]:
    """One payment per generation whose metadata says it made its call (before the journal)."""
    out = []
    for stage in STAGES:
        for gen_id in store.gen_ids(stage):
            record = store.read_record(stage, gen_id)
            if record is None or not record.answered_by_call:
                continue
            assert record.response is not None
            usage = record.response.usage
            price = (prices or {}).get(record.model_id)
            cost, source = usage_cost(
                usage, price=price.per_token() if price is not None else None, local=record.response.provider == "local"
            )
            out.append(
                Payment(
                    at=record.finished_at or "", run_id=record.run_id, cohort=DEFAULT_COHORT, stage=stage,
                    gen_id=gen_id, model_id=record.model_id, model=record.model or "", endpoint="",
                    key=str((record.cache or {}).get("key") or ""), prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens, cost=cost, cost_source=source,
                )
            )
    return out


def ensure_journal(data_root: Path | str, store: GensStore, prices: Mapping[str, ModelPrice] | None = None) -> int:
    """Create the journal once, from the metadata of a data root written before it; how many payments."""
    journal = PaymentJournal(data_root)
    with journal.locked():
        if journal.exists():
            return 0
        found = legacy_payments(store, prices)
        journal.folder.mkdir(parents=True, exist_ok=True)
        journal.path.touch()
        for payment in found:
            journal.append(payment)
        return len(found)


class FinishedCall(NamedTuple):
    """What estimates learn from one finished generation (not its whole record: a ledger of a
    100,000-generation cohort held ~390 MB of records)."""

    gen_id: str
    prompt_tokens: int | None
    completion_tokens: int | None


def finished_calls(store: GensStore, gen_ids: Mapping[Stage, Iterable[str]]) -> dict[tuple[Stage, str], list[FinishedCall]]:
    """Per (stage, model id): the token counts of the complete generations that have a response."""
    out: dict[tuple[Stage, str], list[FinishedCall]] = defaultdict(list)
    for stage in STAGES:
        for gen_id in gen_ids.get(stage, ()):
            record = store.read_record(stage, gen_id)
            if record is None or record.response is None or not record.complete:
                continue
            usage = record.response.usage
            out[(stage, record.model_id)].append(FinishedCall(gen_id, usage.prompt_tokens, usage.completion_tokens))
    return out


# ------------------------------------------------------------------------------------ the caps


class SpendingCap:
    """``Admission`` for ``CohortRunner``: never start a call that could pass a cap.

    ``cap``: the cohort's cap (its runs' total spend), ``study_cap``: the data root's; either may be
    None. ``prices``: per model id; a model with an unknown price is refused unless
    ``allow_unknown`` (then its calls count only with the cost the server reports).
    """

    def __init__(
        self,
        cap: float | None,
        *,
        context: GenerationContext,
        specs: Mapping[Stage, StageSpec],
        prices: Mapping[str, ModelPrice],
        journal: PaymentJournal,
        study_cap: float | None = None,
        allow_unknown: bool = False,
    ) -> None:
        for name, value in (("max_cost", cap), ("study_max_cost", study_cap)):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise SettingError(f"the spending cap {name} must be a number >= 0, got {value!r}")
        self.cap = None if cap is None else float(cap)
        self.study_cap = None if study_cap is None else float(study_cap)
        self.context = context
        self.cohort = context.cohort
        self.specs = specs
        self.prices = prices
        self.journal = journal
        self.allow_unknown = allow_unknown
        self.refused = 0  # admissions refused (the same waiting generation may count several times)
        self.next_worst: float | None = None  # worst case of the last generation refused
        self.stopped_by: str | None = None  # "cohort" or "study": the cap that refused it
        self.others_reserved_at_stop = (0.0, 0.0)  # other processes' reservations then: (cohort, study)
        self.spend = Spend(self.cohort)
        self._offset = 0
        self._reserved: dict[tuple[Stage, str], float] = {}
        self._others = (0.0, 0.0)  # other processes' reservations: (this cohort's, all)
        self._file: _ReservationFile | None = (
            _ReservationFile.open(journal.folder / RESERVATIONS_DIR) if fcntl is not None else None
        )
        with journal.locked():
            self._refresh()

    def __repr__(self) -> str:
        return f"SpendingCap(cap={self.cap}, study_cap={self.study_cap}, spent={self.spent:.6f})"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def spent(self) -> float:
        """The cohort's total, as of the last admission."""
        return self.spend.cohort.total

    @property
    def study_spent(self) -> float:
        return self.spend.study.total

    @property
    def reserved(self) -> float:
        return sum(self._reserved.values())

    def _refresh(self) -> None:
        """New payments from the journal, and the other processes' reservations (under the lock)."""
        new, self._offset = self.journal.read(self._offset)
        for payment in new:
            self.spend.add(payment)
        if self._file is not None:
            self._others = self._file.others(self.cohort)

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
        prompt_tokens = prompt_token_bound(call.prompt)
        return prompt_tokens * price.prompt + call.max_tokens * price.completion

    def admit(self, item: WorkItem) -> bool:
        worst = self.worst_case(item)
        if worst is None:
            if not self.allow_unknown:
                self.refused += 1
                return False
            worst = 0.0
        with self.journal.locked():
            self._refresh()
            mine = self.reserved
            cohort_committed = self.spend.cohort.total + self._others[0] + mine
            study_committed = self.spend.study.total + self._others[1] + mine
            over = None
            if worst > 0 and self.cap is not None and cohort_committed + worst > self.cap:
                over = "cohort"
            elif worst > 0 and self.study_cap is not None and study_committed + worst > self.study_cap:
                over = "study"
            if over is not None:
                self.refused += 1
                self.next_worst, self.stopped_by = worst, over
                # What other processes held for their calls in flight at that moment (cohort, study).
                self.others_reserved_at_stop = self._others
                return False
            self._reserved[(item.stage, item.gen_id)] = worst
            if self._file is not None and worst > 0:
                self._file.publish(self.cohort, self.reserved)
            return True

    def release(self, item: WorkItem, response: LLMResponse | None, cache_hit: bool) -> None:
        # The call's payment is already in the journal (the engine appends it when the answer
        # arrives): until this release it was counted twice, never zero times.
        with self.journal.locked():
            worst = self._reserved.pop((item.stage, item.gen_id), 0.0)
            if self._file is not None and worst > 0:
                self._file.publish(self.cohort, self.reserved)
            self._refresh()


@dataclass
class _ReservationFile:
    """This process's reservations, visible to the others (module docstring)."""

    folder: Path
    path: Path
    fd: int

    @classmethod
    def open(cls, folder: Path) -> _ReservationFile:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        return cls(folder, path, create_process_file(path))

    def publish(self, cohort: str, reserved: float) -> None:
        data = json.dumps({"cohort": cohort, "reserved": reserved, "pid": os.getpid()}).encode()
        os.pwrite(self.fd, data, 0)  # in place: the lock stays on this file; readers hold the ledger lock
        os.ftruncate(self.fd, len(data))

    def others(self, cohort: str) -> tuple[float, float]:
        """Reservations of the other live processes: (those of ``cohort``, all of them)."""
        same = every = 0.0
        for entry in os.scandir(self.folder):
            if entry.path == str(self.path) or not entry.name.endswith(".json"):
                continue
            with other_process_file(entry.path) as opened:
                if opened is None:
                    continue
                fd, alive = opened
                if not alive:  # its process is gone: its reservations with it
                    os.unlink(entry.path)
                    continue
                data = os.pread(fd, 4096, 0)
            try:
                value = json.loads(data or b"{}")
                reserved = float(value.get("reserved") or 0.0)
            except (ValueError, AttributeError, TypeError):
                continue
            every += reserved
            if value.get("cohort") == cohort:
                same += reserved
        return same, every

    def close(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
