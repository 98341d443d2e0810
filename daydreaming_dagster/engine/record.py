"""One record per generation: the typed form of ``metadata.json``.

Upstream's keys come first, in upstream's order (``stage`` ... ``run_id``, then ``cohort_id`` and
the stage's own key such as ``combo_id``); the engine's keys follow. ``to_json`` / ``from_json`` are
the only way the file is written and read; keys this version does not know are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from daydreaming_dagster.llm import LLMResponse

STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"

# Upstream's keys, in its order; ``cohort_id`` is written only when there is one.
UPSTREAM_KEYS = ("stage", "gen_id", "parent_gen_id", "template_id", "model_id", "task_id", "function", "run_id")


@dataclass
class GenerationRecord:
    stage: str
    gen_id: str
    parent_gen_id: str = ""
    template_id: str = ""
    model_id: str = ""
    task_id: str = ""
    function: str = ""
    run_id: str = ""
    cohort_id: str | None = None
    # The stage's upstream key(s) copied from its task row (combo_id, essay_template, ...).
    task_keys: dict[str, str] = field(default_factory=dict)
    # --- the engine's keys
    mode: str | None = None  # llm | copy
    replicate: int = 1  # written when not 1
    concepts: list[str] | None = None  # the names of the combination's concepts (the lineage, readable)
    model: str | None = None  # the provider's model string
    max_tokens: int | None = None
    temperature: float | None = None
    response: LLMResponse | None = None  # finish_reason, usage and llm are derived from it
    grammar: str | None = None
    cache: dict[str, Any] | None = None
    parser: str | None = None
    status: str | None = None
    error: dict[str, Any] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    reparsed: list[dict[str, Any]] | None = None  # one entry per `daydream reparse` that changed it
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept on a round trip

    # ------------------------------------------------------------------ derived views

    @property
    def is_upstream_final(self) -> bool:
        """Upstream's final write has ``stage`` and no ``status``; ours says ``status``."""
        return self.status is None

    @property
    def complete(self) -> bool:
        return self.status in (None, STATUS_COMPLETE)

    @property
    def finish_reason(self) -> str | None:
        return self.response.finish_reason if self.response is not None else None

    @property
    def usage(self) -> dict[str, int | float]:
        return self.response.usage.to_dict() if self.response is not None else {}

    @property
    def cost(self) -> float | None:
        return self.response.usage.cost if self.response is not None else None

    # ------------------------------------------------------------------ the one serializer pair

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: getattr(self, key) for key in UPSTREAM_KEYS}
        if self.cohort_id:
            out["cohort_id"] = self.cohort_id
        out.update(self.task_keys)
        optional: dict[str, Any] = {"mode": self.mode, "concepts": self.concepts}
        if self.replicate != 1:
            optional["replicate"] = self.replicate
        if self.response is not None:
            optional.update(
                model=self.model,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                finish_reason=self.response.finish_reason,
                usage=self.response.usage.to_dict(),
                llm=self.response.to_dict(text=False),
            )
        optional.update(
            grammar=self.grammar,
            cache=self.cache,
            parser=self.parser,
            status=self.status,
            error=self.error,
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_s=self.duration_s,
            reparsed=self.reparsed,
        )
        out.update({k: v for k, v in optional.items() if v is not None})
        out.update(self.extra)
        return out

    def to_json(self) -> str:
        """Upstream's format: indent 2, non-ASCII kept, no trailing newline."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, task_key_names: tuple[str, ...] = ()) -> GenerationRecord:
        rest = dict(data)
        kwargs: dict[str, Any] = {key: str(rest.pop(key, "") or "") for key in UPSTREAM_KEYS}
        kwargs["cohort_id"] = rest.pop("cohort_id", None)
        kwargs["task_keys"] = {k: str(rest.pop(k)) for k in task_key_names if k in rest}
        simple = {f.name for f in fields(cls)} - set(UPSTREAM_KEYS) - {"cohort_id", "task_keys", "response", "extra"}
        for name in simple:
            if name in rest:
                kwargs[name] = rest.pop(name)
        llm = rest.pop("llm", None)
        rest.pop("finish_reason", None)  # derived from the response
        usage = rest.pop("usage", None)
        if isinstance(llm, Mapping):
            merged = {**llm, "usage": llm.get("usage", usage or {})}
            kwargs["response"] = LLMResponse.from_dict(merged, text="")
        kwargs["replicate"] = int(kwargs.get("replicate") or 1)
        kwargs["extra"] = rest
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str, *, task_key_names: tuple[str, ...] = ()) -> GenerationRecord | None:
        """The record, or None when the text is not a JSON object (a torn or foreign file)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return cls.from_dict(data, task_key_names=task_key_names) if isinstance(data, dict) else None
