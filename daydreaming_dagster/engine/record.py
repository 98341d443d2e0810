"""One record per generation: the typed form of ``metadata.json``, and its one migration.

Upstream's keys come first, in upstream's order (``stage`` ... ``run_id``, then ``cohort_id`` and
the stage's own key such as ``combo_id``); the engine's keys follow, then ``schema_version``.
``to_json`` / ``from_json`` are the only way the file is written and read; keys this version does
not know are kept as they are.

Schema versions (``migrate_metadata`` reads every one of them):

- 0: upstream's files. Its final write has ``stage`` and no ``status`` (it wrote metadata.json
  after the other files, so a final write means a complete generation); its early write, left
  behind when a step failed, has only ``function``/``gen_id`` and means "not finished".
- 1: ours before the version key: ``status`` is ``complete`` or ``failed``.
- 2: ours with ``schema_version``. Same keys as 1.

A file that cannot be read back (not UTF-8, not a JSON object, a field of the wrong type) raises
``RecordProblem``; the store turns it into "incomplete, named" for the run, and the readers skip
it with a warning naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from daydreaming_dagster.core.errors import RecordProblem
from daydreaming_dagster.llm import LLMResponse

SCHEMA_VERSION = 2


class Status(StrEnum):
    """A generation's state as its metadata.json records it (absent: not finished)."""

    COMPLETE = "complete"
    FAILED = "failed"


STATUS_COMPLETE = Status.COMPLETE
STATUS_FAILED = Status.FAILED

# A generation's state as readers see it (the view, reports, ``daydream cohorts``): the recorded
# status, or what the folder shows when there is none.
COMPLETE, FAILED = Status.COMPLETE.value, Status.FAILED.value
INCOMPLETE, NOT_GENERATED = "incomplete", "not generated"
STATES = (COMPLETE, FAILED, INCOMPLETE, NOT_GENERATED)

# How a generation got its answer (the export's and Dagster's ``answer``): a call it paid for, an
# answer paid for earlier (the response cache, raw.txt, another cohort's call), a copy-mode essay.
ANSWER_PAID, ANSWER_REUSED, ANSWER_COPY = "paid", "reused", "copy"

# Upstream's keys, in its order; ``cohort_id`` is written only when there is one.
__all__ = ["GenerationRecord", "RecordProblem", "Status", "migrate_metadata", "schema_version"]

UPSTREAM_KEYS = ("stage", "gen_id", "parent_gen_id", "template_id", "model_id", "task_id", "function", "run_id")


