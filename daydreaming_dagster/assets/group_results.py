"""Asset group ``results``: the cohort's score tables, reports and HTML report, their checks, and
the re-parse job. Everything is computed by ``daydreaming_dagster.results`` (what ``daydream run``
writes too), downstream of every ``evaluation_response`` partition.

- ``parsed_scores`` (5_parsing) and, from it, the 6_summary tables: ``evaluation_score_pivot``,
  ``score_summary``, upstream's ``generation_scores_pivot``, ``final_results``,
  ``perfect_score_paths``, ``evaluation_model_template_pivot``, ``evaluator_agreement_analysis``,
  ``comprehensive_variance_analysis``, and ``scores_by_combination``, ``scores_by_concept``,
  ``top_essays``;
- ``generation_reports``: the 7_reporting tables (``documents_consistency_report``,
  ``documents_latest_report``, ``generation_summary``) from the gens store;
- ``cohort_report``: ``7_reporting/report.html`` (its path is in the metadata);
- checks on ``generation_reports``: parse-failure rate, truncation rate, failed generations (WARN);
- ``reparse_job``: ``daydream reparse`` (no LLM call) then every result table.

No ``from __future__ import annotations`` here: Dagster reads the annotations at runtime.
"""

from collections.abc import Callable
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    asset_check,
    job,
    op,
)

from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs.combinations import combinations_from_selection
from daydreaming_dagster.resources.settings import DataRootResource
from daydreaming_dagster.results import tables
from daydreaming_dagster.results.scores import parsed_scores as build_parsed_scores
from daydreaming_dagster.results.scores import score_pivot, score_summary

GROUP = "results"
EVALUATION_RESPONSE = AssetKey("evaluation_response")
PREVIEW_ROWS = 10
# Asset checks warn above these (fractions of the generations that were attempted).
MAX_PARSE_FAILURE_RATE = 0.05
MAX_TRUNCATION_RATE = 0.05
MAX_FAILED_GENERATIONS = 0


def table_metadata(frame: pd.DataFrame) -> dict[str, Any]:
    """Dagster's conventions: ``dagster/row_count`` and a markdown preview of the top rows."""
    preview = frame.head(PREVIEW_ROWS)
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "preview": MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(empty)"),
    }


def _typed(scores: pd.DataFrame) -> pd.DataFrame:
    # Read back from CSV as strings: restore the numeric score column.
    return scores.assign(score=pd.to_numeric(scores["score"], errors="coerce"))


@asset(group_name=GROUP, io_manager_key="parsing_io_manager", deps=[AssetDep(EVALUATION_RESPONSE)])
def parsed_scores(
    context: AssetExecutionContext,
    evaluation_tasks: pd.DataFrame,
    essay_generation_tasks: pd.DataFrame,
    selected_combo_mappings: pd.DataFrame,
    data_root: DataRootResource,
) -> pd.DataFrame:
    """One row per evaluation of the cohort: lineage (concept names included), score, or the reason
    there is none (5_parsing/parsed_scores.csv)."""
    scores = build_parsed_scores(
        GensStore(data_root.root),
        evaluation_tasks,
        essay_generation_tasks,
        combinations_from_selection(selected_combo_mappings),
    )
    errors = int((scores["error"] != "").sum()) if len(scores) else 0
    context.add_output_metadata({**table_metadata(scores), "rows": len(scores), "errors": errors})
    return scores


def _score_table(name: str, build: Callable[[pd.DataFrame], pd.DataFrame], description: str) -> AssetsDefinition:
    @asset(name=name, group_name=GROUP, io_manager_key="summary_io_manager", description=description)
    def _table(context: AssetExecutionContext, parsed_scores: pd.DataFrame) -> pd.DataFrame:
        frame = build(_typed(parsed_scores))
        context.add_output_metadata(table_metadata(frame))
        return frame

    return _table


def _scores_by_concept(scores: pd.DataFrame) -> pd.DataFrame:
    return tables.scores_by_concept(scores)


