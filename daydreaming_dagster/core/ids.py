"""Deterministic ids: combo ids, generation ids, cohort ids and task ids.

All functions are pure and reproduce the seed-era (2025-09-09) algorithms bit for bit, so ids
computed here match the folders and CSVs written by the original pipeline. The ``d_``/``e_``/``v_``
ids of upstream HEAD's cohort specs (a signature of what a generation is, not of a task id) are
at the end of the module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, SupportsInt

from daydreaming_dagster.core import settings

__all__ = [
    "COHORT_ID_PREFIX",
    "COMBO_ID_PREFIX",
    "DETERMINISTIC_ID_PREFIXES",
    "PIPELINE_VERSION",
    "compute_cohort_id",
    "compute_deterministic_gen_id",
    "draft_signature",
    "essay_signature",
    "evaluation_signature",
    "resolve_deterministic_gen_id",
    "signature_from_metadata",
    "draft_task_id",
    "essay_task_id",
    "evaluation_task_id",
    "generate_combo_id",
    "reserve_gen_id",
    "with_replicate",
]

PIPELINE_VERSION = "2025-09-09"
COMBO_ID_PREFIX = "combo_v1_"
COHORT_ID_PREFIX = "cohort-"
GEN_ID_LENGTH = 16

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _to_base36(value: int) -> str:
    if value == 0:
        return "0"
    digits: list[str] = []
    while value:
        value, rest = divmod(value, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits))


def reserve_gen_id(
    stage: str,
    task_id: str,
    *,
    run_id: str | None = None,
    salt: str | None = None,
    length: int = GEN_ID_LENGTH,
) -> str:
    """Generation id of one task: ``length`` base-36 characters (``[0-9a-z]``).

    SHA-256 over ``stage|task_id|`` plus ``run_id|`` and ``salt|`` when they are truthy (so
    ``""`` and ``0`` salt nothing); the first 12 digest bytes, big-endian, in base 36,
    left-padded with ``0`` to ``length`` and then cut to ``length``. Without run_id/salt the id
    is stable per (stage, task_id). The cohort id is passed as ``run_id``.
    """
    if length < 1:
        raise ValueError(f"gen_id length must be >= 1, got {length}")
    parts = [str(stage), str(task_id)]
    if run_id:
        parts.append(str(run_id))
    if salt:
        parts.append(str(salt))
    # One update of "a|b|" hashes the same bytes as upstream's per-part updates of "a", "|", ...
    digest = hashlib.sha256(("|".join(parts) + "|").encode("utf-8")).digest()
    encoded = _to_base36(int.from_bytes(digest[:12], "big"))
    return encoded.rjust(length, "0")[:length]


def generate_combo_id(concept_ids: Iterable[object], description_level: str, k_max: SupportsInt | str) -> str:
    """``combo_v1_`` + 12 hex chars of SHA-256 over the sorted ids, level and ``int(k_max)``.

    Independent of concept order; duplicates are kept; ids are compared as strings and
    ``k_max`` goes through ``int()`` (``"6"`` and ``6.9`` both give 6).
    """
    key = "|".join(sorted(str(concept_id) for concept_id in concept_ids))
    key = f"{key}|{description_level}|{int(k_max)}"
    return COMBO_ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


COHORT_ENV = settings.COHORT


def cohort_from_env() -> str | None:
    """The explicit cohort id (``DD_COHORT``), which salts every gen_id as upstream; None if unset."""
    return settings.cohort_env()


def compute_cohort_id(manifest: Mapping[str, Any]) -> str:
    """Deterministic cohort id of a manifest: ``cohort-`` + 12 hex chars of BLAKE2s.

    Hashes the manifest's ``combos``, ``llms`` and ``templates`` as given (the caller sorts
    them) with ``prompt_versions=None`` and :data:`PIPELINE_VERSION`, as compact sorted-key
    JSON. Raises KeyError if one of the three sections is missing.
    """
    payload = {
        "combos": manifest["combos"],
        "llms": manifest["llms"],
        "templates": manifest["templates"],
        "prompt_versions": None,
        "pipeline_version": PIPELINE_VERSION,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return COHORT_ID_PREFIX + hashlib.blake2s(blob, digest_size=6).hexdigest()


def draft_task_id(combo_id: str, draft_template: str, model_id: str) -> str:
    """``{combo_id}__{draft_template}__{model_id}``."""
    return f"{combo_id}__{draft_template}__{model_id}"


def essay_task_id(draft_task_id: str, essay_template: str) -> str:
    """``{draft_task_id}__{essay_template}``."""
    return f"{draft_task_id}__{essay_template}"


def evaluation_task_id(parent_gen_id: str, evaluation_template: str, evaluation_model_id: str) -> str:
    """``{parent_gen_id}__{evaluation_template}__{evaluation_model_id}`` (parent = essay gen_id)."""
    return f"{parent_gen_id}__{evaluation_template}__{evaluation_model_id}"


def with_replicate(task_id: str, replicate: int) -> str:
    """Task id of one replicate: unchanged for replicate 1 (so seed-era ids stay valid),
    ``{task_id}__r{replicate}`` from replicate 2 on."""
    if replicate < 1:
        raise ValueError(f"replicate must be >= 1, got {replicate}")
    if replicate == 1:
        return task_id
    return f"{task_id}__r{replicate}"


# --------------------------------------------------------------------------------------------
# Upstream HEAD's deterministic generation ids (cohort specs)
#
# A generation is named by what it is: a draft by (combo, template, model, replicate), an essay by
# (draft gen_id, template, replicate), an evaluation by (essay gen_id, template, model, replicate).
# The essay's model is not part of its signature (upstream's choice, kept so ids match).

DETERMINISTIC_ID_PREFIXES: Mapping[str, str] = {"draft": "d_", "essay": "e_", "evaluation": "v_"}
DEFAULT_COLLISION_ATTEMPTS = 5

Signature = tuple[object, ...]


def _signature_text(value: object, *, field: str) -> str:
    """Upstream's normalization: ``str()``, stripped, lower-cased; missing or blank is an error."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(f"{field} is {'missing' if value is None else 'empty'}: a generation id needs it")
    return text.lower()


