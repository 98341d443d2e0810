"""Do the graders agree? Measured within one rubric at a time, never across rubrics.

Two rubrics (say originality and scientific value) are different questions: the spread between an
essay's scores on them says nothing about the graders. So every figure here compares graders
(evaluation models) on the same evaluation template. A grader's score on an essay is the mean over
its evaluation replicates.

- ``agreement_by_rubric``: per rubric, Krippendorff's alpha with the interval metric
  (``krippendorff`` package), its 95 % interval from a bootstrap over essays
  (``scipy.stats.bootstrap``), the number of graders (models) and essays, the mean pairwise Pearson
  correlation, and how many essays fall in each agreement class.
- ``grader_agreement``: per rubric and grader, its agreement with the others: Pearson correlation
  with the mean of the other graders (item-rest), the mean of its pairwise alphas, and its offset.
- ``grader_pairs``: per rubric and pair of graders: Pearson and Spearman correlations
  (``scipy.stats``), alpha, mean absolute difference.
- ``essay_agreement_by_rubric``: per essay and rubric, the spread of the graders' scores,
  classified relative to the rubric's scale (upstream's thresholds on 0-10).
- ``noise_components``: when replicates exist, generation noise (replicate essays of one condition,
  same grader) apart from grader noise (one grader re-scoring one essay) and the spread between
  graders, as pooled standard deviations.

The alpha interval resamples essays: for speed it evaluates alpha from per-essay sums
(``alpha_from_unit_sums``), which equals the library's alpha on the resampled essays (the tests
check it), instead of calling the library 1,000 times.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from daydreaming_dagster.results import scale, stats
from daydreaming_dagster.results.tables import ESSAY_COLUMNS, ESSAY_KEY, classify_spread, valid_scores

# Percentile endpoints from 1,000 resamples move by about a tenth of a standard error between seeds
# (Efron & Tibshirani 1993, ch. 19), below the tables' 3 decimals of alpha.
ALPHA_RESAMPLES = 1_000
ALPHA_METHOD = (
    "Krippendorff's alpha, interval metric (krippendorff); 95% percentile interval from a bootstrap "
    f"over essays, {ALPHA_RESAMPLES} resamples (scipy.stats.bootstrap)"
)
AGREEMENT_CLASSES = ("high_agreement", "moderate_agreement", "low_agreement", "poor_agreement")
GENERATION_CONDITION = ["combo_id", "draft_template", "essay_template", "generation_model"]


def _cells(valid: pd.DataFrame) -> pd.DataFrame:
    """One row per (rubric, essay, grader): the grader's mean score over replicates and their count."""
    return (
        valid.groupby(["evaluation_template", ESSAY_KEY, "evaluation_model"], sort=True)["score"]
        .agg(score="mean", replicates="count")
        .reset_index()
    )


def grader_matrix(cells: pd.DataFrame, rubric: str) -> pd.DataFrame:
    """Essays (rows) x graders (columns) of one rubric's cell means; NaN where a grader did not score."""
    part = cells[cells["evaluation_template"] == rubric]
    matrix = part.pivot(index=ESSAY_KEY, columns="evaluation_model", values="score")
    matrix.columns = [str(c) for c in matrix.columns]
    return matrix.sort_index()


