"""Named cohorts: a spec at ``cohorts/<name>/spec/config.yaml`` becomes task tables and a membership.

The spec is upstream HEAD's language (``inputs/spec_dsl``), planned by ``cohort/spec_plan.py``
into generations with content-addressed ids (``d_``/``e_``/``v_``): a generation two cohorts
need is one folder, made and paid once. Nothing to restart: a spec is read when a command asks
for its cohort.

What a spec names is resolved here, against the data root:

- combos (``combo_id`` axis): the data root's combo catalog ``combo_mappings.csv`` (upstream
  HEAD's; every default-cohort run appends its combos), the curated ``1_raw`` selection, and the
  combinations of the active concepts;
- generations to reuse (``essay_gen_id``/``draft_gen_id`` axes): read from their metadata;
- two extensions for an axis's levels:
  - ``'@cohort:<name>'``: the essays of another cohort, all of them, or ``'@cohort:<name> top=5'``
    the five best by mean score (``by=<evaluation template>`` to rank by one rubric), ties ordered
    by gen_id (for ``essay_gen_id``);
  - ``'@combos:<concept>,<concept>,... k=2'``: every k-combination of those concepts (``k``
    defaults to ``k_max``, ``level=`` to ``description_level``), or ``'@combos:active'``, the
    active ones (for ``combo_id``). Listing the concepts pins the cohort; ``active`` follows the
    flags whenever the cohort is planned again.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from daydreaming_dagster.cohort.spec_plan import (
    PLAN_DRAFT_COLUMNS,
    PLAN_ESSAY_COLUMNS,
    PLAN_EVALUATION_COLUMNS,
    ExistingGeneration,
    SpecPlan,
    plan_spec,
)
from daydreaming_dagster.cohort.tasks import TaskTables, csv_text, read_table_file
from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.errors import InputError, InputProblem
from daydreaming_dagster.core.ids import generate_combo_id
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout, named_cohorts
from daydreaming_dagster.core.stages import STAGE_FACTS
from daydreaming_dagster.engine.store import PARSED, GensStore, atomic_write_text
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import (
    SELECTION_COLUMNS,
    Combination,
    build_combinations,
    combinations_from_selection,
    selection_table,
)
from daydreaming_dagster.inputs.loaders import load_score_scales
from daydreaming_dagster.inputs.spec_dsl import load_spec
from daydreaming_dagster.inputs.types import DEFAULT_SCALE

COMBO_CATALOG = "combo_mappings.csv"  # upstream HEAD's combo catalog, at the data root
COHORT_REFERENCE, COMBOS_REFERENCE = "@cohort:", "@combos:"
_REFERENCE = re.compile(r"^@(?P<kind>cohort|combos):(?P<name>[^\s]+)(?P<options>(\s+\w+=[^\s]+)*)\s*$")


# ------------------------------------------------------------------------------------ the combo catalog


def read_combo_catalog(data_root: Path) -> dict[str, Combination]:
    path = Path(data_root) / COMBO_CATALOG
    if not path.is_file():
        return {}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"combo_id", "concept_id"} <= set(frame.columns):
        return {}
    return {c.combo_id: c for c in combinations_from_selection(frame)}


def append_combo_catalog(data_root: Path, combos: Sequence[Combination]) -> int:
    """Add the combos the catalog lacks (append-only, as upstream's ComboIDManager); how many."""
    known = read_combo_catalog(data_root)
    new = [c for c in combos if c.combo_id not in known]
    if not new:
        return 0
    path = Path(data_root) / COMBO_CATALOG
    table = selection_table(new)
    table["created_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    body = csv_text(table[SELECTION_COLUMNS])
    atomic_write_text(path, existing + body.split("\n", 1)[1] if existing else body)
    return len(new)


def known_combinations(data_root: Path, raw: RawData, config: ExperimentConfig) -> dict[str, Combination]:
    """Every combo a spec may name: the catalog, the curated selection, the active concepts'."""
    found = read_combo_catalog(data_root)
    if not raw.selects_by_flags:  # an upstream HEAD root: no active concepts, the catalog is all
        return found
    try:
        for combo in build_combinations(raw, k_max=config.k_max, description_level=config.description_level):
            found.setdefault(combo.combo_id, combo)
    except InputError:
        pass  # too many active combinations: only the catalog's
    return found


# ------------------------------------------------------------------------------------ existing generations


def existing_generation(store: GensStore, gen_id: str) -> ExistingGeneration | None:
    """A draft or essay on disk, as a curated spec row reuses it (None when there is none)."""
    for stage in ("essay", "draft"):
        record = store.read_record(stage, gen_id)
        if record is None:
            continue
        if stage == "draft":
            return ExistingGeneration(
                "draft", gen_id, record.task_id, record.task_keys.get("combo_id", ""), record.template_id,
                record.model_id, record.replicate,
            )
        draft = store.read_record("draft", record.parent_gen_id) if record.parent_gen_id else None
        return ExistingGeneration(
            "essay", gen_id, record.task_id,
            draft.task_keys.get("combo_id", "") if draft else "",
            draft.template_id if draft else "",
            record.model_id, record.replicate, record.template_id, record.parent_gen_id,
            draft.task_id if draft else "",
        )
    return None


def essays_of_cohort(data_root: Path, name: str, *, top: int | None = None, by: str | None = None) -> list[str]:
    """The essays of cohort ``name`` (its task table's order), or its ``top`` essays by mean score."""
    layout = CohortLayout(Path(data_root), name)
    essays = read_table_file(layout.tasks_dir / STAGE_FACTS["essay"].task_file)
    if essays.empty:
        raise InputError([InputProblem(layout.tasks_dir, None, None, f"cohort {name!r} has no essays yet",
                                       f"run it first: daydream run --cohort {name}")])
    ids = [str(g) for g in essays["gen_id"]]
    if top is None:
        return ids
    rubrics = cohort_rubrics(data_root, name)
    if by is not None and by not in rubrics:
        raise InputError([InputProblem(
            layout.tasks_dir, None, None,
            f"cohort {name!r} has no evaluation template {by!r} to rank by "
            f"(its rubrics: {', '.join(rubrics) if rubrics else 'none'})",
            f"rank by one of its rubrics, e.g. by={rubrics[0]}" if rubrics else "leave out by= (mean over every rubric)",
        )])
    # Over every rubric, each score counts as a fraction of its rubric's scale: a 0-9 rubric and a
    # 0-10 one weigh the same (with one scale, the order is that of the mean score).
    scores = essay_scores(data_root, name, by=by, fraction_of_scale=by is None)
    ranked = sorted((g for g in ids if g in scores), key=lambda g: (-scores[g], g))
    return ranked[:top]


def cohort_rubrics(data_root: Path, name: str) -> list[str]:
    """The evaluation templates of cohort ``name``'s evaluation table, sorted (its rubrics)."""
    layout = CohortLayout(Path(data_root), name)
    evaluations = read_table_file(layout.tasks_dir / STAGE_FACTS["evaluation"].task_file)
    if "evaluation_template" not in evaluations.columns:
        return []
    return sorted({str(t) for t in evaluations["evaluation_template"] if str(t)})


def essay_scores(
    data_root: Path, name: str, *, by: str | None = None, fraction_of_scale: bool = False
) -> dict[str, float]:
    """Mean score per essay over its complete evaluations in cohort ``name`` (one rubric with ``by``);
    ``fraction_of_scale``: each score as a fraction of its rubric's scale (0 at its minimum, 1 at its top)."""
    layout = CohortLayout(Path(data_root), name)
    scales = load_score_scales(data_root) if fraction_of_scale else {}
    evaluations = read_table_file(layout.tasks_dir / STAGE_FACTS["evaluation"].task_file)
    store = GensStore(Path(data_root))
    sums: dict[str, list[float]] = defaultdict(list)
    for row in evaluations.to_dict("records"):
        if by is not None and row.get("evaluation_template") != by:
            continue
        gen_id = str(row["gen_id"])
        if not store.is_complete("evaluation", gen_id):
            continue
        try:
            score = float((store.read("evaluation", gen_id, PARSED) or "").strip())
        except ValueError:
            continue
        if math.isfinite(score):
            if fraction_of_scale:
                scale = scales.get(str(row.get("evaluation_template")), DEFAULT_SCALE)
                score = (score - scale.score_min) / scale.width
            sums[str(row["parent_gen_id"])].append(score)
    return {essay: sum(values) / len(values) for essay, values in sums.items()}


class References:
    """Resolves a spec's ``@cohort:`` and ``@combos:`` levels; keeps the combos it made."""

    def __init__(self, data_root: Path, raw: RawData, config: ExperimentConfig) -> None:
        self.data_root, self.raw, self.config = Path(data_root), raw, config
        self.combos: dict[str, Combination] = {}

    def __call__(self, reference: str) -> list[str]:
        match = _REFERENCE.match(reference.strip())
        if match is None:
            raise ValueError(
                f"{reference!r} is not '@cohort:<name> [top=N] [by=<template>]' or "
                "'@combos:<concept>,<concept>,... [k=N] [level=<level>]' / '@combos:active'"
            )
        options = dict(part.split("=", 1) for part in match.group("options").split())
        if match.group("kind") == "cohort":
            return self._essays(match.group("name"), options)
        return self._combos(match.group("name"), options)

    def _essays(self, name: str, options: Mapping[str, str]) -> list[str]:
        unknown = set(options) - {"top", "by"}
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} (use top=N, by=<evaluation template>)")
        return essays_of_cohort(self.data_root, name, top=_whole(options, "top"), by=options.get("by"))

    def _combos(self, concepts: str, options: Mapping[str, str]) -> list[str]:
        unknown = set(options) - {"k", "level"}
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} (use k=N, level=<description level>)")
        k = _whole(options, "k") or self.config.k_max
        level = options.get("level", self.config.description_level)
        if concepts == "active":
            ids = sorted(c.concept_id for c in self.raw.active_concepts())
        else:
            ids = sorted({c.strip() for c in concepts.split(",") if c.strip()})
            unknown_ids = sorted(set(ids) - {c.concept_id for c in self.raw.concepts})
            if unknown_ids:
                raise ValueError(f"unknown concept(s) {', '.join(unknown_ids)} (see 1_raw/concepts_metadata.csv)")
        if not ids:
            raise ValueError("no concepts")
        made = [
            Combination(generate_combo_id(chosen, level, k), chosen, level, k)
            for chosen in itertools.combinations(ids, min(k, len(ids)))
        ]
        self.combos.update((c.combo_id, c) for c in made)
        return sorted(c.combo_id for c in made)


