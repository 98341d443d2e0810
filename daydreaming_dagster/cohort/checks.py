"""What a run says before it starts, so nothing that costs money happens silently.

- ``description_gaps``: concepts shown with a fallback text because their description file at the
  chosen level is missing (likely misnamed: the files of that folder matching no concept are listed).
- ``cohort_change``: the cohort id that salts evaluation ids changed since the last task tables;
  which input changed, in the user's terms ("concept `x` added", "evaluation model `y` removed",
  "draft template `z` added"), and how many generations get new ids. ``daydream run`` and
  ``daydream plan`` both warn with it.
- ``orphans``: generation folders that no task of the current tables names (an earlier cohort's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from daydreaming_dagster.cohort.runner import WorkItem
from daydreaming_dagster.cohort.tasks import (
    TABLE_FILES,
    TASKS_DIR,
    TaskTables,
    manifest_path,
    read_task_table,
)
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.flow import GenerationContext, GenerationError, StageSpec, plan_call
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination, combinations_from_selection
from daydreaming_dagster.inputs.types import RAW_DIR
from daydreaming_dagster.llm import LLMError


@dataclass(frozen=True)
class DescriptionGap:
    level: str
    folder: Path
    concept_ids: tuple[str, ...]  # used by the cohort, without a file at ``level``
    unmatched_files: tuple[str, ...]  # files in ``folder`` that match no concept id

    def message(self, raw: RawData) -> str:
        by_id = {c.concept_id: c for c in raw.concepts}
        shown = []
        for cid in self.concept_ids:
            concept = by_id[cid]
            text = concept.content(self.level)
            fallback = "its name" if text == concept.name else "another level's description"
            shown.append(f"{cid} (shows {fallback})")
        out = (
            f"{len(self.concept_ids)} concept(s) have no description at level '{self.level}' "
            f"({self.folder}): {', '.join(shown)}."
        )
        if self.unmatched_files:
            out += f" Files there that match no concept id (misnamed?): {', '.join(self.unmatched_files)}."
        return out


def description_gaps(raw: RawData, combos: Iterable[Combination]) -> list[DescriptionGap]:
    used: dict[str, set[str]] = {}
    for combo in combos:
        used.setdefault(combo.description_level, set()).update(combo.concept_ids)
    by_id = {c.concept_id: c for c in raw.concepts}
    gaps = []
    for level, ids in sorted(used.items()):
        missing = tuple(sorted(cid for cid in ids if not by_id[cid].descriptions.get(level)))
        if not missing:
            continue
        folder = raw.data_root / RAW_DIR / "concepts" / f"descriptions-{level}"
        files = sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []
        unmatched = tuple(name for name in files if Path(name).stem not in by_id)
        gaps.append(DescriptionGap(level, folder, missing, unmatched))
    return gaps


@dataclass(frozen=True)
class CohortChange:
    previous: str
    current: str
    changes: tuple[str, ...]  # what differs between the two manifests, in the user's terms
    new_ids: Mapping[Stage, int] = field(default_factory=dict)  # generations whose gen_id is new
    new_gen_ids: frozenset[tuple[Stage, str]] = frozenset()

    def message(self, reusable: int | None = None) -> str:
        what = "; ".join(self.changes) if self.changes else "the inputs behind the cohort id"
        counts = ", ".join(f"{n} {stage}" for stage, n in self.new_ids.items() if n)
        reuse = (
            f"{reusable} of them will be served from the response cache at no cost"
            if reusable is not None
            else "those whose call was made before are served from the response cache at no cost"
        )
        return (
            f"The cohort id changed from {self.previous} to {self.current} ({what}). "
            f"Generations with new ids: {counts or 'none'}; {reuse}."
        )


def _manifest(data_root: Path, cohort_id: str) -> dict[str, Any] | None:
    try:
        value = json.loads(manifest_path(data_root, cohort_id).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


# The manifest's lists, as a user names their items (``combos`` is told as concepts instead).
_ITEM_NAMES = {
    "templates.draft": "draft template",
    "templates.essay": "essay template",
    "templates.evaluation": "evaluation template",
    "llms.generation": "generation model",
    "llms.evaluation": "evaluation model",
}


def _listed(what: str, ids: Iterable[str], verb: str) -> list[str]:
    """``concept `a` added``; ``concepts `a`, `b`, `c` and 4 more added``; nothing for no id."""
    ids = sorted(ids)
    if not ids:
        return []
    shown = ", ".join(f"`{i}`" for i in ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    return [f"{what}{'s' if len(ids) > 1 else ''} {shown} {verb}"]


def _added_removed(what: str, old: Iterable[str], new: Iterable[str]) -> list[str]:
    before, after = set(old), set(new)
    return [*_listed(what, after - before, "added"), *_listed(what, before - after, "removed")]


def _combo_changes(old_ids: list[str], new_ids: list[str], old: list[Combination], new: list[Combination]) -> list[str]:
    """The combinations' change as the concepts (and settings) that differ, not as combo ids.

    ``old``/``new`` map combo ids to concepts (the previous selection table on disk, this run's
    combinations); a combo id neither knows is counted instead.
    """
    if set(old_ids) == set(new_ids):
        return []
    was = {c.combo_id: c for c in [*new, *old]}  # each side's own definition first
    now = {c.combo_id: c for c in [*old, *new]}
    if not (set(old_ids) <= set(was) and set(new_ids) <= set(now)):
        return [_combination_count(old_ids, new_ids)]
    before, after = [was[i] for i in old_ids], [now[i] for i in new_ids]
    out = _added_removed("concept", {c for x in before for c in x.concept_ids}, {c for x in after for c in x.concept_ids})
    for what, value in (("description level", lambda c: c.description_level), ("k_max", lambda c: str(c.k_max))):
        old_values, new_values = sorted({value(c) for c in before}), sorted({value(c) for c in after})
        if old_values != new_values:
            out.append(f"{what} {', '.join(old_values)} -> {', '.join(new_values)}")
    if not out:  # the same concepts and settings, other groupings (an edited curated selection)
        out.append(_combination_count(old_ids, new_ids))
    return out


def _combination_count(old_ids: list[str], new_ids: list[str]) -> str:
    return f"{len(set(new_ids) - set(old_ids))} combination(s) added, {len(set(old_ids) - set(new_ids))} removed"


def _manifest_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Templates and models added or removed (other keys: their old and new value)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if name == "combos" or a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_manifest_changes(a, b, f"{name}."))
        elif isinstance(a, list) and isinstance(b, list):
            out.extend(_added_removed(_ITEM_NAMES.get(name, name), map(str, a), map(str, b)))
        else:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def _previous_combinations(data_root: Path) -> list[Combination]:
    """The combinations of the task tables on disk (the previous run's), or none if unreadable."""
    try:
        return combinations_from_selection(read_task_table(data_root, "selection"))
    except (OSError, ValueError, KeyError):
        return []


def previous_tables(data_root: Path) -> dict[Stage, set[str]]:
    """gen_ids of the task tables on disk (the previous run's), per stage."""
    out: dict[Stage, set[str]] = {}
    for stage in STAGES:
        path = Path(data_root) / TASKS_DIR / STAGE_FACTS[stage].task_file
        if path.is_file():
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            out[stage] = set(frame["gen_id"]) if "gen_id" in frame.columns else set()
    return out


def previous_cohort_id(data_root: Path) -> str | None:
    path = Path(data_root) / TASKS_DIR / TABLE_FILES["evaluations"]
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=lambda c: c == "cohort_id")
    values = set(frame["cohort_id"]) if "cohort_id" in frame.columns else set()
    return next(iter(values)) if len(values) == 1 else None


