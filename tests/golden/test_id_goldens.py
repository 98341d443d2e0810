"""Id functions against ids recorded from (and written to disk by) the seed-era code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daydreaming_dagster.core.ids import (
    compute_cohort_id,
    draft_task_id,
    essay_task_id,
    evaluation_task_id,
    generate_combo_id,
    reserve_gen_id,
)


def test_id_golden(id_case: dict[str, Any]) -> None:
    case = id_case
    if case["kind"] == "gen_id":
        result = reserve_gen_id(
            case["stage"], case["task_id"], run_id=case["run_id"], salt=case["salt"], length=case["length"]
        )
    else:
        assert case["kind"] == "combo_id"
        result = generate_combo_id(case["concept_ids"], case["description_level"], case["k_max"])
    assert result == case["result"]


def test_cohort_manifest_golden(cohort_manifest_case: dict[str, Any]) -> None:
    assert compute_cohort_id(cohort_manifest_case["manifest"]) == cohort_manifest_case["expected"]


def test_active_manifest_has_the_expected_cohort_id(compat: Path) -> None:
    manifest_path = compat / "golden/active/side_outputs/cohorts/cohort-c1ab29ec3bd3/manifest.json"
    manifest = json.loads(manifest_path.read_bytes().decode("utf-8"))
    assert compute_cohort_id(manifest) == "cohort-c1ab29ec3bd3"


def test_task_row_ids_golden(task_row_case: dict[str, Any]) -> None:
    """task ids and gen_ids of every row of the task CSVs, salted by the row's cohort_id if any."""
    row: dict[str, str] = task_row_case["row"]
    stage = task_row_case["stage"]
    if stage == "draft":
        task_id = draft_task_id(row["combo_id"], row["draft_template"], row["generation_model"])
        assert task_id == row["draft_task_id"]
    elif stage == "essay":
        task_id = essay_task_id(row["draft_task_id"], row["essay_template"])
        assert task_id == row["essay_task_id"]
    else:
        task_id = evaluation_task_id(
            row["parent_gen_id"], row["evaluation_template"], row["evaluation_model"]
        )
        assert task_id == row["evaluation_task_id"]
    assert reserve_gen_id(stage, task_id, run_id=row.get("cohort_id") or None) == row["gen_id"]


def test_selected_combo_id_golden(combo_mapping_case: dict[str, Any]) -> None:
    rows: list[dict[str, str]] = combo_mapping_case["rows"]
    concept_ids = [row["concept_id"] for row in rows]
    assert {row["description_level"] for row in rows} == {rows[0]["description_level"]}
    result = generate_combo_id(concept_ids, rows[0]["description_level"], rows[0]["k_max"])
    assert result == combo_mapping_case["combo_id"]


def test_generation_metadata_gen_id_golden(generation_metadata_case: dict[str, Any]) -> None:
    """Every generation folder is named by reserve_gen_id(stage, task_id, run_id=cohort_id)."""
    metadata = generation_metadata_case["metadata"]
    expected = reserve_gen_id(metadata["stage"], metadata["task_id"], run_id=metadata.get("cohort_id"))
    assert metadata["gen_id"] == generation_metadata_case["dir_name"] == expected