def _whole(options: Mapping[str, str], name: str) -> int | None:
    if name not in options:
        return None
    if not options[name].isdigit() or int(options[name]) < 1:
        raise ValueError(f"{name}={options[name]!r} is not a whole number >= 1")
    return int(options[name])


# ------------------------------------------------------------------------------------ a named cohort's tables


def plan_named_cohort(data_root: Path, raw: RawData, config: ExperimentConfig, name: str) -> tuple[TaskTables, SpecPlan]:
    """The task tables of the named cohort ``name`` from its spec (raises InputError)."""
    layout = CohortLayout(Path(data_root), name)
    spec_file = layout.spec_file
    if spec_file is None:
        names = named_cohorts(Path(data_root))
        raise InputError([InputProblem(
            layout.spec_dir, None, None, f"cohort {name!r} has no spec",
            f"write {layout.spec_dir / 'config.yaml'} (docs/experiments.md), or use one of: "
            f"{', '.join([DEFAULT_COHORT, *names])}",
        )])
    references = References(Path(data_root), raw, config)
    spec = load_spec(spec_file, references=references)
    store = GensStore(Path(data_root))
    curated = {
        str(level)
        for axis in ("essay_gen_id", "draft_gen_id")
        for level in spec.axes.get(axis, ())
    }
    existing = {g: found for g in curated if (found := existing_generation(store, g)) is not None}
    plan = plan_spec(
        spec,
        cohort_id=name,
        model_names={m.model_id: m.model for m in raw.models},
        evaluation_parsers={t.template_id: t.parser or "" for t in raw.templates("evaluation")},
        existing=existing,
    )
    problems = _unknown_catalog_entries(raw, plan, spec_file)
    combos = {**known_combinations(Path(data_root), raw, config), **references.combos}
    missing = [c for c in plan.combo_ids if c not in combos]
    if missing:
        problems.append(InputProblem(
            spec_file, None, "combo_id", f"unknown combo id(s) {', '.join(missing[:5])}",
            f"add them to {Path(data_root) / COMBO_CATALOG} (columns {', '.join(SELECTION_COLUMNS)}), or name combos "
            "of the default cohort (daydream plan --json lists them)",
        ))
    if problems:
        raise InputError(problems)
    drafts = [*_reused_rows(existing, plan, "draft", name), *plan.drafts]
    essays = [*_reused_rows(existing, plan, "essay", name), *plan.essays]
    used = [combos[c] for c in plan.combo_ids]
    tables = TaskTables(
        used,
        selection_table(used),
        _frame(drafts, PLAN_DRAFT_COLUMNS),
        _frame(essays, PLAN_ESSAY_COLUMNS),
        _frame(list(plan.evaluations), PLAN_EVALUATION_COLUMNS),
        name,
        _manifest(plan, spec_file),
    )
    return tables, plan


