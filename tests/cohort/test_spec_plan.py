"""Planning a cohort spec: upstream's membership (gen ids, parents, de-duplication) in our task rows.

Expected gen ids and membership were obtained by running upstream HEAD's
``CohortDefinition.from_design_rows`` + ``generate_membership`` (InMemoryGenerationRegistry) on
upstream's fixtures, or its ``compute_deterministic_gen_id`` for the curated cases.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from daydreaming_dagster.cohort.spec_plan import (
    ExistingGeneration,
    SpecPlan,
    plan_design_rows,
    plan_spec,
)
from daydreaming_dagster.cohort.tasks import DRAFT_COLUMNS, ESSAY_COLUMNS, EVALUATION_COLUMNS
from daydreaming_dagster.inputs import InputError
from daydreaming_dagster.inputs.spec_dsl import load_spec
from tests.inputs.test_spec_dsl import write_fixture

MODELS = {
    "draft-llm": "prov/draft", "essay-llm": "prov/essay", "eval-llm": "prov/eval",
    "gemini_25_pro": "google/gemini-2.5-pro", "deepseek_r1_p": "deepseek/deepseek-r1", "sonnet-4": "anthropic/claude-sonnet-4",
}

# Upstream's membership of tests/fixtures/spec_dsl/cohort_cartesian:
# (stage, gen_id, parent_gen_id, combo_id, template_id, llm_model_id, replicate).
COHORT_CARTESIAN_MEMBERSHIP = [
    ("draft", "d_3rdru73r8ppaqlsz", "", "combo-1", "draft-A", "draft-llm", 1),
    ("draft", "d_1ft3vdc1tduj8b2a", "", "combo-1", "draft-A", "draft-llm", 2),
    ("essay", "e_3p5jidm7056q95x9", "d_3rdru73r8ppaqlsz", "combo-1", "essay-X", "essay-llm", 1),
    ("essay", "e_tx3ey0d11lgtnog", "d_3rdru73r8ppaqlsz", "combo-1", "essay-Y", "essay-llm", 1),
    ("essay", "e_1jro6qiuaxj6vgjy", "d_3rdru73r8ppaqlsz", "combo-1", "essay-X", "essay-llm", 2),
    ("essay", "e_wbr370x8ge0usq6", "d_3rdru73r8ppaqlsz", "combo-1", "essay-Y", "essay-llm", 2),
    ("essay", "e_3h7t9i3a7d7cg20u", "d_1ft3vdc1tduj8b2a", "combo-1", "essay-X", "essay-llm", 1),
    ("essay", "e_bjuccmhdoachnq3", "d_1ft3vdc1tduj8b2a", "combo-1", "essay-Y", "essay-llm", 1),
    ("essay", "e_1cuamg8hi59vw8wv", "d_1ft3vdc1tduj8b2a", "combo-1", "essay-X", "essay-llm", 2),
    ("essay", "e_br7o7m5ko1wxq0z", "d_1ft3vdc1tduj8b2a", "combo-1", "essay-Y", "essay-llm", 2),
    ("evaluation", "v_d6witcypvut8jo2", "e_3p5jidm7056q95x9", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_4hpsgdmji3faed1e", "e_tx3ey0d11lgtnog", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_562pcl197k6lcom9", "e_1jro6qiuaxj6vgjy", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_3a5j5hbjba7cfzbv", "e_wbr370x8ge0usq6", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_30ij3m93yfbvcd28", "e_3h7t9i3a7d7cg20u", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_5gspo8nonoo2c13t", "e_bjuccmhdoachnq3", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_1kc0loacs1d09mqh", "e_1cuamg8hi59vw8wv", "combo-1", "eval-1", "eval-llm", 1),
    ("evaluation", "v_19wp3qfo498imvqd", "e_br7o7m5ko1wxq0z", "combo-1", "eval-1", "eval-llm", 1),
]

# creative_alignment_tuple: 24 drafts, 24 essays, 528 evaluations; SHA-256 of
# json.dumps(<the 576 tuples as above>, separators=(",", ":")) of upstream's membership.
CREATIVE_MEMBERSHIP_SHA256 = "4b159f713d45934d991fad849b60285abd4a0a04d1df7eee55e291c4f795d541"


def membership_rows(plan: SpecPlan) -> list[tuple[object, ...]]:
    """The plan in upstream's membership shape, to compare with upstream's output."""
    rows: list[tuple[object, ...]] = []
    for task in plan.drafts:
        rows.append(("draft", task["gen_id"], "", task["combo_id"], task["draft_template"], task["generation_model"], int(task["replicate"])))
    for task in plan.essays:
        rows.append(("essay", task["gen_id"], task["parent_gen_id"], task["combo_id"], task["essay_template"],
                     task["generation_model"], int(task["replicate"])))
    for task in plan.evaluations:
        rows.append(("evaluation", task["gen_id"], task["parent_gen_id"], task["combo_id"], task["evaluation_template"],
                     task["evaluation_model"], int(task["replicate"])))
    return rows


def test_cohort_cartesian_plans_upstreams_membership(tmp_path: Path) -> None:
    plan = plan_spec(load_spec(write_fixture(tmp_path, "cohort_cartesian")), cohort_id="spring", model_names=MODELS)
    assert membership_rows(plan) == COHORT_CARTESIAN_MEMBERSHIP
    assert list(plan.membership) == [(stage, gen_id) for stage, gen_id, *_ in COHORT_CARTESIAN_MEMBERSHIP]
    assert plan.combo_ids == ("combo-1",)
    assert plan.reused == () and plan.ignored_axes == ()


def test_task_rows_have_our_columns_and_task_ids(tmp_path: Path) -> None:
    plan = plan_spec(
        load_spec(write_fixture(tmp_path, "cohort_cartesian")), cohort_id="spring", model_names=MODELS,
        evaluation_parsers={"eval-1": "in_last_line"},
    )
    assert [list(task) for task in plan.drafts] == [[*DRAFT_COLUMNS, "cohort_id", "replicate"]] * 2
    assert {tuple(task) for task in plan.essays} == {(*ESSAY_COLUMNS, "cohort_id", "replicate")}
    assert {tuple(task) for task in plan.evaluations} == {(*EVALUATION_COLUMNS, "replicate")}

    draft_2 = plan.drafts[1]
    assert draft_2 == {
        "draft_task_id": "combo-1__draft-A__draft-llm__r2", "combo_id": "combo-1", "draft_template": "draft-A",
        "generation_model": "draft-llm", "generation_model_name": "prov/draft", "gen_id": "d_1ft3vdc1tduj8b2a",
        "cohort_id": "spring", "replicate": "2",
    }
    essay = plan.essays[6]  # draft replicate 2, essay-X, essay replicate 2
    assert essay == {
        "essay_task_id": "combo-1__draft-A__draft-llm__r2__essay-X__r2", "parent_gen_id": "d_1ft3vdc1tduj8b2a",
        "draft_task_id": "combo-1__draft-A__draft-llm__r2", "combo_id": "combo-1", "draft_template": "draft-A",
        "essay_template": "essay-X", "generation_model": "essay-llm", "generation_model_name": "prov/essay",
        "gen_id": "e_1cuamg8hi59vw8wv", "cohort_id": "spring", "replicate": "2",
    }
    evaluation = plan.evaluations[6]
    assert evaluation == {
        "evaluation_task_id": "e_1cuamg8hi59vw8wv__eval-1__eval-llm", "parent_gen_id": "e_1cuamg8hi59vw8wv",
        "document_id": essay["essay_task_id"], "essay_task_id": essay["essay_task_id"], "combo_id": "combo-1",
        "draft_template": "draft-A", "essay_template": "essay-X", "generation_model": "essay-llm",
        "generation_model_name": "prov/essay", "evaluation_template": "eval-1", "evaluation_model": "eval-llm",
        "evaluation_model_name": "prov/eval", "parser": "in_last_line", "file_path": "", "source_dir": "",
        "source_asset": "essay_response", "gen_id": "v_1kc0loacs1d09mqh", "cohort_id": "spring", "replicate": "1",
    }


def test_creative_alignment_tuple_plans_upstreams_membership(tmp_path: Path) -> None:
    plan = plan_spec(load_spec(write_fixture(tmp_path, "creative_alignment_tuple")), cohort_id="c", model_names=MODELS)
    assert (len(plan.drafts), len(plan.essays), len(plan.evaluations)) == (24, 24, 528)
    rows = membership_rows(plan)
    assert rows[:2] == [
        ("draft", "d_530mv6a462mquuj9", "", "combo_v1_a", "creative-synthesis-v10", "gemini_25_pro", 1),
        ("draft", "d_c57q4y0y2f0luhg", "", "combo_v1_a", "creative-synthesis-v10", "deepseek_r1_p", 1),
    ]
    assert rows[48] == ("evaluation", "v_50teiyret4yluyy", "e_175gyragjokynayf", "combo_v1_a", "creativity-metrics-v2", "gemini_25_pro", 1)
    assert hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest() == CREATIVE_MEMBERSHIP_SHA256
    assert plan.combo_ids == ("combo_v1_a", "combo_v1_b", "combo_v1_c")


@pytest.mark.parametrize("name", ["baseline_cartesian", "curated_essays", "dual_llm_cartesian", "full_two_phase_cartesian", "paired_copy_mix"])
def test_fixtures_without_combos_are_refused_as_upstream(tmp_path: Path, name: str) -> None:
    # Upstream's planner fails on these too (DDError field=combo_id): a draft needs a combo.
    spec_path = write_fixture(tmp_path, name)
    with pytest.raises(InputError) as caught:
        plan_spec(load_spec(spec_path), cohort_id="c", model_names=MODELS)
    message = str(caught.value)
    assert message.startswith(f"{spec_path}: design row 1 (")
    assert "no combo_id (the planner needs one in every row). Fix: add a combo_id axis" in message
    assert "essay_gen_id" in message  # the curated way out is named


ROW = {
    "combo_id": "combo-1", "draft_template": "draft-A", "draft_llm": "draft-llm", "essay_template": "essay-X",
    "essay_llm": "essay-llm", "evaluation_template": "eval-1", "evaluation_llm": "eval-llm",
}


def plan_rows(tmp_path: Path, rows: list[dict[str, object]], existing: dict[str, ExistingGeneration] | None = None) -> SpecPlan:
    return plan_design_rows(rows, source=tmp_path / "config.yaml", cohort_id="c", model_names=MODELS, existing=existing)


def test_shared_drafts_and_essays_are_planned_once(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {**ROW, "evaluation_template": "eval-1"},
        {**ROW, "evaluation_template": "eval-2"},
        {**ROW, "essay_template": "essay-Y"},
        {**ROW, "evaluation_template": "eval-1"},  # the first row again
        {**ROW, "shared": "x"},  # a tie's own column: reported, not read
    ]
    plan = plan_rows(tmp_path, rows)
    assert (len(plan.drafts), len(plan.essays), len(plan.evaluations)) == (1, 2, 3)
    assert {task["parent_gen_id"] for task in plan.essays} == {plan.drafts[0]["gen_id"]}
    assert plan.ignored_axes == ("shared",)
    # Aliases and replicate fallbacks of upstream's planner.
    alias_plan = plan_rows(tmp_path, [{
        "combo": "combo-1", "draft_template": "draft-A", "generation_llm": "draft-llm", "draft_template_replicate": "2",
        "essay_template": "essay-X", "essay_llm": "essay-llm", "evaluation_template": "eval-1", "evaluation_llm": "eval-llm",
    }])
    assert alias_plan.drafts[0]["gen_id"] == "d_1ft3vdc1tduj8b2a"


def test_essays_differing_only_by_essay_llm_are_refused(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [ROW, {**ROW, "essay_llm": "sonnet-4"}]
    with pytest.raises(InputError) as caught:
        plan_rows(tmp_path, rows)
    message = str(caught.value)
    assert "design row 2" in message and "this essay gets gen_id e_3p5jidm7056q95x9, as a different essay of design row 1" in message
    assert "upstream's essay id ignores essay_llm" in message
    # Different essay replicates keep them apart.
    plan_rows(tmp_path, [ROW, {**ROW, "essay_llm": "sonnet-4", "essay_replicate": 2}])


def test_ids_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ids are lower-cased"):
        plan_rows(tmp_path, [ROW, {**ROW, "draft_template": "DRAFT-A"}])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"evaluation_llm": "gpt-9"}, "evaluation_llm 'gpt-9' is not a model of llm_models.csv. Fix: add 'gpt-9' to 1_raw/llm_models.csv"),
        ({"draft_replicate": "0"}, "draft_replicate '0' is not a replicate number. Fix: write draft_replicate levels as whole numbers from 1"),
        ({"evaluation_replicate": "x"}, "evaluation_replicate 'x' is not a replicate number"),
        ({"evaluation_template": " "}, "no evaluation_template"),
    ],
)
def test_bad_rows_name_the_spec_and_the_fix(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as caught:
        plan_rows(tmp_path, [{**ROW, **change}])
    assert str(caught.value).startswith(f"{tmp_path / 'config.yaml'}: design row 1 (")
    assert message in str(caught.value)


# --------------------------------------------------------------------------------------------
# Curated rows: existing essays to rescore, existing drafts to write new essays from

EXISTING = {
    "d_3rdru73r8ppaqlsz": ExistingGeneration(
        stage="draft", gen_id="d_3rdru73r8ppaqlsz", task_id="combo-1__draft-A__draft-llm",
        combo_id="combo-1", draft_template="draft-A", model_id="draft-llm",
    ),
    "e_3p5jidm7056q95x9": ExistingGeneration(
        stage="essay", gen_id="e_3p5jidm7056q95x9", task_id="combo-1__draft-A__draft-llm__essay-X",
        combo_id="combo-1", draft_template="draft-A", model_id="essay-llm", essay_template="essay-X",
        parent_gen_id="d_3rdru73r8ppaqlsz", draft_task_id="combo-1__draft-A__draft-llm",
    ),
}


def test_curated_essays_get_only_new_evaluations(tmp_path: Path) -> None:
    spec_dir = tmp_path / "spec"
    (spec_dir / "items").mkdir(parents=True)
    (spec_dir / "items" / "best_essays.csv").write_text("essay_gen_id\ne_3p5jidm7056q95x9\n", encoding="utf-8")
    (spec_dir / "config.yaml").write_text(
        "axes:\n  essay_gen_id: '@file:items/best_essays.csv'\n  evaluation_template: [novelty-v2]\n"
        "  evaluation_llm: [sonnet-4]\n  evaluation_replicate: [1, 2]\n"
        "output:\n  field_order: [essay_gen_id, evaluation_template, evaluation_llm, evaluation_replicate]\n",
        encoding="utf-8",
    )
    plan = plan_spec(load_spec(spec_dir), cohort_id="rescore", model_names=MODELS, existing=EXISTING)
    assert plan.drafts == () and plan.essays == ()
    # Ids from upstream's compute_deterministic_gen_id(evaluation_signature(essay, template, model, replicate)).
    assert [task["gen_id"] for task in plan.evaluations] == ["v_4t35x6coxo5yfzdn", "v_n07pnc262jycfad"]
    first = plan.evaluations[0]
    assert (first["parent_gen_id"], first["essay_task_id"], first["combo_id"], first["essay_template"], first["generation_model"]) == (
        "e_3p5jidm7056q95x9", "combo-1__draft-A__draft-llm__essay-X", "combo-1", "essay-X", "essay-llm",
    )
    assert plan.evaluations[1]["evaluation_task_id"] == "e_3p5jidm7056q95x9__novelty-v2__sonnet-4__r2"
    assert plan.reused == (("draft", "d_3rdru73r8ppaqlsz"), ("essay", "e_3p5jidm7056q95x9"))
    assert plan.membership == (
        ("draft", "d_3rdru73r8ppaqlsz"), ("essay", "e_3p5jidm7056q95x9"),
        ("evaluation", "v_4t35x6coxo5yfzdn"), ("evaluation", "v_n07pnc262jycfad"),
    )
    assert plan.combo_ids == ("combo-1",)


def test_curated_drafts_get_new_essays_with_the_drafts_model(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"draft_gen_id": "d_3rdru73r8ppaqlsz", "essay_template": "essay-Y", "evaluation_template": "novelty-v2", "evaluation_llm": "sonnet-4"},
    ]
    plan = plan_rows(tmp_path, rows, existing=EXISTING)
    assert plan.drafts == ()
    (essay,) = plan.essays
    (evaluation,) = plan.evaluations
    # Upstream's ids: essay_signature(draft, "essay-Y", 1), then the evaluation of that essay.
    assert (essay["gen_id"], evaluation["gen_id"]) == ("e_tx3ey0d11lgtnog", "v_1y0189086re0t0d8")
    assert (essay["essay_task_id"], essay["generation_model"]) == ("combo-1__draft-A__draft-llm__essay-Y", "draft-llm")
    assert plan.membership[0] == ("draft", "d_3rdru73r8ppaqlsz")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"essay_gen_id": "e_missing"}, "essay_gen_id 'e_missing' is not an essay in the gens store"),
        ({"essay_gen_id": "d_3rdru73r8ppaqlsz"}, "essay_gen_id 'd_3rdru73r8ppaqlsz' is a draft, not an essay"),
        ({"essay_gen_id": "e_3p5jidm7056q95x9", "essay_template": "essay-Y"}, "essay_template cannot be combined with essay_gen_id"),
        ({"draft_gen_id": "d_3rdru73r8ppaqlsz", "combo_id": "combo-1", "essay_template": "e"}, "combo_id cannot be combined with draft_gen_id"),
    ],
)
def test_curated_rows_must_name_existing_generations_alone(tmp_path: Path, row: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as caught:
        plan_rows(tmp_path, [{**row, "evaluation_template": "novelty-v2", "evaluation_llm": "sonnet-4"}], existing=EXISTING)
    assert message in str(caught.value)
    assert "Fix: " in str(caught.value)
