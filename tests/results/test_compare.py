"""Paired comparisons (results/compare.py) on synthetic cohorts with a known effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from daydreaming_dagster.results import compare, stats
from tests.results.synthetic import score_frame

COMBOS = 30


def _cohort(effect: float, *, seed: int, level: str = "", graders: tuple[str, ...] = ("m1", "m2")) -> pd.DataFrame:
    """One essay per combination; combination quality varies (sd 2), each score has noise sd 1."""
    rng = np.random.default_rng(seed)
    quality = np.random.default_rng(0).normal(5, 2, COMBOS)  # the same combinations on both sides
    rows = [{"essay": f"E{level}{c}", "combo": f"c{c}", "draft_template": level or "d1", "grader": g,
             "score": quality[c] + effect + rng.normal(0, 1)}
            for c in range(COMBOS) for g in graders]
    return score_frame(rows)


def test_known_effect_is_found_on_shared_combinations() -> None:
    result = compare.compare_frames(_cohort(0.0, seed=1), _cohort(1.0, seed=2))
    assert result.paired and result.pairs == COMBOS and (result.n_a, result.n_b) == (COMBOS, COMBOS)
    assert result.ci_low < 1.0 < result.ci_high and result.ci_low > 0
    assert result.difference == pytest.approx(1.0, abs=0.4)
    assert result.sentence.startswith(f"B higher than A by {result.difference:.2f} [")
    assert result.sentence.endswith(f"on {COMBOS} pairs (same combination)")
    assert "t-interval" in result.method and result.p_value < 0.01
    # the interval and the p-value come from one t-test, so they agree
    expected = scipy_stats.ttest_1samp(result.units["difference"], 0.0)
    interval = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high, result.p_value) == pytest.approx((interval.low, interval.high, expected.pvalue))
    assert result.mean_a_ci_low < result.mean_a < result.mean_a_ci_high


def test_no_effect_gives_an_interval_containing_zero() -> None:
    result = compare.compare_frames(_cohort(0.0, seed=3), _cohort(0.0, seed=4))
    assert result.ci_low < 0 < result.ci_high
    assert result.sentence.startswith("no detectable difference: B - A = ")


def test_pairing_removes_the_combinations_spread() -> None:
    """Unpaired, the combinations' sd of 2 hides a +1 effect that the pairing finds."""
    a, b = _cohort(0.0, seed=1), _cohort(1.0, seed=2)
    paired = compare.compare_frames(a, b)
    b_elsewhere = b.assign(combo_id="other-" + b["combo_id"])
    unpaired = compare.compare_frames(a, b_elsewhere)
    assert not unpaired.paired and unpaired.pairs == 0
    assert unpaired.sentence.startswith("unpaired (no shared combination): ")
    assert unpaired.method.startswith("unpaired") and "Welch" in unpaired.method
    assert (unpaired.unpaired_a, unpaired.unpaired_b) == (COMBOS, COMBOS)
    assert (unpaired.ci_high - unpaired.ci_low) > 1.5 * (paired.ci_high - paired.ci_low)


def test_factor_levels_are_compared_within_one_frame_and_as_json() -> None:
    scores = pd.concat([_cohort(0.0, seed=1, level="x"), _cohort(1.0, seed=2, level="y")], ignore_index=True)
    result = compare.compare_factor(scores, "draft_template", "x", "y")
    assert result.pairs == COMBOS and result.ci_low < 1.0 < result.ci_high and result.ci_low > 0
    data = json.loads(json.dumps(result.as_json()))
    assert {"difference", "ci_low", "ci_high", "pairs", "method"} <= set(data)
    assert data["a"] == {"level": "x", "mean": pytest.approx(result.mean_a, abs=1e-4), "n": COMBOS,
                         "ci_low": pytest.approx(result.mean_a_ci_low, abs=1e-4),
                         "ci_high": pytest.approx(result.mean_a_ci_high, abs=1e-4)}
    assert data["b"]["level"] == "y" and data["b"]["n"] == COMBOS
    table = compare.comparisons(scores)
    assert list(table["factor"]) == ["draft_template", "evaluation_model"]
    grader_row = table[table["factor"] == "evaluation_model"].iloc[0]
    assert grader_row["unit"] == "essay_gen_id" and grader_row["pairs"] == 2 * COMBOS  # the same essays
    # Holm over the table's two p-values
    assert list(table["holm_tests"]) == [2, 2]
    assert list(table["p_holm"]) == pytest.approx(list(stats.holm(table["p_value"])), abs=1e-4)
    assert all("Holm" in sentence for sentence in table["sentence"])


