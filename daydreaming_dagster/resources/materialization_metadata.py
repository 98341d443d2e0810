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


def materialization_metadata(store: GensStore, record: GenerationRecord, cache_hit: bool) -> dict[str, Any]:
    """A generation's materialization metadata, from its record (same for Dagster and CLI runs).

    ``cost`` is this materialization's payment, as the payment journal (``engine/ledger.py``, the
    one money number) records it: what the call cost when this generation made it (reported, or
    priced from llm_models.csv), 0 for a reused answer (its tokens are those of the call that paid
    for it), absent for a copy. ``answer`` uses the export's words: paid, reused, copy.
    """
    from dagster import MetadataValue

    answer = record.answer
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
    if record.paid_usd is not None:
        out["cost"] = record.paid_usd
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
