"""A generation's materialization metadata agrees with the payment journal: paid once, reuse is free."""

from __future__ import annotations

from pathlib import Path

import pytest

from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.llm import LLMResponse, Usage
from daydreaming_dagster.resources.materialization_metadata import materialization_metadata

USAGE = Usage(prompt_tokens=100, completion_tokens=50, total_tokens=150, cost=0.25)


def _record(gen_id: str, *, cache: dict[str, object] | None, usage: Usage | None = USAGE) -> GenerationRecord:
    response = LLMResponse("text", "stop", usage) if usage is not None else None
    return GenerationRecord("draft", gen_id, mode="llm", response=response, cache=cache, parser="identity")


@pytest.fixture
def store(tmp_path: Path) -> GensStore:
    return GensStore(tmp_path)


def test_the_generation_that_made_the_call_reports_its_cost(store: GensStore) -> None:
    metadata = materialization_metadata(store, _record("paid0001", cache={"hit": False}), cache_hit=False)
    assert metadata["answer"] == "paid" and metadata["cost"] == 0.25
    assert (metadata["prompt_tokens"], metadata["completion_tokens"], metadata["total_tokens"]) == (100, 50, 150)


@pytest.mark.parametrize(
    "cache",
    [{"hit": True, "source_gen_id": "paid0001"}, {"hit": True, "source": "raw.txt"}],
    ids=["response-cache", "raw-txt"],
)
def test_a_reused_answer_costs_nothing(store: GensStore, cache: dict[str, object]) -> None:
    metadata = materialization_metadata(store, _record("reuse0001", cache=cache), cache_hit=True)
    assert metadata["answer"] == "reused" and metadata["cost"] == 0.0
    assert metadata["completion_tokens"] == 50  # the tokens of the call that paid for it


def test_the_record_decides_not_the_callers_cache_hit(store: GensStore) -> None:
    # A generation another process completed (reported as a hit by this run) was still paid once, by it.
    metadata = materialization_metadata(store, _record("other0001", cache={"hit": False}), cache_hit=True)
    assert metadata["answer"] == "paid" and metadata["cost"] == 0.25


def test_a_paid_call_without_a_reported_cost_reports_none(store: GensStore) -> None:
    unpriced = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    metadata = materialization_metadata(store, _record("free0001", cache={"hit": False}, usage=unpriced), cache_hit=False)
    assert metadata["answer"] == "paid" and "cost" not in metadata


def test_a_copy_makes_no_call_and_reports_no_cost(store: GensStore) -> None:
    record = GenerationRecord("essay", "copy0001", mode="copy", parser="identity")
    metadata = materialization_metadata(store, record, cache_hit=False)
    assert metadata["answer"] == "copy" and "cost" not in metadata and "prompt_tokens" not in metadata


def test_a_call_priced_from_llm_models_csv_reports_the_journals_figure(store: GensStore) -> None:
    # The server reported no cost; the journal priced the tokens (llm_models.csv): the record keeps
    # that figure, and the materialization says the same as the export and the run summary.
    unpriced = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    record = _record("priced01", cache={"hit": False}, usage=unpriced)
    record.payment = {"usd": 0.0066, "source": "priced"}
    again = GenerationRecord.from_json(record.to_json())
    metadata = materialization_metadata(store, again, cache_hit=False)
    assert metadata["answer"] == "paid" and metadata["cost"] == 0.0066
