"""write_all_results, the 7_reporting tables (only real problems flagged) and the export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.cli import main
from daydreaming_dagster.results.consistency import consistency_report, generation_summary
from daydreaming_dagster.results.export import EXPORT_COLUMNS
from daydreaming_dagster.results.lineage import ResultsInputError, load_cohort_view
from daydreaming_dagster.results.writer import write_all_results


def test_write_all_results_writes_upstream_names_and_folders(cohort_root: Path) -> None:
    paths = write_all_results(cohort_root, report=False)
    expected = {
        "5_parsing/parsed_scores.csv",
        "6_summary/evaluation_score_pivot.csv", "6_summary/score_summary.csv",
        "6_summary/generation_scores_pivot.csv", "6_summary/final_results.csv",
        "6_summary/perfect_score_paths.csv", "6_summary/evaluation_model_template_pivot.csv",
        "6_summary/evaluator_agreement_analysis.csv", "6_summary/comprehensive_variance_analysis.csv",
        "6_summary/scores_by_combination.csv", "6_summary/scores_by_concept.csv", "6_summary/top_essays.csv",
        "6_summary/agreement_by_rubric.csv", "6_summary/grader_agreement.csv", "6_summary/grader_pairs.csv",
        "6_summary/essay_agreement_by_rubric.csv", "6_summary/noise_components.csv", "6_summary/comparisons.csv",
        "6_summary/success_by_group.csv", "7_reporting/documents_consistency_report.csv", "7_reporting/documents_latest_report.csv",
        "7_reporting/generation_summary.csv",
    }
    assert {str(p.relative_to(cohort_root)) for p in paths.values()} == expected
    assert all(p.is_file() for p in paths.values())
    scores = pd.read_csv(paths["parsed_scores"], dtype=str, keep_default_na=False)
    assert len(scores) == 8 and (scores["error"] != "").sum() == 1
    latest = pd.read_csv(paths["documents_latest_report"], dtype=str, keep_default_na=False)
    assert (latest["created_at"] != "").all()  # upstream's was always empty


def test_no_task_tables_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsInputError, match="daydream run"):
        write_all_results(tmp_path)


def test_consistency_report_flags_only_real_problems(cohort_root: Path) -> None:
    view = load_cohort_view(cohort_root)
    report = consistency_report(view)
    flagged = report[report["issue"] != ""]
    assert list(flagged["gen_id"]) == ["V42"]  # the failed one; every healthy row is clean
    assert flagged["issue"].iloc[0].startswith("failed (parse):")

    gens = cohort_root / "gens"
    (gens / "evaluation" / "V11" / "parsed.txt").unlink()  # complete in metadata, file gone
    shutil.rmtree(gens / "evaluation" / "V12")  # not generated yet: not a problem
    meta = json.loads((gens / "evaluation" / "V22" / "metadata.json").read_text())
    meta["parent_gen_id"] = "E9"
    (gens / "evaluation" / "V22" / "metadata.json").write_text(json.dumps(meta))
    (gens / "essay" / "OLD").mkdir()  # another cohort's folder: listed, not an issue
    (gens / "essay" / "OLD" / "raw.txt").write_text("x")

    report = consistency_report(load_cohort_view(cohort_root))
    issues = dict(zip(report["gen_id"], report["issue"], strict=False))
    assert issues["V11"] == "incomplete: metadata.json says complete but parsed.txt missing"
    assert issues["V12"] == "" and report.set_index("gen_id").loc["V12", "status"] == "not generated"
    assert issues["V22"] == "parent in metadata.json is 'E9', the task table says 'E2'"
    assert issues["OLD"] == "" and not report.set_index("gen_id").loc["OLD", "in_cohort"]
    assert sorted(g for g, i in issues.items() if i) == ["V11", "V22", "V42"]


def test_generation_summary_counts_and_rates(cohort_root: Path) -> None:
    summary = generation_summary(load_cohort_view(cohort_root)).set_index("stage")
    ev = summary.loc["evaluation"]
    assert (ev["generations"], ev["complete"], ev["failed"], ev["parse_failures"], ev["unscored"]) == (8, 7, 1, 1, 1)
    assert (ev["parse_failure_rate"], ev["truncation_rate"], ev["llm_calls"]) == (0.125, 0.0, 8)
    assert (ev["prompt_tokens"], ev["completion_tokens"], ev["cost"]) == (800, 400, 0.008)
    everything = summary.loc["all"]
    assert (everything["generations"], everything["failed"], everything["cost"]) == (16, 1, 0.016)
    assert everything["failure_rate"] == 0.0625


def test_truncated_generation_is_counted_as_truncated(cohort_root: Path) -> None:
    path = cohort_root / "gens" / "draft" / "D1" / "metadata.json"
    meta = json.loads(path.read_text())
    meta.update(status="failed", finish_reason="length",
                error={"message": "draft D1 truncated", "finish_reason": "length", "completion_tokens": 50})
    path.write_text(json.dumps(meta))
    summary = generation_summary(load_cohort_view(cohort_root)).set_index("stage")
    assert (summary.loc["draft", "truncated"], summary.loc["draft", "truncation_rate"]) == (1, 0.25)
    assert summary.loc["draft", "parse_failures"] == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_one_row_per_generation(cohort_root: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--data-root", str(cohort_root), "--format", fmt]) == 0
    path = cohort_root / "7_reporting" / f"generations.{fmt}"
    assert str(path) in capsys.readouterr().out
    frame = pd.read_json(path, lines=True, dtype=False) if fmt == "jsonl" else pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == EXPORT_COLUMNS and len(frame) == 16
    rows = frame.set_index("gen_id")
    assert rows.loc["V12", "stage"] == "evaluation" and float(rows.loc["V12", "score"]) == 9.0
    assert rows.loc["V12", "essay_gen_id"] == "E1" and rows.loc["V12", "draft_gen_id"] == "D1"
    assert rows.loc["V12", "parsed"] == "9.0\n" and rows.loc["V12", "raw"].endswith("SCORE: 9")
    assert rows.loc["V12", "prompt"].startswith("Rate this essay:\nEssay E1")
    assert float(rows.loc["V12", "cost"]) == 0.001 and float(rows.loc["V12", "latency_s"]) == 0.5
    assert rows.loc["V42", "status"] == "failed" and "in_last_line" in rows.loc["V42", "error"]
    assert float(rows.loc["E1", "mean_score"]) == 8.5 and int(rows.loc["E1", "n_scores"]) == 2
    assert float(rows.loc["D2", "mean_score"]) == 4.5  # the mean over its essay's evaluations
    if fmt == "jsonl":
        assert rows.loc["V12", "concept_ids"] == ["alpha", "beta"]
        assert rows.loc["V12", "concept_names"] == ["Alpha Concept", "Beta Concept"]  # a list, like the ids
    else:
        assert rows.loc["V12", "concept_ids"] == "alpha;beta"
        assert rows.loc["V12", "concept_names"] == "Alpha Concept; Beta Concept"


def test_a_cohort_with_drafts_only_still_writes_every_table(cohort_root: Path) -> None:
    for name in ("essay_generation_tasks.csv", "evaluation_tasks.csv"):
        path = cohort_root / "2_tasks" / name
        path.write_text(path.read_text().splitlines()[0] + "\n")
    shutil.rmtree(cohort_root / "gens" / "essay")
    shutil.rmtree(cohort_root / "gens" / "evaluation")
    paths = write_all_results(cohort_root)
    assert len(paths) == 23 and paths["report"].is_file()
    assert pd.read_csv(paths["parsed_scores"]).empty and pd.read_csv(paths["final_results"]).empty
    summary = pd.read_csv(paths["generation_summary"]).set_index("stage")
    assert summary.loc["draft", "complete"] == 4 and summary.loc["evaluation", "generations"] == 0
