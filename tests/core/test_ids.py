"""Unit and property tests of the id functions."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daydreaming_dagster.core.ids import (
    PIPELINE_VERSION,
    compute_cohort_id,
    draft_task_id,
    essay_task_id,
    evaluation_task_id,
    generate_combo_id,
    reserve_gen_id,
    with_replicate,
)

GEN_ID = re.compile(r"^[0-9a-z]{16}$")
SEED_DRAFT_TASK = "combo_v1_5fb53e9e18fc__pair-explorer__sonnet-4"


def _reference_gen_id(parts: list[str], length: int = 16) -> str:
    """The spec's algorithm, written independently of the implementation."""
    digest = hashlib.sha256(b"".join(p.encode("utf-8") + b"|" for p in parts)).digest()
    value = int.from_bytes(digest[:12], "big")
    out = ""
    while value:
        value, digit = divmod(value, 36)
        out = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + out
    return (out or "0").rjust(length, "0")[:length]


def test_seed_example() -> None:
    assert reserve_gen_id("draft", SEED_DRAFT_TASK) == "1epkygll8gkppapr"


def test_falsy_run_id_and_salt_are_ignored() -> None:
    plain = reserve_gen_id("draft", SEED_DRAFT_TASK)
    assert reserve_gen_id("draft", SEED_DRAFT_TASK, run_id="", salt="") == plain
    assert reserve_gen_id("draft", SEED_DRAFT_TASK, run_id=None, salt=None) == plain
    assert reserve_gen_id("draft", "x", run_id=0) == reserve_gen_id("draft", "x")  # type: ignore[arg-type]


def test_run_id_and_salt_are_positional_parts() -> None:
    # Each truthy part is appended in order, so run_id="a" equals salt="a" without a run_id.
    assert reserve_gen_id("draft", "x", run_id="a") == reserve_gen_id("draft", "x", salt="a")
    assert reserve_gen_id("draft", "x", run_id="a", salt="b") == _reference_gen_id(["draft", "x", "a", "b"])
    assert reserve_gen_id("draft", "x", run_id="a", salt="b") != reserve_gen_id(
        "draft", "x", run_id="b", salt="a"
    )


def test_stage_changes_the_id() -> None:
    assert reserve_gen_id("draft", "x") != reserve_gen_id("essay", "x")


def test_length_pads_and_cuts() -> None:
    long_id = reserve_gen_id("draft", "x", run_id="r", salt="s", length=24)
    assert long_id == "000005j8vsitbbum0m4r43t8"  # 96 bits give at most 19 base-36 digits
    assert reserve_gen_id("draft", "x", length=4) == reserve_gen_id("draft", "x")[:4]
    with pytest.raises(ValueError):
        reserve_gen_id("draft", "x", length=0)


@given(stage=st.sampled_from(["draft", "essay", "evaluation"]), task_id=st.text(), salt=st.text(min_size=1))
def test_gen_id_shape_and_salt(stage: str, task_id: str, salt: str) -> None:
    try:
        task_id.encode("utf-8")
        salt.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be hashed (nor written to CSV)
        return
    plain = reserve_gen_id(stage, task_id)
    salted = reserve_gen_id(stage, task_id, salt=salt)
    assert GEN_ID.match(plain) and GEN_ID.match(salted)
    assert salted != plain
    assert reserve_gen_id(stage, task_id, salt=salt + "x") != salted
    assert plain == _reference_gen_id([stage, task_id])
    assert reserve_gen_id(stage, task_id, run_id=salt) == _reference_gen_id([stage, task_id, salt])


# ---------------------------------------------------------------------------- combo ids


def test_combo_id_seed_example() -> None:
    concepts = [
        "dearth-ai-discoveries",
        "default-mode-network",
        "large-language-model-v1",
        "generate-and-test",
        "positive-feedback-loop",
        "economic-moat-v1",
    ]
    assert generate_combo_id(concepts, "paragraph", 6) == "combo_v1_5fb53e9e18fc"


def test_combo_id_k_max_goes_through_int() -> None:
    expected = generate_combo_id(["a", "b"], "paragraph", 6)
    assert generate_combo_id(["a", "b"], "paragraph", "6") == expected
    assert generate_combo_id(["a", "b"], "paragraph", 6.9) == expected
    assert generate_combo_id(["a", "b"], "paragraph", 7) != expected


