"""Combinations, task tables (replicates, cohort salting) and the score tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.cohort.runner import CohortRunner
from daydreaming_dagster.core.ids import generate_combo_id, reserve_gen_id
from daydreaming_dagster.inputs import InputError, load_raw_data
from daydreaming_dagster.inputs.combinations import build_combinations
from daydreaming_dagster.llm import LLMRequest
from daydreaming_dagster.results.scores import parsed_scores, score_pivot, score_summary
from daydreaming_dagster.testing import sample_data as sd
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply


def test_every_k_combination_of_active_concepts(root: Path) -> None:
    raw = load_raw_data(root)
    combos = build_combinations(raw, k_max=2, description_level="paragraph")
    assert len(combos) == math.comb(3, 2)
    assert [c.combo_id for c in combos] == sorted(c.combo_id for c in combos)
    assert all(list(c.concept_ids) == sorted(c.concept_ids) for c in combos)
    # Fewer active concepts than k_max: one combination of all, with upstream's id (k_max in it).
    (single,) = build_combinations(raw, k_max=6, description_level="paragraph")
    assert single.combo_id == generate_combo_id(["alpha", "beta", "gamma"], "paragraph", 6)


def test_curated_selection_replaces_the_combinations(root: Path) -> None:
    selection = root / "1_raw" / "selected_combo_mappings.csv"
    selection.write_text(
        "combo_id,version,concept_id,description_level,k_max,created_at\n"
        "my-combo,v1,gamma,paragraph,2,\nmy-combo,v1,alpha,paragraph,2,\n"
    )
    (combo,) = build_combinations(load_raw_data(root), k_max=6, description_level="paragraph")
    assert combo.combo_id == "my-combo" and combo.concept_ids == ("gamma", "alpha")
    selection.write_text(selection.read_text() + "my-combo,v1,nope,paragraph,2,\n")
    with pytest.raises(InputError, match="unknown concept 'nope'"):
        build_combinations(load_raw_data(root), k_max=6, description_level="paragraph")


def test_replicates_get_their_own_ids_and_replicate_one_keeps_the_plain_id(root: Path) -> None:
    plain = make_cohort(root)
    cohort = make_cohort(root, draft_replicates=2, evaluation_replicates=3)
    drafts = cohort.tables.drafts
    assert list(drafts["replicate"]) == ["1", "2"]
    assert drafts["gen_id"].iloc[0] == plain.tables.drafts["gen_id"].iloc[0]
    assert drafts["draft_task_id"].iloc[1].endswith("__r2")
    assert drafts["gen_id"].iloc[1] == reserve_gen_id("draft", drafts["draft_task_id"].iloc[1])
    assert len(cohort.tables.essays) == 2 * 2 and len(cohort.tables.evaluations) == 4 * 3
    assert cohort.tables.evaluations["gen_id"].is_unique
    assert "replicate" not in plain.tables.drafts.columns  # upstream's columns when unreplicated


def test_cohort_salting_keeps_upstreams_asymmetry(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cohort = make_cohort(root)
    draft = cohort.tables.drafts.iloc[0]
    assert draft["gen_id"] == reserve_gen_id("draft", draft["draft_task_id"])  # unsalted
    assert "cohort_id" not in cohort.tables.drafts.columns
    evaluation = cohort.tables.evaluations.iloc[0]
    assert evaluation["cohort_id"].startswith("cohort-")
    assert evaluation["gen_id"] == reserve_gen_id("evaluation", evaluation["evaluation_task_id"], run_id=evaluation["cohort_id"])
    monkeypatch.setenv("DD_COHORT", "c1")
    salted = make_cohort(root)
    assert salted.tables.drafts.iloc[0]["gen_id"] == reserve_gen_id("draft", draft["draft_task_id"], run_id="c1")
    assert set(salted.tables.evaluations["cohort_id"]) == {"c1"}


def test_scores_have_lineage_and_failures_are_rows(root: Path) -> None:
    cohort = make_cohort(root, k_max=2)
    scores_to_give = iter(["SCORE: 4", "SCORE: 8", "no score", "SCORE: 6", "SCORE: 2", "SCORE: 1"])

    def reply(request: LLMRequest) -> ScriptedReply:
        if request.prompt.startswith("Rate this essay"):
            return ScriptedReply(next(scores_to_give))
        return ScriptedReply("essay" if request.prompt.startswith("Write a short essay") else "a\nb\nc")

    provider = ScriptedProvider(reply)
    context = make_context(root, cohort, provider, cache=False)
    CohortRunner(context, cohort.specs(), concurrency=1).run(cohort.items(["draft", "essay", "evaluation"]))
    scores = parsed_scores(context.store, cohort.tables.evaluations, cohort.tables.essays, cohort.combinations)
    assert len(scores) == 6
    failed = scores[scores["error"] != ""]
    assert len(failed) == 1 and failed["error"].iloc[0].startswith("failed:")
    assert set(scores["concepts"]) == {"alpha;beta", "alpha;gamma", "beta;gamma"}
    assert {"draft_gen_id", "essay_template", "evaluation_model", "draft_replicate"} <= set(scores.columns)
    summary = score_summary(scores)
    overall = summary[summary["dimension"] == "overall"].iloc[0]
    assert overall["count"] == 5 and overall["failed_or_missing"] == 1
    assert overall["mean"] == pytest.approx((4 + 8 + 6 + 2 + 1) / 5)
    pivot = score_pivot(scores)
    assert len(pivot) == 5 and f"{sd.EVALUATION_TEMPLATE_ID}__{sd.MODEL_ID}" in pivot.columns
    assert isinstance(pivot, pd.DataFrame)
