"""Upstream HEAD's d_/e_/v_ generation ids: every expected value below was computed by running
upstream's ``utils/ids.py`` (compute_deterministic_gen_id and the *_signature functions)."""

from __future__ import annotations

import pytest

from daydreaming_dagster.core.ids import (
    compute_deterministic_gen_id,
    draft_signature,
    essay_signature,
    evaluation_signature,
    resolve_deterministic_gen_id,
    signature_from_metadata,
)

# (stage, signature as built from these arguments, normalized signature, ids for collision index 0, 1, 2)
UPSTREAM_IDS = [
    (
        "draft", draft_signature("combo_v1_abc123def456", "creative-synthesis-v10", "sonnet-4", 1),
        ("combo_v1_abc123def456", "creative-synthesis-v10", "sonnet-4", 1),
        ["d_307kn6yzhbctbkvj", "d_3fywxpecloog4we5-1", "d_1nty2df4xr1w17yl-2"],
    ),
    (
        "draft", draft_signature("  Combo-1 ", "Draft-A", "Draft-LLM", "2"),
        ("combo-1", "draft-a", "draft-llm", 2),
        ["d_1ft3vdc1tduj8b2a", "d_h5ab03u2exfcslg-1", "d_3p5vkhnvo1mzwf9k-2"],
    ),
    (
        "draft", draft_signature("combo-1", "draft-a", "draft-llm", 3),
        ("combo-1", "draft-a", "draft-llm", 3),
        ["d_1by355ck10ywep4j", "d_9tewhe7gm17cfom-1", "d_zwukry6sdb8i59b-2"],
    ),
    (
        "essay", essay_signature("d_3rdru73r8ppaqlsz", "essay-X", 1),
        ("d_3rdru73r8ppaqlsz", "essay-x", 1),
        ["e_3p5jidm7056q95x9", "e_5g7rznigb8ddc98i-1", "e_5cc66nqdu2tafn51-2"],
    ),
    (
        "essay", essay_signature("d_3rdru73r8ppaqlsz", "essay-x", "2"),
        ("d_3rdru73r8ppaqlsz", "essay-x", 2),
        ["e_1jro6qiuaxj6vgjy", "e_34llixoddqrhzxw3-1", "e_4nhzxlpuut70iqob-2"],
    ),
    (
        "evaluation", evaluation_signature("e_3p5jidm7056q95x9", "eval-1", "eval-llm", 1),
        ("e_3p5jidm7056q95x9", "eval-1", "eval-llm", 1),
        ["v_d6witcypvut8jo2", "v_1p3woqn6nl05lk9r-1", "v_3zun1zbuh2uj531s-2"],
    ),
    (
        "evaluation", evaluation_signature("E_ABC", " Novelty-V2 ", "Gemini_25_Pro", 2.0),
        ("e_abc", "novelty-v2", "gemini_25_pro", 2),
        ["v_e4irq7p12j6ovm2", "v_fx18wbgmxml2bmb-1", "v_1nezmj11151q83ky-2"],
    ),
]


@pytest.mark.parametrize(("stage", "signature", "normalized", "expected"), UPSTREAM_IDS)
def test_ids_match_upstream(stage: str, signature: tuple[object, ...], normalized: tuple[object, ...], expected: list[str]) -> None:
    assert signature == normalized
    assert [compute_deterministic_gen_id(stage, signature, collision_index=i) for i in range(3)] == expected


def test_raw_signatures_are_joined_as_given() -> None:
    # Upstream hashes str() of each part: a signature not built by *_signature is not normalized.
    assert compute_deterministic_gen_id("draft", ("A", "b", 1)) == "d_5gkr3uvh2z0rj7oc"
    assert compute_deterministic_gen_id("essay", ("x",)) == "e_2socxrrlrpihwm20"


def test_ids_have_no_padding_so_their_length_varies() -> None:
    # Both from upstream's cohort_cartesian membership: base 36 of the digest, not padded.
    assert len("e_3p5jidm7056q95x9") == 18
    assert compute_deterministic_gen_id("essay", essay_signature("d_3rdru73r8ppaqlsz", "essay-Y", 1)) == "e_tx3ey0d11lgtnog"


@pytest.mark.parametrize("stage", ["Draft", "cohort", ""])
def test_unknown_or_miscased_stage_is_refused(stage: str) -> None:
    with pytest.raises(ValueError, match="use draft, essay or evaluation"):
        compute_deterministic_gen_id(stage, ("a",))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: draft_signature(None, "t", "m", 1), "combo_id is missing"),
        (lambda: draft_signature("c", "  ", "m", 1), "draft_template_id is empty"),
        (lambda: essay_signature("d_x", "t", "one"), "replicate 'one' is not an integer"),
        (lambda: evaluation_signature("e_x", "t", "", 1), "llm_model_id is empty"),
    ],
)
def test_signature_parts_are_required(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_collision_rule_takes_the_first_free_or_identical_candidate() -> None:
    signature = draft_signature("combo-1", "draft-a", "draft-llm", 3)
    first, second, third = (compute_deterministic_gen_id("draft", signature, collision_index=i) for i in range(3))
    other = ("combo-9", "t", "m", 1)

    assert resolve_deterministic_gen_id("draft", signature, lambda gen_id: None) == first
    assert resolve_deterministic_gen_id("draft", signature, {first: signature}.get) == first
    assert resolve_deterministic_gen_id("draft", signature, {first: other}.get) == second
    # Unreadable metadata (an empty signature) counts as taken, as upstream.
    assert resolve_deterministic_gen_id("draft", signature, {first: other, second: ()}.get) == third
    with pytest.raises(ValueError, match="collide 2 times"):
        resolve_deterministic_gen_id("draft", signature, {first: other, second: other}.get, max_attempts=2)


def test_signature_from_metadata_reads_upstream_keys() -> None:
    # Expected tuples from upstream's signature_from_metadata.
    meta = {"combo_id": "combo-1", "template_id": "Draft-A", "llm_model_id": "m", "replicate": "2"}
    assert signature_from_metadata("draft", meta) == ("combo-1", "draft-a", "m", 2)
    assert signature_from_metadata("draft", {**meta, "replicate": None}) == ("combo-1", "draft-a", "m", 1)
    assert signature_from_metadata("essay", {"parent_gen_id": "d_x", "essay_template": "T", "replicate": 3.0}) == ("d_x", "t", 3)
    assert signature_from_metadata("evaluation", {"parent_gen_id": "e_x", "template_id": "T", "llm_model_id": "M"}) == (
        "e_x", "t", "m", 1,
    )
    with pytest.raises(ValueError, match="not an integer"):
        signature_from_metadata("draft", {**meta, "replicate": "r2"})

