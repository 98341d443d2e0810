"""Content combinations: which concepts a draft sees.

Either every k-combination of the active concepts (k = ``k_max``; one combination of all of them
when fewer are active, which reproduces upstream's single combination), or a curated selection the
user provides in upstream's ``selected_combo_mappings.csv`` format under ``1_raw/``. The generated
table is written to ``2_tasks/`` and never read back as input, so a stale generated file cannot
override the concepts table.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daydreaming_dagster.core.ids import generate_combo_id
from daydreaming_dagster.inputs.reader import InputError, InputProblem, read_csv_table
from daydreaming_dagster.inputs.types import DESCRIPTION_LEVELS, RawData

MAX_COMBINATIONS = 100_000
SELECTION_COLUMNS = ["combo_id", "version", "concept_id", "description_level", "k_max", "created_at"]


@dataclass(frozen=True)
class Combination:
    combo_id: str
    concept_ids: tuple[str, ...]  # rendering order: alphabetical when generated, file order when curated
    description_level: str
    k_max: int


def build_combinations(raw: RawData, *, k_max: int, description_level: str) -> list[Combination]:
    if raw.curated_selection_path is not None:
        return read_curated_selection(raw, raw.curated_selection_path)
    ids = sorted(c.concept_id for c in raw.active_concepts())
    k = min(k_max, len(ids))
    count = math.comb(len(ids), k)
    if count > MAX_COMBINATIONS:
        raise InputError(
            [
                InputProblem(
                    raw.csv_path("concepts_metadata.csv"),
                    None,
                    "active",
                    f"{len(ids)} active concepts with k_max={k_max} give {count:,} combinations",
                    f"deactivate concepts or change k_max (at most {MAX_COMBINATIONS:,} combinations)",
                )
            ]
        )
    combos = [
        Combination(generate_combo_id(chosen, description_level, k_max), chosen, description_level, int(k_max))
        for chosen in itertools.combinations(ids, k)
    ]
    return sorted(combos, key=lambda c: c.combo_id)


def read_curated_selection(raw: RawData, path: Path) -> list[Combination]:
    rows = read_csv_table(path, ["combo_id", "concept_id"], ["version", "description_level", "k_max", "created_at"])
    known = {c.concept_id for c in raw.concepts}
    problems: list[InputProblem] = []
    grouped: dict[str, list[str]] = {}
    levels: dict[str, str] = {}
    kmax: dict[str, int] = {}
    for row in rows:
        combo_id, concept_id = row.get("combo_id"), row.get("concept_id")
        if concept_id not in known:
            problems.append(
                InputProblem(path, row.line, "concept_id", f"unknown concept '{concept_id}'",
                             "add it to concepts_metadata.csv or remove the row")
            )
            continue
        level = row.get("description_level") or "paragraph"
        if level not in DESCRIPTION_LEVELS:
            problems.append(
                InputProblem(path, row.line, "description_level", f"unknown description level {level!r}",
                             f"write one of {', '.join(DESCRIPTION_LEVELS)} (or leave it blank for paragraph)")
            )
            continue
        k_text = row.get("k_max")
        try:
            k_value = int(float(k_text)) if k_text else None
        except ValueError:
            problems.append(
                InputProblem(path, row.line, "k_max", f"{k_text!r} is not a number", "write a whole number or leave it blank")
            )
            continue
        grouped.setdefault(combo_id, []).append(concept_id)
        levels.setdefault(combo_id, level)
        kmax.setdefault(combo_id, k_value if k_value is not None else len(grouped[combo_id]))
    if problems:
        raise InputError(problems)
    if not grouped:
        raise InputError([InputProblem(path, None, None, "the selection has no rows", "add rows or delete the file")])
    return [
        Combination(combo_id, tuple(grouped[combo_id]), levels[combo_id], kmax[combo_id])
        for combo_id in sorted(grouped)
    ]


def selection_table(combos: Sequence[Combination]) -> pd.DataFrame:
    """Upstream's ``selected_combo_mappings.csv``: one row per concept, sorted by concept_id."""
    rows = [
        [c.combo_id, "v1", concept_id, c.description_level, c.k_max, ""]
        for c in combos
        for concept_id in sorted(c.concept_ids)
    ]
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def concept_payload(raw: RawData, combo: Combination) -> list[dict[str, str]]:
    """The ``concepts`` template variable: ``{name, content}`` per concept, in combo order."""
    by_id = {c.concept_id: c for c in raw.concepts}
    return [
        {"name": by_id[cid].name, "content": by_id[cid].content(combo.description_level)}
        for cid in combo.concept_ids
    ]


def combinations_from_selection(frame: pd.DataFrame) -> list[Combination]:
    """Read back a ``selected_combo_mappings`` table (combos by id; concepts in row order)."""
    combos = []
    for combo_id, group in frame.groupby("combo_id", sort=True):
        first = group.iloc[0]
        level = str(first.get("description_level") or "paragraph")
        k_text = str(first.get("k_max") or "")
        k_max = int(float(k_text)) if k_text else len(group)
        combos.append(Combination(str(combo_id), tuple(str(c) for c in group["concept_id"]), level, k_max))
    return combos
