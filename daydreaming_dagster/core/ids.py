"""Deterministic ids: combo ids, generation ids, cohort ids and task ids.

All functions are pure and reproduce the seed-era (2025-09-09) algorithms bit for bit, so ids
computed here match the folders and CSVs written by the original pipeline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, SupportsInt

from daydreaming_dagster.core import settings

__all__ = [
    "COHORT_ID_PREFIX",
    "COMBO_ID_PREFIX",
    "PIPELINE_VERSION",
    "compute_cohort_id",
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
