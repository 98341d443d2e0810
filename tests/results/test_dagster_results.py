"""The ``results`` group through Dagster's own APIs, on the hand-built cohort (no LLM): partition
``default`` of the ``cohorts`` partitions (named cohorts: tests/assets/test_cohorts.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, Definitions, materialize

from daydreaming_dagster.assets import group_results
from daydreaming_dagster.definitions import ASSETS, build_resources
from daydreaming_dagster.resources.settings import DataRootResource
from tests.results.conftest import set_evaluation_parser


def test_results_group_materializes_with_metadata_and_checks(cohort_root: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("cohorts", ["default"])
        result = materialize(
            [*ASSETS, *group_results.RESULT_CHECKS],
            selection=AssetSelection.groups("results"),
            resources=build_resources(str(cohort_root)),
            instance=instance,
            partition_key="default",
        )
    assert result.success
    def metadata(asset: str) -> dict:  # type: ignore[type-arg]
        (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
        return dict(event.materialization.metadata)

    final = metadata("final_results")
    assert final["dagster/row_count"].value == len(pd.read_csv(cohort_root / "6_summary" / "final_results.csv"))
    assert "| analysis_type" in final["preview"].value
    for name in ("parsed_scores", "top_essays", "evaluator_agreement_analysis", "comprehensive_variance_analysis",
                 "perfect_score_paths", "evaluation_model_template_pivot", "generation_scores_pivot",
                 "scores_by_combination", "scores_by_concept", "evaluation_score_pivot", "score_summary",
                 "agreement_by_rubric", "grader_agreement", "grader_pairs", "essay_agreement_by_rubric",
                 "noise_components", "comparisons", "success_by_group"):
        (mat,) = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == name]
        assert mat.partition == "default", name
        assert mat.materialization.metadata["dagster/column_schema"].value.columns, name
    report = metadata("cohort_report")
    assert Path(report["path"].value).is_file() and report["path"].value.endswith("7_reporting/report.html")
    reports = metadata("generation_reports")
    assert reports["issues"].value == 1 and reports["dagster/row_count"].value == 16

    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {"parse_failure_rate_check", "truncation_rate_check", "failed_generations_check"}
    parse = checks["parse_failure_rate_check"]
    assert not parse.passed and parse.severity == AssetCheckSeverity.WARN  # 1/16 = 6.25% > 5%
    assert parse.metadata["evaluation_rate"].value == 0.125
    assert checks["truncation_rate_check"].passed
    failed = checks["failed_generations_check"]
    assert not failed.passed and failed.metadata["failed"].value == 1 and "V42" in failed.metadata["examples"].value


def test_definitions_with_results_checks_and_reparse_job_load(tmp_path: Path) -> None:
    defs = Definitions(assets=ASSETS, asset_checks=group_results.RESULT_CHECKS, jobs=group_results.RESULT_JOBS,
                       resources=build_resources(str(tmp_path)))
    defs.validate_loadable(defs)
    assert defs.get_job_def("reparse_job") is not None


def test_reparse_job(cohort_root: Path) -> None:
    set_evaluation_parser(cohort_root, "complex")
    result = group_results.reparse_job.execute_in_process(
        resources={"data_root": DataRootResource(path=str(cohort_root))},
        run_config={"ops": {"reparse_generations": {"config": {"stages": ["evaluation"]}}}},
    )
    assert result.success
    assert (cohort_root / "gens" / "evaluation" / "V42" / "parsed.txt").read_text() == "5.0\n"
    scores = pd.read_csv(cohort_root / "5_parsing" / "parsed_scores.csv", dtype=str, keep_default_na=False)
    assert dict(zip(scores["gen_id"], scores["score"], strict=False))["V21"] == "7.0"
