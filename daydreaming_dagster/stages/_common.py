"""What the three stage modules share: parent loading, template and grammar loading, settings,
and the description of what each stage's templates can use (``TemplateInputs``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.core.stages import STAGE_FACTS, Stage
from daydreaming_dagster.engine.flow import GenerationContext, GenerationError, GeneratorMode, TaskRow
from daydreaming_dagster.engine.store import PARSED
from daydreaming_dagster.engine.templates import read_template
from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.combinations import Combination


@dataclass(frozen=True)
class TemplateInputs:
    """What a stage's templates can use: the one description of it (errors, checks, docs)."""

    names: tuple[str, ...]  # the variables a template of the stage receives
    describe: str  # the same, for people (a fix says "... can use only <describe>")
    sample: Callable[[RawData], dict[str, Any]]  # inputs of the real shape, to render templates early
    # Other inputs of the same shape: a template that renders both alike never shows its input.
    other_sample: Callable[[RawData], dict[str, Any]]


def load_parent_text(context: GenerationContext, task_row: TaskRow, *, child_stage: Stage) -> str:
    """The parent's parsed.txt, or a failure saying which parent to run first.

    The parent is the row's ``parent_gen_id``, which the flow sets from its own argument.
    """
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


def always_llm(raw: RawData, template_id: str) -> GeneratorMode:
    """Draft and evaluation templates are always sent to a model (only essays can copy)."""
    return "llm"


def common_hooks(
    raw: RawData,
    config: ExperimentConfig,
    stage: Stage,
    combos: Mapping[str, Combination],
    generator_mode: Callable[[RawData, str], GeneratorMode],
) -> dict[str, Any]:
    """The StageSpec fields every stage fills the same way, from its facts and settings; the
    stage module's ``GENERATOR_MODE`` decides llm or copy per template."""
    facts = STAGE_FACTS[stage]
    names = {c.concept_id: c.name for c in raw.concepts}
    max_tokens = int(config.setting(facts.max_tokens_setting))

    def model_selector(task_row: TaskRow) -> str:
        return str(task_row.get(facts.model_column) or "")

    def max_tokens_selector(context: GenerationContext) -> int:
        return max_tokens

    def metadata_extras(context: GenerationContext, task_row: TaskRow, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The names of the task's concepts (every stage's row has combo_id): the lineage, readable."""
        combo = combos.get(str(task_row.get("combo_id") or ""))
        return {"concepts": [names.get(cid, cid) for cid in combo.concept_ids]} if combo is not None else {}

    template_kind = stage  # each stage reads its own templates folder and CSV
    return {
        "stage": stage,
        "template_kind": template_kind,
        "generator_mode": lambda template_id: generator_mode(raw, template_id),
        "model_selector": model_selector,
        "max_tokens_selector": max_tokens_selector,
        "metadata_extras": metadata_extras,
        "template_loader": template_loader(raw, template_kind),
        "grammar_loader": grammar_loader(raw, template_kind),
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
