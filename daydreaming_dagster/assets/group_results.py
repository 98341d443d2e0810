"""Asset group ``results``: each cohort's score tables, reports and HTML report, their checks, and
the re-parse job. A cohort is a partition (``cohorts``: ``default`` and each named cohort), and a
partition writes only that cohort's files, through ``results/writer.py::write_all_results`` (what
``daydream run --cohort`` writes too): the default cohort's in the data root's ``5_parsing/``,
``6_summary/``, ``7_reporting/``, a named cohort's under ``cohorts/<name>/``.

One asset per table file (``resources/cohort_materializations.py::RESULT_ASSETS``):

- ``parsed_scores`` (5_parsing) and, from it, every 6_summary table of ``SCORE_TABLES``: upstream's
  (``evaluation_score_pivot``, ``score_summary``, ``generation_scores_pivot``, ``final_results``,
  ``perfect_score_paths``, ``evaluation_model_template_pivot``, ``evaluator_agreement_analysis``,
  ``comprehensive_variance_analysis``), the rankings (``scores_by_combination``,
  ``scores_by_concept``, ``top_essays``) and the statistics (``agreement_by_rubric``,
  ``grader_agreement``, ``grader_pairs``, ``essay_agreement_by_rubric``, ``noise_components``,
  ``comparisons``, ``success_by_group``);
- ``generation_reports``: the 7_reporting tables (``documents_consistency_report``,
  ``documents_latest_report``, ``generation_summary``) from the gens store;
- ``cohort_report``: ``7_reporting/report.html`` (its path is in the metadata);
- checks on ``generation_reports``, per cohort partition: parse-failure rate, truncation rate,
  failed generations (WARN);
- ``reparse_job``: ``daydream reparse`` (no LLM call) then one cohort's result tables.

They are one multi-asset: the writer builds every table from one view of the cohort (loading it
is the expensive part, at 100,000 generations), so they are materialized together, as the CLI
writes them. ``daydream run`` reports the same partition materialized, with the same metadata
(``resources/reporter.py``).

No ``from __future__ import annotations`` here: Dagster reads the annotations at runtime.
"""

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    PreviewWarning,
    asset_check,
    job,
    multi_asset,
    op,
)

from daydreaming_dagster.assets.group_task_definitions import partition_cohort
from daydreaming_dagster.assets.partitions import COHORT_PARTITIONS
from daydreaming_dagster.core.errors import DaydreamError
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.resources.cohort_materializations import (
    COHORT_REPORT,
    COHORT_TASKS,
    GENERATION_REPORTS,
    PARSED_SCORES,
    RESULT_ASSETS,
    result_asset_metadata,
)
from daydreaming_dagster.resources.settings import DataRootResource
from daydreaming_dagster.results.writer import table_path

GROUP = "results"
EVALUATION_RESPONSE = AssetKey("evaluation_response")
# Asset checks warn above these (fractions of the generations that were attempted).
MAX_PARSE_FAILURE_RATE = 0.05
MAX_TRUNCATION_RATE = 0.05
MAX_FAILED_GENERATIONS = 0

