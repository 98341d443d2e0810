"""Upstream's result tables and ours, on the hand-built cohort of conftest.py (expected values by hand)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.results import tables
from daydreaming_dagster.results.lineage import load_cohort_view
from daydreaming_dagster.results.scores import scores_frame


@pytest.fixture
def scores(cohort_root: Path) -> pd.DataFrame:
    return scores_frame(load_cohort_view(cohort_root))


def _row(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    (index,) = frame.index[mask]
    return frame.loc[index]


def test_parsed_scores_keep_every_evaluation_with_lineage_and_the_reason_when_unscored(scores: pd.DataFrame) -> None:
    assert len(scores) == 8
    v42 = _row(scores, gen_id="V42")
    assert math.isnan(v42["score"]) and v42["error"].startswith("failed: evaluation V42: parser 'in_last_line'")
    v11 = _row(scores, gen_id="V11")
    assert v11["score"] == 8.0 and v11["error"] == ""
    assert (v11["parent_gen_id"], v11["draft_gen_id"], v11["combo_id"]) == ("E1", "D1", "c1")
    assert v11["concepts"] == "alpha;beta" and v11["concept_names"] == "Alpha Concept; Beta Concept"
    assert (v11["draft_template"], v11["essay_template"], v11["generation_template"]) == ("d1", "e1", "e1")
    assert v11["generation_response_path"].endswith("gens/essay/E1/parsed.txt")
    # upstream's columns are all there
    upstream = ["parent_gen_id", "gen_id", "template_id", "evaluation_template", "evaluation_model", "score",
                "error", "evaluation_response_path", "combo_id", "draft_template", "generation_template",
                "generation_model", "stage", "generation_response_path"]
    assert set(upstream) <= set(scores.columns)


def test_final_results_by_hand(scores: pd.DataFrame) -> None:
    final = tables.final_results(scores)
    d1 = _row(final, analysis_type="by_draft_template", draft_template="d1")  # 8, 9, 10, 10
    assert (d1["count"], d1["average"], d1["std_dev"], d1["min_score"], d1["max_score"]) == (4, 9.25, 0.96, 8.0, 10.0)
    assert (d1["perfect_scores"], d1["perfect_score_pct"], d1["high_scores_8plus"], d1["high_score_pct"]) == (2, 50.0, 4, 100.0)
    assert (d1["low_scores_3minus"], d1["unscored"]) == (0, 0)
    d2 = _row(final, analysis_type="by_draft_template", draft_template="d2")  # 3, 6, 5 (+ V42 unscored)
    assert (d2["count"], d2["average"], d2["std_dev"]) == (3, 4.67, 1.53)
    assert (d2["low_scores_3minus"], d2["low_score_pct"], d2["unscored"]) == (1, 33.3, 1)
    m2 = _row(final, analysis_type="by_evaluation_model", evaluation_model="m2")  # 9, 6, 10
    assert (m2["count"], m2["average"], m2["std_dev"], m2["perfect_scores"]) == (3, 8.33, 2.08, 1)
    c1 = _row(final, analysis_type="by_combo_id", combo_id="c1")  # 8, 9, 3, 6
    assert (c1["count"], c1["average"], c1["concept_names"]) == (4, 6.5, "Alpha Concept; Beta Concept")
    overall = _row(final, analysis_type="overall_statistics")  # 8, 9, 3, 6, 10, 10, 5
    assert (overall["count"], overall["average"], overall["std_dev"]) == (7, 7.29, 2.69)
    assert (overall["perfect_score_pct"], overall["high_score_pct"], overall["unscored"]) == (28.6, 57.1, 1)
    # upstream's groupings are all present, plus the draft/essay template pair and the full generation key
    types = set(final["analysis_type"])
    assert {"by_generation_template", "by_generation_model", "by_evaluation_model", "by_combo_id",
            "by_template_and_generation_model", "by_generation_vs_evaluation_model", "overall_statistics",
            "by_draft_template", "by_evaluator", "by_draft_and_essay_template", "by_generation"} <= types
    pair = _row(final, analysis_type="by_generation_vs_evaluation_model", evaluation_model="m1")  # 8, 3, 10, 5
    assert (pair["generation_model"], pair["count"], pair["average"]) == ("g1", 4, 6.5)


def test_grouping_fix_keeps_essays_of_different_draft_templates_apart(scores: pd.DataFrame) -> None:
    """Upstream keyed a generation by (combo_id, generation_template, generation_model): E1 (d1) and E2
    (d2) of combo c1 were one "generation" with scores 8, 9, 3, 6 (range 6, poor agreement)."""
    upstream_key = ["combo_id", "generation_template", "generation_model"]
    assert tables.valid_scores(scores).groupby(upstream_key).ngroups == 2  # the bug: 4 essays seen as 2
    agreement = tables.evaluator_agreement_analysis(scores)
    assert list(agreement["essay_gen_id"]) == ["E1", "E2", "E3"]  # E4 has one score only
    e1, e2, e3 = (agreement.iloc[i] for i in range(3))
    assert (e1["draft_template"], e1["score_range"], e1["agreement_classification"]) == ("d1", 1.0, "high_agreement")
    assert (e2["draft_template"], e2["score_range"], e2["agreement_classification"]) == ("d2", 3.0, "low_agreement")
    assert (e3["mean"], e3["agreement_classification"]) == (10.0, "high_agreement")
    assert e2["mean"] == 4.5 and e2["median"] == 4.5 and e2["std"] == pytest.approx(2.1213203)
    assert e2["coefficient_of_variation"] == pytest.approx(2.1213203 / 4.5)
    assert e2["relative_range"] == pytest.approx(0.3) and e1["evaluator_count"] == 2


def test_spread_classification_thresholds() -> None:
    assert [tables.classify_spread(r, 1.0) for r in (0, 1, 1.5, 2, 3, 3.5)] == [
        "high_agreement", "high_agreement", "moderate_agreement", "moderate_agreement", "low_agreement",
        "poor_agreement"]
    assert tables.classify_spread(0.0, float("nan")) == "insufficient_data"


def test_comprehensive_variance_analysis(scores: pd.DataFrame) -> None:
    variance = tables.comprehensive_variance_analysis(scores)
    overall = variance[variance["analysis_type"] == "overall_variance"]
    assert list(overall["essay_gen_id"]) == ["E1", "E2", "E3", "E4"]
    e4 = _row(overall, essay_gen_id="E4")
    assert e4["total_evaluations"] == 1 and e4["stability_classification"] == "insufficient_data"
    e2 = _row(overall, essay_gen_id="E2")
    assert (e2["total_evaluations"], e2["num_models"], e2["num_templates"], e2["score_range"]) == (2, 2, 1, 3.0)
    assert e2["stability_classification"] == "low_agreement"
    model = variance[variance["analysis_type"] == "model_variance"]  # same template t1, graders m1 and m2
    assert list(model["essay_gen_id"]) == ["E1", "E2", "E3"]
    assert set(model["models_used"]) == {"m1, m2"} and set(model["eval_template"]) == {"t1"}
    assert (variance["analysis_type"] == "template_variance").sum() == 0  # one template per grader
    # scope: what each view pools (upstream's columns stay; scope is beside them)
    assert set(overall["scope"]) == {tables.POOLED_SCOPE} and set(model["scope"]) == {"within one evaluation template"}


def test_comprehensive_variance_scope_says_a_template_view_pools_rubrics() -> None:
    from tests.results.synthetic import score_frame

    rows = [{"essay": "E1", "rubric": r, "grader": "m1", "score": s} for r, s in (("orig", 2.0), ("value", 9.0))]
    variance = tables.comprehensive_variance_analysis(score_frame(rows))
    template = _row(variance, analysis_type="template_variance")
    assert template["scope"] == "pooled across evaluation templates, one evaluation model"
    assert template["templates_used"] == "orig, value" and template["stability_classification"] == "poor_agreement"


def test_pivots_and_perfect_paths(scores: pd.DataFrame) -> None:
    pivot = tables.evaluation_model_template_pivot(scores)
    assert list(pivot["essay_gen_id"]) == ["E1", "E2", "E3", "E4"]
    assert list(pivot["m1_t1"]) == [8.0, 3.0, 10.0, 5.0]
    assert pivot["m2_t1"].tolist()[:3] == [9.0, 6.0, 10.0] and math.isnan(pivot["m2_t1"].iloc[3])
    generation = tables.generation_scores_pivot(scores)
    assert list(generation["sum_scores"]) == [17.0, 9.0, 20.0, 5.0]
    assert {"combo_id", "stage", "draft_template", "generation_template", "generation_model",
            "t1_m1", "t1_m2", "sum_scores", "generation_response_path"} <= set(generation.columns)
    perfect = tables.perfect_score_paths(scores)
    assert list(perfect["evaluation_gen_id"]) == ["V31", "V32"] and set(perfect["essay_gen_id"]) == {"E3"}
    assert perfect["evaluation_response_path"].iloc[0].endswith("gens/evaluation/V31/parsed.txt")
    assert {"combo_id", "generation_template", "generation_model", "evaluation_model", "score",
            "generation_response_path", "evaluation_response_path", "notes"} <= set(perfect.columns)


def test_scores_per_combination_and_per_concept(scores: pd.DataFrame) -> None:
    combos = tables.scores_by_combination(scores)
    assert list(combos["combo_id"]) == ["c2", "c1"]  # 8.33 before 6.5
    c2 = _row(combos, combo_id="c2")
    assert (c2["concept_names"], c2["n_essays"], c2["count"], c2["average"], c2["unscored"]) == (
        "Alpha Concept; Gamma Concept", 2, 3, 8.33, 1)
    assert (c2["best_essay_gen_id"], c2["best_essay_mean"]) == ("E3", 10.0)
    concepts = tables.scores_by_concept(scores)
    assert list(concepts["concept_id"]) == ["gamma", "alpha", "beta"]
    alpha = _row(concepts, concept_id="alpha")  # every score: both combinations include alpha
    assert (alpha["concept_name"], alpha["n_combinations"], alpha["n_essays"], alpha["count"], alpha["average"]) == (
        "Alpha Concept", 2, 4, 7, 7.29)
    beta = _row(concepts, concept_id="beta")
    assert (beta["count"], beta["average"], beta["min_score"]) == (4, 6.5, 3.0)


def test_top_essays_ranked_with_grader_scores_and_agreement(scores: pd.DataFrame) -> None:
    top = tables.top_essays(scores)
    assert list(top["essay_gen_id"]) == ["E3", "E1", "E4", "E2"] and list(top["rank"]) == [1, 2, 3, 4]
    first = top.iloc[0]
    assert (first["mean_score"], first["n_scores"], first["n_graders"], first["t1__m1"], first["t1__m2"]) == (
        10.0, 2, 2, 10.0, 10.0)
    assert first["concept_names"] == "Alpha Concept; Gamma Concept" and first["essay_path"].endswith("E3/parsed.txt")
    e4 = _row(top, essay_gen_id="E4")
    assert (e4["n_scores"], e4["n_unscored"], e4["agreement_classification"]) == (1, 1, "insufficient_data")
    assert not any(c.startswith("n:") for c in top.columns)  # no replicate: no per-cell counts


def test_replicated_grader_gets_per_cell_counts(scores: pd.DataFrame) -> None:
    extra = scores[scores["gen_id"] == "V11"].assign(gen_id="V11r2", score=6.0, evaluation_replicate=2)
    top = tables.top_essays(pd.concat([scores, extra], ignore_index=True))
    e1 = _row(top, essay_gen_id="E1")
    assert (e1["t1__m1"], e1["n:t1__m1"], e1["n:t1__m2"], e1["n_scores"], e1["n_graders"]) == (7.0, 2, 1, 3, 2)


def test_ties_are_marked_in_every_ranked_table() -> None:
    """Five essays tied at 8.50 (the researcher's case) share rank 1=; the next essay is 6, not 2."""
    from tests.results.synthetic import score_frame

    rows = [{"essay": f"E{i}", "combo": f"c{i}", "grader": g, "score": s}
            for i in range(5) for g, s in (("m1", 8.0), ("m2", 9.0))]
    rows += [{"essay": "E5", "combo": "c5", "grader": "m1", "score": 8.5},  # one score only: after the others
             {"essay": "E9", "combo": "c9", "grader": "m1", "score": 7.0}]
    top = tables.top_essays(score_frame(rows))
    assert list(top["rank_label"]) == ["1="] * 6 + ["7"] and list(top["rank"]) == [1] * 6 + [7]
    assert list(top["essay_gen_id"])[:6] == ["E0", "E1", "E2", "E3", "E4", "E5"]  # more scores, then id
    combos = tables.scores_by_combination(score_frame(rows))
    assert list(combos["rank_label"]) == ["1="] * 6 + ["7"] and list(combos["combo_id"])[:2] == ["c0", "c1"]
    assert list(tables.scores_by_concept(score_frame(rows))["rank_label"])[:2] == ["1=", "1="]


def test_a_grouped_mean_has_the_t_interval_of_its_essays(scores: pd.DataFrame) -> None:
    """d1: E1 (8, 9) and E3 (10, 10), two scores each: the essay means 8.5 and 10 give mean 9.25,
    standard error 0.75 and, with 1 degree of freedom (t = 12.706), 9.25 -+ 9.53: two essays say
    little, and the interval says so (the bootstrap it replaced gave [8.5, 10])."""
    d1 = _row(tables.final_results(scores), analysis_type="by_draft_template", draft_template="d1")
    assert (d1["n_essays"], d1["average"], d1["ci_low"], d1["ci_high"]) == (2, 9.25, -0.28, 18.78)


def test_rubrics_on_different_scales_rank_essays_by_fraction_of_scale() -> None:
    """9 of 9 is a top score, 9.5 of 10 is not: the raw mean would put the 0-10 essay first."""
    from tests.results.synthetic import score_frame

    rows = [{"essay": "top-of-0-9", "rubric": "r09", "score": 9, "score_max": 9},
            {"essay": "high-on-0-10", "rubric": "r10", "score": 9.5}]
    top = tables.top_essays(score_frame(rows))
    assert list(top["essay_gen_id"]) == ["top-of-0-9", "high-on-0-10"] and list(top["mean_fraction"]) == [1.0, 0.95]
    assert list(top["mean_score"]) == [9.0, 9.5]
    one_scale = tables.top_essays(score_frame([{**r, "score_max": 10} for r in rows]))
    assert list(one_scale["essay_gen_id"]) == ["high-on-0-10", "top-of-0-9"]  # upstream's order on one scale


def test_one_group_has_the_same_interval_in_every_table(scores: pd.DataFrame) -> None:
    """score_summary and final_results compute one group's interval alike."""
    from daydreaming_dagster.results.scores import score_summary

    final = tables.final_results(scores)
    summary = score_summary(scores).set_index(["dimension", "value"])
    for analysis_type, dimension, value in (("by_draft_template", "draft_template", "d2"),
                                            ("by_generation_template", "essay_template", "e1"),
                                            ("overall_statistics", "overall", "all")):
        row = final[final["analysis_type"] == analysis_type]
        if dimension != "overall":
            row = row[row[dimension if dimension != "essay_template" else "generation_template"] == value]
        assert (row["ci_low"].item(), row["ci_high"].item()) == pytest.approx(
            (summary.loc[(dimension, value), "ci_low"], summary.loc[(dimension, value), "ci_high"]), abs=0.006)
