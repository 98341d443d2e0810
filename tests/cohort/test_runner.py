"""The cohort runner: pipelining, failure isolation, resume and the concurrency bound."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from daydreaming_dagster.cohort.runner import CohortRunner
from daydreaming_dagster.core.stages import stage_order
from daydreaming_dagster.llm import LLMRequest
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply

ALL = ["draft", "essay", "evaluation"]
GOOD = "line one\nline two\nline three\nSCORE: 6"


def test_essays_start_before_all_drafts_are_done(root: Path) -> None:
    cohort = make_cohort(root, k_max=2)  # 3 concepts -> 3 combinations -> 3 drafts
    essay_started = threading.Event()
    waited: list[bool] = []

    def script(request: LLMRequest) -> ScriptedReply:
        if request.prompt.startswith("Write a short essay"):
            essay_started.set()
        elif request.prompt.startswith("Beta Concept"):  # the last draft waits for an essay
            waited.append(essay_started.wait(timeout=10))
        return ScriptedReply(GOOD)

    provider = ScriptedProvider(script)
    summary = CohortRunner(make_context(root, cohort, provider), cohort.specs(), concurrency=2).run(cohort.items(ALL))
    assert summary.ok and waited == [True]


def test_a_failure_blocks_only_its_descendants(root: Path) -> None:
    cohort = make_cohort(root, k_max=2)

    def script(request: LLMRequest) -> ScriptedReply:
        return ScriptedReply("too short" if request.prompt.startswith("Alpha Concept: Alpha is the first test concept.\nBeta") else GOOD)

    context = make_context(root, cohort, ScriptedProvider(script), cache=False)
    summary = CohortRunner(context, cohort.specs(), concurrency=3).run(cohort.items(ALL))
    assert summary.counts["draft"] == {"done": 2, "failed": 1}
    assert summary.counts["essay"] == {"done": 4, "blocked": 2}
    assert summary.counts["evaluation"] == {"done": 4, "blocked": 2}
    assert len(summary.failures) == 1 and "insufficient" in summary.failures[0].message
    assert summary.llm_calls == 3 + 2 + 4  # the failed draft's call is counted too
    assert not summary.ok


def test_resume_skips_complete_and_redoes_half_finished(root: Path) -> None:
    cohort = make_cohort(root)
    provider = ScriptedProvider(lambda request: ScriptedReply(GOOD))
    context = make_context(root, cohort, provider)
    first = CohortRunner(context, cohort.specs(), concurrency=4).run(cohort.items(ALL))
    assert first.ok and first.total("done") == 1 + 2 + 2
    calls = len(provider.calls)

    draft_id = cohort.rows("draft")[0]["gen_id"]
    (root / "gens" / "draft" / draft_id / "metadata.json").unlink()  # killed between raw and metadata
    second = CohortRunner(context, cohort.specs(), concurrency=4).run(cohort.items(ALL))
    assert second.counts["draft"] == {"done": 1} and second.counts["essay"] == {"skipped": 2}
    assert len(provider.calls) == calls  # redone from the response cache: not paid twice
    assert second.cache_hits == 1
    assert context.store.is_complete("draft", draft_id)


def test_in_flight_generations_never_exceed_concurrency(root: Path) -> None:
    cohort = make_cohort(root, k_max=1, evaluation_replicates=4)  # 3 drafts, 6 essays, 24 evaluations
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def script(request: LLMRequest) -> ScriptedReply:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return ScriptedReply(GOOD)

    summary = CohortRunner(make_context(root, cohort, ScriptedProvider(script), cache=False), cohort.specs(), concurrency=3).run(cohort.items(ALL))
    assert summary.ok and summary.total("done") == 3 + 6 + 24
    assert 2 <= state["peak"] <= 3


def test_stage_order_validates_names() -> None:
    assert stage_order(["evaluation", "draft"]) == ["draft", "evaluation"]
    with pytest.raises(ValueError, match="unknown stage"):
        stage_order(["drafts"])