def _text(data: Mapping[str, Any], key: str, *, optional: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        return None if optional else ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordProblem(f"'{key}' should be text, found {type(value).__name__}")
    return str(value)


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordProblem(f"'{key}' should be a number, found {type(value).__name__}")
    return float(value)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RecordProblem(f"'{key}' should be an object, found {type(value).__name__}")
    return value


def response_from_dict(data: Mapping[str, Any], *, text: str | None = "", where: str = "llm") -> LLMResponse:
    """An ``LLMResponse`` from its stored form (a cache entry, or ``llm``), every type checked."""
    try:
        return LLMResponse.from_dict(data, text=text, where=where)
    except ValueError as exc:
        raise RecordProblem(str(exc)) from None


def schema_version(data: Mapping[str, Any]) -> int:
    """0 (upstream), 1 (ours before the key) or the file's ``schema_version``."""
    version = data.get("schema_version")
    if version is None:
        return 1 if "status" in data else 0
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= SCHEMA_VERSION:
        raise RecordProblem(f"unknown schema_version {version!r} (this version reads 0 to {SCHEMA_VERSION})")
    return version


def migrate_metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    """Any metadata.json this product or upstream wrote, as the current schema's object.

    Version 0 gets the ``status`` its shape implies (final write: complete; early write: none);
    versions 1 and 2 only gain ``schema_version``. Types are checked by ``GenerationRecord.from_dict``.
    """
    out = dict(data)
    version = schema_version(out)
    if version == 0:
        # Upstream's final write carries ``stage``; its early write (a step that failed) does not.
        if out.get("stage"):
            out["status"] = STATUS_COMPLETE.value
    out["schema_version"] = SCHEMA_VERSION
    return out


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
    cache: dict[str, Any] | None = None  # how the answer was obtained: {"hit": bool, "key", "source"...}
    # What this generation's own call cost, as the payment journal records it: {"usd", "source"}
    # (usd None when no price is known). Absent when the answer was reused or copied.
    payment: dict[str, Any] | None = None
    parser: str | None = None
    status: Status | None = None  # None: not finished (an upstream early write)
    error: dict[str, Any] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    reparsed: list[dict[str, Any]] | None = None  # one entry per `daydream reparse` that changed it
    extra: dict[str, Any] = field(default_factory=dict)  # keys the stage's spec adds, and unknown keys

    # ------------------------------------------------------------------ derived views

    @property
    def complete(self) -> bool:
        return self.status == STATUS_COMPLETE and bool(self.stage)

    @property
    def failed(self) -> bool:
        return self.status == STATUS_FAILED

    @property
    def answered_by_call(self) -> bool:
        """The answer came from a call this generation made (not reused, not a copy)."""
        return self.response is not None and not bool((self.cache or {}).get("hit"))

    @property
    def answer(self) -> str:
        """``ANSWER_PAID``, ``ANSWER_REUSED`` or ``ANSWER_COPY`` (empty: no answer yet)."""
        if self.answered_by_call:
            return ANSWER_PAID
        if self.mode == "copy":
            return ANSWER_COPY
        return ANSWER_REUSED if self.response is not None else ""

    @property
    def paid_usd(self) -> float | None:
        """What this generation's own call cost (the journal's figure; the reported cost for records
        from before ``payment``); 0 for a reused answer, None for a copy or an unknown price."""
        if not self.answered_by_call:
            return 0.0 if self.response is not None else None
        if self.payment is not None:
            usd = self.payment.get("usd")
            return float(usd) if isinstance(usd, int | float) and not isinstance(usd, bool) else None
        return self.cost

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
            payment=self.payment,
            parser=self.parser,
            status=None if self.status is None else self.status.value,
            error=self.error,
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_s=self.duration_s,
            reparsed=self.reparsed,
        )
        out.update({k: v for k, v in optional.items() if v is not None})
        out.update(self.extra)
        out["schema_version"] = SCHEMA_VERSION
        return out

    def to_json(self) -> str:
        """Upstream's format: indent 2, non-ASCII kept, no trailing newline."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, task_key_names: tuple[str, ...] = ()) -> GenerationRecord:
        """The record of any version's object (``migrate_metadata``); RecordProblem on a wrong type."""
        rest = migrate_metadata(data)
        rest.pop("schema_version")
        kwargs: dict[str, Any] = {key: _text(rest, key, optional=False) or "" for key in UPSTREAM_KEYS}
        for key in UPSTREAM_KEYS:
            rest.pop(key, None)
        kwargs["cohort_id"] = _text(rest, "cohort_id") or None
        rest.pop("cohort_id", None)
        kwargs["task_keys"] = {k: str(_text(rest, k)) for k in task_key_names if rest.get(k) is not None}
        for k in task_key_names:
            rest.pop(k, None)
        for name in ("mode", "model", "grammar", "parser", "started_at", "finished_at"):
            kwargs[name] = _text(rest, name)
            rest.pop(name, None)
        for name in ("temperature", "duration_s"):
            kwargs[name] = _number(rest, name)
            rest.pop(name, None)
        max_tokens = _number(rest, "max_tokens")
        kwargs["max_tokens"] = None if max_tokens is None else int(max_tokens)
        rest.pop("max_tokens", None)
        kwargs["replicate"] = _replicate(rest.pop("replicate", None))
        concepts = rest.pop("concepts", None)
        if concepts is not None and not (isinstance(concepts, list) and all(isinstance(c, str) for c in concepts)):
            raise RecordProblem("'concepts' should be a list of names")
        kwargs["concepts"] = concepts
        status = rest.pop("status", None)
        if status is not None and status not in {s.value for s in Status}:
            raise RecordProblem(f"unknown status {status!r} (expected complete or failed)")
        kwargs["status"] = None if status is None else Status(status)
        if kwargs["status"] == Status.COMPLETE and not (kwargs["template_id"] and kwargs["stage"]):
            missing = "template_id" if kwargs["stage"] else "stage"
            raise RecordProblem(f"'{missing}' is missing (a complete generation names its stage and template)")
        cache = _mapping(rest, "cache")
        rest.pop("cache", None)
        kwargs["cache"] = dict(cache) if cache is not None else None
        payment = _mapping(rest, "payment")
        rest.pop("payment", None)
        kwargs["payment"] = dict(payment) if payment is not None else None
        error = rest.pop("error", None)
        if error is not None and not isinstance(error, Mapping):
            error = {"message": str(error)}  # upstream wrote a string
        kwargs["error"] = dict(error) if error is not None else None
        reparsed = rest.pop("reparsed", None)
        if reparsed is not None and not isinstance(reparsed, list):
            raise RecordProblem("'reparsed' should be a list")
        kwargs["reparsed"] = reparsed
        llm = _mapping(rest, "llm")
        rest.pop("llm", None)
        rest.pop("finish_reason", None)  # derived from the response
        usage = _mapping(rest, "usage")
        rest.pop("usage", None)
        if llm is not None:
            merged = {**llm, "usage": llm.get("usage", usage or {})}
            kwargs["response"] = response_from_dict(merged, where="llm")
        kwargs["extra"] = rest
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes, *, task_key_names: tuple[str, ...] = ()) -> GenerationRecord:
        """The record of a metadata.json's content; RecordProblem saying why when it cannot be read."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordProblem(f"not UTF-8 text (byte {exc.start})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordProblem(f"not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise RecordProblem(f"not a JSON object (a {type(data).__name__})")
        return cls.from_dict(data, task_key_names=task_key_names)


def _replicate(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool):
        raise RecordProblem(f"'replicate' should be a whole number >= 1, found {value!r}")
    if isinstance(value, int) and value >= 1:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) >= 1:
        return int(value)
    raise RecordProblem(f"'replicate' should be a whole number >= 1, found {value!r}")
