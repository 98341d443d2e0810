"""The shared statistics (results/stats.py) on data with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from daydreaming_dagster.results import stats


def _essays(n: int, per_essay: int, *, essay_sd: float, grader_sd: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    essay_means = 5.0 + rng.normal(0, essay_sd, n)
    rows = [{"essay_gen_id": f"E{i}", "g": "all", "score": essay_means[i] + rng.normal(0, grader_sd)}
            for i in range(n) for _ in range(per_essay)]
    return pd.DataFrame(rows)


def test_cluster_interval_counts_essays_and_contains_the_true_mean() -> None:
    frame = _essays(200, 4, essay_sd=1.0, grader_sd=0.5, seed=1)
    (row,) = stats.cluster_mean_intervals(frame, ["g"]).to_dict("records")
    assert row["n_essays"] == 200  # not 800 evaluations
    assert row["ci_low"] < 5.0 < row["ci_high"]
    assert row["ci_low"] < frame["score"].mean() < row["ci_high"]


def test_repeating_an_essays_scores_does_not_narrow_the_interval() -> None:
    """Four copies of each evaluation add no information: a cluster bootstrap gives the same
    interval (an evaluation-level bootstrap would shrink it by half)."""
    once = _essays(60, 1, essay_sd=1.0, grader_sd=0.0, seed=2)
    four_times = pd.concat([once] * 4, ignore_index=True)
    a = stats.cluster_mean_intervals(once, ["g"]).iloc[0]
    b = stats.cluster_mean_intervals(four_times, ["g"]).iloc[0]
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((b["ci_low"], b["ci_high"]))
    assert b["n_essays"] == 60


def test_cluster_interval_is_deterministic_and_per_group() -> None:
    frame = _essays(40, 2, essay_sd=1.0, grader_sd=1.0, seed=3)
    first = stats.cluster_mean_intervals(frame, ["g"])
    other = pd.concat([frame, frame.assign(g="other")], ignore_index=True)
    both = stats.cluster_mean_intervals(other, ["g"])
    pd.testing.assert_frame_equal(first, stats.cluster_mean_intervals(frame, ["g"]))
    # adding a group does not move another group's interval
    assert both[both["g"] == "all"].reset_index(drop=True).equals(first)


def test_with_equal_counts_the_interval_is_scipys_t_interval_of_the_essay_means() -> None:
    frame = _essays(12, 3, essay_sd=1.5, grader_sd=1.0, seed=4)
    row = stats.cluster_mean_intervals(frame, ["g"]).iloc[0]
    means = frame.groupby("essay_gen_id")["score"].mean().to_numpy()
    expected = scipy_stats.ttest_1samp(means, 0.0).confidence_interval(0.95)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((expected.low, expected.high), rel=1e-12)
    assert stats.cluster_mean_interval(means * 3, np.full(12, 3.0)) == pytest.approx((expected.low, expected.high))


def test_unequal_counts_by_hand() -> None:
    """E1 scores 2, 4; E2 6; E3 8, 8, 8: mean R = 36 / 6 = 6, mean count 2; residuals
    (sum - R count) / 2 = -3, 0, 3; CR1 variance 18 / (3 * 2) = 3; t(2) 97.5 % = 4.3027."""
    frame = pd.DataFrame({"essay_gen_id": ["E1", "E1", "E2", "E3", "E3", "E3"], "g": "all",
                          "score": [2.0, 4.0, 6.0, 8.0, 8.0, 8.0]})
    row = stats.cluster_mean_intervals(frame, ["g"]).iloc[0]
    half = 4.302652729911275 * math.sqrt(3)
    assert (row["n_essays"], row["ci_low"], row["ci_high"]) == (3, pytest.approx(6 - half), pytest.approx(6 + half))
    whole = stats.cluster_mean_intervals(frame, []).iloc[0]  # no keys: the whole frame is one group
    assert (whole["ci_low"], whole["ci_high"]) == (row["ci_low"], row["ci_high"])


def _coverage(n_essays: int, simulations: int, seed: int) -> float:
    """Share of simulated groups whose 95 % interval contains the true mean 5: essays with effects
    of sd 1.5, one to four graders each (noise sd 1)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(simulations):
        counts = rng.integers(1, 5, n_essays).astype(float)
        effects = rng.normal(5.0, 1.5, n_essays)
        sums = np.array([(effects[i] + rng.normal(0, 1.0, int(c))).sum() for i, c in enumerate(counts)])
        low, high = stats.cluster_mean_interval(sums, counts)
        hits += low <= 5.0 <= high
    return hits / simulations


