"""The generation engine through a scripted provider: happy paths, validation and error paths."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from daydreaming_dagster.cohort.pipeline import Cohort
from daydreaming_dagster.engine.flow import (
    GenerationContext,
    GenerationError,
    detect_truncation,
    normalize_newlines,
    orchestrate_generation,
    resolve_cohort_id,
)
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.llm import Usage
from daydreaming_dagster.testing import sample_data as sd
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context, row
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply

DRAFT_TEXT = "Idea one\r\nIdea two\n\nIdea three"
USAGE = Usage(prompt_tokens=11, completion_tokens=7, total_tokens=18, cost=0.0012)


def _files(gen_dir: Path) -> list[str]:
    return sorted(p.name for p in gen_dir.iterdir()) if gen_dir.exists() else []


def _draft(root: Path, provider: ScriptedProvider, **config: object) -> tuple[GenerationContext, dict[str, str], Cohort]:
    cohort = make_cohort(root, **config)
    ctx = make_context(root, cohort, provider)
    return ctx, row(cohort, "draft"), cohort


def test_draft_llm_happy_path_writes_four_files_and_metadata(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT, usage=USAGE, served_model="mock/served")])
    ctx, task, cohort = _draft(root, provider)
    text = orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None).parsed

    gen_dir = root / "gens" / "draft" / task["gen_id"]
    assert _files(gen_dir) == ["metadata.json", "parsed.txt", "prompt.txt", "raw.txt"]
    assert (gen_dir / "raw.txt").read_text() == normalize_newlines(DRAFT_TEXT) == text
    prompt = (gen_dir / "prompt.txt").read_text()
    assert prompt == provider.calls[0].prompt
    assert prompt.startswith("Alpha Concept: Alpha is the first test concept.\n")
    md = json.loads((gen_dir / "metadata.json").read_text())
    assert list(md)[:8] == ["stage", "gen_id", "parent_gen_id", "template_id", "model_id", "task_id", "function", "run_id"]
    assert md["stage"] == "draft" and md["parent_gen_id"] == "" and md["combo_id"] == task["combo_id"]
    assert md["task_id"] == task["draft_task_id"] and md["model_id"] == sd.MODEL_ID
    assert md["status"] == "complete" and md["parser"] == "identity" and md["mode"] == "llm"
    assert md["concepts"] == [name for _, name, _ in sd.CONCEPTS]  # the lineage, readable
    assert md["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "cost": 0.0012}
    assert md["finish_reason"] == "stop" and md["llm"]["served_model"] == "mock/served"
    assert md["max_tokens"] == 20480 and md["temperature"] == 0.7
    assert md["duration_s"] >= 0 and md["started_at"] <= md["finished_at"]
    assert provider.calls[0].max_tokens == 20480


def test_draft_too_short_fails_after_raw_is_persisted(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply("only one line\n\n")])
    ctx, task, cohort = _draft(root, provider)
    with pytest.raises(GenerationError, match="insufficient") as info:
        orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None)
    assert info.value.metadata["response_line_count"] == 1
    gen_dir = root / "gens" / "draft" / task["gen_id"]
    assert (gen_dir / "raw.txt").read_text() == "only one line"  # the client strips, as upstream
    assert not (gen_dir / "parsed.txt").exists()
    md = json.loads((gen_dir / "metadata.json").read_text())
    assert md["status"] == "failed" and "insufficient" in md["error"]["message"]
    assert not ctx.store.is_complete("draft", task["gen_id"])


def test_truncation_names_gen_model_reason_and_tokens_and_keeps_raw(root: Path) -> None:
    usage = Usage(prompt_tokens=5, completion_tokens=20480, total_tokens=20485)
    provider = ScriptedProvider([ScriptedReply("a\nb\nc cut", finish_reason="length", usage=usage)])
    ctx, task, cohort = _draft(root, provider)
    with pytest.raises(GenerationError) as info:
        orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None)
    message = info.value.message
    for part in (task["gen_id"], sd.MODEL_ID, "length", "20480"):
        assert part in message
    gen_dir = root / "gens" / "draft" / task["gen_id"]
    assert (gen_dir / "raw.txt").read_text() == "a\nb\nc cut"
    assert json.loads((gen_dir / "metadata.json").read_text())["error"]["finish_reason"] == "length"


def test_draft_parser_keeps_model_text_in_raw(root: Path) -> None:
    csv = root / "1_raw" / "draft_templates.csv"
    csv.write_text(csv.read_text().replace("Lists the concepts,true,\n", "Lists the concepts,true,essay_block\n"))
    text = "thinking\nmore thinking\n<essay>The essay itself</essay>"
    provider = ScriptedProvider([ScriptedReply(text)])
    ctx, task, cohort = _draft(root, provider)
    out = orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None).parsed
    gen_dir = root / "gens" / "draft" / task["gen_id"]
    assert out == "The essay itself" == (gen_dir / "parsed.txt").read_text()
    assert (gen_dir / "raw.txt").read_text() == text  # upstream overwrote raw with parsed: fixed
    assert json.loads((gen_dir / "metadata.json").read_text())["parser"] == "essay_block"


def test_parser_exception_is_a_failure_with_raw_kept(root: Path) -> None:
    csv = root / "1_raw" / "draft_templates.csv"
    csv.write_text(csv.read_text().replace("Lists the concepts,true,\n", "Lists the concepts,true,essay_block\n"))
    provider = ScriptedProvider([ScriptedReply("no\nessay\ntags")])
    ctx, task, cohort = _draft(root, provider)
    with pytest.raises(GenerationError, match="parser 'essay_block' failed"):
        orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None)
    assert (root / "gens" / "draft" / task["gen_id"] / "raw.txt").read_text() == "no\nessay\ntags"


def _generate_draft(root: Path, provider: ScriptedProvider) -> tuple[GenerationContext, Cohort, dict[str, str]]:
    cohort = make_cohort(root)
    ctx = make_context(root, cohort, provider)
    draft = row(cohort, "draft")
    orchestrate_generation(ctx, draft, cohort.specs()["draft"], gen_id=draft["gen_id"], parent_gen_id=None)
    return ctx, cohort, draft


def test_essay_copy_mode_makes_no_call_and_has_no_prompt(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT)])
    ctx, cohort, draft = _generate_draft(root, provider)
    essay = row(cohort, "essay", essay_template=sd.ESSAY_COPY_TEMPLATE_ID)
    outcome = orchestrate_generation(ctx, essay, cohort.specs()["essay"], gen_id=essay["gen_id"], parent_gen_id=draft["gen_id"])
    assert len(provider.calls) == 1 and outcome.response is None and outcome.record.mode == "copy"
    gen_dir = root / "gens" / "essay" / essay["gen_id"]
    assert _files(gen_dir) == ["metadata.json", "parsed.txt", "raw.txt"]
    parent = (root / "gens" / "draft" / draft["gen_id"] / "parsed.txt").read_text()
    assert (gen_dir / "raw.txt").read_text() == parent == (gen_dir / "parsed.txt").read_text()
    md = json.loads((gen_dir / "metadata.json").read_text())
    assert md["mode"] == "copy" and md["parent_gen_id"] == draft["gen_id"] and md["essay_template"] == sd.ESSAY_COPY_TEMPLATE_ID
    assert md["concepts"] == [name for _, name, _ in sd.CONCEPTS]
    assert "usage" not in md


def test_essay_llm_mode_renders_parent_draft(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT), ScriptedReply("An essay.")])
    ctx, cohort, draft = _generate_draft(root, provider)
    essay = row(cohort, "essay", essay_template=sd.ESSAY_LLM_TEMPLATE_ID)
    text = orchestrate_generation(ctx, essay, cohort.specs()["essay"], gen_id=essay["gen_id"], parent_gen_id=draft["gen_id"]).parsed
    assert text == "An essay."
    assert provider.calls[1].prompt == "Write a short essay from these notes:\nIdea one\nIdea two\n\nIdea three"


def test_essay_with_missing_parent_fails_before_any_call(root: Path) -> None:
    provider = ScriptedProvider([])
    cohort = make_cohort(root)
    ctx = make_context(root, cohort, provider)
    essay = row(cohort, "essay", essay_template=sd.ESSAY_LLM_TEMPLATE_ID)
    with pytest.raises(GenerationError) as info:
        orchestrate_generation(ctx, essay, cohort.specs()["essay"], gen_id=essay["gen_id"], parent_gen_id=essay["parent_gen_id"])
    assert essay["parent_gen_id"] in info.value.message and "run it first" in info.value.message
    assert info.value.metadata["parent_gen_id"] == essay["parent_gen_id"]
    assert provider.calls == [] and not (root / "gens" / "essay").exists()


def _evaluate(root: Path, reply: str) -> tuple[GenerationContext, dict[str, str]]:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT), ScriptedReply(reply)])
    ctx, cohort, draft = _generate_draft(root, provider)
    essay = row(cohort, "essay", essay_template=sd.ESSAY_COPY_TEMPLATE_ID)
    orchestrate_generation(ctx, essay, cohort.specs()["essay"], gen_id=essay["gen_id"], parent_gen_id=draft["gen_id"])
    evaluation = row(cohort, "evaluation", parent_gen_id=essay["gen_id"])
    with pytest.raises(GenerationError) if "SCORE" not in reply else contextlib.nullcontext():
        orchestrate_generation(ctx, evaluation, cohort.specs()["evaluation"], gen_id=evaluation["gen_id"], parent_gen_id=essay["gen_id"])
    return ctx, evaluation


def test_evaluation_score_is_written_as_upstream(root: Path) -> None:
    _, evaluation = _evaluate(root, "Good essay.\nSCORE: 7")
    gen_dir = root / "gens" / "evaluation" / evaluation["gen_id"]
    assert (gen_dir / "parsed.txt").read_text() == "7.0\n"
    assert (gen_dir / "raw.txt").read_text() == "Good essay.\nSCORE: 7"
    md = json.loads((gen_dir / "metadata.json").read_text())
    assert md["parser"] == "in_last_line" and md["evaluation_template"] == sd.EVALUATION_TEMPLATE_ID
    assert md["cohort_id"] == evaluation["cohort_id"] and md["temperature"] == 0.1


def test_unparseable_score_is_a_failure_with_raw_kept(root: Path) -> None:
    _, evaluation = _evaluate(root, "I refuse to grade this.")
    gen_dir = root / "gens" / "evaluation" / evaluation["gen_id"]
    assert (gen_dir / "raw.txt").read_text() == "I refuse to grade this."
    assert not (gen_dir / "parsed.txt").exists()
    md = json.loads((gen_dir / "metadata.json").read_text())
    assert md["status"] == "failed" and "No score found" in md["error"]["message"]


def test_missing_template_file_is_a_clear_failure(root: Path) -> None:
    provider = ScriptedProvider([])
    ctx, task, cohort = _draft(root, provider)
    (root / "1_raw" / "generation_templates" / "draft" / f"{sd.DRAFT_TEMPLATE_ID}.txt").unlink()
    with pytest.raises(GenerationError, match="template file not found"):
        orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None)
    assert provider.calls == []


def test_unknown_generator_mode_and_unknown_model_fail(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT)])
    ctx, cohort, draft = _generate_draft(root, provider)
    spec = cohort.specs()["essay"]
    essay = dict(row(cohort, "essay", essay_template=sd.ESSAY_LLM_TEMPLATE_ID))
    bad_mode = cohort.raw.essay_templates[0].__class__(**{**cohort.raw.essay_templates[0].__dict__, "generator": "magic"})
    object.__setattr__(cohort.raw, "essay_templates", (bad_mode, *cohort.raw.essay_templates[1:]))
    with pytest.raises(GenerationError, match="unsupported generator 'magic'"):
        orchestrate_generation(ctx, essay, spec, gen_id=essay["gen_id"], parent_gen_id=draft["gen_id"])
    draft_row = dict(draft, generation_model="no-such-model")
    with pytest.raises(GenerationError, match="llm_models.csv"):
        orchestrate_generation(ctx, draft_row, cohort.specs()["draft"], gen_id=draft["gen_id"], parent_gen_id=None)
    assert len(provider.calls) == 1


def test_response_cache_reuses_a_call_across_gen_ids_but_not_replicates(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT, usage=USAGE), ScriptedReply("r2\nr2\nr2")])
    ctx, task, cohort = _draft(root, provider)
    spec = cohort.specs()["draft"]
    orchestrate_generation(ctx, task, spec, gen_id=task["gen_id"], parent_gen_id=None)
    moved = orchestrate_generation(ctx, task, spec, gen_id="renamedgenid0001", parent_gen_id=None)
    assert moved.cache_hit and len(provider.calls) == 1
    md = json.loads((root / "gens" / "draft" / "renamedgenid0001" / "metadata.json").read_text())
    assert md["cache"]["hit"] is True and md["cache"]["source_gen_id"] == task["gen_id"]
    replicate = orchestrate_generation(ctx, dict(task, replicate="2"), spec, gen_id="replicate2gen001", parent_gen_id=None)
    assert not replicate.cache_hit and len(provider.calls) == 2 and replicate.raw == "r2\nr2\nr2"


def test_refresh_cache_pays_for_a_new_call(root: Path) -> None:
    provider = ScriptedProvider([ScriptedReply(DRAFT_TEXT), ScriptedReply("new\nnew\nnew")])
    ctx, task, cohort = _draft(root, provider)
    spec = cohort.specs()["draft"]
    orchestrate_generation(ctx, task, spec, gen_id=task["gen_id"], parent_gen_id=None)
    fresh = GenerationContext(run_id="r2", store=ctx.store, llm=ctx.llm, cache=ctx.cache, refresh_cache=True)
    assert orchestrate_generation(fresh, task, spec, gen_id=task["gen_id"], parent_gen_id=None).raw == "new\nnew\nnew"


def test_unsafe_gen_id_is_rejected_before_anything_is_written(root: Path) -> None:
    provider = ScriptedProvider([])
    ctx, task, cohort = _draft(root, provider)
    with pytest.raises(ValueError, match="cannot be used as a file name"):
        orchestrate_generation(ctx, task, cohort.specs()["draft"], gen_id="../../etc", parent_gen_id=None)
    assert not (root / "gens").exists()


def test_helpers(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_newlines("a\r\nb\rc") == "a\nb\rc"
    assert detect_truncation({"finish_reason": "LENGTH"}) and detect_truncation({"truncated": True})
    assert not detect_truncation({"finish_reason": "stop"})
    ctx = GenerationContext(run_id="r", store=GensStore(root), cohort_env=None)
    assert resolve_cohort_id(ctx, {"cohort_id": " c1 "}) == "c1"
    assert resolve_cohort_id(ctx, {"cohort_id": ""}) is None
    env_ctx = GenerationContext(run_id="r", store=GensStore(root), cohort_env="from-env")
    assert resolve_cohort_id(env_ctx, {"cohort_id": "c1"}) == "from-env"
