"""Golden cases from the shared compat fixtures (``../shared/compat`` beside the repo).

Test functions ask for a case fixture (``draft_parser_case``, ``eval_score_case``, ...);
``pytest_generate_tests`` parametrizes it with one value per golden record. When the compat
directory is absent every such test is collected once and skipped with a clear reason.
Files are decoded from their exact bytes (no newline translation).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import COMPAT, MISSING_REASON, require_compat

Case = dict[str, Any]


def compat_dir() -> Path:
    """``<repo>/../shared/compat`` (it may not exist)."""
    return COMPAT


@pytest.fixture
def compat() -> Path:
    """The compat directory; skips the test when it is missing."""
    return require_compat()


def read_text_exact(path: Path) -> str:
    """UTF-8 text of ``path`` exactly as stored (``\\r\\n`` stays ``\\r\\n``)."""
    return path.read_bytes().decode("utf-8")


def read_jsonl(path: Path) -> list[Case]:
    return [json.loads(line) for line in read_text_exact(path).split("\n") if line.strip()]


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_text_exact(path), newline="")))


def expected_outcome(record: Case, value_key: str) -> tuple[str, Any]:
    """("ok", value) or (exception type name, message) as recorded in a golden record."""
    if record.get("error_type"):
        return record["error_type"], record["error_message"]
    return "ok", record[value_key]


# ---------------------------------------------------------------- loaders: (id, case) pairs


def _draft_parser_cases(root: Path) -> list[tuple[str, Case]]:
    records = read_jsonl(root / "golden" / "parsers" / "draft_parsers.jsonl")
    return [(f"case{r['case']}-{r['parser']}", r) for r in records]


def _eval_score_file_cases(root: Path) -> list[tuple[str, Case]]:
    parsers = root / "golden" / "parsers"
    cases = []
    for row in read_csv_rows(parsers / "eval_scores.csv"):
        case: Case = dict(row)
        case["input"] = read_text_exact(parsers / "eval_responses" / row["file"])
        cases.append((f"{row['file']}-{row['strategy']}", case))
    return cases


def _eval_score_synthetic_cases(root: Path) -> list[tuple[str, Case]]:
    records = read_jsonl(root / "golden" / "parsers" / "eval_scores_synthetic.jsonl")
    return [(f"case{r['case']}-{r['strategy']}", r) for r in records]


def _id_cases(root: Path) -> list[tuple[str, Case]]:
    records = read_jsonl(root / "golden" / "ids.jsonl")
    return [(f"{r['kind']}-case{r['case']}", r) for r in records]


def _cohort_manifest_cases(root: Path) -> list[tuple[str, Case]]:
    # Only directories named by the deterministic id; "compat-cohort-1" was set via DD_COHORT.
    cases = []
    for manifest in sorted((root / "golden").glob("*/side_outputs/cohorts/cohort-*/manifest.json")):
        case = {"manifest": json.loads(read_text_exact(manifest)), "expected": manifest.parent.name}
        cases.append((f"{manifest.parents[3].name}-{manifest.parent.name}", case))
    return cases


_TASK_FILES = {
    "draft": "draft_generation_tasks.csv",
    "essay": "essay_generation_tasks.csv",
    "evaluation": "evaluation_tasks.csv",
    "evaluation.as_written": "evaluation_tasks.as_written.csv",
}


def _task_row_cases(root: Path) -> list[tuple[str, Case]]:
    cases = []
    for golden_case in ("active", "cohort"):
        for kind, name in _TASK_FILES.items():
            path = root / "golden" / golden_case / "2_tasks" / name
            for index, row in enumerate(read_csv_rows(path)):
                case = {"kind": kind, "stage": kind.split(".")[0], "row": row}
                cases.append((f"{golden_case}-{kind}-row{index}", case))
    return cases


def _combo_mapping_cases(root: Path) -> list[tuple[str, Case]]:
    cases = []
    for golden_case in ("active", "cohort"):
        rows = read_csv_rows(root / "golden" / golden_case / "2_tasks" / "selected_combo_mappings.csv")
        by_combo: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_combo.setdefault(row["combo_id"], []).append(row)
        for combo_id, group in by_combo.items():
            cases.append((f"{golden_case}-{combo_id}", {"combo_id": combo_id, "rows": group}))
    return cases


def _generation_metadata_cases(root: Path) -> list[tuple[str, Case]]:
    paths = sorted((root / "golden" / "active" / "gens").glob("*/*/metadata.json"))
    paths += sorted((root / "golden" / "cohort" / "gens_metadata").glob("*/*/metadata.json"))
    cases = []
    for path in paths:
        golden_case = path.parents[3].name
        case = {"metadata": json.loads(read_text_exact(path)), "dir_name": path.parent.name}
        cases.append((f"{golden_case}-{path.parents[1].name}-{path.parent.name}", case))
    return cases


def _evaluation_output_cases(root: Path) -> list[tuple[str, Case]]:
    templates = read_csv_rows(root / "data" / "1_raw" / "evaluation_templates.csv")
    parser_of = {row["template_id"]: row["parser"].strip().lower() for row in templates}
    cases = []
    for gen_dir in sorted((root / "golden" / "active" / "gens" / "evaluation").iterdir()):
        metadata = json.loads(read_text_exact(gen_dir / "metadata.json"))
        case = {
            "raw": read_text_exact(gen_dir / "raw.txt"),
            "parsed": read_text_exact(gen_dir / "parsed.txt"),
            "strategy": parser_of[metadata["template_id"]],
        }
        cases.append((gen_dir.name, case))
    return cases


_LOADERS: dict[str, Callable[[Path], list[tuple[str, Case]]]] = {
    "draft_parser_case": _draft_parser_cases,
    "eval_score_file_case": _eval_score_file_cases,
    "eval_score_synthetic_case": _eval_score_synthetic_cases,
    "id_case": _id_cases,
    "cohort_manifest_case": _cohort_manifest_cases,
    "task_row_case": _task_row_cases,
    "combo_mapping_case": _combo_mapping_cases,
    "generation_metadata_case": _generation_metadata_cases,
    "evaluation_output_case": _evaluation_output_cases,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture_name, loader in _LOADERS.items():
        if fixture_name not in metafunc.fixturenames:
            continue
        root = compat_dir()
        if not root.is_dir():
            skipped = pytest.param(None, marks=pytest.mark.skip(reason=MISSING_REASON), id="compat-missing")
            metafunc.parametrize(fixture_name, [skipped])
            continue
        cases = loader(root)
        if not cases:  # a present-but-emptied fixture set must not pass vacuously
            raise pytest.UsageError(f"no golden records found for {fixture_name} under {root}")
        metafunc.parametrize(fixture_name, [case for _, case in cases], ids=[case_id for case_id, _ in cases])