def test_combo_id_level_and_duplicates_matter() -> None:
    base = generate_combo_id(["a", "b"], "paragraph", 2)
    assert generate_combo_id(["a", "b"], "sentence", 2) != base
    assert generate_combo_id(["a", "a", "b"], "paragraph", 2) != base


def test_combo_id_sorts_ids_as_strings() -> None:
    key = "10|9|paragraph|2"  # "10" < "9" as strings
    assert (
        generate_combo_id([9, 10], "paragraph", 2)
        == "combo_v1_" + hashlib.sha256(key.encode()).hexdigest()[:12]
    )


@given(
    ids=st.lists(st.text(min_size=1, alphabet="abcdefghijklmnop-0123456789"), min_size=1, max_size=8),
    data=st.data(),
)
def test_combo_id_independent_of_order(ids: list[str], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(ids))
    combo_id = generate_combo_id(ids, "paragraph", len(ids))
    assert generate_combo_id(shuffled, "paragraph", len(ids)) == combo_id
    assert re.fullmatch(r"combo_v1_[0-9a-f]{12}", combo_id)


# --------------------------------------------------------------------------- cohort ids

MANIFEST = {
    "combos": ["combo_v1_5fb53e9e18fc"],
    "templates": {
        "draft": ["pair-explorer", "pair-explorer-recursive-v5", "recursive-light"],
        "essay": ["synthesis-theme-narrative-v19"],
        "evaluation": ["novelty", "style-coherence-v3"],
    },
    "llms": {
        "generation": ["deepseek_r1_p", "gemini_2.5_flash", "gemini_25_pro", "qwen3-235b-a22b", "sonnet-4"],
        "evaluation": ["gemini_25_pro", "sonnet-4"],
    },
}


def test_cohort_id_of_the_seed_manifest() -> None:
    assert compute_cohort_id(MANIFEST) == "cohort-c1ab29ec3bd3"


def test_cohort_id_ignores_key_order_and_extra_keys_but_not_list_order() -> None:
    reordered = {"llms": MANIFEST["llms"], "templates": MANIFEST["templates"], "combos": MANIFEST["combos"]}
    assert compute_cohort_id({**reordered, "note": "ignored"}) == "cohort-c1ab29ec3bd3"
    reversed_llms = {**MANIFEST, "llms": {"generation": ["sonnet-4", "deepseek_r1_p"], "evaluation": []}}
    sorted_llms = {**MANIFEST, "llms": {"generation": ["deepseek_r1_p", "sonnet-4"], "evaluation": []}}
    assert compute_cohort_id(reversed_llms) != compute_cohort_id(sorted_llms)


def test_cohort_id_formula() -> None:
    payload = {**MANIFEST, "prompt_versions": None, "pipeline_version": PIPELINE_VERSION}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    assert compute_cohort_id(MANIFEST) == "cohort-" + hashlib.blake2s(blob, digest_size=6).hexdigest()
    assert PIPELINE_VERSION == "2025-09-09"


def test_cohort_id_needs_all_sections() -> None:
    with pytest.raises(KeyError):
        compute_cohort_id({"combos": [], "templates": {}})


# ----------------------------------------------------------------------------- task ids


def test_task_ids() -> None:
    draft = draft_task_id("combo_v1_5fb53e9e18fc", "pair-explorer", "sonnet-4")
    assert draft == SEED_DRAFT_TASK
    essay = essay_task_id(draft, "synthesis-theme-narrative-v19")
    assert essay == SEED_DRAFT_TASK + "__synthesis-theme-narrative-v19"
    assert (
        evaluation_task_id("3iob2l15iay4c2jr", "novelty", "sonnet-4") == "3iob2l15iay4c2jr__novelty__sonnet-4"
    )
    assert essay_task_id(draft_task_id="d", essay_template="e") == "d__e"


def test_with_replicate() -> None:
    assert with_replicate("t", 1) == "t"
    assert with_replicate("t", 2) == "t__r2"
    assert with_replicate("t", 12) == "t__r12"
    for bad in (0, -1):
        with pytest.raises(ValueError, match="replicate must be >= 1"):
            with_replicate("t", bad)


@given(task_id=st.text(), replicate=st.integers(2, 10_000))
def test_replicates_get_distinct_ids(task_id: str, replicate: int) -> None:
    assert with_replicate(task_id, replicate) != with_replicate(task_id, 1)
    assert with_replicate(task_id, replicate) != with_replicate(task_id, replicate + 1)
