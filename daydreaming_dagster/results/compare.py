"""Did B score higher than A? Paired comparisons of two score frames, or of two levels of a factor.

``compare_frames(a, b)`` pairs the units both sides share and compares only like with like: a score
on side A is matched with the score on side B of the same combination (or essay), by the same grader
on the same rubric, with everything else but the compared thing equal. Per matched key each side's
scores (replicates included) are averaged; the differences B - A are averaged per unit; the result
is the mean of the unit differences, a 95 % bootstrap interval over units (``scipy.stats.bootstrap``:
BCa with 9,999 resamples up to 2,000 pairs, percentile with 2,000 above, where BCa's jackknife costs
the square of the pairs and both agree), the number of pairs, a paired t-test p-value
(``scipy.stats.ttest_1samp``) and one plain sentence.

- The units are combinations when a generation factor is compared (draft template, essay template,
  generation model): the essays of one combination share their concepts, so they are one unit.
- The units are essays when a grading factor is compared (evaluation template or model): both
  sides scored the same essay.

When the sides share no unit, the comparison is unpaired: the difference of the means of the essay
means, with a bootstrap resampling each side's essays on their own, and it says so. ``compare_factor``
splits one frame by a factor's two levels; ``comparisons`` compares every pair of levels of every
factor (``6_summary/comparisons.csv``). Cohort against cohort is ``compare_frames`` over the two
cohorts' score frames.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from daydreaming_dagster.results import stats
from daydreaming_dagster.results.tables import ESSAY_KEY, valid_scores

FACTORS = ("draft_template", "essay_template", "generation_model", "evaluation_template", "evaluation_model")
GENERATION_FACTORS = FACTORS[:3]
# What must be equal for two scores to be compared (the compared factor is left out).
MATCH_COLUMNS = ("combo_id", *FACTORS)
BCA_MAX_PAIRS = 2_000
BCA_RESAMPLES = 9_999
LARGE_RESAMPLES = 2_000
MAX_LEVELS = 12  # a factor with more levels is not compared pairwise in the table (66 comparisons)
UNIT_NOUNS = {"combo_id": "combination", ESSAY_KEY: "essay"}
COLUMNS = [
    "factor", "level_a", "level_b", "unit", "paired", "pairs", "mean_a", "n_a", "mean_b", "n_b", "difference",
    "ci_low", "ci_high", "p_value", "method", "sentence",
]


@dataclass(frozen=True)
class Comparison:
    """B - A. ``n_a``/``n_b`` count the independent essays of each side that entered the comparison;
    ``units`` holds one row per pair (unit, mean_a, mean_b, difference) for plots."""

    factor: str
    level_a: str
    level_b: str
    unit: str
    paired: bool
    pairs: int
    mean_a: float
    n_a: int
    mean_b: float
    n_b: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    sentence: str
    units: pd.DataFrame = field(repr=False, compare=False)

    def as_row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}

    def as_json(self) -> dict[str, Any]:
        """The JSON of ``daydream compare``: difference, interval, pairs, method, and each side."""

        def number(value: float) -> float | None:
            return None if value is None or math.isnan(value) else round(float(value), 4)

        return {
            "factor": self.factor, "unit": self.unit, "paired": self.paired,
            "a": {"level": self.level_a, "mean": number(self.mean_a), "n": self.n_a},
            "b": {"level": self.level_b, "mean": number(self.mean_b), "n": self.n_b},
            "difference": number(self.difference), "ci_low": number(self.ci_low), "ci_high": number(self.ci_high),
            "pairs": self.pairs, "p_value": number(self.p_value), "method": self.method, "sentence": self.sentence,
        }


def _mean_interval(values: np.ndarray, *, rng: np.random.Generator) -> tuple[float, float, str]:
    """95 % bootstrap interval of the mean of independent ``values``, and the method used."""
    if len(values) < 2:
        return float("nan"), float("nan"), "too few pairs for an interval"
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0]), "every pair has the same difference"
    bca = len(values) <= BCA_MAX_PAIRS
    resamples = BCA_RESAMPLES if bca else LARGE_RESAMPLES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy_stats.bootstrap(
            (values,), np.mean, method="BCa" if bca else "percentile", n_resamples=resamples,
            batch=stats.batch_for(len(values)), confidence_level=stats.CONFIDENCE, random_state=rng,
        )
    kind = "BCa" if bca else "percentile"
    return (float(result.confidence_interval.low), float(result.confidence_interval.high),
            f"{kind}, {resamples} resamples")


def _sentence(level_a: str, level_b: str, difference: float, low: float, high: float, count: str,
              prefix: str = "") -> str:
    if math.isnan(low) or math.isnan(high):
        return f"{prefix}too few to compare ({count})"
    interval = f"{abs(difference):.2f} [{low:.2f}, {high:.2f}]" if difference >= 0 else (
        f"{abs(difference):.2f} [{-high:.2f}, {-low:.2f}]")
    if low <= 0 <= high:
        return (f"{prefix}no detectable difference: {level_b} - {level_a} = {difference:.2f} "
                f"[{low:.2f}, {high:.2f}] on {count}")
    direction = "higher" if difference > 0 else "lower"
    return f"{prefix}{level_b} {direction} than {level_a} by {interval} on {count}"


def _essay_means(valid: pd.DataFrame) -> np.ndarray:
    return valid.groupby(ESSAY_KEY, sort=True)["score"].mean().to_numpy(dtype=float)


def _unpaired(va: pd.DataFrame, vb: pd.DataFrame, *, factor: str, labels: tuple[str, str], unit: str,
              rng: np.random.Generator) -> Comparison:
    ea, eb = _essay_means(va), _essay_means(vb)
    mean_a = float(ea.mean()) if len(ea) else float("nan")
    mean_b = float(eb.mean()) if len(eb) else float("nan")
    difference = mean_b - mean_a
    low = high = p_value = float("nan")
    method = "unpaired: too few essays on a side"
    if len(ea) >= 2 and len(eb) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = scipy_stats.bootstrap(
                (ea, eb), lambda x, y, axis=-1: np.mean(y, axis=axis) - np.mean(x, axis=axis),
                paired=False, vectorized=True, method="percentile", n_resamples=LARGE_RESAMPLES,
                batch=stats.batch_for(len(ea) + len(eb)), confidence_level=stats.CONFIDENCE, random_state=rng,
            )
            p_value = float(scipy_stats.ttest_ind(eb, ea, equal_var=False).pvalue)
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        method = (f"unpaired (no shared {UNIT_NOUNS.get(unit, unit)}): difference of the means of essay means, "
                  f"percentile bootstrap of each side's essays, {LARGE_RESAMPLES} resamples (scipy.stats.bootstrap); "
                  "Welch t-test p-value")
    count = f"{len(ea)} and {len(eb)} essays"
    sentence = _sentence(labels[0], labels[1], difference, low, high, count,
                         prefix=f"unpaired (no shared {UNIT_NOUNS.get(unit, unit)}): ")
    units = pd.DataFrame(columns=["unit", "mean_a", "mean_b", "difference"])
    return Comparison(factor, labels[0], labels[1], unit, False, 0, mean_a, len(ea), mean_b, len(eb), difference,
                      low, high, p_value, method, sentence, units)


def compare_frames(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    unit: str = "combo_id",
    match: Sequence[str] = MATCH_COLUMNS,
    labels: tuple[str, str] = ("A", "B"),
    factor: str = "cohort",
    allow_unpaired: bool = True,
) -> Comparison:
    """Compare score frame ``b`` with ``a`` (``parsed_scores`` rows), paired on ``unit``.

    Two scores are matched when every column of ``match`` (and ``unit``) is equal; unmatched
    scores are left out. With no shared unit the comparison is unpaired (``allow_unpaired``), or
    has no pairs.
    """
    va, vb = valid_scores(a), valid_scores(b)
    keys = list(dict.fromkeys([unit, *(c for c in match if c in va.columns and c in vb.columns)]))
    rng = stats.rng_for("compare", factor, *labels)
    side_a = va.groupby(keys, sort=True).agg(score_a=("score", "mean"))
    side_b = vb.groupby(keys, sort=True).agg(score_b=("score", "mean"))
    joined = side_a.join(side_b, how="inner").reset_index()
    if joined.empty and allow_unpaired:
        return _unpaired(va, vb, factor=factor, labels=labels, unit=unit, rng=rng)
    joined["difference"] = joined["score_b"] - joined["score_a"]
    per_unit = joined.groupby(unit, sort=True).agg(
        mean_a=("score_a", "mean"), mean_b=("score_b", "mean"), difference=("difference", "mean"))
    differences = per_unit["difference"].to_numpy(dtype=float)
    low, high, how = _mean_interval(differences, rng=rng)
    p_value = float("nan")
    if len(differences) >= 2 and np.ptp(differences) > 0:
        p_value = float(scipy_stats.ttest_1samp(differences, 0.0).pvalue)
    shared = joined[keys].drop_duplicates()
    n_a = int(va.merge(shared, on=keys)[ESSAY_KEY].nunique())
    n_b = int(vb.merge(shared, on=keys)[ESSAY_KEY].nunique())
    noun = UNIT_NOUNS.get(unit, unit)
    held = [name for column, name in (("evaluation_model", "grader"), ("evaluation_template", "rubric"))
            if column in keys]
    same = f"the same {noun}" + (f", same {' and '.join(held)}" if held else "")
    method = (f"paired on {same}: mean of the per-{noun} differences, "
              f"bootstrap over {noun}s, {how} (scipy.stats.bootstrap); paired t-test p-value")
    difference = float(differences.mean()) if len(differences) else float("nan")
    count = f"{len(differences)} pairs (same {noun})"
    sentence = _sentence(labels[0], labels[1], difference, low, high, count)
    units = per_unit.reset_index().rename(columns={unit: "unit"})
    return Comparison(
        factor, labels[0], labels[1], unit, True, len(differences),
        float(per_unit["mean_a"].mean()) if len(per_unit) else float("nan"), n_a,
        float(per_unit["mean_b"].mean()) if len(per_unit) else float("nan"), n_b,
        difference, low, high, p_value, method, sentence, units,
    )


def unit_for(factor: str) -> str:
    """Combinations for a generation factor, essays for a grading factor."""
    if factor not in FACTORS:
        raise ValueError(f"unknown factor {factor!r}: use one of {', '.join(FACTORS)}")
    return "combo_id" if factor in GENERATION_FACTORS else ESSAY_KEY


def levels_of(scores: pd.DataFrame, factor: str) -> list[str]:
    """The factor's levels that have at least one score, sorted."""
    valid = valid_scores(scores)
    return sorted(str(v) for v in valid[factor].dropna().unique() if str(v) != "")


