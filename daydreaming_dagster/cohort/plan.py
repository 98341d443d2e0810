"""What ``daydream run`` would do and cost, without any LLM call.

Per stage and model: the generations in all, those already complete, copy-mode essays (no call),
those the response cache will answer (or an identical call of the same run: one request serves
both), and the calls to make; then tokens and cost as a range:

- input tokens: counted from the rendered prompt whenever it can be rendered now (drafts always;
  essays and evaluations when their parent is on disk) at the model's tokens per character,
  learnt from the cohort's finished generations (``usage.prompt_tokens`` / prompt.txt length),
  else 1 token per 4 characters. A prompt whose parent is not generated yet is its template plus
  the parent's output (the parent stage's finished generations; its max_tokens as the ceiling).
- output tokens per call: low and expected are the minimum and the mean of the cohort's finished
  generations of that stage and model (0 and unknown when there are none yet); the ceiling is
  max_tokens.
- cost: low = expected input + low output; expected = expected input + mean output; high =
  prompt at one token per UTF-8 byte + max_tokens (the worst case the spending cap uses). A model
  whose price is unknown has an unknown cost, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daydreaming_dagster.cohort.budget import (
    FinishedCall,
    Spend,
    finished_calls,
    prompt_token_bound,
    read_spend,
)
from daydreaming_dagster.cohort.pipeline import Cohort, needs_llm
from daydreaming_dagster.cohort.prices import ModelPrice
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.cache import ResponseCache
from daydreaming_dagster.engine.flow import GenerationContext, GenerationError, StageSpec, plan_call
from daydreaming_dagster.engine.ledger import DEFAULT_COHORT
from daydreaming_dagster.engine.store import PROMPT, GensStore
from daydreaming_dagster.llm import LLMClient

#: Characters per token assumed when the cohort has no finished generation of a model yet.
CHARS_PER_TOKEN = 4.0
#: Finished generations read per model to learn its tokens per character.
CALIBRATION_SAMPLES = 200


@dataclass(frozen=True)
class OutputStats:
    """Completion tokens of the cohort's finished generations of one stage and model."""

    samples: int
    low: int
    mean: float


@dataclass
class TokenRange:
    low: float = 0.0
    expected: float | None = 0.0  # None: unknown (no finished generation to learn from)
    high: float = 0.0

    def add(self, low: float, expected: float | None, high: float) -> None:
        self.low += low
        self.high += high
        self.expected = None if self.expected is None or expected is None else self.expected + expected

    def to_json(self, digits: int = 0) -> dict[str, float | None]:
        def r(x: float | None) -> float | None:
            return None if x is None else (round(x, digits) if digits else float(round(x)))

        return {"low": r(self.low), "expected": r(self.expected), "high": r(self.high)}


@dataclass
class PlanRow:
    """One stage and model."""

    stage: Stage
    model_id: str
    max_tokens: int
    price: ModelPrice
    total: int = 0
    complete: int = 0
    copy: int = 0  # copy-mode essays: no call
    cached: int = 0  # answered by the response cache (or by an identical call of this run)
    to_call: int = 0
    # Fail before any call: the parent is neither on disk nor in the selected stages, or the
    # inputs are invalid (e.g. a draft too short for an essay).
    blocked: int = 0
    rendered: int = 0  # calls among ``to_call`` whose prompt was rendered (not estimated)
    input_tokens: TokenRange = field(default_factory=TokenRange)  # over the calls to make
    output: OutputStats | None = None
    spent: float = 0.0  # USD already spent by this stage and model (the ledger)

    @property
    def output_per_call(self) -> TokenRange:
        if self.output is None:
            return TokenRange(0.0, None, float(self.max_tokens))
        return TokenRange(float(self.output.low), self.output.mean, float(self.max_tokens))

    @property
    def cost(self) -> TokenRange | None:
        """USD for the calls to make; None when the price is unknown and there is a call to make."""
        if self.to_call == 0:
            return TokenRange()
        price = self.price
        if price.prompt is None or price.completion is None:
            return None
        out = self.output_per_call
        n = self.to_call
        inp = self.input_tokens
        expected = None
        if inp.expected is not None and out.expected is not None:
            expected = inp.expected * price.prompt + n * out.expected * price.completion
        return TokenRange(
            inp.low * price.prompt + n * out.low * price.completion,
            expected,
            inp.high * price.prompt + n * out.high * price.completion,
        )

    def to_json(self) -> dict[str, Any]:
        cost = self.cost
        per_mtok = self.price.per_mtok()
        return {
            "stage": self.stage,
            "model_id": self.model_id,
            "total": self.total,
            "complete": self.complete,
            "copy": self.copy,
            "cached": self.cached,
            "to_call": self.to_call,
            "blocked": self.blocked,
            "prompts_rendered": self.rendered,
            "input_tokens": self.input_tokens.to_json(),
            "output_tokens_per_call": self.output_per_call.to_json(1),
            "finished_samples": self.output.samples if self.output else 0,
            "price": {
                "prompt_usd_per_mtok": per_mtok[0] if per_mtok else None,
                "completion_usd_per_mtok": per_mtok[1] if per_mtok else None,
                "source": self.price.source,
            },
            "cost_usd": cost.to_json(6) if cost is not None else None,
            "spent_usd": round(self.spent, 8),
        }