DESCRIPTIONS: dict[str, str] = {
    PARSED_SCORES: "One row per evaluation of the cohort: lineage (concept names included), score, or the "
    "reason there is none (5_parsing/parsed_scores.csv).",
    "evaluation_score_pivot": "Mean score per essay x evaluation template x evaluation model.",
    "score_summary": "Count/mean/std/min/max per template and per model.",
    "generation_scores_pivot": "Upstream's pivot: one row per essay, one column per evaluation "
    "template_model, sum_scores.",
    "final_results": "Count, average, std, min, max, perfect/high/low counts and percentages by draft "
    "template, essay template, generation model, evaluator, combination and pairs, plus the overall row.",
    "perfect_score_paths": "Every evaluation that gave 10, with the files.",
    "evaluation_model_template_pivot": "One row per essay, one column per evaluation model_template (mean score).",
    "evaluator_agreement_analysis": "Spread of the graders' scores on each essay, classified "
    "high/moderate/low/poor agreement.",
    "comprehensive_variance_analysis": "Grader spread per essay: overall, across evaluation templates, "
    "across evaluation models.",
    "scores_by_combination": "Score statistics per concept combination, with the concepts' names and the best essay.",
    "scores_by_concept": "Score statistics per concept over every combination with it.",
    "top_essays": "Every scored essay, best first: mean, score per grader, agreement, counts, essay path.",
    "agreement_by_rubric": "Per rubric: its graders, Krippendorff's alpha with its 95% interval, the mean "
    "pairwise Pearson correlation, and the essays per agreement class.",
    "grader_agreement": "Per rubric and grader: its correlation and alpha with the other graders, and its "
    "offset from them (a lenient grader is positive).",
    "grader_pairs": "Per rubric and pair of graders, on the essays both scored: Pearson, Spearman, alpha, "
    "mean (absolute) difference.",
    "essay_agreement_by_rubric": "Per essay and rubric with two graders or more: the spread of their scores, "
    "classified relative to the rubric's scale.",
    "noise_components": "Per rubric: pooled standard deviations between replicate essays, between a grader's "
    "re-scorings, and between graders.",
    "comparisons": "Every pair of levels of every factor (templates, models...), compared on paired essays.",
    "success_by_group": "Success rate, its interval, and cost per success, per cohort, template, model and "
    "combination.",
    GENERATION_REPORTS: "7_reporting: documents_consistency_report (an `issue` only for real problems), "
    "documents_latest_report and generation_summary (per stage: statuses, failure kinds, calls, tokens, "
    "cost, time, parse-failure and truncation rates).",
    COHORT_REPORT: "7_reporting/report.html: one self-contained page (overview, plots, top essays, every "
    "generation with its texts, metadata, scores and lineage). Open the path in the metadata.",
}


def _deps(asset: str) -> list[AssetDep]:
    """Lineage: what each table is computed from (a cohort partition reads every generation it lists)."""
    every_generation = AllPartitionMapping()  # a cohort partition -> all gen_id partitions
    plan = [AssetDep(COHORT_TASKS), AssetDep(STAGE_FACTS["evaluation"].task_asset)]
    if asset == PARSED_SCORES:
        return [AssetDep(EVALUATION_RESPONSE, partition_mapping=every_generation), *plan]
    if asset == GENERATION_REPORTS:
        responses = [AssetKey(f"{stage}_response") for stage in STAGES]
        return [*(AssetDep(key, partition_mapping=every_generation) for key in responses), *plan]
    if asset == COHORT_REPORT:
        return [AssetDep(other) for other in RESULT_ASSETS if other != COHORT_REPORT]
    return [AssetDep(PARSED_SCORES)]


RESULT_SPECS = [
    AssetSpec(
        asset,
        group_name=GROUP,
        description=DESCRIPTIONS.get(asset, f"{', '.join(names)} of the cohort (results/writer.py)."),
        deps=_deps(asset),
        partitions_def=COHORT_PARTITIONS,
        kinds={"html" if asset == COHORT_REPORT else "csv"},
    )
    for asset, names in RESULT_ASSETS.items()
]


@multi_asset(specs=RESULT_SPECS, name="cohort_results", can_subset=False)
def cohort_results(context: AssetExecutionContext, data_root: DataRootResource) -> Iterator[MaterializeResult]:
    """Every result table and the report of one cohort (the partition), into its own folder only."""
    from daydreaming_dagster.results.writer import write_all_results

    name = partition_cohort(context.partition_key)
    try:
        paths = write_all_results(data_root.root, cohort=name)
    except DaydreamError as exc:  # no task tables yet (never planned), a damaged file
        plan = "the task_definitions group" if name == DEFAULT_COHORT else f"cohort_tasks partition {name}"
        raise Failure(
            description=f"cohort {name!r}: {exc} Fix: materialize {plan} (or `daydream plan --cohort {name}`), "
            "then its generations."
        ) from exc
    for asset in RESULT_ASSETS:
        yield MaterializeResult(asset_key=asset, metadata=result_asset_metadata(asset, paths, name))


def _cohort_check(description: str) -> Callable[[Callable[..., AssetCheckResult]], AssetChecksDefinition]:
    """A check of ``generation_reports`` per cohort partition: it reads that cohort's tables, and the
    UI keeps its status per cohort.

    Partitioned asset checks are a Dagster "preview" feature, whose only caveat is breaking changes
    in patch releases; dagster is pinned (==1.13.27), so its warning at every code-location load is
    silenced here, and only here.
    """

    def decorate(fn: Callable[..., AssetCheckResult]) -> AssetChecksDefinition:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PreviewWarning)
            return asset_check(asset=GENERATION_REPORTS, partitions_def=COHORT_PARTITIONS, description=description)(fn)

    return decorate