def cohort_change(data_root: Path, tables: TaskTables) -> CohortChange | None:
    """None when there were no earlier tables or the cohort id is unchanged."""
    previous = previous_cohort_id(data_root)
    if previous is None or previous == tables.cohort_id:
        return None
    old_manifest = _manifest(data_root, previous)
    changes: tuple[str, ...] = ()
    if old_manifest is not None:
        combos = _combo_changes(
            [str(c) for c in old_manifest.get("combos", [])],
            [str(c) for c in tables.manifest["combos"]],
            _previous_combinations(data_root),
            tables.combinations,
        )
        changes = tuple(combos + _manifest_changes(old_manifest, tables.manifest))
        if not changes:  # the same inputs: the id came from DD_COHORT
            changes = ("DD_COHORT set, changed or unset",)
    before = previous_tables(data_root)
    new_ids: dict[Stage, int] = {}
    new_gen_ids: set[tuple[Stage, str]] = set()
    for stage in STAGES:
        frame = getattr(tables, STAGE_FACTS[stage].task_table)
        fresh = set(frame["gen_id"]) - before.get(stage, set())
        new_ids[stage] = len(fresh)
        new_gen_ids.update((stage, gen_id) for gen_id in fresh)
    return CohortChange(previous, tables.cohort_id, changes, new_ids, frozenset(new_gen_ids))


def reusable_from_cache(
    context: GenerationContext, specs: Mapping[Stage, StageSpec], items: Iterable[WorkItem]
) -> int:
    """How many of ``items`` the response cache would answer now (their inputs must be on disk)."""
    if context.cache is None:
        return 0
    count = 0
    for item in items:
        try:
            call = plan_call(context, item.row, specs[item.stage], gen_id=item.gen_id)
        except (GenerationError, LLMError):
            continue  # the parent is not generated yet: nothing to tell now
        if call is not None and context.cache.lookup(call)[1] is not None:
            count += 1
    return count


def claimed_generations(
    data_root: Path, *, current: str | None = None, tables: TaskTables | None = None
) -> set[tuple[str, str]]:
    """(stage, gen_id) of every generation some cohort lists: every named cohort's membership.csv
    and the default cohort's task tables; the cohort ``current`` as ``tables`` has it now."""
    from daydreaming_dagster.cohort.named import read_membership
    from daydreaming_dagster.core.layout import DEFAULT_COHORT, named_cohorts

    claimed: set[tuple[str, str]] = set()
    if tables is not None:
        for stage in STAGES:
            claimed.update((stage, g) for g in getattr(tables, STAGE_FACTS[stage].task_table)["gen_id"])
    if current != DEFAULT_COHORT or tables is None:
        for stage, ids in previous_tables(data_root).items():
            claimed.update((stage, g) for g in ids)
    for name in named_cohorts(Path(data_root)):
        if name != current or tables is None:
            claimed.update(read_membership(Path(data_root), name))
    return claimed


def orphans(
    data_root: Path, tables: TaskTables | None = None, *, current: str | None = None
) -> dict[Stage, list[str]]:
    """Generation folders on disk that no cohort lists (``claimed_generations``), per stage."""
    claimed = claimed_generations(data_root, current=current, tables=tables)
    store = GensStore(Path(data_root))
    out: dict[Stage, list[str]] = {}
    for stage in STAGES:
        extra = [g for g in store.gen_ids(stage) if (stage, g) not in claimed]
        if extra:
            out[stage] = extra
    return out