@pytest.mark.parametrize("n_essays", [2, 3, 5])
def test_the_interval_covers_the_true_mean_95_percent_of_the_time_even_with_few_essays(n_essays: int) -> None:
    """The percentile cluster bootstrap this replaced covered 51 %, 74 % and 86 % with 2, 3 and 5
    essays; this interval about 94 %, 93 % and 93 % (exactly 95 % when counts are equal)."""
    coverage = _coverage(n_essays, 1000, seed=n_essays)
    assert 0.90 <= coverage <= 0.985, coverage


def test_a_mean_of_independent_values_has_scipys_t_interval() -> None:
    values = [4.0, 6.0, 7.0, 3.0]
    expected = scipy_stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert stats.mean_interval(values) == pytest.approx((expected.low, expected.high))
    assert stats.mean_interval([2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(x) for x in stats.mean_interval([1.0, float("nan")]))


def test_holm_matches_rs_p_adjust() -> None:
    # p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") = 0.05 0.08 0.09 0.09 0.09
    assert stats.holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    # in the order given, NaN left out of the count: p.adjust(c(0.04, 0.01), "holm") = 0.04 0.02
    adjusted = stats.holm([0.04, float("nan"), 0.01])
    assert adjusted[[0, 2]] == pytest.approx([0.04, 0.02]) and math.isnan(adjusted[1])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([]).size == 0


def test_one_essay_has_no_interval() -> None:
    frame = pd.DataFrame({"essay_gen_id": ["E1", "E1"], "g": ["a", "a"], "score": [3.0, 5.0]})
    row = stats.cluster_mean_intervals(frame, ["g"]).iloc[0]
    assert row["n_essays"] == 1 and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = stats.proportion_interval(8, 10)  # Wilson 95 %: 0.4902 to 0.9433
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert all(math.isnan(x) for x in stats.proportion_interval(0, 0))


def test_ties_share_the_best_rank_and_are_marked() -> None:
    ranks, labels = stats.competition_ranks([8.5, 8.5, 8.5, 8.5, 8.5, 7.0, 7.0, 6.0, float("nan"), float("nan")])
    assert ranks == [1, 1, 1, 1, 1, 6, 6, 8, 9, 10]
    assert labels == ["1=", "1=", "1=", "1=", "1=", "6=", "6=", "8", "9", "10"]
    assert stats.competition_ranks([3.0, 2.0, 1.0]) == ([1, 2, 3], ["1", "2", "3"])


def test_pooled_sd_by_hand() -> None:
    frame = pd.DataFrame({"k": ["a", "a", "b", "b", "b", "c"], "v": [1.0, 3.0, 2.0, 4.0, 6.0, 9.0]})
    sd, groups, dof = stats.pooled_sd(frame, ["k"], "v")  # var 2 (1 dof) and 4 (2 dof); c has one value
    assert (groups, dof) == (2, 3) and sd == pytest.approx(math.sqrt((2 + 8) / 3))


def test_rounded_table_rounds_only_the_named_columns_and_keeps_nan() -> None:
    rows = [{"name": "a", "x": 1.23456, "p": 0.012345, "n": 3}, {"name": "b", "x": None, "p": 1 / 3, "n": 4}]
    table = stats.rounded_table(rows, ["name", "x", "p", "n"], {"x": 3, "p": 4})
    assert table["x"].iloc[0] == 1.235 and math.isnan(table["x"].iloc[1])
    assert list(table["p"]) == [0.0123, 0.3333]
    assert list(table["n"]) == [3, 4] and table["n"].dtype.kind == "i"  # not named: left as it is
    empty = stats.rounded_table([], ["name", "x"], {"x": 3})
    assert list(empty.columns) == ["name", "x"] and empty.empty and empty["x"].dtype.kind == "f"