@dataclass
class Plan:
    cohort_id: str
    data_root: Path
    stages: list[Stage]
    rows: list[PlanRow]
    ledger: Spend  # what the cohort and the study have spent (the payment journal)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unknown model strings: the run would stop

    def count(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.rows)

    @property
    def unknown_price_models(self) -> list[str]:
        return sorted({r.model_id for r in self.rows if r.cost is None})

    @property
    def cost(self) -> TokenRange:
        """USD over the rows whose price is known (see ``unknown_price_models``)."""
        total = TokenRange()
        for row in self.rows:
            cost = row.cost
            if cost is not None:
                total.add(cost.low, cost.expected, cost.high)
        return total

    def to_json(self) -> dict[str, Any]:
        unknown = self.unknown_price_models
        cost = self.cost
        return {
            "cohort_id": self.cohort_id,
            "data_root": str(self.data_root),
            "stages": list(self.stages),
            "rows": [r.to_json() for r in self.rows],
            "totals": {
                **{
                    name: self.count(name)
                    for name in ("total", "complete", "copy", "cached", "to_call", "blocked")
                },
                "cost_usd": cost.to_json(6),
                "cost_complete": not unknown,
                "unknown_price_models": unknown,
            },
            "spent": self.ledger.to_json(),
            "assumptions": {
                "chars_per_token_default": CHARS_PER_TOKEN,
                "worst_case_prompt_tokens": "UTF-8 bytes of the prompt + "
                f"{prompt_token_bound('')} (chat template)",
                "output_low_expected": "min and mean completion tokens of the cohort's finished generations",
                "output_high": "max_tokens",
            },
            "warnings": list(self.warnings),
            "problems": list(self.problems),
        }


def _output_stats(calls: Sequence[FinishedCall]) -> OutputStats | None:
    tokens = [c.completion_tokens for c in calls if c.completion_tokens is not None]
    if not tokens:
        return None
    return OutputStats(len(tokens), min(tokens), sum(tokens) / len(tokens))


def _tokens_per_char(
    store: GensStore, finished: Mapping[tuple[Stage, str], Sequence[FinishedCall]]
) -> dict[str, float]:
    """Per model id: prompt tokens per character of prompt.txt over its finished generations."""
    sums: dict[str, list[float]] = {}
    for (stage, model_id), calls in finished.items():
        acc = sums.setdefault(model_id, [0.0, 0.0, 0.0])
        for call in calls:
            if acc[2] >= CALIBRATION_SAMPLES:
                break
            tokens = call.prompt_tokens
            if not tokens:
                continue
            prompt = store.read(stage, call.gen_id, PROMPT)
            if not prompt:
                continue
            acc[0] += tokens
            acc[1] += len(prompt)
            acc[2] += 1
    return {m: t / c for m, (t, c, _) in sums.items() if c > 0}


