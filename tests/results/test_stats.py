"""The shared statistics (results/stats.py) on data with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

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
