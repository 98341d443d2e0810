"""Hook builders the three stage modules share (parent loading, template loading)."""

from __future__ import annotations

from collections.abc import Callable

from daydreaming_dagster.utils.document import PARSED, Stage
from daydreaming_dagster.utils.generation_engine import GenerationContext, GenerationError, TaskRow
from daydreaming_dagster.utils.raw_data import RawData, TemplateKind
from daydreaming_dagster.utils.templates import read_template

_NEXT_COMMAND = {
    "draft": "daydream run --stages draft (or materialize draft_response for partition {pid})",
    "essay": "daydream run --stages essay (or materialize essay_response for partition {pid})",
}


def load_parent_text(
    context: GenerationContext, task_row: TaskRow, *, parent_stage: Stage, child_stage: Stage
) -> str:
    """The parent's parsed.txt, or a failure saying which parent to run first."""
    parent_gen_id = str(task_row.get("parent_gen_id") or "").strip()
    gen_id = str(task_row.get("gen_id") or "")
    if not parent_gen_id:
        raise GenerationError(
            f"{child_stage} {gen_id}: task row has no parent_gen_id. Fix: rebuild the task tables.",
            metadata={"gen_id": gen_id, "function": f"{child_stage}_response"},
        )
    store = context.store
    text = store.read(parent_stage, parent_gen_id, PARSED) if store.is_complete(parent_stage, parent_gen_id) else None
    if text is None or not text.strip():
        hint = _NEXT_COMMAND[parent_stage].format(pid=parent_gen_id)
        raise GenerationError(
            f"{child_stage} {gen_id}: parent {parent_stage} {parent_gen_id} is not generated yet "
            f"(no complete {store.gen_dir(parent_stage, parent_gen_id)}). Fix: run it first: {hint}.",
            metadata={
                "gen_id": gen_id,
                "parent_gen_id": parent_gen_id,
                "parent_stage": parent_stage,
                "parent_gen_dir": str(store.gen_dir(parent_stage, parent_gen_id)),
            },
        )
    return text


def template_loader(raw: RawData, kind: TemplateKind) -> Callable[[str], str]:
    """Reads each template file once per spec (the spec lives for one run)."""
    cache: dict[str, str] = {}

    def load(template_id: str) -> str:
        if template_id not in cache:
            cache[template_id] = read_template(raw.template_path(kind, raw.template(kind, template_id).template_id))
        return cache[template_id]

    return load


def grammar_loader(raw: RawData, kind: TemplateKind) -> Callable[[str], str | None]:
    """``<template>.gbnf`` beside a template file, when there is one (read once per spec)."""
    cache: dict[str, str | None] = {}

    def load(template_id: str) -> str | None:
        if template_id not in cache:
            path = raw.template_path(kind, template_id).with_suffix(".gbnf")
            cache[template_id] = path.read_text(encoding="utf-8") if path.is_file() else None
        return cache[template_id]

    return load