def build_plan(
    cohort: Cohort,
    stages: Sequence[Stage],
    *,
    client: LLMClient,
    prices: Mapping[str, ModelPrice],
    cache: ResponseCache | None = None,
    store: GensStore | None = None,
    warnings: Sequence[str] = (),
    problems: Sequence[str] = (),
    cohort_name: str = DEFAULT_COHORT,
) -> Plan:
    """The plan of ``stages`` (no LLM call; reads the gens store, the response cache, the journal)."""
    store = store if store is not None else GensStore(cohort.data_root)
    specs = cohort.specs()
    all_ids = {stage: [str(r["gen_id"]) for r in cohort.rows(stage)] for stage in STAGES}
    ledger = read_spend(cohort.data_root, cohort_name, store=store)
    finished = finished_calls(store, all_ids)
    per_char = _tokens_per_char(store, finished)
    stats = {key: _output_stats(calls) for key, calls in finished.items()}
    context = GenerationContext(run_id="plan", store=store, llm=client, cache=cache)
    rows: dict[tuple[Stage, str], PlanRow] = {}
    seen_calls: set[str] = set()

    for item in cohort.items(stages):
        spec = specs[item.stage]
        model_id = spec.model_id(item.row)
        key = (item.stage, model_id)
        row = rows.get(key)
        if row is None:
            price = prices.get(model_id) or ModelPrice(model_id, None, None, "unknown")
            row = rows[key] = PlanRow(item.stage, model_id, spec.resolve_max_tokens(context), price, output=stats.get(key))
            row.spent = ledger.by_stage_model.get(key, 0.0)
        row.total += 1
        if store.is_complete(item.stage, item.gen_id):
            row.complete += 1
            continue
        parent = STAGE_FACTS[item.stage].parent
        parent_done = parent is not None and store.is_complete(parent, item.parent_gen_id or "")
        if parent is not None and not parent_done and parent not in stages:
            row.blocked += 1  # `daydream run` fails it at once, naming the parent to run
            continue
        if not needs_llm(spec, item):
            row.copy += 1
            continue
        tpc = per_char.get(model_id, 1.0 / CHARS_PER_TOKEN)
        try:
            call = plan_call(context, item.row, spec, gen_id=item.gen_id)
        except GenerationError:
            call = None  # the parent is not on disk yet: estimated below
        if call is not None:
            call_key = call.key()
            if call_key in seen_calls or (cache is not None and cache.lookup(call)[1] is not None):
                row.cached += 1
                continue
            seen_calls.add(call_key)
            row.to_call += 1
            row.rendered += 1
            estimate = len(call.prompt) * tpc
            row.input_tokens.add(estimate, estimate, prompt_token_bound(call.prompt))
            continue
        if parent is None or parent_done:
            # Its inputs are there but invalid (e.g. a draft too short): it fails before its call.
            row.blocked += 1
            continue
        row.to_call += 1
        low, expected, high = _parent_estimate(cohort, specs, item.row, item.stage, stats, context)
        template = _template_text(spec, item.row)
        overhead = len(template) * tpc
        row.input_tokens.add(
            overhead + low,
            None if expected is None else overhead + expected,
            prompt_token_bound(template) + high,
        )

    ordered = sorted(rows.values(), key=lambda r: (STAGES.index(r.stage), r.model_id))
    return Plan(
        cohort.tables.cohort_id,
        cohort.data_root,
        list(stages),
        ordered,
        ledger,
        warnings=list(warnings),
        problems=list(problems),
    )


def _template_text(spec: StageSpec, row: Mapping[str, str]) -> str:
    try:
        return spec.template_loader(spec.template_id(row))
    except Exception:  # a template problem fails the generation before its call; count nothing
        return ""


def _parent_estimate(
    cohort: Cohort,
    specs: Mapping[Stage, StageSpec],
    row: Mapping[str, str],
    stage: Stage,
    stats: Mapping[tuple[Stage, str], OutputStats | None],
    context: GenerationContext,
) -> tuple[float, float | None, float]:
    """Tokens of the parent text a not-yet-renderable prompt will include: (low, expected, high)."""
    parent = STAGE_FACTS[stage].parent
    assert parent is not None
    model = str(row.get("generation_model") or "")
    source: Stage = parent
    if parent == "essay":
        try:
            if specs[parent].generator_mode(specs[parent].template_id(row)) == "copy":
                source = "draft"  # a copied essay is its draft's text
        except (GenerationError, KeyError):
            pass
    found = stats.get((source, model))
    ceiling = float(specs[source].resolve_max_tokens(context))
    if found is None:
        return 0.0, None, ceiling
    return float(found.low), found.mean, ceiling
