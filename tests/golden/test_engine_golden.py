"""The engine and task builder against upstream's own outputs in ../shared/compat/golden.

Accepted differences (docs/compatibility.md): none of them shows here — no active compat draft
template has a parser and no active essay template is copy mode. ``run_id`` differs by nature.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daydreaming_dagster.cohort.runner import CohortRunner
from daydreaming_dagster.cohort.tasks import TABLE_FILES, csv_text
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context
from daydreaming_dagster.testing.mock_llm import ScriptedProvider
from tests.conftest import compare_tree, require_compat


@pytest.mark.parametrize("case,cohort_env", [("active", None), ("cohort", "compat-cohort-1")])
def test_task_tables_are_byte_identical(compat_data_root: Path, monkeypatch: pytest.MonkeyPatch, case: str, cohort_env: str | None) -> None:
    if cohort_env:
        monkeypatch.setenv("DD_COHORT", cohort_env)
    cohort = make_cohort(compat_data_root)
    golden = require_compat() / "golden" / case
    for attr, name in TABLE_FILES.items():
        assert csv_text(getattr(cohort.tables, attr)) == (golden / "2_tasks" / name).read_text(), name
        assert (compat_data_root / "2_tasks" / name).read_bytes() == (golden / "2_tasks" / name).read_bytes()
    manifest = compat_data_root / "cohorts" / cohort.tables.cohort_id / "manifest.json"
    golden_manifest = golden / "side_outputs" / "cohorts" / cohort.tables.cohort_id / "manifest.json"
    assert manifest.read_bytes() == golden_manifest.read_bytes()


def test_engine_reproduces_every_golden_generation(compat_data_root: Path) -> None:
    cohort = make_cohort(compat_data_root)
    provider = ScriptedProvider()  # the canned LLM of compat/README.md
    ctx = make_context(compat_data_root, cohort, provider)
    summary = CohortRunner(ctx, cohort.specs(), concurrency=4).run(cohort.items(["draft", "essay", "evaluation"]))
    assert summary.ok, summary.failures[:3]
    golden = require_compat() / "golden" / "active" / "gens"
    assert compare_tree(golden, compat_data_root / "gens") == []
    ours = {p.relative_to(compat_data_root / "gens") for p in (compat_data_root / "gens").rglob("*.txt")}
    assert ours == {p.relative_to(golden) for p in golden.rglob("*.txt")}  # nothing more, nothing less


def test_cohort_case_metadata(compat_data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_COHORT", "compat-cohort-1")
    cohort = make_cohort(compat_data_root)
    ctx = make_context(compat_data_root, cohort, ScriptedProvider())
    assert ctx.cohort_env == "compat-cohort-1"
    summary = CohortRunner(ctx, cohort.specs(), concurrency=4).run(cohort.items(["draft", "essay", "evaluation"]))
    assert summary.ok
    golden = require_compat() / "golden" / "cohort" / "gens_metadata"
    assert compare_tree(golden, compat_data_root / "gens") == []
    store = GensStore(compat_data_root)
    assert all(store.is_complete("evaluation", g) for g in cohort.tables.evaluations["gen_id"])
