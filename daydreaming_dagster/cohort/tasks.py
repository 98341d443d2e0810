"""Task tables (``2_tasks/*.csv``): one row per generation, with upstream's columns and ids.

Cohort salting keeps upstream's accidental asymmetry because the ids address users' existing data:
without ``DD_COHORT`` draft and essay gen_ids are unsalted and evaluation gen_ids are salted with
the deterministic manifest cohort; with ``DD_COHORT`` all three are salted with it. The evaluation
parent is the essay's gen_id (upstream pointed at the draft: fixed). Replicate 1 keeps the plain
upstream id; replicate r >= 2 appends ``__r<r>`` to the task id, which gives it its own gen_id.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from daydreaming_dagster.core.ids import (
    compute_cohort_id,
    draft_task_id,
    essay_task_id,
    evaluation_task_id,
    reserve_gen_id,
    with_replicate,
)
from daydreaming_dagster.core.layout import COHORTS_DIR, MANIFEST_FILE
from daydreaming_dagster.core.stages import SELECTION_FILE, STAGE_FACTS, TASKS_DIR
from daydreaming_dagster.engine.store import atomic_write_text
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination, selection_table

DRAFT_COLUMNS = ["draft_task_id", "combo_id", "draft_template", "generation_model", "generation_model_name", "gen_id"]
ESSAY_COLUMNS = [
    "essay_task_id", "parent_gen_id", "draft_task_id", "combo_id", "draft_template", "essay_template",
    "generation_model", "generation_model_name", "gen_id",
]
EVALUATION_COLUMNS = [
    "evaluation_task_id", "parent_gen_id", "document_id", "essay_task_id", "combo_id", "draft_template",
    "essay_template", "generation_model", "generation_model_name", "evaluation_template", "evaluation_model",
    "evaluation_model_name", "parser", "file_path", "source_dir", "source_asset", "gen_id", "cohort_id",
]


@dataclass(frozen=True)
class TaskTables:
    combinations: list[Combination]
    selection: pd.DataFrame
    drafts: pd.DataFrame
    essays: pd.DataFrame
    evaluations: pd.DataFrame
    cohort_id: str  # the cohort that salts evaluation ids
    manifest: dict[str, Any]


def _frame(rows: list[dict[str, Any]], columns: list[str], *, cohort: str | None, replicated: bool) -> pd.DataFrame:
    cols = list(columns)
    if cohort and "cohort_id" not in cols:
        cols.append("cohort_id")
    if replicated:
        cols.append("replicate")
    return pd.DataFrame(rows, columns=cols).astype(str) if rows else pd.DataFrame(columns=cols, dtype=str)


def build_draft_tasks(
    raw: RawData, combos: Sequence[Combination], *, cohort: str | None, replicates: int = 1
) -> pd.DataFrame:
    rows = []
    for combo in combos:
        for template in raw.active_templates("draft"):
            for model in raw.generation_models():
                base = draft_task_id(combo.combo_id, template.template_id, model.model_id)
                for r in range(1, replicates + 1):
                    task_id = with_replicate(base, r)
                    rows.append({
                        "draft_task_id": task_id, "combo_id": combo.combo_id,
                        "draft_template": template.template_id, "generation_model": model.model_id,
                        "generation_model_name": model.model,
                        "gen_id": reserve_gen_id("draft", task_id, run_id=cohort),
                        "cohort_id": cohort, "replicate": r,
                    })
    return _frame(rows, DRAFT_COLUMNS, cohort=cohort, replicated=replicates > 1)


def build_essay_tasks(
    raw: RawData, drafts: pd.DataFrame, *, cohort: str | None, replicates: int = 1
) -> pd.DataFrame:
    rows = []
    for draft in drafts.to_dict("records"):
        for template in raw.active_templates("essay"):
            base = essay_task_id(draft["draft_task_id"], template.template_id)
            for r in range(1, replicates + 1):
                task_id = with_replicate(base, r)
                rows.append({
                    "essay_task_id": task_id, "parent_gen_id": draft["gen_id"],
                    "draft_task_id": draft["draft_task_id"], "combo_id": draft["combo_id"],
                    "draft_template": draft["draft_template"], "essay_template": template.template_id,
                    "generation_model": draft["generation_model"],
                    "generation_model_name": draft["generation_model_name"] or draft["generation_model"],
                    "gen_id": reserve_gen_id("essay", task_id, run_id=cohort),
                    "cohort_id": cohort, "replicate": r,
                })
    return _frame(rows, ESSAY_COLUMNS, cohort=cohort, replicated=replicates > 1)


def cohort_manifest(raw: RawData, combo_ids: Sequence[str]) -> dict[str, Any]:
    """Upstream's manifest: sorted combos, active templates and model ids."""
    return {
        "combos": sorted(set(combo_ids)),
        "templates": {kind: sorted(t.template_id for t in raw.active_templates(kind))
                      for kind in ("draft", "essay", "evaluation")},
        "llms": {
            "generation": sorted(m.model_id for m in raw.generation_models()),
            "evaluation": sorted(m.model_id for m in raw.evaluation_models()),
        },
    }


