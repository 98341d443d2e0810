"""``cohort_change`` says what changed in the user's terms: concepts, templates, models, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from daydreaming_dagster.cohort.checks import cohort_change
from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
from daydreaming_dagster.core.config import load_experiment_config
from daydreaming_dagster.testing.sample_data import write_wide_data_root

MODELS_HEADER = "id,model,provider,display_name,for_generation,for_evaluation,specialization\n"


def _changes(root: Path, cohort_env: str | None = None) -> tuple[str, ...] | None:
    change = cohort_change(root, load_cohort(root, load_experiment_config(root), cohort_env=cohort_env).tables)
    return None if change is None else change.changes


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A wide data root (4 concepts, k_max 2, two models) whose task tables are on disk."""
    root = write_wide_data_root(tmp_path / "data", concepts=4)
    (root / "1_raw" / "llm_models.csv").write_text(
        MODELS_HEADER + "mock-model,mock-model,openrouter,Mock,true,true,general\n"
        "judge,vendor/judge,openrouter,Judge,false,true,general\n"
    )
    save_task_tables(load_cohort(root, load_experiment_config(root)))
    return root


def test_unchanged_inputs_are_no_change(saved: Path) -> None:
    assert _changes(saved) is None


def test_removed_concepts_models_and_templates_are_named(saved: Path) -> None:
    raw = saved / "1_raw"
    concepts = raw / "concepts_metadata.csv"
    concepts.write_text(concepts.read_text().replace("concept-03,Concept 3,true", "concept-03,Concept 3,false"))
    (raw / "llm_models.csv").write_text(MODELS_HEADER + "mock-model,mock-model,openrouter,Mock,true,true,general\n")
    essays = raw / "essay_templates.csv"
    essays.write_text(essays.read_text().replace("Essay copied from the draft,true,copy", "Essay copied from the draft,false,copy"))
    assert _changes(saved) == (
        "concept `concept-03` removed",
        "evaluation model `judge` removed",
        "essay template `test-copy` removed",
    )


def test_settings_and_dd_cohort_are_named(saved: Path) -> None:
    (saved / "experiment.toml").write_text("k_max = 3\nmin_draft_lines = 1\n")
    assert _changes(saved) == ("k_max 2 -> 3",)
    (saved / "experiment.toml").write_text("k_max = 2\nmin_draft_lines = 1\n")
    assert _changes(saved, cohort_env="my-cohort") == ("DD_COHORT set, changed or unset",)


def test_many_concepts_are_summed_up(saved: Path) -> None:
    with (saved / "1_raw" / "concepts_metadata.csv").open("a") as fh:
        for i in range(10, 15):
            fh.write(f"concept-{i},Concept {i},true\n")
            (saved / "1_raw" / "concepts" / "descriptions-paragraph" / f"concept-{i}.txt").write_text(f"{i}.\n")
    assert _changes(saved) == ("concepts `concept-10`, `concept-11`, `concept-12` and 2 more added",)
