"""What the three stage modules share: parent loading, template and grammar loading, settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.engine.flow import GenerationContext, GenerationError, TaskRow
from daydreaming_dagster.engine.store import PARSED
from daydreaming_dagster.engine.templates import read_template
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination


def load_parent_text(context: GenerationContext, task_row: TaskRow, *, child_stage: Stage) -> str:
    """The parent's parsed.txt, or a failure saying which parent to run first."""
    parent_stage = STAGE_FACTS[child_stage].parent
    assert parent_stage is not None
    parent_gen_id = str(task_row.get("parent_gen_id") or "").strip()
    gen_id = str(task_row.get("gen_id") or "")
    if not parent_gen_id:
        raise GenerationError(
            f"{child_stage} {gen_id}: task row has no parent_gen_id. Fix: rebuild the task tables.",
            metadata={"gen_id": gen_id, "function": STAGE_FACTS[child_stage].function_name},
        )
    store = context.store
    text = store.read(parent_stage, parent_gen_id, PARSED) if store.is_complete(parent_stage, parent_gen_id) else None
    if text is None or not text.strip():
        hint = (
            f"daydream run --stages {parent_stage} (or materialize {STAGE_FACTS[parent_stage].function_name} "
            f"for partition {parent_gen_id})"
        )
        raise GenerationError(
            f"{child_stage} {gen_id}: parent {parent_stage} {parent_gen_id} is not generated yet "
            f"(no complete {store.gen_dir(parent_stage, parent_gen_id)}). Fix: run it first: {hint}.",
            metadata={
                "gen_id": gen_id,
                "parent_gen_id": parent_gen_id,
                "parent_stage": parent_stage,
                "parent_gen_dir": str(store.gen_dir(parent_stage, parent_gen_id)),
            },
            cause=f"{child_stage}: parent {parent_stage} not generated yet. Fix: run --stages {parent_stage} first",
        )
    return text


def common_hooks(
    raw: RawData, config: ExperimentConfig, stage: Stage, combos: Mapping[str, Combination]
) -> dict[str, Any]:
    """The StageSpec fields every stage fills the same way: facts, loaders, settings."""
    facts = STAGE_FACTS[stage]
    names = {c.concept_id: c.name for c in raw.concepts}

    def concept_names(task_row: TaskRow) -> list[str] | None:
        combo = combos.get(str(task_row.get("combo_id") or ""))
        return [names.get(cid, cid) for cid in combo.concept_ids] if combo is not None else None

    return {
        "facts": facts,
        "concept_names": concept_names,
        "template_loader": template_loader(raw, stage),
        "grammar_loader": grammar_loader(raw, stage),
        "max_tokens": int(config.setting(facts.max_tokens_setting)),
        "temperature": float(config.setting(facts.temperature_setting)),
    }


def template_loader(raw: RawData, stage: Stage) -> Callable[[str], str]:
    """Reads each template file once per spec (the spec lives for one run)."""
    cache: dict[str, str] = {}

    def load(template_id: str) -> str:
        if template_id not in cache:
            cache[template_id] = read_template(raw.template_path(stage, raw.template(stage, template_id).template_id))
        return cache[template_id]

    return load


def grammar_loader(raw: RawData, stage: Stage) -> Callable[[str], str | None]:
    """``<template>.gbnf`` beside a template file, when there is one (read once per spec)."""
    cache: dict[str, str | None] = {}

    def load(template_id: str) -> str | None:
        if template_id not in cache:
            path = raw.template_path(stage, template_id).with_suffix(".gbnf")
            cache[template_id] = path.read_text(encoding="utf-8") if path.is_file() else None
        return cache[template_id]

    return load
