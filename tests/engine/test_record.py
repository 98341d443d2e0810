"""metadata.json's one schema: every version migrates, every damage is a named RecordProblem."""

from __future__ import annotations

import json

import pytest

from daydreaming_dagster.core.errors import DaydreamError
from daydreaming_dagster.engine.record import (
    SCHEMA_VERSION,
    GenerationRecord,
    RecordProblem,
    Status,
    migrate_metadata,
    schema_version,
)

# Upstream's final write (shared/reference/upstream_seed_era_spec.md §4): no status, no version.
UPSTREAM_FINAL = {
    "stage": "draft",
    "gen_id": "d1",
    "parent_gen_id": "",
    "template_id": "links-v1",
    "model_id": "gemini_25_pro",
    "task_id": "combo_v1_x__links-v1__gemini_25_pro",
    "function": "draft_response",
    "run_id": "r1",
    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
}
# Upstream's early write, left behind when a later step failed.
UPSTREAM_EARLY = {"function": "draft_response", "gen_id": "d1"}
OURS_V1 = {**UPSTREAM_FINAL, "status": "complete", "mode": "llm"}


@pytest.mark.parametrize(
    ("data", "version", "status"),
    [
        (UPSTREAM_FINAL, 0, Status.COMPLETE),
        (UPSTREAM_EARLY, 0, None),
        (OURS_V1, 1, Status.COMPLETE),
        ({**OURS_V1, "status": "failed"}, 1, Status.FAILED),
        ({**OURS_V1, "schema_version": 2}, 2, Status.COMPLETE),
    ],
    ids=["upstream-final", "upstream-early", "v1-complete", "v1-failed", "v2"],
)
def test_every_version_migrates_to_the_current_schema(data, version, status):
    assert schema_version(data) == version
    migrated = migrate_metadata(data)
    assert migrated["schema_version"] == SCHEMA_VERSION
    record = GenerationRecord.from_dict(data)
    assert record.status == status
    assert record.complete is (status == Status.COMPLETE)
    # Written back, it carries the current version and reads the same.
    again = GenerationRecord.from_json(record.to_json())
    assert json.loads(record.to_json())["schema_version"] == SCHEMA_VERSION
    assert again.status == record.status and again.gen_id == "d1"


def test_migration_does_not_change_its_argument():
    data = dict(UPSTREAM_FINAL)
    migrate_metadata(data)
    assert data == UPSTREAM_FINAL


def test_unknown_keys_survive_a_round_trip():
    record = GenerationRecord.from_dict({**OURS_V1, "lab_note": "kept"})
    assert json.loads(record.to_json())["lab_note"] == "kept"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\xff\xfe{", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({**OURS_V1, "schema_version": 99}).encode(), "unknown schema_version 99"),
        (json.dumps({**OURS_V1, "schema_version": True}).encode(), "unknown schema_version True"),
        (json.dumps({**OURS_V1, "status": "done"}).encode(), "unknown status 'done'"),
        (json.dumps({**OURS_V1, "llm": {"usage": [1, 2]}}).encode(), "usage"),
        (json.dumps({**OURS_V1, "replicate": "abc"}).encode(), "'replicate' should be a whole number"),
        (json.dumps({**OURS_V1, "gen_id": ["x"]}).encode(), "'gen_id' should be text"),
        (json.dumps({**OURS_V1, "concepts": "a, b"}).encode(), "'concepts' should be a list"),
        (json.dumps({**OURS_V1, "cache": "hit"}).encode(), "'cache' should be an object"),
        (json.dumps({**OURS_V1, "template_id": None}).encode(), "'template_id' is missing"),
        (json.dumps({**OURS_V1, "payment": [0.1]}).encode(), "'payment' should be an object"),
    ],
    ids=["bytes", "json", "list", "version", "bool-version", "status", "usage", "replicate", "gen_id",
         "concepts", "cache", "no-template", "payment"],
)
def test_a_damaged_file_is_a_record_problem_that_says_why(content, why):
    with pytest.raises(RecordProblem, match=why) as caught:
        GenerationRecord.from_json(content)
    # One base for the product's errors: the CLI never calls this an internal error.
    assert isinstance(caught.value, DaydreamError)