evaluation_score_pivot = _score_table(
    "evaluation_score_pivot", score_pivot, "Mean score per essay x evaluation template x evaluation model."
)
score_summary_asset = _score_table(
    "score_summary", score_summary, "Count/mean/std/min/max per template and per model (6_summary/score_summary.csv, as the CLI writes)."
)
generation_scores_pivot = _score_table(
    "generation_scores_pivot", tables.generation_scores_pivot,
    "Upstream's pivot: one row per essay, one column per evaluation template_model, sum_scores.",
)
final_results = _score_table(
    "final_results", tables.final_results,
    "Count, average, std, min, max, perfect/high/low counts and percentages by draft template, essay "
    "template, generation model, evaluator, combination and pairs, plus the overall row.",
)
perfect_score_paths = _score_table(
    "perfect_score_paths", tables.perfect_score_paths, "Every evaluation that gave 10, with the files."
)
evaluation_model_template_pivot = _score_table(
    "evaluation_model_template_pivot", tables.evaluation_model_template_pivot,
    "One row per essay, one column per evaluation model_template (mean score).",
)
evaluator_agreement_analysis = _score_table(
    "evaluator_agreement_analysis", tables.evaluator_agreement_analysis,
    "Spread of the graders' scores on each essay, classified high/moderate/low/poor agreement.",
)
comprehensive_variance_analysis = _score_table(
    "comprehensive_variance_analysis", tables.comprehensive_variance_analysis,
    "Grader spread per essay: overall, across evaluation templates, across evaluation models.",
)
scores_by_combination = _score_table(
    "scores_by_combination", tables.scores_by_combination,
    "Score statistics per concept combination, with the concepts' names and the best essay.",
)
scores_by_concept = _score_table(
    "scores_by_concept", _scores_by_concept, "Score statistics per concept over every combination with it."
)
top_essays = _score_table(
    "top_essays", tables.top_essays,
    "Every scored essay, best first: mean, score per grader, agreement, counts, essay path.",
)

SUMMARY_ASSETS = [
    "evaluation_score_pivot", "score_summary", "generation_scores_pivot", "final_results",
    "perfect_score_paths", "evaluation_model_template_pivot", "evaluator_agreement_analysis",
    "comprehensive_variance_analysis", "scores_by_combination", "scores_by_concept", "top_essays",
]


@asset(group_name=GROUP, deps=[AssetDep(EVALUATION_RESPONSE)])
def generation_reports(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    """7_reporting: documents_consistency_report (an ``issue`` only for real problems),
    documents_latest_report and generation_summary (per stage: statuses, failure kinds, calls,
    tokens, cost, time, parse-failure and truncation rates)."""
    from daydreaming_dagster.results.lineage import load_cohort_view
    from daydreaming_dagster.results.scores import write_csv
    from daydreaming_dagster.results.writer import VIEW_TABLES, table_path

    view = load_cohort_view(data_root.root)
    metadata: dict[str, Any] = {}
    for name, (_, _, build) in VIEW_TABLES.items():
        frame = build(view)
        path = write_csv(table_path(data_root.root, name), frame)
        metadata[f"{name}_path"] = MetadataValue.path(str(path))
        metadata[f"{name}_rows"] = MetadataValue.int(len(frame))
        if name == "generation_summary":
            metadata["preview"] = MetadataValue.md(frame.to_markdown(index=False))
        if name == "documents_consistency_report":
            metadata["issues"] = MetadataValue.int(int((frame["issue"] != "").sum()))
    metadata["dagster/row_count"] = MetadataValue.int(len(view.generations))
    return MaterializeResult(metadata=metadata)


@asset(group_name=GROUP, deps=[AssetDep("generation_reports"), *(AssetDep(n) for n in SUMMARY_ASSETS)])
def cohort_report(context: AssetExecutionContext, data_root: DataRootResource) -> MaterializeResult:
    """7_reporting/report.html: one self-contained page (overview, plots, top essays, every
    generation with its texts, metadata, scores and lineage). Open the path in the metadata."""
    import time

    from daydreaming_dagster.results.html_report import write_report

    started = time.perf_counter()
    path = write_report(data_root.root)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "url": MetadataValue.url(path.resolve().as_uri()),
            "size_mb": MetadataValue.float(round(path.stat().st_size / 1e6, 2)),
            "seconds": MetadataValue.float(round(time.perf_counter() - started, 2)),
        }
    )


