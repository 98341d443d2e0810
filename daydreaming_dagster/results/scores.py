"""Scores of a cohort: ``5_parsing/parsed_scores.csv``, the pivot and the summary in ``6_summary``.

Only the cohort's own evaluations (the rows of its evaluation table) are read, each with its whole
lineage and its rubric's scale; an evaluation that is missing or failed is a row with an ``error``,
never silently dropped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from daydreaming_dagster.cohort.tasks import csv_text
from daydreaming_dagster.engine.store import PARSED, GensStore, atomic_write_text
from daydreaming_dagster.inputs.combinations import Combination
from daydreaming_dagster.inputs.loaders import load_score_scales
from daydreaming_dagster.inputs.types import DEFAULT_SCALE
from daydreaming_dagster.results import stats
from daydreaming_dagster.results.lineage import CohortView, build_cohort_view, concept_names_of

LINEAGE = [
    "combo_id",
    "concepts",
    "draft_template",
    "essay_template",
    "generation_model",
    "evaluation_template",
    "evaluation_model",
]
# parsed_scores.csv: ours first, then the upstream columns we did not have under the same name.
SCORE_COLUMNS = [
    "gen_id", "parent_gen_id", "draft_gen_id", "combo_id", "concepts", "concept_names",
    "draft_template", "essay_template", "generation_model", "evaluation_template", "evaluation_model",
    "draft_replicate", "essay_replicate", "evaluation_replicate", "score", "error",
    "score_min", "score_max", "success_threshold", "evaluation_response_path", "generation_response_path",
    "template_id", "generation_template", "stage",
]


def scores_frame(view: CohortView) -> pd.DataFrame:
    """``parsed_scores``: one row per evaluation of the cohort, with lineage and score or error.

    ``concepts`` holds the combination's concept ids (``;``-joined) and ``concept_names`` their
    names; ``score_min``/``score_max``/``success_threshold`` are the evaluation template's scale;
    ``template_id``/``generation_template``/``stage`` are upstream's names (the evaluation template,
    the essay template, and the scored document's stage).
    """
    ev = view.evaluations
    if ev.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    essays = GensStore(view.data_root)
    scales = [view.score_scales.get(t, DEFAULT_SCALE) for t in ev["evaluation_template"]]
    frame = pd.DataFrame(
        {
            "gen_id": ev["gen_id"],
            "parent_gen_id": ev["parent_gen_id"],
            "draft_gen_id": ev["draft_gen_id"],
            "combo_id": ev["combo_id"],
            "concepts": ev["concept_ids"],
            "concept_names": ev["concept_names"],
            "draft_template": ev["draft_template"],
            "essay_template": ev["essay_template"],
            "generation_model": ev["generation_model"],
            "evaluation_template": ev["evaluation_template"],
            "evaluation_model": ev["evaluation_model"],
            "draft_replicate": ev["draft_replicate"].astype(int),
            "essay_replicate": ev["essay_replicate"].astype(int),
            "evaluation_replicate": ev["replicate"].astype(int),
            "score": ev["score"],
            "error": ev["score_error"],
            "score_min": [s.score_min for s in scales],
            "score_max": [s.score_max for s in scales],
            "success_threshold": [s.success_threshold for s in scales],
            "evaluation_response_path": [os.path.join(d, PARSED) for d in ev["gen_dir"]],
            "generation_response_path": [os.path.join(essays.gen_dir("essay", p), PARSED) for p in ev["parent_gen_id"]],
            "template_id": ev["evaluation_template"],
            "generation_template": ev["essay_template"],
            "stage": "essay",
        },
        index=ev.index,
    )
    frame["success_threshold"] = pd.to_numeric(frame["success_threshold"], errors="coerce").astype(float)
    return frame.reset_index(drop=True)


def parsed_scores(
    store: GensStore,
    evaluations: pd.DataFrame,
    essays: pd.DataFrame,
    combos: Sequence[Combination],
) -> pd.DataFrame:
    """``scores_frame`` over the given task tables (e.g. a cohort built in memory)."""
    view = build_cohort_view(
        Path(store.data_root),
        {"essay": essays, "evaluation": evaluations},
        {c.combo_id: tuple(c.concept_ids) for c in combos},
        concept_names_of(Path(store.data_root)),
        load_score_scales(Path(store.data_root)),
    )
    return scores_frame(view)


def score_pivot(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per essay (rows) x evaluation template x evaluation model (columns)."""
    valid = scores[scores["error"].fillna("") == ""]
    if valid.empty:
        return pd.DataFrame(columns=["essay_gen_id"])
    valid = valid.assign(evaluation=valid["evaluation_template"] + "__" + valid["evaluation_model"])
    index = ["parent_gen_id", "combo_id", "draft_template", "essay_template", "generation_model"]
    pivot = valid.pivot_table(index=index, columns="evaluation", values="score", aggfunc="mean")
    pivot.columns = [str(c) for c in pivot.columns]
    pivot = pivot.round(3).reset_index().rename(columns={"parent_gen_id": "essay_gen_id"})
    return pivot


def score_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Count/mean/std/min/max of the scores per template and per model, plus the overall row, with
    ``n_essays`` and the mean's 95 % interval (a t-interval over essays, ``stats``)."""
    valid = scores[scores["error"].fillna("") == ""]
    valid = valid.assign(score=pd.to_numeric(valid["score"], errors="coerce"), essay_gen_id=valid["parent_gen_id"])
    parts = []
    for dimension in ["draft_template", "essay_template", "generation_model", "evaluation_template",
                      "evaluation_model"]:
        if valid.empty:
            continue
        grouped = valid.groupby(dimension)["score"].agg(["count", "mean", "std", "min", "max"]).reset_index()
        intervals = stats.cluster_mean_intervals(valid, [dimension])
        grouped = grouped.merge(intervals, on=dimension, how="left")
        grouped = grouped.rename(columns={dimension: "value"})
        grouped.insert(0, "dimension", dimension)
        parts.append(grouped)
    overall_interval = stats.cluster_mean_intervals(valid, [])
    overall_ci: dict[str, Any] = (
        {str(k): v for k, v in overall_interval.iloc[0].items()} if len(overall_interval) else {}
    )
    overall = pd.DataFrame(
        [{
            "dimension": "overall",
            "value": "all",
            "count": int(valid["score"].count()),
            "mean": valid["score"].mean() if not valid.empty else None,
            "std": valid["score"].std() if len(valid) > 1 else None,
            "min": valid["score"].min() if not valid.empty else None,
            "max": valid["score"].max() if not valid.empty else None,
            "n_essays": int(valid["essay_gen_id"].nunique()),
            "ci_low": overall_ci.get("ci_low"),
            "ci_high": overall_ci.get("ci_high"),
        }]
    )
    summary = pd.concat([*parts, overall], ignore_index=True)
    summary["failed_or_missing"] = None
    summary.loc[summary["dimension"] == "overall", "failed_or_missing"] = int((scores["error"].fillna("") != "").sum())
    for column in ("mean", "std", "min", "max", "ci_low", "ci_high"):
        summary[column] = pd.to_numeric(summary[column]).round(3)
    summary["n_essays"] = pd.to_numeric(summary["n_essays"]).fillna(0).astype(int)
    columns = ["dimension", "value", "count", "n_essays", "mean", "ci_low", "ci_high", "std", "min", "max",
               "failed_or_missing"]
    return summary[columns]


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    atomic_write_text(path, csv_text(frame))
    return path

