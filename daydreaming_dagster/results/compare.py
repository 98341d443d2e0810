"""Did B score higher than A? Paired comparisons of two score frames, or of two levels of a factor.

``compare_frames(a, b)`` pairs the units both sides share and compares only like with like: a score
on side A is matched with the score on side B of the same combination (or essay), by the same grader
on the same rubric, with the other matched columns equal. Per matched key each side's scores
(replicates included) are averaged; the differences B - A are averaged per unit; the result is the
mean of the unit differences with its 95 % t-interval and the paired t-test's p-value, both from one
``scipy.stats.ttest_1samp`` (so the interval excludes 0 exactly when p < 0.05), the number of pairs
and one plain sentence. A t-interval, not a bootstrap: the percentile and BCa bootstraps are far
too narrow with few pairs (simulated coverage of a 95 % interval with 3 pairs: 69 % for BCa, 95 %
for t; ``tests/results/test_compare.py``), and the mean of many pairs is normal anyway.

- The units are combinations when a generation factor is compared (draft template, essay template,
  generation model): the essays of one combination share their concepts, so they are one unit.
- The units are essays when a grading factor is compared (evaluation template or model): both
  sides scored the same essay.
- When the rubrics involved have different scales (say 0-9 and 0-10), every score is first taken
  as a fraction of its rubric's scale (0 its bottom, 1 its top), and the figures say so.

When the sides share no unit, the comparison is unpaired: the difference of the means of the essay
means with Welch's t-interval and p-value (``scipy.stats.ttest_ind``), and it says so.
``compare_factor`` splits one frame by a factor's two levels; ``comparisons`` compares every pair of
levels of every factor (``6_summary/comparisons.csv``) and adds Holm-adjusted p-values over the
table. ``compare_cohorts`` compares two cohorts: they differ in what was changed (a draft template,
say), so they are paired on what they share: the combination, the rubric and the grader, plus every
other factor and replicate whose levels both cohorts have; a factor whose levels differ is averaged
within each combination, and the comparison names it. ``save_comparison`` writes one to a cohort's
``6_summary/compare_<A>.csv`` (and its pairs to ``compare_<A>.pairs.csv``), which its report shows.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from daydreaming_dagster.results import scale, stats
from daydreaming_dagster.results.tables import ESSAY_KEY, valid_scores

FACTORS = ("draft_template", "essay_template", "generation_model", "evaluation_template", "evaluation_model")
GENERATION_FACTORS = FACTORS[:3]
GRADING_FACTORS = FACTORS[3:]
REPLICATES = ("draft_replicate", "essay_replicate", "evaluation_replicate")
# What must be equal for two scores to be compared (the compared factor is left out).
MATCH_COLUMNS = ("combo_id", *FACTORS)
MAX_LEVELS = 12  # a factor with more levels is not compared pairwise in the table (66 comparisons)
LEVELS_NAMED = 4  # levels listed when saying what differs between two cohorts
UNIT_NOUNS = {"combo_id": "combination", ESSAY_KEY: "essay"}
POINTS, FRACTION = "score", "fraction of scale"
COLUMNS = [
    "factor", "level_a", "level_b", "unit", "paired", "pairs", "mean_a", "mean_a_ci_low", "mean_a_ci_high", "n_a",
    "mean_b", "mean_b_ci_low", "mean_b_ci_high", "n_b", "difference", "ci_low", "ci_high", "p_value", "p_holm",
    "holm_tests", "measure", "unpaired_a", "unpaired_b", "note", "method", "sentence",
]
PAIR_COLUMNS = ["unit", "mean_a", "mean_b", "difference"]
SAVED_PREFIX, PAIRS_SUFFIX = "compare_", ".pairs.csv"


@dataclass(frozen=True)
class Comparison:
    """B - A. ``n_a``/``n_b`` count the independent essays of each side that entered the comparison;
    ``mean_a``/``mean_b`` are the means over the units (pairs) with their 95 % t-intervals;
    ``measure`` says whether scores or fractions of scale are compared; ``unpaired_a``/``unpaired_b``
    count each side's units left out for want of a pair; ``units`` holds one row per pair (unit,
    mean_a, mean_b, difference) for plots."""

    factor: str
    level_a: str
    level_b: str
    unit: str
    paired: bool
    pairs: int
    mean_a: float
    mean_a_ci_low: float
    mean_a_ci_high: float
    n_a: int
    mean_b: float
    mean_b_ci_low: float
    mean_b_ci_high: float
    n_b: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    sentence: str
    units: pd.DataFrame = field(repr=False, compare=False)
    measure: str = POINTS
    unpaired_a: int = 0
    unpaired_b: int = 0
    note: str = ""
    p_holm: float = float("nan")
    holm_tests: int = 0

    def as_row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}

    def as_json(self) -> dict[str, Any]:
        """The JSON of ``daydream compare``: difference, interval, pairs, method, and each side."""

        def number(value: float) -> float | None:
            return None if value is None or math.isnan(value) else round(float(value), 4)

        def side(level: str, mean: float, n: int, low: float, high: float) -> dict[str, Any]:
            return {"level": level, "mean": number(mean), "n": n, "ci_low": number(low), "ci_high": number(high)}

        return {
            "factor": self.factor, "unit": self.unit, "paired": self.paired,
            "a": side(self.level_a, self.mean_a, self.n_a, self.mean_a_ci_low, self.mean_a_ci_high),
            "b": side(self.level_b, self.mean_b, self.n_b, self.mean_b_ci_low, self.mean_b_ci_high),
            "difference": number(self.difference), "ci_low": number(self.ci_low), "ci_high": number(self.ci_high),
            "pairs": self.pairs, "p_value": number(self.p_value), "measure": self.measure,
            "unpaired": {"a": self.unpaired_a, "b": self.unpaired_b}, "note": self.note,
            "method": self.method, "sentence": self.sentence,
        }


def paired_t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """95 % t-interval of the mean difference and the paired t-test's p-value, from one
    ``scipy.stats.ttest_1samp`` (so that they agree); degenerate cases by hand."""
    if len(values) < 2:
        return float("nan"), float("nan"), float("nan")
    if stats.no_spread(values):  # the interval is the value itself, and no t-test exists
        value = float(values.mean())
        return value, value, 1.0 if value == 0 else float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-identical values: scipy warns about precision
        result = scipy_stats.ttest_1samp(values, 0.0)
        interval = result.confidence_interval(stats.CONFIDENCE)
    return float(interval.low), float(interval.high), float(result.pvalue)


def _sentence(level_a: str, level_b: str, difference: float, low: float, high: float, count: str,
              prefix: str = "") -> str:
    if math.isnan(low) or math.isnan(high):
        return f"{prefix}too few to compare ({count})"
    if low == high and difference != 0:  # every pair differs by the same amount: no spread
        direction = "higher" if difference > 0 else "lower"
        return (f"{prefix}{level_b} {direction} than {level_a} by exactly {abs(difference):.2f} in every one of "
                f"{count} (no spread, so no interval)")
    interval = f"{abs(difference):.2f} [{low:.2f}, {high:.2f}]" if difference >= 0 else (
        f"{abs(difference):.2f} [{-high:.2f}, {-low:.2f}]")
    if low <= 0 <= high:
        return (f"{prefix}no detectable difference: {level_b} - {level_a} = {difference:.2f} "
                f"[{low:.2f}, {high:.2f}] on {count}")
    direction = "higher" if difference > 0 else "lower"
    return f"{prefix}{level_b} {direction} than {level_a} by {interval} on {count}"


def _essay_means(valid: pd.DataFrame) -> np.ndarray:
    return valid.groupby(ESSAY_KEY, sort=True)["score"].mean().to_numpy(dtype=float)


def on_common_scale(va: pd.DataFrame, vb: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """Both sides' scores, as fractions of their rubric's scale when the rubrics' scales differ:
    (a, b, measure, what the method says about it)."""
    scales = pd.concat([va[["score_min", "score_max"]], vb[["score_min", "score_max"]]]).drop_duplicates()
    if len(scales) <= 1:
        return va, vb, POINTS, ""
    labels = ", ".join(sorted(scale.label(lo, hi) for lo, hi in scales.itertuples(index=False, name=None)))

    def fraction(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(score=(frame["score"] - frame["score_min"]) / scale.width(frame))

    return (fraction(va), fraction(vb), FRACTION,
            f"the rubrics' scales differ ({labels}), so every score is taken as a fraction of its scale "
            "(0 its bottom, 1 its top); ")


def _unpaired(va: pd.DataFrame, vb: pd.DataFrame, *, factor: str, labels: tuple[str, str], unit: str,
              measure: str, scale_note: str, note: str) -> Comparison:
    ea, eb = _essay_means(va), _essay_means(vb)
    mean_a = float(ea.mean()) if len(ea) else float("nan")
    mean_b = float(eb.mean()) if len(eb) else float("nan")
    difference = mean_b - mean_a
    low = high = p_value = float("nan")
    noun = UNIT_NOUNS.get(unit, unit)
    method = "unpaired: too few essays on a side"
    if len(ea) >= 2 and len(eb) >= 2:
        if stats.no_spread(ea) and stats.no_spread(eb):
            low = high = difference
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = scipy_stats.ttest_ind(eb, ea, equal_var=False)
                interval = result.confidence_interval(stats.CONFIDENCE)
            low, high, p_value = float(interval.low), float(interval.high), float(result.pvalue)
        method = (f"unpaired (no shared {noun}): {scale_note}difference of the means of essay means, "
                  "Welch's t-interval and p-value (scipy.stats.ttest_ind)")
    count = f"{len(ea)} and {len(eb)} essays" + ("; fractions of scale" if measure == FRACTION else "")
    sentence = _sentence(labels[0], labels[1], difference, low, high, count, prefix=f"unpaired (no shared {noun}): ")
    units = pd.DataFrame(columns=PAIR_COLUMNS)
    return Comparison(factor, labels[0], labels[1], unit, False, 0, mean_a, *stats.mean_interval(ea), len(ea),
                      mean_b, *stats.mean_interval(eb), len(eb), difference, low, high, p_value, method, sentence,
                      units, measure=measure, unpaired_a=int(va[unit].nunique()), unpaired_b=int(vb[unit].nunique()),
                      note=note)


def compare_frames(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    unit: str = "combo_id",
    match: Sequence[str] = MATCH_COLUMNS,
    labels: tuple[str, str] = ("A", "B"),
    factor: str = "cohort",
    allow_unpaired: bool = True,
    note: str = "",
) -> Comparison:
    """Compare score frame ``b`` with ``a`` (``parsed_scores`` rows), paired on ``unit``.

    Two scores are matched when every column of ``match`` (and ``unit``) is equal; unmatched
    scores are left out (counted in ``unpaired_a``/``unpaired_b``). With no shared unit the
    comparison is unpaired (``allow_unpaired``), or has no pairs. ``note`` is kept with the result
    (``compare_cohorts`` says there what differs between the two cohorts).
    """
    va, vb, measure, scale_note = on_common_scale(valid_scores(a), valid_scores(b))
    keys = list(dict.fromkeys([unit, *(c for c in match if c in va.columns and c in vb.columns)]))
    side_a = va.groupby(keys, sort=True).agg(score_a=("score", "mean"))
    side_b = vb.groupby(keys, sort=True).agg(score_b=("score", "mean"))
    joined = side_a.join(side_b, how="inner").reset_index()
    if joined.empty and allow_unpaired:
        return _unpaired(va, vb, factor=factor, labels=labels, unit=unit, measure=measure, scale_note=scale_note,
                         note=note)
    joined["difference"] = joined["score_b"] - joined["score_a"]
    per_unit = joined.groupby(unit, sort=True).agg(
        mean_a=("score_a", "mean"), mean_b=("score_b", "mean"), difference=("difference", "mean"))
    differences = per_unit["difference"].to_numpy(dtype=float)
    low, high, p_value = paired_t_interval(differences)
    shared = joined[keys].drop_duplicates()
    n_a = int(va.merge(shared, on=keys)[ESSAY_KEY].nunique())
    n_b = int(vb.merge(shared, on=keys)[ESSAY_KEY].nunique())
    noun = UNIT_NOUNS.get(unit, unit)
    held = [name for column, name in (("evaluation_model", "grader"), ("evaluation_template", "rubric"))
            if column in keys]
    same = f"the same {noun}" + (f", same {' and '.join(held)}" if held else "")
    method = (f"paired on {same}: {scale_note}mean of the per-{noun} differences, 95% t-interval and paired "
              "t-test p-value (scipy.stats.ttest_1samp)")
    difference = float(differences.mean()) if len(differences) else float("nan")
    count = f"{len(differences)} pairs (same {noun}" + ("; fractions of scale)" if measure == FRACTION else ")")
    sentence = _sentence(labels[0], labels[1], difference, low, high, count)
    units = per_unit.reset_index().rename(columns={unit: "unit"})
    paired_units = set(per_unit.index)
    mean_a = per_unit["mean_a"].to_numpy(dtype=float)
    mean_b = per_unit["mean_b"].to_numpy(dtype=float)
    return Comparison(
        factor, labels[0], labels[1], unit, True, len(differences),
        float(mean_a.mean()) if len(mean_a) else float("nan"), *stats.mean_interval(mean_a), n_a,
        float(mean_b.mean()) if len(mean_b) else float("nan"), *stats.mean_interval(mean_b), n_b,
        difference, low, high, p_value, method, sentence, units, measure=measure,
        unpaired_a=len(set(va[unit]) - paired_units), unpaired_b=len(set(vb[unit]) - paired_units), note=note,
    )


def _levels(frame: pd.DataFrame, column: str) -> set[str]:
    return {str(v) for v in frame[column].dropna().unique()}


def _named(levels: set[str]) -> str:
    shown = sorted(levels)
    return ", ".join(shown[:LEVELS_NAMED]) + (f" and {len(shown) - LEVELS_NAMED} more" if len(shown) > LEVELS_NAMED else "")


def cohort_match(a: pd.DataFrame, b: pd.DataFrame) -> tuple[list[str], dict[str, tuple[set[str], set[str]]]]:
    """What two cohorts' scores are paired on, and the columns whose levels differ between them.

    Always the rubric and the grader (only like is compared with like; a rubric or grader one side
    lacks leaves its scores unpaired); every generation factor and replicate whose levels are the
    same in both cohorts; not a generation factor or replicate whose levels differ (it is what was
    changed: its scores are averaged within each combination).
    """
    va, vb = valid_scores(a), valid_scores(b)
    match: list[str] = []
    differs: dict[str, tuple[set[str], set[str]]] = {}
    for column in (*GENERATION_FACTORS, *GRADING_FACTORS, *REPLICATES):
        if column not in va.columns or column not in vb.columns:
            continue
        levels_a, levels_b = _levels(va, column), _levels(vb, column)
        if levels_a != levels_b:
            differs[column] = (levels_a, levels_b)
        if column in GRADING_FACTORS or levels_a == levels_b:
            match.append(column)
    return match, differs


def compare_cohorts(a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str] = ("A", "B")) -> Comparison:
    """B - A between two cohorts' score frames, paired on the combinations both scored (``cohort_match``)."""
    match, differs = cohort_match(a, b)
    parts = []
    for column, (levels_a, levels_b) in differs.items():
        handled = ("only the shared levels are paired" if column in GRADING_FACTORS
                   else "averaged within each combination")
        parts.append(f"{column} differs ({labels[0]}: {_named(levels_a)}; {labels[1]}: {_named(levels_b)}), {handled}")
    note = "; ".join(parts)
    result = compare_frames(a, b, unit="combo_id", match=match, labels=labels, factor="cohort", note=note)
    dropped = []
    if result.paired and (result.unpaired_a or result.unpaired_b):
        total_a, total_b = result.pairs + result.unpaired_a, result.pairs + result.unpaired_b
        dropped.append(f"left out for want of a pair: {result.unpaired_a} of {labels[0]}'s {total_a} and "
                       f"{result.unpaired_b} of {labels[1]}'s {total_b} combinations")
    if not result.paired:
        dropped.append("no combination was scored in both cohorts with the same rubric and grader")
    full_note = "; ".join(p for p in (note, *dropped) if p)
    return dataclasses.replace(result, note=full_note)


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