def _summary(data_root: DataRootResource) -> dict[str, dict[str, Any]]:
    """generation_summary.csv as {stage: {column: value}} (``all`` is every stage)."""
    from daydreaming_dagster.results.writer import table_path

    frame = pd.read_csv(table_path(data_root.root, "generation_summary"))
    return {str(row["stage"]): {str(k): v for k, v in row.items()} for row in frame.to_dict("records")}


def _rate_check(data_root: DataRootResource, column: str, count: str, limit: float, what: str) -> AssetCheckResult:
    summary = _summary(data_root)
    rate = float(summary["all"][column])
    return AssetCheckResult(
        passed=rate <= limit,
        severity=AssetCheckSeverity.WARN,
        description=f"{what}: {rate:.1%} of attempted generations (warn above {limit:.0%})",
        metadata={
            "rate": MetadataValue.float(rate),
            "count": MetadataValue.int(int(summary["all"][count])),
            "threshold": MetadataValue.float(limit),
            **{f"{stage}_rate": MetadataValue.float(float(row[column]))
               for stage, row in summary.items() if stage != "all"},
        },
    )


@asset_check(asset="generation_reports", description="Warn when parse failures exceed 5% of attempts.")
def parse_failure_rate_check(data_root: DataRootResource) -> AssetCheckResult:
    return _rate_check(data_root, "parse_failure_rate", "parse_failures", MAX_PARSE_FAILURE_RATE, "parse failures")


@asset_check(asset="generation_reports", description="Warn when truncated replies exceed 5% of attempts.")
def truncation_rate_check(data_root: DataRootResource) -> AssetCheckResult:
    return _rate_check(data_root, "truncation_rate", "truncated", MAX_TRUNCATION_RATE, "truncated replies")


@asset_check(asset="generation_reports", description="Warn when any generation of the cohort failed.")
def failed_generations_check(data_root: DataRootResource) -> AssetCheckResult:
    from daydreaming_dagster.results.writer import table_path

    summary = _summary(data_root)
    failed = int(summary["all"]["failed"])
    report = pd.read_csv(table_path(data_root.root, "documents_consistency_report"), dtype=str, keep_default_na=False)
    examples = report[report["status"] == "failed"].head(10)
    return AssetCheckResult(
        passed=failed <= MAX_FAILED_GENERATIONS,
        severity=AssetCheckSeverity.WARN,
        description=f"{failed} failed generation(s)",
        metadata={
            "failed": MetadataValue.int(failed),
            **{f"{stage}_failed": MetadataValue.int(int(row["failed"]))
               for stage, row in summary.items() if stage != "all"},
            "examples": MetadataValue.md(
                examples[["stage", "gen_id", "issue"]].to_markdown(index=False) if len(examples) else "(none)"
            ),
        },
    )


RESULT_CHECKS = [parse_failure_rate_check, truncation_rate_check, failed_generations_check]


class ReparseConfig(Config):
    stages: list[str] = ["draft", "essay", "evaluation"]


@op(description="Re-apply the current parsers to every stored raw.txt (no LLM call), then rewrite "
                "every result table and the report.")
def reparse_generations(context: OpExecutionContext, config: ReparseConfig, data_root: DataRootResource) -> None:
    from daydreaming_dagster.core.stages import stage_order
    from daydreaming_dagster.results.reparse import CHANGED, PARSE_FAILED, REPAIRED, reparse

    summary = reparse(data_root.root, stage_order(config.stages))
    for outcome in summary.of(PARSE_FAILED)[:50]:
        context.log.warning(f"parse failed (files kept): {outcome.stage} {outcome.gen_id}: {outcome.detail}")
    for child, ids in summary.stale.items():
        context.log.warning(f"{len(ids)} {child}(s) were made from a re-parsed parent: regenerate them")
    context.log.info(
        f"re-parse: {len(summary.of(CHANGED))} changed, {len(summary.of(REPAIRED))} repaired, "
        f"{len(summary.of(PARSE_FAILED))} failed; {len(summary.results)} result files rewritten"
    )


@job(description="daydream reparse: no LLM call; rewrites parsed.txt where the current parser now "
                 "gives a different result, then the result tables and the report.")
def reparse_job() -> None:
    reparse_generations()


RESULT_JOBS = [reparse_job]
