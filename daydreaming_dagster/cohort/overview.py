"""Every cohort of a data root at a glance, and the log of runs that ``daydream cohorts`` reads.

``summarize_cohorts``: per cohort, its spec, its generations done / failed / missing per stage (a
generation two cohorts share is read once), what its runs paid (the payment journal) and its last
run. A named cohort that has not run yet (no ``membership.csv``) is planned from its spec in memory,
with no call and no file written, so its counts show what it would make and what already exists.
``record_run`` appends one line per ``daydream run`` to ``ledger/runs.jsonl``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daydreaming_dagster.cohort.budget import payments
from daydreaming_dagster.cohort.named import read_membership
from daydreaming_dagster.cohort.tasks import read_table_file
from daydreaming_dagster.core.errors import DaydreamError
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout, named_cohorts
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.engine.ledger import LEDGER_DIR
from daydreaming_dagster.engine.store import GensStore

RUNS_FILE = "runs.jsonl"
DONE, FAILED, MISSING = "done", "failed", "missing"


@dataclass
class CohortSummary:
    name: str
    spec: str  # the spec file, or how the default cohort is chosen
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # stage -> done/failed/missing
    spent: float = 0.0
    paid_calls: int = 0
    last_run: Mapping[str, Any] | None = None
    planned: bool = False  # no membership.csv yet: the counts come from its spec, planned now
    problem: str | None = None  # why its spec cannot be planned (then it has no counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "cohort": self.name,
            "spec": self.spec,
            "generations": {stage: dict(self.counts.get(stage, Counter())) for stage in STAGES},
            "spent_usd": round(self.spent, 8),
            "paid_calls": self.paid_calls,
            "last_run": dict(self.last_run) if self.last_run else None,
            "planned": self.planned,
            "problem": self.problem,
        }


def cohort_members(data_root: Path, name: str) -> list[tuple[str, str]]:
    """(stage, gen_id) of a cohort: a named cohort's membership (planned from its spec when it has not
    run yet: ``planned_members``), the default cohort's task tables. Raises DaydreamError when a spec
    without membership cannot be planned."""
    layout = CohortLayout(Path(data_root), name)
    if not layout.is_default:
        if not layout.membership.is_file():
            return planned_members(Path(data_root), name)
        return read_membership(Path(data_root), name)
    out: list[tuple[str, str]] = []
    for stage in STAGES:
        frame = read_table_file(layout.tasks_dir / STAGE_FACTS[stage].task_file)
        if "gen_id" in frame.columns:
            out.extend((stage, str(g)) for g in frame["gen_id"])
    return out


def planned_members(data_root: Path, name: str) -> list[tuple[str, str]]:
    """The membership the named cohort ``name`` would write if it ran now: its spec planned in memory
    (no LLM call, no file written; raises DaydreamError when an input is wrong)."""
    from daydreaming_dagster.cohort.pipeline import load_cohort
    from daydreaming_dagster.core.config import load_experiment_config

    root = Path(data_root)
    cohort = load_cohort(root, load_experiment_config(root), name=name)
    return list(dict.fromkeys(cohort.membership))


def summarize_cohorts(data_root: Path) -> list[CohortSummary]:
    root = Path(data_root)
    store = GensStore(root)
    states: dict[tuple[str, str], str] = {}  # a generation shared by cohorts is read once

    def state(stage: str, gen_id: str) -> str:
        key = (stage, gen_id)
        if key not in states:
            record = store.read_record(stage, gen_id)  # type: ignore[arg-type]
            if record is not None and store.is_complete(stage, gen_id, record):  # type: ignore[arg-type]
                states[key] = DONE
            else:
                states[key] = FAILED if record is not None and record.failed else MISSING
        return states[key]

    names = named_cohorts(root)
    default_members = cohort_members(root, DEFAULT_COHORT)
    cohorts = ([DEFAULT_COHORT] if default_members else []) + names
    spend: dict[str, list[float]] = {}
    for payment in payments(root, store=store):
        totals = spend.setdefault(payment.cohort, [0.0, 0.0])
        totals[0] += payment.cost or 0.0
        totals[1] += 1
    runs = last_runs(root)
    out = []
    for name in cohorts:
        layout = CohortLayout(root, name)
        spec = str(layout.spec_file) if not layout.is_default else "active flags of 1_raw (2_tasks/)"
        summary = CohortSummary(name, spec, last_run=runs.get(name))
        members: list[tuple[str, str]] = default_members
        if not layout.is_default:
            summary.planned = not layout.membership.is_file()
            try:
                members = cohort_members(root, name)
            except DaydreamError as exc:
                summary.problem, members = str(exc), []
        for stage, gen_id in members:
            summary.counts.setdefault(stage, Counter())[state(stage, gen_id)] += 1
        summary.spent, calls = spend.get(name, [0.0, 0.0])
        summary.paid_calls = int(calls)
        out.append(summary)
    return out


def record_run(data_root: Path, entry: Mapping[str, Any]) -> None:
    """Append one run's line to ``ledger/runs.jsonl`` (best effort: a run never fails for its log)."""
    path = Path(data_root) / LEDGER_DIR / RUNS_FILE
    line = (json.dumps(dict(entry), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass


def last_runs(data_root: Path) -> dict[str, dict[str, Any]]:
    """The last logged run of each cohort."""
    path = Path(data_root) / LEDGER_DIR / RUNS_FILE
    out: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("cohort"), str):
            out[entry["cohort"]] = entry
    return out
