"""The ``7_reporting`` tables: what is on disk for each generation, and what is really wrong.

- ``documents_consistency_report``: one row per generation folder (the cohort's, and folders left by
  other cohorts with ``in_cohort`` false), its files, and an ``issue`` that is empty unless something
  is actually wrong (upstream counted every row as an issue). Not generated yet is not an issue.
- ``documents_latest_report``: upstream's listing, with ``created_at`` filled (upstream's was
  always empty) from the generation's ``finished_at``.
- ``generation_summary``: per stage, counts per status, failure kinds, calls, tokens, cost, time,
  and the parse-failure and truncation rates the asset checks use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import METADATA, PARSED, PROMPT, RAW
from daydreaming_dagster.results.lineage import (
    COMPLETE,
    FAILED,
    INCOMPLETE,
    NOT_GENERATED,
    CohortView,
    records,
)

CONSISTENCY_COLUMNS = [
    "gen_id", "stage", "task_id", "gen_dir", "in_cohort", "status", "dir_exists", "missing_prompt",
    "missing_raw", "missing_parsed", "missing_metadata", "issue",
]


def _issues(row: Mapping[Any, Any], record: GenerationRecord | None, files: set[str],
            statuses: Mapping[tuple[str, str], str]) -> list[str]:
    status = row["status"]
    if status == NOT_GENERATED:
        return []
    if status == FAILED:
        return [f"failed ({row['failure_kind'] or 'error'}): {row['error']}"]
    if status == INCOMPLETE:
        return [f"incomplete: {row['error']}"]
    issues = []
    assert record is not None  # a complete generation's record was read for the view
    if record.gen_id and record.gen_id != row["gen_id"]:
        issues.append(f"{METADATA} names gen_id {record.gen_id!r}")
    if record.stage and record.stage != row["stage"]:
        issues.append(f"{METADATA} names stage {record.stage!r}")
    if row["parent_gen_id"] and record.parent_gen_id != row["parent_gen_id"]:
        issues.append(
            f"parent in {METADATA} is {record.parent_gen_id!r}, the task table says {row['parent_gen_id']!r}"
        )
    for key in ("template_id", "model_id"):
        value = getattr(record, key)
        if value and row[key] and value != row[key]:
            issues.append(f"{key} in {METADATA} is {value!r}, the task table says {row[key]!r}")
    if record.mode != "copy" and PROMPT not in files:
        issues.append(f"{PROMPT} missing")
    parent_stage = STAGE_FACTS[row["stage"]].parent
    if parent_stage and statuses.get((parent_stage, row["parent_gen_id"])) != COMPLETE:
        issues.append(f"its {parent_stage} {row['parent_gen_id']} is not complete")
    return issues


def consistency_report(view: CohortView) -> pd.DataFrame:
    gens = view.generations
    statuses = dict(zip(zip(gens["stage"], gens["gen_id"], strict=True), gens["status"], strict=True))
    rows = []
    for row in records(gens):
        gen_dir = row["gen_dir"]
        files = set(os.listdir(gen_dir)) if os.path.isdir(gen_dir) else set()
        record = view.record(row["stage"], row["gen_id"]) if row["status"] == COMPLETE else None
        issues = _issues(row, record, files, statuses)
        rows.append({
            "gen_id": row["gen_id"], "stage": row["stage"], "task_id": row["task_id"], "gen_dir": gen_dir,
            "in_cohort": True, "status": row["status"], "dir_exists": bool(files),
            "missing_prompt": PROMPT not in files, "missing_raw": RAW not in files,
            "missing_parsed": PARSED not in files, "missing_metadata": METADATA not in files,
            "issue": "; ".join(issues),
        })
    for stage, gen_id in view.orphans:
        gen_dir = view.gen_dir(stage, gen_id)
        files = set(os.listdir(gen_dir))
        rows.append({
            "gen_id": gen_id, "stage": stage, "task_id": "", "gen_dir": str(gen_dir), "in_cohort": False,
            "status": "", "dir_exists": True, "missing_prompt": PROMPT not in files,
            "missing_raw": RAW not in files, "missing_parsed": PARSED not in files,
            "missing_metadata": METADATA not in files, "issue": "",
        })
    return pd.DataFrame(rows, columns=CONSISTENCY_COLUMNS)


def latest_report(view: CohortView) -> pd.DataFrame:
    gens = view.generations
    frame = pd.DataFrame({
        "gen_id": gens["gen_id"], "stage": gens["stage"], "task_id": gens["task_id"],
        "created_at": gens["finished_at"], "gen_dir": gens["gen_dir"], "status": gens["status"],
    })
    return frame[frame["status"] != NOT_GENERATED].reset_index(drop=True)


SUMMARY_COLUMNS = [
    "stage", "generations", "complete", "failed", "incomplete", "not_generated", "truncated",
    "parse_failures", "validation_failures", "other_failures", "unscored", "attempted",
    "failure_rate", "parse_failure_rate", "truncation_rate", "llm_calls", "cache_hits", "copies",
    "prompt_tokens", "completion_tokens", "cost", "llm_latency_s", "duration_s", "reparsed",
]


def _rate(count: int, attempted: int) -> float:
    return round(count / attempted, 4) if attempted else 0.0


# The row of calls the cohort paid for generations it no longer lists (only when there are some).
PAID_OUTSIDE_ROW = "paid, no longer in the cohort"


def generation_summary(view: CohortView) -> pd.DataFrame:
    """Per stage and overall (``all``): what happened, and the rates the asset checks watch.

    ``attempted`` = complete + failed; the rates are over it. An evaluation whose parsed.txt holds
    no valid score counts as a parse failure too. ``unscored`` = evaluations without a score.
    ``PAID_OUTSIDE_ROW``: calls the cohort paid for generations it no longer lists (its inputs or
    spec changed since); they count in ``all``'s ``llm_calls`` and ``cost``, so ``all`` is the
    cohort's spend as the payment journal has it, the same figure as ``daydream run`` and ``plan``.
    """
    gens = view.generations
    rows: list[dict[str, Any]] = []
    for stage in (*STAGES, "all"):
        part = gens if stage == "all" else gens[gens["stage"] == stage]
        status = part["status"]
        kinds = part.loc[status == FAILED, "failure_kind"]
        complete, failed = int((status == COMPLETE).sum()), int((status == FAILED).sum())
        bad_scores = int(((part["stage"] == "evaluation") & (status == COMPLETE)
                          & part["score"].isna()).sum())
        parse = int((kinds == "parse").sum()) + bad_scores
        truncated = int((kinds == "truncated").sum())
        attempted = complete + failed
        rows.append({
            "stage": stage, "generations": len(part), "complete": complete, "failed": failed,
            "incomplete": int((status == INCOMPLETE).sum()), "not_generated": int((status == NOT_GENERATED).sum()),
            "truncated": truncated, "parse_failures": parse,
            "validation_failures": int((kinds == "validation").sum()),
            "other_failures": int((kinds == "error").sum()),
            "unscored": int(((part["stage"] == "evaluation") & part["score"].isna()).sum()),
            "attempted": attempted, "failure_rate": _rate(failed, attempted),
            "parse_failure_rate": _rate(parse, attempted), "truncation_rate": _rate(truncated, attempted), "llm_calls": int(part["llm_call"].sum()),
            "cache_hits": int(part["cache_hit"].sum()), "copies": int((part["mode"] == "copy").sum()),
            "prompt_tokens": int(part["prompt_tokens"].fillna(0).sum()),
            "completion_tokens": int(part["completion_tokens"].fillna(0).sum()),
            "cost": round(float(part["cost"].fillna(0).sum()), 6),
            "llm_latency_s": round(float(part["latency_s"].fillna(0).sum()), 3),
            "duration_s": round(float(part["duration_s"].fillna(0).sum()), 3),
            "reparsed": int((part["reparsed"] > 0).sum()),
        })
    calls, cost = view.paid_outside
    if calls:
        total = rows[-1]
        total["llm_calls"] += calls
        total["cost"] = round(total["cost"] + cost, 6)
        empty = dict.fromkeys(SUMMARY_COLUMNS, 0)
        rows.insert(-1, {**empty, "stage": PAID_OUTSIDE_ROW, "llm_calls": calls, "cost": round(cost, 6)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