def _frame(rows: Sequence[Mapping[str, str]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(columns)).astype(str) if rows else pd.DataFrame(columns=list(columns), dtype=str)


def _reused_rows(existing: Mapping[str, ExistingGeneration], plan: SpecPlan, stage: str, name: str) -> list[dict[str, str]]:
    """Task rows for the drafts and essays a curated spec reuses (so its view shows their lineage)."""
    rows = []
    by_id = dict(existing)
    for reused_stage, gen_id in plan.reused:
        if reused_stage != stage:
            continue
        found = by_id.get(gen_id)
        if found is None:  # a reused essay's draft: lineage from the essay
            essay = next((e for e in by_id.values() if e.parent_gen_id == gen_id), None)
            if essay is None:
                continue
            found = ExistingGeneration("draft", gen_id, essay.draft_task_id, essay.combo_id, essay.draft_template, essay.model_id)
        if stage == "draft":
            rows.append({
                "draft_task_id": found.task_id, "combo_id": found.combo_id, "draft_template": found.draft_template,
                "generation_model": found.model_id, "generation_model_name": "", "gen_id": gen_id,
                "cohort_id": name, "replicate": str(found.replicate),
            })
        else:
            rows.append({
                "essay_task_id": found.task_id, "parent_gen_id": found.parent_gen_id,
                "draft_task_id": found.draft_task_id, "combo_id": found.combo_id,
                "draft_template": found.draft_template, "essay_template": found.essay_template,
                "generation_model": found.model_id, "generation_model_name": "", "gen_id": gen_id,
                "cohort_id": name, "replicate": str(found.replicate),
            })
    return rows


def _unknown_catalog_entries(raw: RawData, plan: SpecPlan, spec_file: Path) -> list[InputProblem]:
    problems = []
    for stage, rows, column in (
        ("draft", plan.drafts, "draft_template"),
        ("essay", plan.essays, "essay_template"),
        ("evaluation", plan.evaluations, "evaluation_template"),
    ):
        known = {t.template_id for t in raw.templates(stage)}  # type: ignore[arg-type]
        unknown = sorted({r[column] for r in rows} - known)
        if unknown:
            problems.append(InputProblem(
                spec_file, None, column, f"unknown {stage} template(s) {', '.join(unknown)}",
                f"add them to 1_raw/{stage}_templates.csv or use one of: {', '.join(sorted(known))}",
            ))
    return problems


def _manifest(plan: SpecPlan, spec_file: Path) -> dict[str, Any]:
    """Upstream HEAD's manifest: the cohort's allowlists, derived from its spec."""
    def levels(rows: Sequence[Mapping[str, str]], column: str) -> list[str]:
        return sorted({r[column] for r in rows if r.get(column)})

    return {
        "cohort_id": plan.cohort_id,
        "spec": str(spec_file),
        "combos": sorted(plan.combo_ids),
        "templates": {
            "draft": levels(plan.drafts, "draft_template"),
            "essay": levels(plan.essays, "essay_template"),
            "evaluation": levels(plan.evaluations, "evaluation_template"),
        },
        "llms": {
            "generation": sorted({*levels(plan.drafts, "generation_model"), *levels(plan.essays, "generation_model")}),
            "evaluation": levels(plan.evaluations, "evaluation_model"),
        },
        "generations": {"draft": len(plan.drafts), "essay": len(plan.essays), "evaluation": len(plan.evaluations),
                        "reused": len(plan.reused)},
    }


def write_named_tables(data_root: Path, tables: TaskTables, membership: Sequence[tuple[str, str]]) -> None:
    """The cohort's tables, membership.csv (``stage,gen_id``) and manifest.json, under cohorts/<name>/."""
    from daydreaming_dagster.cohort.tasks import TABLE_FILES

    layout = CohortLayout(Path(data_root), tables.cohort_id)
    for attr, file_name in TABLE_FILES.items():
        atomic_write_text(layout.tasks_dir / file_name, csv_text(getattr(tables, attr)))
    lines = ["stage,gen_id", *(f"{stage},{gen_id}" for stage, gen_id in dict.fromkeys(membership))]
    atomic_write_text(layout.membership, "\n".join(lines) + "\n")
    atomic_write_text(layout.manifest, json.dumps(tables.manifest, ensure_ascii=False, indent=2))


def read_membership(data_root: Path, name: str) -> list[tuple[str, str]]:
    """``cohorts/<name>/membership.csv`` as (stage, gen_id) pairs (empty when there is none)."""
    path = CohortLayout(Path(data_root), name).membership
    if not path.is_file():
        return []
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return list(zip(frame["stage"], frame["gen_id"], strict=True))