def test_a_grader_offset_is_found_on_the_same_essays() -> None:
    rng = np.random.default_rng(9)
    quality = rng.normal(5, 2, 40)
    rows = [{"essay": f"E{i}", "grader": g, "score": quality[i] + offset + rng.normal(0, 0.5)}
            for i in range(40) for g, offset in (("lenient", 0.8), ("strict", 0.0))]
    result = compare.compare_factor(score_frame(rows), "evaluation_model", "strict", "lenient")
    assert result.unit == "essay_gen_id" and result.pairs == 40
    assert result.ci_low < 0.8 < result.ci_high and result.ci_low > 0


def _draft_cohort(effect: float, *, seed: int, template: str, combos: int = COMBOS) -> pd.DataFrame:
    """A cohort made with one draft template: its essays differ from the other cohort's."""
    return _cohort(effect, seed=seed, level=template).iloc[: 2 * combos]


@pytest.mark.parametrize(("effect", "detected"), [(1.0, True), (0.0, False)])
def test_two_cohorts_that_differ_in_their_draft_template_are_paired_on_combinations(effect: float,
                                                                                  detected: bool) -> None:
    """The issue's acceptance: +1.0 on 30 shared combinations, noise sd 1. Matching on every factor
    found no pair (the cohorts' draft templates differ); the cohorts share combination, rubric, grader."""
    a, b = _draft_cohort(0.0, seed=1, template="x"), _draft_cohort(effect, seed=2, template="y")
    assert compare.compare_frames(a, b).pairs == 0  # the old pairing: every factor equal
    result = compare.compare_cohorts(a, b, labels=("A", "B"))
    assert result.paired and result.pairs == COMBOS and (result.unpaired_a, result.unpaired_b) == (0, 0)
    assert result.ci_low < effect < result.ci_high
    assert (result.ci_low > 0) is detected
    assert result.note == "draft_template differs (A: x; B: y), averaged within each combination"
    assert "same combination, same grader and rubric" in result.method


def test_a_cohort_comparison_says_how_many_combinations_had_no_pair() -> None:
    a = _draft_cohort(0.0, seed=1, template="x")
    b = _draft_cohort(1.0, seed=2, template="y", combos=25)  # B scored 25 of A's 30 combinations
    result = compare.compare_cohorts(a, b, labels=("pilot", "pilot-9"))
    assert result.pairs == 25 and (result.unpaired_a, result.unpaired_b) == (5, 0)
    assert result.note.endswith("left out for want of a pair: 5 of pilot's 30 and 0 of pilot-9's 25 combinations")
    assert result.as_json()["unpaired"] == {"a": 5, "b": 0}


def test_shared_levels_are_still_matched_between_cohorts() -> None:
    """Both cohorts used generation models g1 and g2: a g1 essay is paired with a g1 essay only."""
    rows_a = [{"essay": f"A{c}{m}", "combo": f"c{c}", "draft_template": "x", "model": m, "score": base}
              for c in range(5) for m, base in (("g1", 2.0), ("g2", 8.0))]
    rows_b = [{**row, "essay": "B" + row["essay"], "draft_template": "y", "score": row["score"] + (c % 2)}
              for c, row in enumerate(rows_a)]
    match, differs = compare.cohort_match(score_frame(rows_a), score_frame(rows_b))
    assert "generation_model" in match and "draft_template" not in match and list(differs) == ["draft_template"]
    result = compare.compare_cohorts(score_frame(rows_a), score_frame(rows_b))
    assert result.difference == pytest.approx(0.5) and result.pairs == 5


