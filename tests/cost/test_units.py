"""The pieces: price columns in llm_models.csv, price resolution, the ledger, the cap's arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from daydreaming_dagster.cohort.budget import SpendingCap, prompt_token_bound, read_spend
from daydreaming_dagster.cohort.pipeline import Cohort, load_cohort
from daydreaming_dagster.cohort.prices import SOURCE_CSV, SOURCE_LOCAL, SOURCE_UNKNOWN, ModelPrice
from daydreaming_dagster.cohort.runner import WorkItem, work_items
from daydreaming_dagster.core.config import load_experiment_config
from daydreaming_dagster.core.stages import Stage
from daydreaming_dagster.engine.cache import ResponseCache
from daydreaming_dagster.engine.flow import GenerationContext, StageSpec, orchestrate_generation, plan_call
from daydreaming_dagster.engine.ledger import (
    COST_PRICED,
    COST_REPORTED,
    Payment,
    PaymentJournal,
    payment_cost,
)
from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs import InputError, load_raw_data
from daydreaming_dagster.llm import LLMClient, LLMResponse, Usage
from daydreaming_dagster.testing.mock_llm import ScriptedProvider
from tests.cost.conftest import MODELS_HEADER, make_root

HEADER = f"{MODELS_HEADER},prompt_usd_per_mtok,completion_usd_per_mtok\n"


@pytest.mark.parametrize(
    "cells,problem",
    [
        ("abc,15", "column 'prompt_usd_per_mtok': 'abc' is not a price"),
        ("-1,15", "column 'prompt_usd_per_mtok': '-1' is not a price"),
        ("3,inf", "column 'completion_usd_per_mtok': 'inf' is not a price"),
        ("3,", "column 'completion_usd_per_mtok': only one of the two price columns is set"),
    ],
)
def test_bad_price_columns_name_file_line_and_fix(tmp_path: Path, cells: str, problem: str) -> None:
    root = make_root(
        tmp_path / "data",
        models_csv=HEADER + "gen-a,vendor/gen-a,openrouter,Gen A,true,true,general,1,2\n"
        f"eval-b,vendor/eval-b,openrouter,Eval B,false,true,general,{cells}\n",
    )
    with pytest.raises(InputError) as info:
        load_raw_data(root)
    text = str(info.value)
    assert f"llm_models.csv:3: {problem}" in text and "Fix:" in text


def test_price_columns_are_usd_per_million_tokens(tmp_path: Path) -> None:
    root = make_root(
        tmp_path / "data",
        models_csv=HEADER + "gen-a,vendor/gen-a,openrouter,Gen A,true,true,general,3,15\n",
    )
    (row,) = load_raw_data(root).models
    assert row.line == 2
    assert row.price_per_token == pytest.approx((3e-6, 15e-6))


def test_model_price() -> None:
    assert not ModelPrice("m", None, 1e-6, SOURCE_UNKNOWN).known
    assert ModelPrice("m", None, None, SOURCE_UNKNOWN).cost(10, 10) is None
    price = ModelPrice("m", 1e-6, 2e-6, SOURCE_CSV)
    assert price.cost(100, 10) == pytest.approx(1.2e-4)
    assert price.per_mtok() == pytest.approx((1.0, 2.0))


def _response(cost: float | None, prompt_tokens: int = 100, completion_tokens: int = 50) -> LLMResponse:
    return LLMResponse("text", "stop", Usage(prompt_tokens, completion_tokens, cost=cost))


def test_only_a_call_the_generation_made_is_paid_and_its_cost_is_reported_else_priced() -> None:
    paid = GenerationRecord("draft", "g1", response=_response(0.5), cache={"hit": False})
    reused = GenerationRecord("draft", "g2", response=_response(0.5), cache={"hit": True, "source_gen_id": "g1"})
    copied = GenerationRecord("essay", "g3", mode="copy")
    assert paid.answered_by_call and not reused.answered_by_call and not copied.answered_by_call
    assert payment_cost(reported=0.5, prompt_tokens=1, completion_tokens=1, price=None, local=False) == (
        0.5, COST_REPORTED
    )
    cost, source = payment_cost(reported=None, prompt_tokens=100, completion_tokens=50, price=(1e-6, 1e-5), local=False)
    assert cost == pytest.approx(100e-6 + 50e-5) and source == COST_PRICED
    assert payment_cost(reported=None, prompt_tokens=100, completion_tokens=50, price=None, local=False)[0] is None
    assert payment_cost(reported=None, prompt_tokens=100, completion_tokens=50, price=None, local=True)[0] == 0.0


def _payment(gen_id: str, cost: float | None, *, cohort: str = "default", run_id: str = "r1") -> Payment:
    return Payment("t", run_id, cohort, "draft", gen_id, "gen-a", "vendor/gen-a", "e", "k", 10, 10, cost, COST_REPORTED)


def test_the_journal_sums_each_payment_once_per_scope(tmp_path: Path) -> None:
    journal = PaymentJournal(tmp_path)
    for payment in (_payment("g1", 0.5), _payment("g2", None), _payment("g3", 0.25, cohort="other", run_id="r2")):
        journal.append(payment)
    with open(journal.path, "ab") as fh:  # a line cut short by a crash is skipped, never glued onto the next
        fh.write(b'{"at": "t", "cost": 9')
    spend = read_spend(tmp_path, "default")
    assert spend.spent == 0.5 and spend.cohort.calls == 2 and spend.cohort.unpriced == 1
    assert spend.study.total == 0.75 and spend.study.calls == 3
    assert spend.run("r1") == 0.5 and spend.by_generation[("draft", "g1")] == 0.5
    payments, offset = journal.read(0)
    assert len(payments) == 3 and journal.read(offset) == ([], offset)


def test_prompt_token_bound_counts_bytes() -> None:
    assert prompt_token_bound("abc") == 3 + prompt_token_bound("")
    assert prompt_token_bound("é") == 2 + prompt_token_bound("")


def _scripted(root: Path) -> tuple[Cohort, GenerationContext, ScriptedProvider]:
    config = load_experiment_config(root)
    cohort = load_cohort(root, config)
    provider = ScriptedProvider()
    client = LLMClient.with_provider(cohort.raw.routes(), provider)
    context = GenerationContext(
        run_id="unit",
        store=GensStore(root),
        llm=client,
        cache=ResponseCache.for_data_root(root),
        journal=PaymentJournal(root),
        price_of=lambda model_id: (1e-6, 1e-5) if model_id == "gen-a" else None,
    )
    return cohort, context, provider


def test_the_cap_reserves_the_worst_case_of_calls_in_flight(tmp_path: Path) -> None:
    root = make_root(tmp_path / "data")
    cohort, context, provider = _scripted(root)
    specs = cohort.specs()
    prices = {
        "gen-a": ModelPrice("gen-a", 1e-6, 1e-5, SOURCE_CSV),
        "eval-b": ModelPrice("eval-b", 0.0, 0.0, SOURCE_LOCAL),
    }
    drafts = work_items("draft", cohort.rows("draft"))
    worst = prompt_token_bound(_prompt(context, specs, drafts[0])) * 1e-6 + 64 * 1e-5
    journal = PaymentJournal(root)
    cap = SpendingCap(2.5 * worst, context=context, specs=specs, prices=prices, journal=journal)
    assert cap.worst_case(drafts[0]) == pytest.approx(worst)
    assert cap.admit(drafts[0]) and cap.admit(drafts[1])
    assert not cap.admit(drafts[2])  # 3 worst cases do not fit in 2.5
    assert cap.next_worst == pytest.approx(cap.worst_case(drafts[2])) and cap.stopped_by == "cohort"
    journal.append(_payment(drafts[0].gen_id, 0.25 * worst))  # the engine records what the call cost
    cap.release(drafts[0], _response(0.25 * worst), cache_hit=False)
    assert cap.spent == pytest.approx(0.25 * worst)
    assert cap.admit(drafts[2])  # 0.25 spent + 2 reserved <= 2.5
    cap.release(drafts[1], None, cache_hit=False)
    cap.release(drafts[2], _response(1.0), cache_hit=True)  # reused: no payment, nothing counted
    assert cap.reserved == 0 and cap.spent == pytest.approx(0.25 * worst)
    cap.close()
    # Evaluations' model is free; copy essays cost nothing.
    essays = work_items("essay", cohort.rows("essay"))
    copy = next(i for i in essays if i.row["essay_template"] == "test-copy")
    assert cap.worst_case(copy) == 0.0
    assert provider.calls == []


def test_a_cached_call_costs_nothing_and_unknown_prices_are_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path / "data")
    cohort, context, provider = _scripted(root)
    specs = cohort.specs()
    draft = work_items("draft", cohort.rows("draft"))[0]
    prices = {"gen-a": ModelPrice("gen-a", 1e-6, 1e-5, SOURCE_CSV)}
    journal = PaymentJournal(root)
    cap = SpendingCap(1.0, context=context, specs=specs, prices=prices, journal=journal)
    assert (cap.worst_case(draft) or 0.0) > 0
    orchestrate_generation(context, draft.row, specs["draft"], gen_id=draft.gen_id, parent_gen_id=None)
    assert cap.worst_case(draft) == 0.0  # the response cache answers it now
    assert len(provider.calls) == 1
    unknown = SpendingCap(1.0, context=context, specs=specs, prices={}, journal=journal)
    essay = next(
        i for i in work_items("essay", cohort.rows("essay")) if i.row["essay_template"] == "test-essay"
    )
    assert unknown.worst_case(essay) is None and not unknown.admit(essay)
    allowed = SpendingCap(1.0, context=context, specs=specs, prices={}, journal=journal, allow_unknown=True)
    assert allowed.admit(essay)
    # The journal: one paid draft, at the cost its usage and price give (the scripted provider reports none).
    spend = read_spend(root)
    assert spend.cohort.calls == 1 and spend.cohort.priced_part == spend.spent > 0


def _prompt(context: GenerationContext, specs: Mapping[Stage, StageSpec], item: WorkItem) -> str:
    call = plan_call(context, item.row, specs[item.stage], gen_id=item.gen_id)
    assert call is not None
    return call.prompt


def test_max_cost_setting_and_run_config_field(tmp_path: Path) -> None:
    from daydreaming_dagster.resources.settings import ExperimentResource

    root = make_root(tmp_path / "data")
    assert load_experiment_config(root).max_cost is None
    (root / "experiment.toml").write_text("max_cost = 12.5\n")
    assert load_experiment_config(root).max_cost == 12.5
    assert ExperimentResource().load(root).max_cost == 12.5
    assert ExperimentResource(max_cost=3.0).load(root).max_cost == 3.0
    with pytest.raises(ValueError, match="max_cost"):
        load_experiment_config(root, max_cost=-1.0)