def rubric_matrices(cells: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each rubric (sorted) with its ``grader_matrix``: agreement is measured within one rubric."""
    for rubric in sorted(cells["evaluation_template"].unique()):
        yield rubric, grader_matrix(cells, rubric)


def interval_alpha(matrix: pd.DataFrame) -> float:
    """Krippendorff's alpha (interval metric) of graders (columns) over essays (rows); NaN when it is
    undefined (fewer than two graders, no essay scored twice, or no variation at all)."""
    values = matrix.to_numpy(dtype=float)
    pairable = (~np.isnan(values)).sum(axis=1) >= 2
    if values.shape[1] < 2 or pairable.sum() == 0:
        return float("nan")
    observed = values[pairable]
    if np.nanmax(observed) == np.nanmin(observed):
        return float("nan")  # every value equal: alpha's expected disagreement is 0
    return float(krippendorff.alpha(reliability_data=observed.T, level_of_measurement="interval"))


def unit_sums(matrix: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per essay scored by at least two graders: values m, their sum, their sum of squares, and
    the essay's within-unit disagreement 2 (m sum(v^2) - sum(v)^2) / (m - 1)."""
    values = matrix.to_numpy(dtype=float)
    present = ~np.isnan(values)
    m = present.sum(axis=1).astype(float)
    keep = m >= 2
    filled = np.where(present, values, 0.0)[keep]
    m = m[keep]
    s1 = filled.sum(axis=1)
    s2 = (filled**2).sum(axis=1)
    disagreement = 2 * (m * s2 - s1**2) / (m - 1)
    return m, s1, s2, disagreement


def alpha_from_unit_sums(
    m: np.ndarray, s1: np.ndarray, s2: np.ndarray, disagreement: np.ndarray, axis: int = -1
) -> np.ndarray:
    """Krippendorff's interval alpha from per-unit sums: 1 - (n - 1) sum(D_u) / (2 (n S2 - S1^2)),
    the library's coincidence-matrix formula written over units, so that resampled units only add
    up (vectorised over resamples along ``axis``)."""
    n = np.sum(m, axis=axis)
    expected = 2 * (n * np.sum(s2, axis=axis) - np.sum(s1, axis=axis) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(1 - (n - 1) * np.sum(disagreement, axis=axis) / expected)


def alpha_interval(matrix: pd.DataFrame, *, rng: np.random.Generator,
                   resamples: int = ALPHA_RESAMPLES) -> tuple[float, float]:
    """95 % percentile interval of the interval alpha, resampling essays (NaN, NaN below two).

    A resample whose values do not vary at all has no alpha (0/0); such resamples (only likely
    with a handful of essays) are left out of the percentiles rather than making the interval NaN.
    """
    sums = unit_sums(matrix)
    if len(sums[0]) < 2:
        return (float("nan"), float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about the undefined resamples
        result = scipy_stats.bootstrap(
            sums, alpha_from_unit_sums, paired=True, vectorized=True, method="percentile",
            n_resamples=resamples, batch=stats.batch_for(len(sums[0]) * 4),
            confidence_level=stats.CONFIDENCE, random_state=rng,
        )
    defined = result.bootstrap_distribution[np.isfinite(result.bootstrap_distribution)]
    if len(defined) == 0:
        return (float("nan"), float("nan"))
    tail = (1 - stats.CONFIDENCE) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return (float(low), float(high))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(scipy_stats.pearsonr(x, y).statistic)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(scipy_stats.spearmanr(x, y).statistic)


def _rubric_scales(valid: pd.DataFrame) -> dict[str, tuple[float, float]]:
    first = valid.drop_duplicates("evaluation_template")
    return {
        str(t): (float(low), float(high))
        for t, low, high in zip(first["evaluation_template"], first["score_min"], first["score_max"], strict=True)
    }


def essay_agreement_by_rubric(scores: pd.DataFrame) -> pd.DataFrame:
    """Per essay and rubric scored by at least two graders: the spread of the graders' scores (each
    the mean over its replicates), classified relative to the rubric's scale."""
    valid = valid_scores(scores)
    columns = [
        *ESSAY_COLUMNS, "evaluation_template", "scale", "n_graders", "n_scores", "mean", "std", "min", "max",
        "median", "score_range", "relative_range", "agreement_classification",
    ]
    if valid.empty:
        return pd.DataFrame(columns=columns)
    cells = _cells(valid)
    grouped = cells.groupby([ESSAY_KEY, "evaluation_template"], sort=True)
    spread = grouped["score"].agg(["count", "mean", "std", "min", "max", "median"])
    spread.columns = ["n_graders", "mean", "std", "min", "max", "median"]
    spread["n_scores"] = grouped["replicates"].sum()
    spread = spread[spread["n_graders"] >= 2].reset_index()
    scales = _rubric_scales(valid)
    spread["scale"] = [scale.label(*scales[t]) for t in spread["evaluation_template"]]
    widths = np.array([scales[t][1] - scales[t][0] for t in spread["evaluation_template"]], dtype=float)
    spread["score_range"] = spread["max"] - spread["min"]
    spread["relative_range"] = spread["score_range"] / widths
    spread["agreement_classification"] = [
        classify_spread(r, s, w) for r, s, w in zip(spread["score_range"], spread["std"], widths, strict=True)
    ]
    essays = valid[ESSAY_COLUMNS].drop_duplicates(ESSAY_KEY)
    return spread.merge(essays, on=ESSAY_KEY, how="left").reindex(columns=columns)


def agreement_by_rubric(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluation template: graders (models), essays scored by two or more of them,
    Krippendorff's alpha with its 95 % interval, the mean pairwise Pearson correlation, and the
    essays per agreement class (``essay_agreement_by_rubric``)."""
    columns = [
        "evaluation_template", "scale", "graders", "grader_models", "essays", "scores", "agreement", "ci_low",
        "ci_high", "method", "mean_pairwise_pearson", *(f"{c}_essays" for c in AGREEMENT_CLASSES),
    ]
    valid = valid_scores(scores)
    if valid.empty:
        return pd.DataFrame(columns=columns)
    cells = _cells(valid)
    scales = _rubric_scales(valid)
    classes = essay_agreement_by_rubric(valid)
    pairs = grader_pairs(valid)
    rows: list[dict[str, Any]] = []
    for rubric, matrix in rubric_matrices(cells):
        pairable = int(((~matrix.isna()).sum(axis=1) >= 2).sum())
        graders = list(matrix.columns)
        if len(graders) >= 2 and pairable >= 2:
            agreement = interval_alpha(matrix)
            low, high = alpha_interval(matrix, rng=stats.rng_for("agreement_by_rubric", rubric))
            method = ALPHA_METHOD
        else:
            agreement, low, high = float("nan"), float("nan"), float("nan")
            method = "fewer than two graders on two essays: nothing to compare"
        counts = classes.loc[classes["evaluation_template"] == rubric, "agreement_classification"].value_counts()
        rubric_pairs = pairs[pairs["evaluation_template"] == rubric]
        rows.append({
            "evaluation_template": rubric, "scale": scale.label(*scales[rubric]), "graders": len(graders),
            "grader_models": "; ".join(graders), "essays": pairable,
            "scores": int((valid["evaluation_template"] == rubric).sum()),
            "agreement": agreement, "ci_low": low, "ci_high": high, "method": method,
            "mean_pairwise_pearson": float(rubric_pairs["pearson"].mean()) if len(rubric_pairs) else float("nan"),
            **{f"{c}_essays": int(counts.get(c, 0)) for c in AGREEMENT_CLASSES},
        })
    return stats.rounded_table(rows, columns, dict.fromkeys(("agreement", "ci_low", "ci_high", "mean_pairwise_pearson"), 3))


def grader_pairs(scores: pd.DataFrame) -> pd.DataFrame:
    """Per rubric and pair of graders, on the essays both scored: Pearson and Spearman correlations,
    Krippendorff's alpha, the mean absolute difference and the mean difference (b - a)."""
    columns = ["evaluation_template", "grader_a", "grader_b", "essays", "pearson", "spearman", "alpha",
               "mean_abs_difference", "mean_difference"]
    valid = valid_scores(scores)
    if valid.empty:
        return pd.DataFrame(columns=columns)
    cells = _cells(valid)
    rows = []
    for rubric, matrix in rubric_matrices(cells):
        for a, b in itertools.combinations(matrix.columns, 2):
            both = matrix[[a, b]].dropna()
            x, y = both[a].to_numpy(dtype=float), both[b].to_numpy(dtype=float)
            rows.append({
                "evaluation_template": rubric, "grader_a": a, "grader_b": b, "essays": len(both),
                "pearson": _pearson(x, y), "spearman": _spearman(x, y), "alpha": interval_alpha(both),
                "mean_abs_difference": float(np.abs(y - x).mean()) if len(both) else float("nan"),
                "mean_difference": float((y - x).mean()) if len(both) else float("nan"),
            })
    return stats.rounded_table(rows, columns, dict.fromkeys(columns[4:], 3))


def grader_agreement(scores: pd.DataFrame) -> pd.DataFrame:
    """Per rubric and grader: how it agrees with the other graders of that rubric.

    ``mean_score`` is its mean over the ``essays_scored`` essays it scored (each its mean over
    replicates), with a 95 % t-interval over them; ``essays`` counts those the others scored too.
    ``correlation_with_others`` is the Pearson correlation of its scores with the mean of the other
    graders' scores on the same essays (an item-rest correlation); ``alpha_with_others`` the mean of
    its pairwise alphas; ``offset_from_others`` its mean score minus the others' on those essays (a
    lenient grader is positive). A grader scoring at random has both agreement figures near 0.
    """
    columns = ["evaluation_template", "evaluation_model", "essays", "mean_score", "mean_ci_low", "mean_ci_high",
               "essays_scored", "correlation_with_others", "alpha_with_others", "offset_from_others"]
    valid = valid_scores(scores)
    if valid.empty:
        return pd.DataFrame(columns=columns)
    cells = _cells(valid)
    pairs = grader_pairs(valid)
    rows = []
    for rubric, matrix in rubric_matrices(cells):
        for grader in matrix.columns:
            others = matrix.drop(columns=[grader])
            rest = others.mean(axis=1, skipna=True)
            both = pd.DataFrame({"own": matrix[grader], "rest": rest}).dropna()
            own, rest_values = both["own"].to_numpy(dtype=float), both["rest"].to_numpy(dtype=float)
            involved = pairs[(pairs["evaluation_template"] == rubric)
                             & ((pairs["grader_a"] == grader) | (pairs["grader_b"] == grader))]
            own_scores = matrix[grader].dropna().to_numpy(dtype=float)
            low, high = stats.mean_interval(own_scores)
            rows.append({
                "evaluation_template": rubric, "evaluation_model": grader, "essays": len(both),
                "mean_score": float(own_scores.mean()), "mean_ci_low": low, "mean_ci_high": high,
                "essays_scored": len(own_scores),
                "correlation_with_others": _pearson(own, rest_values),
                "alpha_with_others": float(involved["alpha"].mean()) if len(involved) else float("nan"),
                "offset_from_others": float((own - rest_values).mean()) if len(both) else float("nan"),
            })
    return stats.rounded_table(rows, columns, dict.fromkeys([c for c in columns[3:] if c != "essays_scored"], 3))


def noise_components(scores: pd.DataFrame) -> pd.DataFrame:
    """Per rubric, three pooled standard deviations (``stats.pooled_sd``), each with what it pools:

    - ``generation_sd``: between replicate essays of one generation condition (combination, draft
      template, essay template, model), scored by the same grader; it includes that grader's
      re-scoring noise divided by its replicates per essay. Needs draft or essay replicates.
    - ``rerun_sd``: between one grader's replicate scores of one essay (grader noise). Needs
      evaluation replicates.
    - ``between_grader_sd``: between the graders' scores of one essay (each their mean over replicates).
    """
    columns = ["evaluation_template", "generation_sd", "generation_groups", "generation_dof", "rerun_sd",
               "rerun_cells", "rerun_dof", "between_grader_sd", "between_grader_essays", "between_grader_dof"]
    valid = valid_scores(scores)
    if valid.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for rubric, part in valid.groupby("evaluation_template", sort=True):
        per_essay_grader = (
            part.groupby([*GENERATION_CONDITION, "evaluation_model", ESSAY_KEY], sort=False)["score"]
            .mean().reset_index()
        )
        generation = stats.pooled_sd(per_essay_grader, [*GENERATION_CONDITION, "evaluation_model"], "score")
        rerun = stats.pooled_sd(part, [ESSAY_KEY, "evaluation_model"], "score")
        between = stats.pooled_sd(per_essay_grader, [ESSAY_KEY], "score")
        rows.append({
            "evaluation_template": rubric,
            "generation_sd": generation[0], "generation_groups": generation[1], "generation_dof": generation[2],
            "rerun_sd": rerun[0], "rerun_cells": rerun[1], "rerun_dof": rerun[2],
            "between_grader_sd": between[0], "between_grader_essays": between[1], "between_grader_dof": between[2],
        })
    return stats.rounded_table(rows, columns, dict.fromkeys(("generation_sd", "rerun_sd", "between_grader_sd"), 3))
