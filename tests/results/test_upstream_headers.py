"""Every upstream result table keeps every column name upstream gave it (spec §7), new columns beside.

The column lists are read from ``../shared/reference/upstream_seed_era_spec.md`` §7 itself, not
copied here, so a table that renames or drops an upstream column fails. Parentheses are removed
before reading a sentence (they hold values such as ``insufficient_data``, not columns).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.results.writer import write_all_results

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "upstream_seed_era_spec.md"

# table -> sentences of its §7 entry that name columns (regexes; group 1 is the sentence).
COLUMN_SENTENCES: dict[str, list[str]] = {
    "parsed_scores": [r"Output column order: (`[^`]+`)"],
    "generation_scores_pivot": [r"Pivot index (`[^`]+`)", r"Column order: ([^.]+)\."],
    "final_results": [r"Output columns: (`[^`]+`)"],
    "perfect_score_paths": [r"Columns: (`[^`]+`)"],
    "evaluation_model_template_pivot": [r"index (`\[[^`]+`)"],
    "evaluator_agreement_analysis": [r"Groups by (.+?), keeping", r"Adds (.+?)\.\n"],
    "comprehensive_variance_analysis": [r"Adds (`stability_classification`)"],
    "documents_latest_report": [r"Columns\s+(`[^`]+`)"],
    "documents_consistency_report": [r"columns (`[^`]+`)"],
}
# comprehensive_variance_analysis groups "by the same three keys" as evaluator_agreement_analysis.
SAME_KEYS_AS = {"comprehensive_variance_analysis": "evaluator_agreement_analysis"}


def _section_7() -> str:
    if not SPEC.is_file():
        pytest.skip(f"{SPEC} is absent: the upstream spec is in the shared folder beside the repository")
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("## 7. Results processing")
    return text[start:text.index("\n## 8.", start)]


def _entries(section: str) -> dict[str, str]:
    """table -> its text in §7 (``parsed_scores`` is §7.1; the others are ``- **`name`**`` bullets)."""
    entries = {"parsed_scores": section[:section.index("### 7.2")]}
    heads = list(re.finditer(r"^- \*\*`(\w+)`\*\*", section, flags=re.MULTILINE))
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(section)
        body = section[head.end():end]
        entries[head.group(1)] = body[:body.index("\n###")] if "\n###" in body else body
    return entries


def upstream_columns() -> dict[str, list[str]]:
    entries = _entries(_section_7())
    found: dict[str, list[str]] = {}
    for table, patterns in COLUMN_SENTENCES.items():
        columns: list[str] = []
        for pattern in patterns:
            match = re.search(pattern, entries[table], flags=re.DOTALL)
            assert match is not None, f"§7 no longer says {pattern!r} for {table}"
            sentence = re.sub(r"\([^)]*\)", "", match.group(1))
            for quoted in re.findall(r"`([^`]+)`", sentence):
                columns += re.findall(r"[a-z_][a-z0-9_]*", quoted)
        found[table] = list(dict.fromkeys(columns))
    for table, source in SAME_KEYS_AS.items():
        found[table] = [*found[source][:3], *found[table]]
    return found


def test_the_spec_is_read_as_expected() -> None:
    """The extraction itself (so that an empty list cannot make the next test pass)."""
    columns = upstream_columns()
    assert columns["evaluator_agreement_analysis"] == [
        "combo_id", "generation_template", "generation_model", "evaluator_count", "mean", "std", "min", "max",
        "median", "score_range", "coefficient_of_variation", "agreement_classification", "relative_std_dev",
        "relative_range",
    ]
    assert len(columns["parsed_scores"]) == 14 and len(columns["final_results"]) == 15
    assert columns["generation_scores_pivot"] == [
        "combo_id", "stage", "draft_template", "generation_template", "generation_model", "sum_scores",
        "generation_response_path"]
    assert all(columns.values())


def test_every_upstream_table_keeps_upstreams_column_names(cohort_root: Path) -> None:
    paths = write_all_results(cohort_root, report=False)
    for table, columns in upstream_columns().items():
        header = list(pd.read_csv(paths[table], nrows=0).columns)
        missing = [c for c in columns if c not in header]
        assert not missing, f"{paths[table].name} lost upstream's {missing} (its header: {header})"