def _signature_replicate(value: object) -> int:
    """``int(value)`` as upstream: ``"2"`` and ``2.0`` give 2 (and ``2.7`` gives 2)."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"replicate {value!r} is not an integer") from None


def draft_signature(combo_id: object, draft_template: object, model_id: object, replicate: object) -> tuple[str, str, str, int]:
    return (
        _signature_text(combo_id, field="combo_id"),
        _signature_text(draft_template, field="draft_template_id"),
        _signature_text(model_id, field="llm_model_id"),
        _signature_replicate(replicate),
    )


def essay_signature(draft_gen_id: object, essay_template: object, replicate: object) -> tuple[str, str, int]:
    return (
        _signature_text(draft_gen_id, field="draft_gen_id"),
        _signature_text(essay_template, field="essay_template_id"),
        _signature_replicate(replicate),
    )


def evaluation_signature(
    essay_gen_id: object, evaluation_template: object, model_id: object, replicate: object
) -> tuple[str, str, str, int]:
    return (
        _signature_text(essay_gen_id, field="essay_gen_id"),
        _signature_text(evaluation_template, field="evaluation_template_id"),
        _signature_text(model_id, field="llm_model_id"),
        _signature_replicate(replicate),
    )


def compute_deterministic_gen_id(stage: str, signature: Sequence[object], *, collision_index: int = 0) -> str:
    """``d_``/``e_``/``v_`` + base 36 (no padding, so lengths vary) of a 10-byte BLAKE2b digest.

    The digest is over the signature's parts joined by ``|`` (plus ``|collision:<n>`` for
    ``collision_index`` n > 0, whose id then ends in ``-<n>``). ``stage`` must be exactly
    ``draft``, ``essay`` or ``evaluation``; build signatures with the ``*_signature`` functions.
    """
    prefix = DETERMINISTIC_ID_PREFIXES.get(stage)
    if prefix is None:
        raise ValueError(f"stage {stage!r} has no deterministic id: use draft, essay or evaluation")
    canonical = "|".join(str(part) for part in signature)
    if collision_index:
        canonical += f"|collision:{collision_index}"
    digest = hashlib.blake2b(canonical.encode("utf-8"), digest_size=10).digest()
    gen_id = prefix + _to_base36(int.from_bytes(digest, "big"))
    return f"{gen_id}-{collision_index}" if collision_index else gen_id


def resolve_deterministic_gen_id(
    stage: str,
    signature: Sequence[object],
    signature_at: Callable[[str], Sequence[object] | None],
    *,
    max_attempts: int = DEFAULT_COLLISION_ATTEMPTS,
) -> str:
    """Upstream's collision rule, without I/O: the first candidate id (collision index 0, 1, ...)
    that is free or already holds this signature.

    ``signature_at(gen_id)`` tells what is stored there: None when nothing is (the id is free),
    else the stored generation's signature (:func:`signature_from_metadata`; pass ``()`` when the
    metadata is unreadable, which upstream counts as a collision). Raises ValueError after
    ``max_attempts`` colliding candidates.
    """
    wanted = tuple(signature)
    for attempt in range(max_attempts):
        candidate = compute_deterministic_gen_id(stage, signature, collision_index=attempt)
        stored = signature_at(candidate)
        if stored is None or tuple(stored) == wanted:
            return candidate
    raise ValueError(f"{stage} ids for {wanted!r} collide {max_attempts} times: every candidate holds another generation")


def signature_from_metadata(stage: str, metadata: Mapping[str, Any]) -> Signature:
    """The signature of a stored generation, from upstream's ``metadata.json`` keys.

    ``replicate`` may be absent (1), an int, a float or a string of digits. Draft: ``combo_id``,
    ``template_id``, ``llm_model_id``; essay: ``parent_gen_id``, ``template_id`` (or
    ``essay_template``); evaluation: ``parent_gen_id``, ``template_id`` (or
    ``evaluation_template``), ``llm_model_id``.
    """
    raw = metadata.get("replicate")
    replicate: int
    if raw is None:
        replicate = 1
    elif isinstance(raw, str) and raw.strip().isdigit():
        replicate = int(raw.strip())
    elif isinstance(raw, int | float):
        replicate = int(raw)
    else:
        raise ValueError(f"replicate {raw!r} in {stage} metadata is not an integer")
    if stage == "draft":
        return draft_signature(metadata.get("combo_id"), metadata.get("template_id"), metadata.get("llm_model_id"), replicate)
    if stage == "essay":
        template = metadata.get("template_id") or metadata.get("essay_template")
        return essay_signature(metadata.get("parent_gen_id"), template, replicate)
    if stage == "evaluation":
        template = metadata.get("template_id") or metadata.get("evaluation_template")
        return evaluation_signature(metadata.get("parent_gen_id"), template, metadata.get("llm_model_id"), replicate)
    raise ValueError(f"stage {stage!r} has no deterministic id: use draft, essay or evaluation")
