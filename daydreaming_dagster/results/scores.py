"""Scores and summaries of a cohort: ``5_parsing/parsed_scores.csv`` and ``6_summary/*.csv``.

Only the cohort's own evaluations (the rows of its evaluation table) are read, each with its whole
lineage; an evaluation that is missing or failed is a row with an ``error``, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from daydreaming_dagster.cohort.tasks import csv_text
from daydreaming_dagster.engine.record import STATUS_FAILED
from daydreaming_dagster.engine.store import PARSED, GensStore, atomic_write_text
from daydreaming_dagster.inputs.combinations import Combination

PARSING_DIR = "5_parsing"
SUMMARY_DIR = "6_summary"
LINEAGE = [
    "combo_id",
    "concepts",
    "draft_template",
    "essay_template",
    "generation_model",
    "evaluation_template",
    "evaluation_model",
]


def _replicate(row: Mapping[Any, Any]) -> int:
    value = row.get("replicate") or "1"
    return int(value) if value.isdigit() else 1


def parsed_scores(
    store: GensStore,
    evaluations: pd.DataFrame,
    essays: pd.DataFrame,
    combos: Sequence[Combination],
) -> pd.DataFrame:
    concepts = {c.combo_id: ";".join(c.concept_ids) for c in combos}
    essay_rows = {row["gen_id"]: row for row in essays.to_dict("records")}
    rows = []
    for ev in evaluations.to_dict("records"):
        essay = essay_rows.get(ev["parent_gen_id"], {})
        score: float | None = None
        error = ""
        record = store.read_record("evaluation", ev["gen_id"])
        if record is None:
            error = "not generated"
        elif record.status == STATUS_FAILED:
            error = f"failed: {(record.error or {}).get('message', '')}"
        elif not store.is_complete("evaluation", ev["gen_id"], record):
            error = "incomplete"
        else:
            text = store.read("evaluation", ev["gen_id"], PARSED) or ""
            try:
                score = float(text.strip())
            except ValueError:
                error = f"parsed.txt is not a number: {text.strip()[:40]!r}"
        rows.append(
            {
                "gen_id": ev["gen_id"],
                "parent_gen_id": ev["parent_gen_id"],
                "draft_gen_id": essay.get("parent_gen_id", ""),
                "combo_id": ev["combo_id"],
                "concepts": concepts.get(ev["combo_id"], ""),
                "draft_template": ev["draft_template"],
                "essay_template": ev["essay_template"],
                "generation_model": ev["generation_model"],
                "evaluation_template": ev["evaluation_template"],
                "evaluation_model": ev["evaluation_model"],
                "draft_replicate": _suffix_replicate(essay.get("draft_task_id", "")),
                "essay_replicate": _replicate(essay),
                "evaluation_replicate": _replicate(ev),
                "score": score,
                "error": error,
                "evaluation_response_path": str(store.gen_dir("evaluation", ev["gen_id"]) / PARSED),
                "generation_response_path": str(store.gen_dir("essay", ev["parent_gen_id"]) / PARSED),
            }
        )
    return pd.DataFrame(rows)


def _suffix_replicate(task_id: str) -> int:
    """The replicate encoded in a task id's ``__r<n>`` suffix (1 when there is none)."""
    tail = task_id.rsplit("__", 1)[-1]
    return int(tail[1:]) if tail.startswith("r") and tail[1:].isdigit() else 1


def score_pivot(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per essay (rows) x evaluation template x evaluation model (columns)."""
    valid = scores[scores["error"] == ""]
    if valid.empty:
        return pd.DataFrame(columns=["essay_gen_id"])
    valid = valid.assign(evaluation=valid["evaluation_template"] + "__" + valid["evaluation_model"])
    index = ["parent_gen_id", "combo_id", "draft_template", "essay_template", "generation_model"]
    pivot = valid.pivot_table(index=index, columns="evaluation", values="score", aggfunc="mean")
    pivot.columns = [str(c) for c in pivot.columns]
    pivot = pivot.round(3).reset_index().rename(columns={"parent_gen_id": "essay_gen_id"})
    return pivot


def score_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Count/mean/std/min/max of the scores per template and per model, plus the overall row."""
    valid = scores[scores["error"] == ""]
    parts = []
    for dimension in ["draft_template", "essay_template", "generation_model", "evaluation_template",
                      "evaluation_model"]:
        if valid.empty:
            continue
        grouped = valid.groupby(dimension)["score"].agg(["count", "mean", "std", "min", "max"]).reset_index()
        grouped = grouped.rename(columns={dimension: "value"})
        grouped.insert(0, "dimension", dimension)
        parts.append(grouped)
    overall = pd.DataFrame(
        [{
            "dimension": "overall",
            "value": "all",
            "count": int(valid["score"].count()),
            "mean": valid["score"].mean() if not valid.empty else None,
            "std": valid["score"].std() if len(valid) > 1 else None,
            "min": valid["score"].min() if not valid.empty else None,
            "max": valid["score"].max() if not valid.empty else None,
        }]
    )
    summary = pd.concat([*parts, overall], ignore_index=True)
    summary["failed_or_missing"] = None
    summary.loc[summary["dimension"] == "overall", "failed_or_missing"] = int((scores["error"] != "").sum())
    for column in ("mean", "std", "min", "max"):
        summary[column] = pd.to_numeric(summary[column]).round(3)
    return summary


def write_results(data_root: Path, scores: pd.DataFrame) -> dict[str, Path]:
    paths = {
        "parsed_scores": Path(data_root) / PARSING_DIR / "parsed_scores.csv",
        "score_pivot": Path(data_root) / SUMMARY_DIR / "evaluation_score_pivot.csv",
        "score_summary": Path(data_root) / SUMMARY_DIR / "score_summary.csv",
    }
    frames = {"parsed_scores": scores, "score_pivot": score_pivot(scores), "score_summary": score_summary(scores)}
    for name, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, csv_text(frames[name]))
    return paths
