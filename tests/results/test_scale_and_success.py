"""Scale-aware score classes, and the success rate and cost per success on a toy cohort by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.results import stats, success, tables
from daydreaming_dagster.results.lineage import load_cohort_view
from daydreaming_dagster.results.scores import scores_frame
from tests.results.synthetic import score_frame


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    (index,) = frame.index[mask]
    return frame.loc[index]


def _same_scores_on_two_scales() -> pd.DataFrame:
    scores = [9, 9, 8, 5, 2]
    rows = [{"essay": f"E{i}", "rubric": "r09", "score": s, "score_max": 9} for i, s in enumerate(scores)]
    rows += [{"essay": f"E{i}", "rubric": "r10", "score": s} for i, s in enumerate(scores)]
    return score_frame(rows)


def test_a_0_to_9_rubric_with_9s_gives_perfect_scores_and_0_to_10_keeps_upstreams_counts() -> None:
    final = tables.final_results(_same_scores_on_two_scales())
    r09 = _row(final, analysis_type="by_evaluation_template", evaluation_template="r09")
    r10 = _row(final, analysis_type="by_evaluation_template", evaluation_template="r10")
    assert (r09["perfect_scores"], r09["perfect_score_pct"], r09["scale"]) == (2, 40.0, "0-9")
    assert (r10["perfect_scores"], r10["scale"]) == (0, "0-10")
    # upstream's literal columns: >= 8 and <= 3 on either scale
    assert (r09["high_scores_8plus"], r09["low_scores_3minus"]) == (3, 1)
    assert (r10["high_scores_8plus"], r10["low_scores_3minus"]) == (3, 1)
    # scale-aware: 80 % of 0-9 is 7.2, 30 % is 2.7; on 0-10 they are upstream's 8 and 3
    assert (r09["high_scores_on_scale"], r09["low_scores_on_scale"]) == (3, 1)
    assert (r10["high_scores_on_scale"], r10["low_scores_on_scale"]) == (3, 1)
    paths = tables.perfect_score_paths(_same_scores_on_two_scales())
    assert list(paths["evaluation_template"]) == ["r09", "r09"] and set(paths["scale"]) == {"0-9"}
    mixed = _row(final, analysis_type="by_evaluation_model", evaluation_model="m1")
    assert mixed["scale"] == "0-10; 0-9"  # a group that pools two scales says so


def test_a_threshold_defines_high() -> None:
    rows = [{"essay": f"E{i}", "score": s, "threshold": 9} for i, s in enumerate([10, 9, 8.5, 8])]
    overall = _row(tables.final_results(score_frame(rows)), analysis_type="overall_statistics")
    assert (overall["high_scores_on_scale"], overall["high_scores_8plus"]) == (2, 4)


def test_the_default_scale_keeps_upstreams_classes(cohort_root: Path) -> None:
    final = tables.final_results(scores_frame(load_cohort_view(cohort_root)))
    assert (final["high_scores_on_scale"] == final["high_scores_8plus"]).all()
    assert (final["low_scores_on_scale"] == final["low_scores_3minus"]).all()
    assert set(final["scale"]) == {"0-10"}


def test_a_score_above_the_templates_scale_is_an_error(cohort_root: Path) -> None:
    path = cohort_root / "1_raw" / "evaluation_templates.csv"
    path.write_text("template_id,template_name,description,active,parser,score_min,score_max\n"
                    "t1,T1,grade,true,in_last_line,0,9\n")
    scores = scores_frame(load_cohort_view(cohort_root)).set_index("gen_id")
    assert scores.loc["V31", "error"] == "score 10.0 is outside 0-9" and math.isnan(scores.loc["V31", "score"])
    assert scores.loc["V12", "score"] == 9.0 and scores.loc["V12", "score_max"] == 9.0


# The toy cohort: target rubrics orig (0-9, success at 7) and sci (0-10, at 6); style has no threshold.
#   essay draft  orig m1 m2  sci m1 m2   success?                      cost
#   E1    d1     8    7      6    7      7.5 >= 7, 6.5 >= 6: yes      0.10
#   E2    d1     9    9      5    6      5.5 < 6: no                  0.20
#   E3    d2     7    6      9    9      6.5 < 7: no                  0.30
#   E4    d2     8    8      6    6      yes                          0.40
#   E5    d2     9    -      -    -      no sci score: not counted    0.50
TOY = {
    "E1": ("d1", (8, 7), (6, 7)), "E2": ("d1", (9, 9), (5, 6)), "E3": ("d2", (7, 6), (9, 9)),
    "E4": ("d2", (8, 8), (6, 6)), "E5": ("d2", (9, None), (None, None)),
}
COSTS = {"E1": 0.10, "E2": 0.20, "E3": 0.30, "E4": 0.40, "E5": 0.50}


def _toy() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for essay, (draft, orig, sci) in TOY.items():
        for grader, o, s in zip(("m1", "m2"), orig, sci, strict=True):
            common = {"essay": essay, "combo": f"c-{essay}", "draft_template": draft, "grader": grader}
            rows.append({**common, "rubric": "orig", "score": o, "score_max": 9, "threshold": 7})
            rows.append({**common, "rubric": "sci", "score": s, "threshold": 6})
            rows.append({**common, "rubric": "style", "score": 1})
    scores = score_frame(rows)
    essays = pd.DataFrame({
        "essay_gen_id": list(COSTS), "combo_id": [f"c-{e}" for e in COSTS], "concept_names": "",
        "draft_template": [TOY[e][0] for e in COSTS], "essay_template": "e1", "generation_model": "g1",
        "cost_usd": list(COSTS.values()),
    })
    return scores, essays


def test_success_rate_and_cost_per_success_by_hand() -> None:
    scores, essays = _toy()
    table = success.success_by_group(scores, essays)
    cohort = _row(table, group_by="cohort")
    assert (cohort["essays"], cohort["successes"], cohort["essays_unscored"]) == (4, 2, 1)
    assert cohort["success_rate"] == 0.5
    assert (cohort["ci_low"], cohort["ci_high"]) == (0.15, 0.85)  # Wilson 95 % for 2 of 4
    assert cohort["cost_usd"] == 1.5 and cohort["cost_per_success_usd"] == 0.75  # all five essays were paid for
    # essay scores (mean of the two target rubrics): 7.0, 7.25, 7.75, 7.0 -> 7.25; 1.5 / 5 essays / 7.25
    assert cohort["mean_score"] == 7.25 and cohort["cost_per_point_usd"] == pytest.approx(0.3 / 7.25, abs=1e-6)
    assert cohort["target_rubrics"] == "orig >= 7; sci >= 6"
    # the mean essay score's n is the 4 scored essays; its interval is their t-interval
    expected = stats.mean_interval([7.0, 7.25, 7.75, 7.0])
    assert (cohort["mean_ci_low"], cohort["mean_ci_high"]) == pytest.approx(expected, abs=5e-4)
    assert cohort["scale"] == "0-10; 0-9"  # the two target rubrics' scales are pooled, and it says so
    d1 = _row(table, group_by="draft_template", group="d1")
    assert (d1["essays"], d1["successes"], d1["cost_usd"], d1["cost_per_success_usd"]) == (2, 1, 0.3, 0.3)
    d2 = _row(table, group_by="draft_template", group="d2")
    assert (d2["essays"], d2["successes"], d2["essays_unscored"], d2["cost_per_success_usd"]) == (2, 1, 1, 1.2)
    e3 = _row(table, group_by="combo_id", group="c-E3")
    assert (e3["successes"], e3["success_rate"]) == (0, 0.0) and math.isnan(e3["cost_per_success_usd"])


def test_without_thresholds_there_is_no_success_rate() -> None:
    scores, essays = _toy()
    scores = scores.assign(success_threshold=float("nan"))
    cohort = _row(success.success_by_group(scores, essays), group_by="cohort")
    assert math.isnan(cohort["success_rate"]) and cohort["rule"] == "no success_threshold declared"
    assert cohort["essays"] == 5 and cohort["cost_usd"] == 1.5  # mean over every rubric now


def test_an_essays_cost_is_its_call_its_evaluations_and_its_drafts_share(cohort_root: Path) -> None:
    essays = success.essay_frame(load_cohort_view(cohort_root)).set_index("essay_gen_id")
    # every generation of the fixture cost 0.001: essay + 2 evaluations + its draft (one essay per draft)
    assert essays["cost_usd"].round(6).tolist() == [0.004] * 4
    assert round(float(essays["cost_usd"].sum()), 6) == 0.016  # = generation_summary's total