def resolve_cohort(raw: RawData, combo_ids: Sequence[str], cohort_env: str | None) -> tuple[str, dict[str, Any]]:
    """The cohort id (``DD_COHORT``, else the manifest's hash) and its manifest: the one path."""
    manifest = cohort_manifest(raw, combo_ids)
    return cohort_env or compute_cohort_id(manifest), manifest


def cohort_of_essays(
    raw: RawData, essays: pd.DataFrame, selected_combo_ids: Sequence[str], cohort_env: str | None
) -> tuple[str, dict[str, Any]]:
    """The cohort id and manifest of a cohort's essays: the manifest lists their combos, or the
    selection's when there are no essays (upstream's fallback)."""
    return resolve_cohort(raw, list(essays["combo_id"]) or list(selected_combo_ids), cohort_env)


def build_evaluation_tasks(
    raw: RawData, essays: pd.DataFrame, *, cohort: str, replicates: int = 1
) -> pd.DataFrame:
    rows = []
    templates = raw.active_templates("evaluation")
    for essay in essays.to_dict("records"):
        for model in raw.evaluation_models():
            for template in templates:
                base = evaluation_task_id(essay["gen_id"], template.template_id, model.model_id)
                for r in range(1, replicates + 1):
                    task_id = with_replicate(base, r)
                    rows.append({
                        "evaluation_task_id": task_id, "parent_gen_id": essay["gen_id"],
                        "document_id": essay["essay_task_id"], "essay_task_id": essay["essay_task_id"],
                        "combo_id": essay["combo_id"], "draft_template": essay["draft_template"],
                        "essay_template": essay["essay_template"],
                        "generation_model": essay["generation_model"],
                        "generation_model_name": essay["generation_model_name"],
                        "evaluation_template": template.template_id, "evaluation_model": model.model_id,
                        "evaluation_model_name": model.model, "parser": template.parser or "",
                        # Upstream filled these only when the essay existed at build time; left
                        # empty so the table depends on the inputs alone (docs/compatibility.md).
                        "file_path": "", "source_dir": "", "source_asset": "essay_response",
                        "gen_id": reserve_gen_id("evaluation", task_id, run_id=cohort),
                        "cohort_id": cohort, "replicate": r,
                    })
    return _frame(rows, EVALUATION_COLUMNS, cohort=cohort, replicated=replicates > 1)


def build_task_tables(
    raw: RawData,
    combos: Sequence[Combination],
    *,
    cohort_env: str | None,
    draft_replicates: int = 1,
    essay_replicates: int = 1,
    evaluation_replicates: int = 1,
) -> TaskTables:
    drafts = build_draft_tasks(raw, combos, cohort=cohort_env, replicates=draft_replicates)
    essays = build_essay_tasks(raw, drafts, cohort=cohort_env, replicates=essay_replicates)
    cohort_id, manifest = cohort_of_essays(raw, essays, [c.combo_id for c in combos], cohort_env)
    evaluations = build_evaluation_tasks(raw, essays, cohort=cohort_id, replicates=evaluation_replicates)
    return TaskTables(list(combos), selection_table(combos), drafts, essays, evaluations, cohort_id, manifest)


def csv_text(frame: pd.DataFrame) -> str:
    """``DataFrame.to_csv(index=False)`` exactly as upstream's CSV IO manager wrote it."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


# TaskTables attribute -> file under 2_tasks/ (the stages' from the stage table).
TABLE_FILES: dict[str, str] = {
    "selection": SELECTION_FILE,
    **{facts.task_table: facts.task_file for facts in STAGE_FACTS.values()},
}


def write_task_tables(data_root: Path, tables: TaskTables) -> dict[str, Path]:
    """Write the four tables atomically (even when empty) and the cohort manifest."""
    out_dir = Path(data_root) / TASKS_DIR
    written = {}
    for attr, name in TABLE_FILES.items():
        path = out_dir / name
        atomic_write_text(path, csv_text(getattr(tables, attr)))
        written[attr] = path
    write_manifest(data_root, tables.cohort_id, tables.manifest)
    return written


def manifest_path(data_root: Path, cohort_id: str) -> Path:
    """``cohorts/<cohort_id>/manifest.json``: upstream's place for a cohort id's manifest."""
    return Path(data_root) / COHORTS_DIR / cohort_id / MANIFEST_FILE


def write_manifest(data_root: Path, cohort_id: str, manifest: Mapping[str, Any]) -> Path:
    """The manifest in upstream's format (indent 2, no trailing newline)."""
    path = manifest_path(data_root, cohort_id)
    atomic_write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2))
    return path


def read_table_file(path: Path) -> pd.DataFrame:
    """A task table file as strings; an absent file is an empty frame."""
    if not Path(path).is_file():
        return pd.DataFrame(dtype=str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_task_table(data_root: Path, attr: str) -> pd.DataFrame:
    """A task table as strings (no NaN, no numeric coercion of ids)."""
    path = Path(data_root) / TASKS_DIR / TABLE_FILES[attr]
    return pd.read_csv(path, dtype=str, keep_default_na=False)