def compare_factor(scores: pd.DataFrame, factor: str, level_a: str, level_b: str,
                   *, allow_unpaired: bool = True) -> Comparison:
    """B - A between two levels of one factor of one score frame (e.g. two draft templates)."""
    unit = unit_for(factor)
    match = [c for c in MATCH_COLUMNS if c != factor]
    column = scores[factor].astype(str)
    return compare_frames(
        scores[column == level_a], scores[column == level_b], unit=unit, match=match,
        labels=(level_a, level_b), factor=factor, allow_unpaired=allow_unpaired,
    )


def comparisons(scores: pd.DataFrame) -> pd.DataFrame:
    """Every pair of levels of every factor with two to ``MAX_LEVELS`` levels, one row each.

    The table's ``attrs["two_level"]`` keeps the ``Comparison`` of each factor with exactly two
    levels, pairs included, so that the report can plot them without computing them again.
    """
    rows = []
    two_level = []
    for factor in FACTORS:
        if factor not in scores.columns:
            continue
        levels = levels_of(scores, factor)
        if not 2 <= len(levels) <= MAX_LEVELS:
            continue
        for level_a, level_b in itertools.combinations(levels, 2):
            result = compare_factor(scores, factor, level_a, level_b)
            rows.append(result.as_row())
            if len(levels) == 2:
                two_level.append(result)
    digits = {**dict.fromkeys(("mean_a", "mean_b", "difference", "ci_low", "ci_high"), 3), "p_value": 4}
    table = stats.rounded_table(rows, COLUMNS, digits)
    table.attrs["two_level"] = two_level  # set last: pandas copies attrs into every derived frame
    return table


def two_level_comparisons(scores: pd.DataFrame, table: pd.DataFrame | None = None) -> list[Comparison]:
    """The comparison of every factor with exactly two levels (the report plots their pairs): from
    ``table`` (a ``comparisons`` result) when it carries them, else computed."""
    if table is not None and "two_level" in table.attrs:
        return list(table.attrs["two_level"])
    found = []
    for factor in FACTORS:
        if factor in scores.columns:
            levels = levels_of(scores, factor)
            if len(levels) == 2:
                found.append(compare_factor(scores, factor, levels[0], levels[1]))
    return found
