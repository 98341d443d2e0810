"""How often does an essay succeed, and what does a success cost?

An essay **succeeds** when, on every target rubric (each evaluation template that declares a
``success_threshold`` in ``evaluation_templates.csv``), the mean of its graders' scores reaches the
threshold (each grader's replicates are averaged first). An essay without a score on some target
rubric is not counted (``essays_unscored``). With no threshold declared there is no success rate,
and the mean score is over every rubric.

``success_by_group`` (``6_summary/success_by_group.csv``) gives per cohort, draft template, essay
template, generation model and combination: the success rate with its 95 % Wilson interval
(``scipy.stats.binomtest``; essays taken as independent), the mean essay score with its 95 %
t-interval over the same essays (``essays`` is its n), the cost of the group (what its essays
cost: each essay's own call, its evaluations, and an equal share of its draft, from the cohort view's
``cost`` column, i.e. what was paid), the cost per successful essay, and the cost of one essay per
point of its mean score. ``scale`` lists the scales of the rubrics averaged into an essay's score:
with two (say 0-9 and 0-10) the mean pools points of both, as the success rule does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from daydreaming_dagster.results import scale, stats
from daydreaming_dagster.results.lineage import CohortView
from daydreaming_dagster.results.tables import ESSAY_KEY, valid_scores

GROUPS: list[tuple[str, str | None]] = [
    ("cohort", None), ("draft_template", "draft_template"), ("essay_template", "essay_template"),
    ("generation_model", "generation_model"), ("combo_id", "combo_id"),
]
ESSAY_FRAME_COLUMNS = [ESSAY_KEY, "combo_id", "concept_names", "draft_template", "essay_template",
                       "generation_model", "cost_usd"]
MEAN_METHOD = "mean_score: 95% t-interval over the essays (scipy.stats.ttest_1samp)"
SUCCESS_RULE = "mean over graders >= success_threshold on every target rubric (replicates averaged per grader)"
COLUMNS = [
    "group_by", "group", "concept_names", "essays", "successes", "success_rate", "ci_low", "ci_high",
    "essays_unscored", "mean_score", "mean_ci_low", "mean_ci_high", "scale", "cost_usd", "cost_per_essay_usd", "cost_per_success_usd",
    "cost_per_point_usd", "target_rubrics", "rule", "method",
]


def essay_frame(view: CohortView) -> pd.DataFrame:
    """One row per essay of the cohort with its lineage and ``cost_usd``: its own call, its
    evaluations' calls, and its draft's cost split equally among the draft's essays (NaN when no
    cost is known at all, e.g. a local model)."""
    gens = view.generations
    essays = gens[gens["stage"] == "essay"]
    if essays.empty:
        return pd.DataFrame(columns=ESSAY_FRAME_COLUMNS)
    drafts = gens[gens["stage"] == "draft"].set_index("gen_id")["cost"]
    evaluations = gens[gens["stage"] == "evaluation"]
    evaluation_cost = evaluations.groupby("parent_gen_id")["cost"].sum(min_count=1)
    essays_per_draft = essays.groupby("parent_gen_id")["gen_id"].count()
    draft_share = essays["parent_gen_id"].map(drafts) / essays["parent_gen_id"].map(essays_per_draft)
    parts = pd.DataFrame({
        "own": essays["cost"].to_numpy(dtype=float),
        "evaluations": essays["gen_id"].map(evaluation_cost).to_numpy(dtype=float),
        "draft": draft_share.to_numpy(dtype=float),
    })
    return pd.DataFrame({
        ESSAY_KEY: essays["gen_id"].to_numpy(), "combo_id": essays["combo_id"].to_numpy(),
        "concept_names": essays["concept_names"].to_numpy(), "draft_template": essays["draft_template"].to_numpy(),
        "essay_template": essays["essay_template"].to_numpy(),
        "generation_model": essays["generation_model"].to_numpy(),
        "cost_usd": parts.sum(axis=1, min_count=1).to_numpy(),
    })


def target_rubrics(scores: pd.DataFrame) -> dict[str, float]:
    """Evaluation template -> success threshold, for the templates that declare one."""
    framed = scale.with_scale(scores)
    declared = framed[framed["success_threshold"].notna()]
    return {str(t): float(v) for t, v in declared.groupby("evaluation_template")["success_threshold"].first().items()}


def essay_success(scores: pd.DataFrame) -> pd.DataFrame:
    """Per scored essay: ``essay_score`` (mean over the target rubrics, or every rubric with no
    threshold, of the graders' mean) and ``success`` (True/False; NaN without a threshold or when a
    target rubric has no score)."""
    valid = valid_scores(scores)
    targets = target_rubrics(scores)
    if valid.empty:
        return pd.DataFrame(columns=[ESSAY_KEY, "essay_score", "success"])
    graders = valid.groupby([ESSAY_KEY, "evaluation_template", "evaluation_model"], sort=True)["score"].mean()
    rubric_scores = graders.groupby(level=[0, 1]).mean().unstack("evaluation_template")
    if not targets:
        return pd.DataFrame({ESSAY_KEY: rubric_scores.index, "essay_score": rubric_scores.mean(axis=1).to_numpy(),
                             "success": np.nan})
    on_targets = rubric_scores.reindex(columns=sorted(targets))
    complete = on_targets.notna().all(axis=1)
    thresholds = pd.Series(targets)[on_targets.columns]
    meets = on_targets.ge(thresholds, axis=1).all(axis=1)
    return pd.DataFrame({
        ESSAY_KEY: on_targets.index,
        "essay_score": on_targets.mean(axis=1).where(complete).to_numpy(),
        "success": meets.where(complete).to_numpy(dtype=object),
    })


def _essays_from_scores(scores: pd.DataFrame) -> pd.DataFrame:
    frame = scores.assign(**{ESSAY_KEY: scores["parent_gen_id"]}).drop_duplicates(ESSAY_KEY)
    frame = frame.assign(cost_usd=np.nan)
    return frame.reindex(columns=ESSAY_FRAME_COLUMNS)


def success_by_group(scores: pd.DataFrame, essays: pd.DataFrame | None = None) -> pd.DataFrame:
    """Success rate, its interval, and cost per success, per cohort, template, model and combination.

    ``essays`` is ``essay_frame(view)`` (every essay, with its cost); without it the essays come
    from the scores and costs are unknown.
    """
    if scores.empty and (essays is None or essays.empty):
        return pd.DataFrame(columns=COLUMNS)
    essays = essays if essays is not None else _essays_from_scores(scores)
    targets = target_rubrics(scores)
    per_essay = essays.merge(essay_success(scores), on=ESSAY_KEY, how="left")
    target_text = "; ".join(f"{t} >= {v:g}" for t, v in sorted(targets.items()))
    rule = SUCCESS_RULE if targets else "no success_threshold declared"
    framed = scale.with_scale(scores)
    if targets:
        framed = framed[framed["evaluation_template"].isin(list(targets))]
    bounds = framed[["score_min", "score_max"]].drop_duplicates().itertuples(index=False, name=None)
    scales = "; ".join(sorted({scale.label(low, high) for low, high in bounds}))
    rows: list[dict[str, Any]] = []
    for group_by, column in GROUPS:
        grouped = [("all", per_essay)] if column is None else per_essay.groupby(column, sort=True)
        for value, part in grouped:
            scored = part["essay_score"].notna()
            n_scored = int(scored.sum())
            successes = int(part["success"].eq(True).sum()) if targets else 0
            low, high = stats.proportion_interval(successes, n_scored) if targets else (np.nan, np.nan)
            cost = float(part["cost_usd"].sum(min_count=1))
            essay_scores = part.loc[scored, "essay_score"].to_numpy(dtype=float)
            mean_score = float(essay_scores.mean()) if n_scored else float("nan")
            mean_low, mean_high = stats.mean_interval(essay_scores)
            cost_per_essay = cost / len(part) if len(part) else float("nan")
            rows.append({
                "group_by": group_by, "group": value,
                "concept_names": part["concept_names"].iloc[0] if column == "combo_id" else "",
                "essays": n_scored, "successes": successes if targets else np.nan,
                "success_rate": successes / n_scored if targets and n_scored else np.nan,
                "ci_low": low, "ci_high": high, "essays_unscored": int(len(part) - n_scored),
                "mean_score": mean_score, "mean_ci_low": mean_low, "mean_ci_high": mean_high, "scale": scales,
                "cost_usd": cost, "cost_per_essay_usd": cost_per_essay,
                "cost_per_success_usd": cost / successes if targets and successes else np.nan,
                "cost_per_point_usd": cost_per_essay / mean_score if mean_score and mean_score > 0 else np.nan,
                "target_rubrics": target_text, "rule": rule,
                "method": (f"success rate: {stats.RATE_INTERVAL_METHOD}; " if targets else "") + MEAN_METHOD,
            })
    digits = {"success_rate": 4, "ci_low": 4, "ci_high": 4, "mean_score": 3, "mean_ci_low": 3, "mean_ci_high": 3,
              "cost_usd": 6, "cost_per_essay_usd": 6,
              "cost_per_success_usd": 6, "cost_per_point_usd": 6}
    return stats.rounded_table(rows, COLUMNS, digits)
