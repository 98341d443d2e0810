"""``export_generations(data_root)``: one row per generation of the cohort, for pandas or a notebook.

Columns (``EXPORT_COLUMNS``): the cohort (its name, ``default`` for the one made from the active
flags) and its id (``cohort_id``: a named cohort's name; the default cohort's
``cohort-<hash of its inputs>``, so exports made before and after an input change are told apart),
stage, ids and lineage (parent, draft, essay, combination, concept ids
and names), templates and models, replicate, status and error, the prompt, raw and parsed texts,
the score (evaluations; essays and drafts get the mean of the evaluations below them and their
count), usage (tokens, cost), latency and duration, cache use and times. JSON Lines keeps lists and
numbers typed (``concept_ids`` and ``concept_names`` are lists, in the same order); CSV joins the ids
with ``;`` and the names with ``; ``. Read them back with
``pd.read_json(path, lines=True)`` or ``pd.read_csv(path)``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daydreaming_dagster.core.layout import REPORTING_DIR
from daydreaming_dagster.engine.store import PARSED, PROMPT, RAW
from daydreaming_dagster.results.lineage import (
    CohortView,
    load_cohort_view,
    read_text_file,
    records,
)

FORMATS = ("jsonl", "csv")
EXPORT_COLUMNS = [
    "cohort", "cohort_id", "stage", "gen_id", "parent_gen_id", "draft_gen_id", "essay_gen_id", "combo_id", "concept_ids",
    "concept_names", "template_id", "model_id", "draft_template", "essay_template", "generation_model",
    "evaluation_template", "evaluation_model", "replicate", "status", "error", "failure_kind", "mode",
    "parser", "prompt", "raw", "parsed", "score", "score_error", "mean_score", "n_scores",
    "prompt_tokens", "completion_tokens", "total_tokens", "cost", "latency_s", "duration_s", "attempts",
    "finish_reason", "model", "answer", "cache_hit", "reparsed", "run_id", "started_at", "finished_at", "gen_dir",
]
_INTS = {"prompt_tokens", "completion_tokens", "total_tokens", "attempts", "replicate", "n_scores", "reparsed"}


def default_output(folder: Path | str, fmt: str) -> Path:
    """The export of the cohort whose results live in ``folder`` (the data root: the default cohort)."""
    return Path(folder) / REPORTING_DIR / f"generations.{fmt}"


def _value(column: str, value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if column in _INTS and isinstance(value, float):
        return int(value)
    return value


def iter_rows(view: CohortView) -> Iterator[dict[str, Any]]:
    gens = view.generations
    evaluations = gens[(gens["stage"] == "evaluation") & gens["score"].notna()]
    stats: dict[str, dict[str, tuple[float, int]]] = {}
    for stage, key in (("essay", "essay_gen_id"), ("draft", "draft_gen_id")):
        grouped = evaluations.groupby(key)["score"]
        means, counts = grouped.mean().to_dict(), grouped.count().to_dict()
        stats[stage] = {str(k): (float(means[k]), int(counts[k])) for k in means}
    for g in records(gens):
        gen_dir = g["gen_dir"]
        row = {c: _value(c, g.get(c)) for c in EXPORT_COLUMNS if c in g}
        row["cohort"] = view.cohort  # two cohorts' exports never mix silently,
        row["cohort_id"] = view.cohort_id  # nor the default cohort's before and after an input change
        row["concept_ids"] = [c for c in str(g["concept_ids"]).split(";") if c]
        # From the combination, not by splitting the joined text: a name may contain "; ".
        row["concept_names"] = [view.concept_names.get(c, c) for c in view.combos.get(str(g["combo_id"]), ())]
        row["prompt"], row["raw"], row["parsed"] = (read_text_file(os.path.join(gen_dir, n)) for n in (PROMPT, RAW, PARSED))
        found = stats.get(g["stage"], {}).get(g["gen_id"])
        if g["stage"] == "evaluation":
            row["mean_score"], row["n_scores"] = row.get("score"), 0 if row.get("score") is None else 1
        elif found is not None:
            row["mean_score"], row["n_scores"] = round(found[0], 4), found[1]
        else:
            row["mean_score"], row["n_scores"] = None, 0
        yield {c: row.get(c) for c in EXPORT_COLUMNS}


def _write(rows: Iterator[dict[str, Any]], fmt: str, out: io.TextIOBase | Any) -> int:
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        row["concept_ids"] = ";".join(row["concept_ids"])
        row["concept_names"] = "; ".join(row["concept_names"])
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
        count += 1
    return count


def export_generations(
    data_root: Path | str,
    fmt: str = "jsonl",
    output: Path | str | None = None,
    *,
    view: CohortView | None = None,
    cohort: str | None = None,
) -> tuple[Path | None, int]:
    """Write the export (``output`` ``"-"`` is standard output); return (path, rows)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    view = view if view is not None else load_cohort_view(data_root, cohort)
    if str(output) == "-":
        return None, _write(iter_rows(view), fmt, sys.stdout)
    path = Path(output) if output is not None else default_output(view.layout.folder, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        count = _write(iter_rows(view), fmt, fh)
    tmp.replace(path)
    return path, count