def _results_folder(context: AssetCheckExecutionContext, data_root: DataRootResource) -> Path:
    return CohortLayout(data_root.root, partition_cohort(context.partition_key)).folder


def _summary(folder: Path) -> dict[str, dict[str, Any]]:
    """generation_summary.csv as {stage: {column: value}} (``all`` is every stage)."""
    frame = pd.read_csv(table_path(folder, "generation_summary"))
    return {str(row["stage"]): {str(k): v for k, v in row.items()} for row in frame.to_dict("records")}


def _rate_check(folder: Path, column: str, count: str, limit: float, what: str) -> AssetCheckResult:
    summary = _summary(folder)
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
               for stage, row in summary.items() if stage in STAGES},
        },
    )


@_cohort_check("Warn when parse failures exceed 5% of attempts.")
def parse_failure_rate_check(context: AssetCheckExecutionContext, data_root: DataRootResource) -> AssetCheckResult:
    folder = _results_folder(context, data_root)
    return _rate_check(folder, "parse_failure_rate", "parse_failures", MAX_PARSE_FAILURE_RATE, "parse failures")


@_cohort_check("Warn when truncated replies exceed 5% of attempts.")
def truncation_rate_check(context: AssetCheckExecutionContext, data_root: DataRootResource) -> AssetCheckResult:
    folder = _results_folder(context, data_root)
    return _rate_check(folder, "truncation_rate", "truncated", MAX_TRUNCATION_RATE, "truncated replies")


@_cohort_check("Warn when any generation of the cohort failed.")
def failed_generations_check(context: AssetCheckExecutionContext, data_root: DataRootResource) -> AssetCheckResult:
    folder = _results_folder(context, data_root)
    summary = _summary(folder)
    failed = int(summary["all"]["failed"])
    report = pd.read_csv(table_path(folder, "documents_consistency_report"), dtype=str, keep_default_na=False)
    examples = report[report["status"] == "failed"].head(10)
    return AssetCheckResult(
        passed=failed <= MAX_FAILED_GENERATIONS,
        severity=AssetCheckSeverity.WARN,
        description=f"{failed} failed generation(s)",
        metadata={
            "failed": MetadataValue.int(failed),
            **{f"{stage}_failed": MetadataValue.int(int(row["failed"]))
               for stage, row in summary.items() if stage in STAGES},
            "examples": MetadataValue.md(
                examples[["stage", "gen_id", "issue"]].to_markdown(index=False) if len(examples) else "(none)"
            ),
        },
    )


RESULT_CHECKS = [parse_failure_rate_check, truncation_rate_check, failed_generations_check]


class ReparseConfig(Config):
    stages: list[str] = ["draft", "essay", "evaluation"]
    cohort: str = DEFAULT_COHORT  # whose result tables are rewritten afterwards


@op(description="Re-apply the current parsers to every stored raw.txt (no LLM call), then rewrite "
                "one cohort's result tables and report (the default cohort unless `cohort` says).")
def reparse_generations(context: OpExecutionContext, config: ReparseConfig, data_root: DataRootResource) -> None:
    from daydreaming_dagster.core.stages import stage_order
    from daydreaming_dagster.results.reparse import CHANGED, PARSE_FAILED, REPAIRED, reparse

    summary = reparse(data_root.root, stage_order(config.stages), cohort=partition_cohort(config.cohort))
    for outcome in summary.of(PARSE_FAILED)[:50]:
        context.log.warning(f"parse failed (files kept): {outcome.stage} {outcome.gen_id}: {outcome.detail}")
    for child, ids in summary.stale.items():
        context.log.warning(f"{len(ids)} {child}(s) were made from a re-parsed parent: regenerate them")
    context.log.info(
        f"re-parse: {len(summary.of(CHANGED))} changed, {len(summary.of(REPAIRED))} repaired, "
        f"{len(summary.of(PARSE_FAILED))} failed; {len(summary.results)} result files rewritten"
    )


@job(description="daydream reparse: no LLM call; rewrites parsed.txt where the current parser now "
                 "gives a different result, then one cohort's result tables and report.")
def reparse_job() -> None:
    reparse_generations()


RESULT_JOBS = [reparse_job]
