"""Never pay twice: stored LLM responses keyed by everything that determines the output.

The key covers the provider route (provider and model string), the exact prompt, max_tokens,
temperature and the replicate index (replicates must never share an entry). The gen_id is not part
of the key, so a generation whose id changed (e.g. a new cohort salt) reuses the stored response.
Entries are written right after the provider answers, before any validation, so a run killed at
any moment never pays again for a call that already returned.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daydreaming_dagster.llm import LLMResponse, ModelRoute, Usage
from daydreaming_dagster.utils.document import atomic_write_text

CACHE_VERSION = 1


def response_cache_key(
    route: ModelRoute,
    prompt: str,
    *,
    max_tokens: int,
    temperature: float,
    replicate: int,
    grammar: str | None = None,
) -> str:
    payload: dict[str, object] = {
        "v": CACHE_VERSION,
        "provider": "local" if route.is_local else "openai_compatible",
        "model": route.model,
        "prompt": prompt,
        "max_tokens": int(max_tokens),
        "temperature": float(temperature),
        "replicate": int(replicate),
    }
    if grammar is not None:  # only when it applies (the embedded model), so other keys never change
        payload["grammar"] = grammar
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    response: LLMResponse
    source_gen_id: str | None
    created_at: str | None


@dataclass(frozen=True)
class ResponseCache:
    """Files under ``<data_root>/cache/llm/<key[:2]>/<key>.json``."""

    root: Path

    @classmethod
    def for_data_root(cls, data_root: Path) -> ResponseCache:
        return cls(Path(data_root) / "cache" / "llm")

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedResponse | None:
        try:
            record: dict[str, Any] = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        usage = Usage(**record.get("usage", {}))
        response = LLMResponse(
            text=record["text"],
            finish_reason=record.get("finish_reason", "unknown"),
            usage=usage,
            native_finish_reason=record.get("native_finish_reason"),
            served_model=record.get("served_model"),
            provider=record.get("provider"),
            latency_s=0.0,
            attempts=0,
        )
        return CachedResponse(response, record.get("gen_id"), record.get("created_at"))

    def put(self, key: str, response: LLMResponse, *, gen_id: str) -> None:
        path = self._path(key)
        record = {
            "text": response.text,
            "finish_reason": response.finish_reason,
            "native_finish_reason": response.native_finish_reason,
            "usage": response.usage.to_dict(),
            "served_model": response.served_model,
            "provider": response.provider,
            "gen_id": gen_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        text = json.dumps(record, ensure_ascii=False)
        try:
            atomic_write_text(path, text)
        except FileNotFoundError:  # first entry of this shard
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
