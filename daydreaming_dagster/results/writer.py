"""``write_all_results(data_root)``: every result table and the HTML report, from what is on disk.

Call it at the end of a run (``daydream run``, the Dagster ``results`` assets, ``daydream reparse``).
It makes no LLM call and reads only the data root: the task tables (``2_tasks``), the concepts'
names (``1_raw``) and each generation's files. Every file is written atomically.

Written (relative to the data root; the returned dict maps each name to its path):

| name | file |
|---|---|
| parsed_scores | 5_parsing/parsed_scores.csv |
| score_pivot, score_summary | 6_summary/evaluation_score_pivot.csv, score_summary.csv |
| generation_scores_pivot, final_results, perfect_score_paths, evaluation_model_template_pivot, evaluator_agreement_analysis, comprehensive_variance_analysis | 6_summary/<name>.csv (upstream's tables) |
| scores_by_combination, scores_by_concept, top_essays | 6_summary/<name>.csv (ranked: ``rank_label`` marks ties) |
| agreement_by_rubric, grader_agreement, grader_pairs, essay_agreement_by_rubric, noise_components | 6_summary/<name>.csv (graders compared within one rubric) |
| comparisons | 6_summary/comparisons.csv (every pair of levels of every factor, paired) |
| success_by_group | 6_summary/success_by_group.csv (success rate and cost per success) |
| documents_consistency_report, documents_latest_report, generation_summary | 7_reporting/<name>.csv |
| report | 7_reporting/report.html (``report=False`` skips it) |
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

import pandas as pd

from daydreaming_dagster.core.layout import PARSING_DIR, REPORTING_DIR, SUMMARY_DIR
from daydreaming_dagster.results import agreement, compare, consistency, success, tables
from daydreaming_dagster.results.lineage import CohortView, load_cohort_view
from daydreaming_dagster.results.scores import (
    score_pivot,
    score_summary,
    scores_frame,
    write_csv,
)

ScoreTable = Callable[[pd.DataFrame], pd.DataFrame]

# Tables computed from parsed_scores alone: name -> (folder, file name, function).
SCORE_TABLES: Mapping[str, tuple[str, str, ScoreTable]] = {
    "score_pivot": (SUMMARY_DIR, "evaluation_score_pivot.csv", score_pivot),
    "score_summary": (SUMMARY_DIR, "score_summary.csv", score_summary),
    "generation_scores_pivot": (SUMMARY_DIR, "generation_scores_pivot.csv", tables.generation_scores_pivot),
    "final_results": (SUMMARY_DIR, "final_results.csv", tables.final_results),
    "perfect_score_paths": (SUMMARY_DIR, "perfect_score_paths.csv", tables.perfect_score_paths),
    "evaluation_model_template_pivot": (
        SUMMARY_DIR, "evaluation_model_template_pivot.csv", tables.evaluation_model_template_pivot
    ),
    "evaluator_agreement_analysis": (
        SUMMARY_DIR, "evaluator_agreement_analysis.csv", tables.evaluator_agreement_analysis
    ),
    "comprehensive_variance_analysis": (
        SUMMARY_DIR, "comprehensive_variance_analysis.csv", tables.comprehensive_variance_analysis
    ),
    "scores_by_combination": (SUMMARY_DIR, "scores_by_combination.csv", tables.scores_by_combination),
    "scores_by_concept": (SUMMARY_DIR, "scores_by_concept.csv", tables.scores_by_concept),
    "top_essays": (SUMMARY_DIR, "top_essays.csv", tables.top_essays),
    "agreement_by_rubric": (SUMMARY_DIR, "agreement_by_rubric.csv", agreement.agreement_by_rubric),
    "grader_agreement": (SUMMARY_DIR, "grader_agreement.csv", agreement.grader_agreement),
    "grader_pairs": (SUMMARY_DIR, "grader_pairs.csv", agreement.grader_pairs),
    "essay_agreement_by_rubric": (
        SUMMARY_DIR, "essay_agreement_by_rubric.csv", agreement.essay_agreement_by_rubric
    ),
    "noise_components": (SUMMARY_DIR, "noise_components.csv", agreement.noise_components),
    "comparisons": (SUMMARY_DIR, "comparisons.csv", compare.comparisons),
    "success_by_group": (SUMMARY_DIR, "success_by_group.csv", success.success_by_group),
}
# Tables that need the whole view (metadata of every stage): name -> (folder, file, function).
VIEW_TABLES: Mapping[str, tuple[str, str, Callable[[CohortView], pd.DataFrame]]] = {
    "documents_consistency_report": (
        REPORTING_DIR, "documents_consistency_report.csv", consistency.consistency_report
    ),
    "documents_latest_report": (REPORTING_DIR, "documents_latest_report.csv", consistency.latest_report),
    "generation_summary": (REPORTING_DIR, "generation_summary.csv", consistency.generation_summary),
}
REPORT_FILE = "report.html"


def report_path(folder: Path | str) -> Path:
    """The report of the cohort whose results live in ``folder`` (the data root: the default cohort)."""
    return Path(folder) / REPORTING_DIR / REPORT_FILE


def build_tables(view: CohortView, timings: MutableMapping[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """Every table by name (``parsed_scores`` included), in memory; ``timings`` (if given) receives
    each table's seconds (bench/results_scale.py)."""
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        if timings is not None:
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now

    scores = scores_frame(view)
    frames = {"parsed_scores": scores}
    lap("parsed_scores")
    for name, (_, _, build) in SCORE_TABLES.items():
        if name == "scores_by_concept":
            frames[name] = tables.scores_by_concept(scores, view.concept_names)
        elif name == "success_by_group":  # every essay and its cost come from the view
            frames[name] = success.success_by_group(scores, success.essay_frame(view))
        else:
            frames[name] = build(scores)
        lap(name)
    for name, (_, _, build_view) in VIEW_TABLES.items():
        frames[name] = build_view(view)
        lap(name)
    return frames


def table_path(folder: Path | str, name: str) -> Path:
    """Where table ``name`` of the cohort whose results live in ``folder`` is written."""
    if name == "parsed_scores":
        return Path(folder) / PARSING_DIR / "parsed_scores.csv"
    kind, file_name, _ = {**SCORE_TABLES, **VIEW_TABLES}[name]
    return Path(folder) / kind / file_name


def write_all_results(
    data_root: Path | str, *, cohort: str | None = None, report: bool = True, view: CohortView | None = None
) -> dict[str, Path]:
    """Write every result table of ``cohort`` (default: the default cohort) and its HTML report
    (unless ``report=False``) into the cohort's folder (``core/layout.py``); return their paths.

    Raises ``ResultsInputError`` when the cohort has no task tables yet. ``view`` lets a caller
    that already loaded the cohort pass it in.
    """
    root = Path(data_root)
    view = view if view is not None else load_cohort_view(root, cohort)
    folder = view.layout.folder
    frames = build_tables(view)
    paths = {name: write_csv(table_path(folder, name), frame) for name, frame in frames.items()}
    if report:
        from daydreaming_dagster.results.html_report import write_report

        paths["report"] = write_report(root, view=view, frames=frames)
    return paths
