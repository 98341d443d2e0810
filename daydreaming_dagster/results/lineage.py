"""The cohort as one table: every generation of the cohort with its lineage, state, usage and score.

``load_cohort_view(data_root)`` reads what a run left on disk (``2_tasks/*.csv``, ``1_raw`` for the
concepts' names, and each generation's ``metadata.json``) and never calls a model. Every result
table, the report, the export and the asset checks are computed from it, so they agree.

A generation's ``status`` is one of ``complete``, ``failed`` (metadata says so, with the reason),
``incomplete`` (files without a final metadata.json: a run was killed; the next run redoes it) or
``not generated``. An evaluation's ``score`` is read from its ``parsed.txt`` and must lie on its
template's scale (``evaluation_templates.csv``, upstream's 0-10 by default); when there is none,
``score_error`` says why, so no row is ever dropped silently.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from daydreaming_dagster.cohort.budget import Spend, read_spend
from daydreaming_dagster.cohort.checks import orphans as orphaned
from daydreaming_dagster.cohort.named import read_membership
from daydreaming_dagster.cohort.tasks import read_table_file
from daydreaming_dagster.core.errors import DamagedFileError, ResultsInputError
from daydreaming_dagster.core.layout import CohortLayout, cohort_name
from daydreaming_dagster.core.stages import SELECTION_FILE, STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.ledger import DEFAULT_COHORT
from daydreaming_dagster.engine.record import (
    ANSWER_COPY,
    ANSWER_PAID,
    ANSWER_REUSED,
    COMPLETE,
    FAILED,
    INCOMPLETE,
    NOT_GENERATED,
    STATES,
    GenerationRecord,
)
from daydreaming_dagster.engine.store import PARSED, RAW, GensStore, report_damaged
from daydreaming_dagster.inputs.loaders import load_score_scales
from daydreaming_dagster.inputs.types import DEFAULT_SCALE, ScoreScale

STATUSES = STATES  # the view's name for them

# Columns of ``CohortView.generations`` (one row per generation of the cohort, every stage).
GENERATION_COLUMNS = [
    "stage", "gen_id", "parent_gen_id", "task_id", "draft_gen_id", "essay_gen_id",
    "combo_id", "concept_ids", "concept_names",
    "draft_template", "essay_template", "generation_model", "evaluation_template", "evaluation_model",
    "template_id", "model_id", "replicate", "draft_replicate", "essay_replicate",
    "status", "error", "failure_kind", "mode", "parser", "finish_reason", "model",
    "prompt_tokens", "completion_tokens", "total_tokens", "cost", "latency_s", "duration_s", "attempts",
    "llm_call", "cache_hit", "answer", "started_at", "finished_at", "run_id", "reparsed",
    "score", "score_error", "gen_dir",
]


@dataclass(frozen=True)
class CohortView:
    data_root: Path
    generations: pd.DataFrame  # GENERATION_COLUMNS
    concept_names: dict[str, str]  # concept_id -> name (the id itself when unknown)
    combos: dict[str, tuple[str, ...]]  # combo_id -> concept ids
    cohort_id: str
    # (stage, gen_id) -> metadata.json as read: its text, not the parsed object, which takes about four
    # times the memory (a 100,000-generation cohort: 140 MB instead of 585 MB); ``metadata()`` parses.
    metadata_texts: dict[tuple[str, str], str] = field(repr=False)
    orphans: list[tuple[Stage, str]] = field(default_factory=list)  # gens dirs not in the cohort's tables
    score_scales: Mapping[str, ScoreScale] = field(default_factory=dict)  # evaluation template -> its scale
    cohort: str = DEFAULT_COHORT  # the cohort's name (its results live in ``layout.folder``)
    # (calls, USD) the cohort paid for generations it no longer lists (inputs or spec changed since):
    # part of its spend, as the journal has it, but in no row of ``generations``.
    paid_outside: tuple[int, float] = (0, 0.0)

    @property
    def layout(self) -> CohortLayout:
        return CohortLayout(self.data_root, self.cohort)

    def record(self, stage: Stage, gen_id: str) -> GenerationRecord | None:
        """The generation's record as read for the view (None when absent or damaged)."""
        text = self.metadata_texts.get((stage, gen_id))
        if text is None:
            return None
        return GenerationRecord.from_json(text, task_key_names=STAGE_FACTS[stage].task_keys)

    def stage(self, stage: Stage) -> pd.DataFrame:
        return self.generations[self.generations["stage"] == stage]

    @property
    def evaluations(self) -> pd.DataFrame:
        return self.stage("evaluation")

    def gen_dir(self, stage: Stage, gen_id: str) -> Path:
        return GensStore(self.data_root).gen_dir(stage, gen_id)

    def read_text(self, stage: Stage, gen_id: str, name: str) -> str | None:
        try:
            return (self.gen_dir(stage, gen_id) / name).read_bytes().decode("utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return None


def records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The rows as dicts, one at a time (``frame.to_dict("records")`` holds them all, and is slower)."""
    columns = [str(c) for c in frame.columns]
    values = [frame[c].tolist() for c in frame.columns]
    return (dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True))


def read_text_file(path: str) -> str | None:
    """A file's UTF-8 text (invalid bytes replaced), or None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None


def concept_names_of(data_root: Path) -> dict[str, str]:
    """concept_id -> name from ``1_raw/concepts_metadata.csv`` (best effort: the ids otherwise)."""
    path = Path(data_root) / "1_raw" / "concepts_metadata.csv"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return {}
    if "concept_id" not in frame.columns:
        return {}
    names = frame["name"] if "name" in frame.columns else frame["concept_id"]
    return {str(c).strip(): (str(n).strip() or str(c).strip()) for c, n in zip(frame["concept_id"], names, strict=False)}


def combos_of(selection: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    if selection.empty or not {"combo_id", "concept_id"} <= set(selection.columns):
        return {}
    combos: dict[str, list[str]] = {}
    for combo_id, concept_id in zip(selection["combo_id"], selection["concept_id"], strict=False):
        combos.setdefault(str(combo_id), []).append(str(concept_id))
    return {k: tuple(v) for k, v in combos.items()}


def _replicate(row: Mapping[Any, Any]) -> int:
    value = str(row.get("replicate") or "1")
    return int(value) if value.isdigit() else 1


def _suffix_replicate(task_id: str) -> int:
    """The replicate encoded in a task id's ``__r<n>`` suffix (1 when there is none)."""
    tail = task_id.rsplit("__", 1)[-1]
    return int(tail[1:]) if tail.startswith("r") and tail[1:].isdigit() else 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def failure_kind(record: GenerationRecord) -> str:
    """``truncated``, ``parse``, ``validation`` (a reply the stage rejected) or ``error``."""
    error = record.error or {}
    if error.get("finish_reason") == "length" or record.finish_reason == "length":
        return "truncated"
    if "parser" in error:
        return "parse"
    if record.response is not None or record.mode == "copy":
        return "validation"
    return "error"


def _error_message(record: GenerationRecord) -> str:
    error = record.error or {}
    return str(error.get("message") or error.get("cause") or "failed (no message)")


def _state(store: GensStore, stage: Stage, gen_id: str, gen_dir: str, record: GenerationRecord | None,
           damaged: str | None) -> tuple[str, str]:
    """(status, error) from the folder and its record (the store decides what complete means)."""
    if damaged is not None:
        return INCOMPLETE, f"metadata.json cannot be read ({damaged}); the next run redoes it"
    if record is None:
        if os.path.isdir(gen_dir) and os.listdir(gen_dir):
            return INCOMPLETE, "no final metadata.json (interrupted; the next run redoes it)"
        return NOT_GENERATED, ""
    if record.failed:
        return FAILED, _error_message(record)
    if not record.complete:
        return INCOMPLETE, "metadata.json is not final (interrupted; the next run redoes it)"
    if not store.is_complete(stage, gen_id, record):
        missing = [n for n in (RAW, PARSED) if not os.path.isfile(os.path.join(gen_dir, n))]
        return INCOMPLETE, f"metadata.json says complete but {', '.join(missing)} missing"
    return COMPLETE, ""


def _score(gen_dir: str, status: str, error: str, scale: ScoreScale) -> tuple[float | None, str]:
    if status == NOT_GENERATED:
        return None, "not generated"
    if status == FAILED:
        return None, f"failed: {error}"
    if status == INCOMPLETE:
        return None, f"incomplete: {error}"
    raw_text = read_text_file(os.path.join(gen_dir, PARSED))
    if raw_text is None:
        return None, "parsed.txt missing"
    text = raw_text.strip()
    try:
        score = float(text)
    except ValueError:
        return None, f"parsed.txt is not a number: {text[:40]!r}"
    if not scale.contains(score):
        return None, f"score {score} is outside {scale.label}"
    return score, ""


def _usage(record: GenerationRecord | None, spend: Spend, stage: str, gen_id: str) -> dict[str, Any]:
    """Tokens, time, and money as the journal has it: this cohort's payments for the generation."""
    key = (stage, gen_id)
    paid = key in spend.paid_generations
    if record is None:
        return {"cost": spend.by_generation.get(key, 0.0) if paid else 0.0, "llm_call": paid, "answer": ANSWER_PAID if paid else ""}
    response = record.response
    usage = response.usage if response is not None else None
    if paid:
        answer = ANSWER_PAID
    elif record.mode == "copy":
        answer = ANSWER_COPY
    else:
        answer = ANSWER_REUSED if response is not None else ""
    return {
        "mode": record.mode or "",
        "parser": record.parser or "",
        "finish_reason": record.finish_reason or "",
        "model": record.model or "",
        "prompt_tokens": None if usage is None else usage.prompt_tokens,
        "completion_tokens": None if usage is None else usage.completion_tokens,
        "total_tokens": None if usage is None else usage.total_tokens,
        # What this cohort paid for the generation (an answer reused costs 0): the journal's figure.
        "cost": spend.by_generation.get(key, 0.0) if paid else 0.0,
        "latency_s": response.latency_s if response is not None else None,
        "duration_s": record.duration_s,
        "attempts": response.attempts if response is not None else None,
        "llm_call": paid,
        "cache_hit": answer == ANSWER_REUSED,
        "answer": answer,
        "started_at": record.started_at or "",
        "finished_at": record.finished_at or "",
        "run_id": record.run_id or "",
        "reparsed": len(record.reparsed or []),
    }


def load_cohort_view(data_root: Path | str, cohort: str | None = None) -> CohortView:
    """Every generation of the cohort with what is on disk for it, never calling a model.

    The default cohort's generations are the rows of ``2_tasks``; a named cohort's are those its
    ``membership.csv`` lists (its own task tables give their lineage), so its view can be rebuilt
    at any time, whatever ran since.
    """
    root = Path(data_root)
    layout = CohortLayout(root, cohort_name(cohort))
    tables: dict[str, pd.DataFrame] = {
        stage: read_table_file(layout.tasks_dir / STAGE_FACTS[stage].task_file) for stage in STAGES
    }
    if not layout.is_default:
        members = set(read_membership(root, layout.name))
        tables = {
            stage: frame[[(stage, g) in members for g in frame["gen_id"]]] if "gen_id" in frame.columns else frame
            for stage, frame in tables.items()
        }
    if all(frame.empty for frame in tables.values()):
        flag = "" if layout.is_default else f" --cohort {layout.name}"
        raise ResultsInputError(
            f"{layout.tasks_dir} has no task tables: run `daydream run --data-root {root}{flag}` first"
        )
    return build_cohort_view(
        root,
        tables,
        combos_of(read_table_file(layout.tasks_dir / SELECTION_FILE)),
        concept_names_of(root),
        load_score_scales(root),
        cohort=layout.name,
    )


def build_cohort_view(
    root: Path,
    tables: Mapping[str, pd.DataFrame],
    combos: Mapping[str, tuple[str, ...]],
    names: Mapping[str, str],
    score_scales: Mapping[str, ScoreScale] | None = None,
    *,
    cohort: str = DEFAULT_COHORT,
) -> CohortView:
    """The view over given task tables (stages absent from ``tables`` have no rows); a template
    without a scale in ``score_scales`` has upstream's 0-10.

    Money comes from the payment journal, as every money figure of the product: a row's ``cost``
    is what ``cohort``'s runs paid for that generation (0 for an answer reused).
    """
    root = Path(root)
    scales = dict(score_scales or {})
    store = GensStore(root)
    spend = read_spend(root, cohort, store=store)
    essay_table = tables.get("essay")
    essays = {r["gen_id"]: r for r in records(essay_table)} if essay_table is not None else {}
    # Column lists rather than one dict per row: a 100,000-row list of dicts costs ~250 MB.
    columns: dict[str, list[Any]] = {name: [] for name in GENERATION_COLUMNS}
    metadata_texts: dict[tuple[str, str], str] = {}
    cohort_id = ""
    for stage in STAGES:
        facts = STAGE_FACTS[stage]
        table = tables.get(stage)
        if table is None or table.empty:
            continue
        stage_dir = str(store.stage_dir(stage))
        for task in records(table):
            gen_id = str(task.get("gen_id") or "")
            if not gen_id:
                continue
            if "/" in gen_id or gen_id in (".", ".."):
                continue  # not a folder name: cannot be on disk
            gen_dir = os.path.join(stage_dir, gen_id)
            record, damaged = None, None
            try:
                found = store.load_record_text(stage, gen_id)
            except DamagedFileError as exc:  # one damaged file never stops the report
                damaged = exc.reason
                report_damaged(exc)
            else:
                if found is not None:
                    record, metadata_texts[(stage, gen_id)] = found
            status, error = _state(store, stage, gen_id, gen_dir, record, damaged)
            parent = str(task.get("parent_gen_id") or "")
            replicate = _replicate(task)
            if stage == "draft":
                draft_id, essay_id = gen_id, ""
                draft_rep, essay_rep = replicate, 0
            elif stage == "essay":
                draft_id, essay_id = parent, gen_id
                draft_rep, essay_rep = _suffix_replicate(str(task.get("draft_task_id") or "")), replicate
            else:
                essay = essays.get(parent, {})
                draft_id, essay_id = str(essay.get("parent_gen_id") or ""), parent
                draft_rep = _suffix_replicate(str(essay.get("draft_task_id") or ""))
                essay_rep = _replicate(essay)
                cohort_id = cohort_id or str(task.get("cohort_id") or "")
            combo_id = str(task.get("combo_id") or "")
            concept_ids = combos.get(combo_id, ())
            row: dict[str, Any] = {
                "stage": stage,
                "gen_id": gen_id,
                "parent_gen_id": parent,
                "task_id": str(task.get(facts.task_id_column) or ""),
                "draft_gen_id": draft_id,
                "essay_gen_id": essay_id,
                "combo_id": combo_id,
                "concept_ids": ";".join(concept_ids),
                "concept_names": "; ".join(names.get(c, c) for c in concept_ids),
                "draft_template": str(task.get("draft_template") or ""),
                "essay_template": str(task.get("essay_template") or ""),
                "generation_model": str(task.get("generation_model") or ""),
                "evaluation_template": str(task.get("evaluation_template") or ""),
                "evaluation_model": str(task.get("evaluation_model") or ""),
                "template_id": str(task.get(facts.template_column) or ""),
                "model_id": str(task.get(facts.model_column) or ""),
                "replicate": replicate,
                "draft_replicate": draft_rep,
                "essay_replicate": essay_rep,
                "status": status,
                "error": error,
                "failure_kind": failure_kind(record) if status == FAILED and record is not None else "",
                **_usage(record, spend, stage, gen_id),
                "gen_dir": gen_dir,
            }
            if stage == "evaluation":
                scale = scales.get(row["evaluation_template"], DEFAULT_SCALE)
                row["score"], row["score_error"] = _score(gen_dir, status, error, scale)
            for name, values in columns.items():
                values.append(row.get(name))
    frame = pd.DataFrame(columns, columns=GENERATION_COLUMNS)
    for column in ("mode", "parser", "finish_reason", "model", "started_at", "finished_at", "run_id",
                   "score_error", "failure_kind", "error", "gen_id", "parent_gen_id", "stage", "answer"):
        frame[column] = frame[column].fillna("").astype(str)
    frame["llm_call"] = frame["llm_call"].astype("boolean").fillna(False).astype(bool)
    frame["cache_hit"] = frame["cache_hit"].astype("boolean").fillna(False).astype(bool)
    frame["reparsed"] = pd.to_numeric(frame["reparsed"]).fillna(0).astype(int)
    for column in ("score", "prompt_tokens", "completion_tokens", "total_tokens", "cost", "latency_s",
                   "duration_s", "attempts"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    orphans = sorted((stage, g) for stage, ids in orphaned(root).items() for g in ids)
    outside = spend.outside(zip(frame["stage"], frame["gen_id"], strict=True))
    return CohortView(
        root, frame, dict(names), dict(combos), cohort_id or cohort, metadata_texts, orphans, scales, cohort, outside
    )
