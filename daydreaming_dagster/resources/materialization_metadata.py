"""What a generation's materialization says: the same from a Dagster run and from ``daydream run``.

The stage assets attach it to their materializations (``assets/_generation.py``); the reporter
attaches it to the materializations it reports for ``daydream run`` (``resources/reporter.py``).
Dagster is imported inside the functions: the run's process imports the reporter, never Dagster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daydreaming_dagster.core.stages import Stage
from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import GensStore

if TYPE_CHECKING:
    from dagster import AssetKey


ANSWER_CALL = "call"  # this generation made the call: its cost was paid
ANSWER_REUSED = "reused"  # an answer already paid for (response cache or raw.txt): costs nothing
ANSWER_COPY = "copy"  # a copy-mode essay: no call at all


def answer_source(record: GenerationRecord) -> str:
    if record.answered_by_call:
        return ANSWER_CALL
    return ANSWER_REUSED if record.response is not None else ANSWER_COPY


def materialization_metadata(store: GensStore, record: GenerationRecord, cache_hit: bool) -> dict[str, Any]:
    """A generation's materialization metadata, from its record (same for Dagster and CLI runs).

    ``cost`` agrees with the payment journal (``engine/ledger.py``, the one money number): the
    reported cost when this generation made the call, 0 for a reused answer (its tokens are those
    of the call that paid for it), absent for a copy.
    """
    from dagster import MetadataValue

    answer = answer_source(record)
    out: dict[str, Any] = {
        "gen_id": record.gen_id,
        "gen_dir": MetadataValue.path(str(store.gen_dir(record.stage, record.gen_id))),  # type: ignore[arg-type]
        "mode": record.mode or "",
        "parser": record.parser or "",
        "cache_hit": cache_hit,
        "answer": answer,
    }
    usage = record.usage
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if key in usage:
            out[key] = usage[key]
    if answer == ANSWER_REUSED:
        out["cost"] = 0.0
    elif "cost" in usage:
        out["cost"] = usage["cost"]
    if record.finish_reason is not None:
        out["finish_reason"] = record.finish_reason
    return out


def prompt_metadata(prompt: str | None) -> dict[str, Any]:
    """A prompt's materialization metadata (None: a copy-mode essay, which has no prompt)."""
    return {"prompt_chars": len(prompt) if prompt else 0, "mode": "copy" if prompt is None else "llm"}


def prompt_key(stage: Stage) -> AssetKey:
    from dagster import AssetKey

    return AssetKey(f"{stage}_prompt")


def response_key(stage: Stage) -> AssetKey:
    from dagster import AssetKey

    return AssetKey(f"{stage}_response")