def test_rubrics_on_different_scales_are_compared_as_fractions_of_their_scale() -> None:
    """The same judgement on 0-9 and 0-10 (score = quality x top): in points r10 - r09 would be
    +quality; as fractions of scale there is no difference at all."""
    quality = np.linspace(0.2, 0.8, 12)
    rows = [{"essay": f"E{i}", "rubric": rubric, "score": q * top, "score_max": top}
            for i, q in enumerate(quality) for rubric, top in (("r09", 9), ("r10", 10))]
    result = compare.compare_factor(score_frame(rows), "evaluation_template", "r09", "r10")
    assert result.measure == compare.FRACTION and result.difference == pytest.approx(0.0, abs=1e-12)
    assert "fractions of scale" in result.sentence and "scales differ (0-10, 0-9)" in result.method
    assert result.mean_a == pytest.approx(quality.mean())
    same_scale = compare.compare_factor(score_frame([{**r, "score_max": 10} for r in rows]),
                                        "evaluation_template", "r09", "r10")
    assert same_scale.measure == "score" and same_scale.difference == pytest.approx(quality.mean())


def _paired_coverage(pairs: int, simulations: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(simulations):
        low, high, _ = compare.paired_t_interval(1.0 + rng.normal(0, 1, pairs))
        hits += low <= 1.0 <= high
    return hits / simulations


@pytest.mark.parametrize("pairs", [3, 5])
def test_the_paired_interval_covers_the_true_difference_95_percent_of_the_time_with_few_pairs(pairs: int) -> None:
    """The BCa bootstrap this replaced covered 69 % with 3 pairs and 84 % with 5."""
    assert 0.92 <= _paired_coverage(pairs, 1000, seed=pairs) <= 0.98


def test_a_comparison_is_saved_and_read_back(tmp_path: Path) -> None:
    a = _draft_cohort(0.0, seed=1, template="x")
    b = _draft_cohort(1.0, seed=2, template="y")
    result = compare.compare_cohorts(a, b, labels=("1.50", "B"))  # a name that looks like a number
    path, pairs_path = compare.save_comparison(tmp_path, result)
    assert (path.name, pairs_path.name) == ("compare_1.50.csv", "compare_1.50.pairs.csv")
    ((back, written),) = compare.saved_comparisons(tmp_path)
    assert written > 0 and back.level_a == "1.50" and back.note == result.note and back.paired
    assert back.as_row() == pytest.approx(pd.DataFrame([result.as_row()]).round(compare.DIGITS).iloc[0].to_dict(),
                                          nan_ok=True)
    assert len(back.units) == COMBOS and back.units["difference"].round(4).tolist() == (
        result.units["difference"].round(4).tolist())


def test_a_generation_factor_over_rubrics_of_different_scales_averages_fractions() -> None:
    """Template y is better by a tenth of the scale on both rubrics: 0.9 points on 0-9, 1 on 0-10.
    Averaged in points the difference would be 0.95; as fractions of scale it is 0.1 exactly."""
    rows = [{"essay": f"E{t}{c}", "combo": f"c{c}", "draft_template": t, "rubric": rubric, "score_max": top,
             "score": top * (0.3 + 0.05 * (c % 5) + (0.1 if t == "y" else 0.0))}
            for c in range(10) for t in ("x", "y") for rubric, top in (("r09", 9), ("r10", 10))]
    result = compare.compare_factor(score_frame(rows), "draft_template", "x", "y")
    assert result.measure == compare.FRACTION and result.difference == pytest.approx(0.1)
    assert result.sentence.startswith("y higher than x by exactly 0.10 in every one of 10 pairs")