def with_holm(results: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with Holm-adjusted p-values over all of them (``stats.holm``), the count of
    p-values adjusted together, and a sentence that says when the adjustment changes the verdict."""
    adjusted = stats.holm([r.p_value for r in results])
    tests = int(np.sum(~np.isnan(adjusted)))
    out = []
    for result, p_holm in zip(results, adjusted, strict=True):
        sentence = result.sentence
        if tests > 1 and not math.isnan(p_holm):
            excludes_zero = not (result.ci_low <= 0 <= result.ci_high)
            if excludes_zero and p_holm >= 1 - stats.CONFIDENCE:
                sentence += (f"; but not detectable after Holm's adjustment for {tests} comparisons "
                             f"(adjusted p = {p_holm:.3g})")
            else:
                sentence += f"; Holm-adjusted p = {p_holm:.3g} over {tests} comparisons"
        out.append(dataclasses.replace(result, p_holm=float(p_holm), holm_tests=tests if tests > 1 else 0,
                                       sentence=sentence))
    return out


DIGITS = {**dict.fromkeys(("mean_a", "mean_a_ci_low", "mean_a_ci_high", "mean_b", "mean_b_ci_low", "mean_b_ci_high",
                           "difference", "ci_low", "ci_high"), 3), "p_value": 4, "p_holm": 4}


def comparisons(scores: pd.DataFrame) -> pd.DataFrame:
    """Every pair of levels of every factor with two to ``MAX_LEVELS`` levels, one row each, with
    Holm-adjusted p-values over the whole table (a reader scans every row for a difference).

    The table's ``attrs["comparisons"]`` keeps each ``Comparison``, pairs included, so that the
    report can plot them without computing them again.
    """
    found = []
    for factor in FACTORS:
        if factor not in scores.columns:
            continue
        levels = levels_of(scores, factor)
        if not 2 <= len(levels) <= MAX_LEVELS:
            continue
        found += [compare_factor(scores, factor, a, b) for a, b in itertools.combinations(levels, 2)]
    adjusted = with_holm(found)
    table = stats.rounded_table([r.as_row() for r in adjusted], COLUMNS, DIGITS)
    table.attrs["comparisons"] = adjusted  # set last: pandas copies attrs into every derived frame
    return table


def plotted_comparisons(scores: pd.DataFrame, table: pd.DataFrame | None = None) -> list[Comparison]:
    """Every comparison of ``comparisons`` (the report plots their pairs): from ``table`` when it
    carries them, else computed."""
    if table is not None and "comparisons" in table.attrs:
        return list(table.attrs["comparisons"])
    return list(comparisons(scores).attrs["comparisons"])


def saved_paths(summary_dir: Path, other: str) -> tuple[Path, Path]:
    """Where a cohort's comparison against cohort ``other`` is kept: the result and its pairs."""
    return summary_dir / f"{SAVED_PREFIX}{other}.csv", summary_dir / f"{SAVED_PREFIX}{other}{PAIRS_SUFFIX}"


def save_comparison(summary_dir: Path, result: Comparison) -> tuple[Path, Path]:
    """Write ``result`` (B's comparison against A) into B's ``6_summary``: one row with the
    ``comparisons.csv`` columns in ``compare_<A>.csv``, its pairs in ``compare_<A>.pairs.csv``."""
    from daydreaming_dagster.results.scores import write_csv

    path, pairs_path = saved_paths(summary_dir, result.level_a)
    write_csv(path, stats.rounded_table([result.as_row()], COLUMNS, DIGITS))
    write_csv(pairs_path, result.units.reindex(columns=PAIR_COLUMNS).round(4))
    return path, pairs_path


def saved_comparisons(summary_dir: Path) -> list[tuple[Comparison, float]]:
    """The comparisons ``save_comparison`` wrote into this ``6_summary``, each with its file's
    modification time (seconds since the epoch), sorted by name; a damaged file is skipped."""
    found = []
    for path in sorted(summary_dir.glob(f"{SAVED_PREFIX}*.csv")):
        if path.name.endswith(PAIRS_SUFFIX):
            continue
        try:
            # as text: a cohort named "1.50" must not come back as 1.5
            row = pd.read_csv(path, dtype=str, keep_default_na=False).iloc[0]
            if list(row.index) != COLUMNS:
                continue
            pairs_path = saved_paths(summary_dir, str(row["level_a"]))[1]
            units = (pd.read_csv(pairs_path, dtype={"unit": str}) if pairs_path.is_file()
                     else pd.DataFrame(columns=PAIR_COLUMNS))
            values: dict[str, Any] = {c: str(row[c]) for c in COLUMNS}
            for whole in ("pairs", "n_a", "n_b", "unpaired_a", "unpaired_b", "holm_tests"):
                values[whole] = int(values[whole] or 0)
            for number in DIGITS:
                values[number] = float(values[number]) if values[number] else float("nan")
            written = path.stat().st_mtime
        except (OSError, ValueError, IndexError, pd.errors.ParserError):
            continue
        values["paired"] = values["paired"].lower() == "true"
        found.append((Comparison(**values, units=units), written))
    return found
