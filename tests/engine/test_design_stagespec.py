"""A StageSpec written the way the design writes it, run through ``orchestrate_generation``.

``../shared/design/generation_engine_plan.md`` ("Key Types") is the interface people extending the
engine write against: every hook here is this test's own (nothing from ``stages/``), built keyword
by keyword with the design's field names, and imported from the design's module
(``utils/generation_engine.py``). Also the design's "Error paths": missing parent, missing
template, invalid generator mode; and the engine's order: an unknown model or a failing template
writes no file at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.engine.templates import read_template
from daydreaming_dagster.llm import LLMClient, ModelRoute, RetryPolicy, Usage
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context, row
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply
from daydreaming_dagster.utils.generation_engine import (
    GenerationContext,
    GenerationError,
    GeneratorMode,
    Payload,
    StageSpec,
    TaskRow,
    Validators,
    orchestrate_generation,
)

WRITER = ModelRoute(model_id="writer", provider="mock", model="vendor/writer-model")
PAIR_TEMPLATE = "Combine:\n{% for c in concepts %}- {{ c.name }}: {{ c.content }}\n{% endfor %}"
CONCEPTS = [{"name": "Tides", "content": "The sea rises."}, {"name": "Clocks", "content": "Gears turn."}]
DRAFT_ROW = {
    "draft_task_id": "combo_x__pair__writer",
    "combo_id": "combo_x",
    "draft_template": "pair",
    "generation_model": "writer",
}
ESSAY_ROW = {"essay_task_id": "combo_x__pair__writer__copy", "essay_template": "copy", "generation_model": "writer"}


def first_line(text: str) -> str:
    """A plain callable as the parser: the design's ``Callable[[str], str]``."""
    return text.splitlines()[0] + "\n"


class Hooks:
    """The design's hooks for a draft stage, recording what the flow gave them."""

    def __init__(self, templates: Path) -> None:
        self.templates = templates
        self.pre_prompt_calls: list[tuple[TaskRow, Payload]] = []
        self.post_llm_calls: list[tuple[str, Mapping[str, Any]]] = []
        self.extras_payloads: list[Payload] = []

    def input_resolver(self, context: GenerationContext, task_row: TaskRow) -> Payload:
        return {"concepts": CONCEPTS}

    def template_loader(self, template_id: str) -> str:
        return read_template(self.templates / f"{template_id}.txt")

    def pre_prompt(self, context: GenerationContext, task_row: TaskRow, payload: Payload) -> None:
        self.pre_prompt_calls.append((task_row, payload))

    def post_llm(self, text: str, info: Mapping[str, Any]) -> None:
        self.post_llm_calls.append((text, info))

    def metadata_extras(self, context: GenerationContext, task_row: TaskRow, payload: Payload) -> dict[str, Any]:
        self.extras_payloads.append(payload)
        return {"concept_count": len(payload["concepts"]), "written_by": "design-test"}

    def draft_spec(self, *, generator_mode: str = "llm") -> StageSpec:
        return StageSpec(
            stage="draft",
            template_kind="draft",
            input_resolver=self.input_resolver,
            template_loader=self.template_loader,
            generator_mode=lambda template_id: cast(GeneratorMode, generator_mode),  # 'magic' on purpose
            model_selector=lambda task_row: task_row["generation_model"],
            parser_selector=lambda template_id: first_line,
            max_tokens_selector=lambda context: 321,
            validators=Validators(pre_prompt=self.pre_prompt, post_llm=self.post_llm),
            metadata_extras=self.metadata_extras,
        )


@pytest.fixture
def hooks(tmp_path: Path) -> Hooks:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "pair.txt").write_text(PAIR_TEMPLATE, encoding="utf-8")
    return Hooks(templates)


def _context(data_root: Path, provider: ScriptedProvider) -> GenerationContext:
    client = LLMClient.with_provider(
        {WRITER.model_id: WRITER}, provider, retry=RetryPolicy(max_attempts=1, jitter=False), sleep=provider.record_wait
    )
    return GenerationContext(run_id="design-run", store=GensStore(data_root), llm=client, cohort_env=None)


def _written(data_root: Path) -> list[str]:
    """Every file under gens/, except the store's one shared lock file."""
    gens = data_root / "gens"
    return sorted(str(p.relative_to(gens)) for p in gens.rglob("*") if p.is_file() and p.name != ".locks")


def test_a_spec_written_as_the_design_writes_it_runs_through_the_flow(tmp_path: Path, hooks: Hooks) -> None:
    usage = Usage(prompt_tokens=12, completion_tokens=5, total_tokens=17, cost=0.002)
    provider = ScriptedProvider([ScriptedReply("Tidal clocks\r\nmore notes", usage=usage)])
    data_root = tmp_path / "data"
    outcome = orchestrate_generation(
        _context(data_root, provider), DRAFT_ROW, hooks.draft_spec(), gen_id="designgen0001", parent_gen_id=None
    )

    gen_dir = data_root / "gens" / "draft" / "designgen0001"
    assert _written(data_root) == [f"draft/designgen0001/{name}" for name in
                                   ("metadata.json", "parsed.txt", "prompt.txt", "raw.txt")]
    prompt = "Combine:\n- Tides: The sea rises.\n- Clocks: Gears turn.\n"
    assert (gen_dir / "prompt.txt").read_text(encoding="utf-8") == prompt
    # The provider got the model string of model_selector's id, and max_tokens_selector's number.
    (call,) = provider.calls
    assert (call.model, call.max_tokens, call.prompt) == ("vendor/writer-model", 321, prompt)
    # RAW is the normalized answer; the parser_selector's plain callable made parsed.txt.
    assert (gen_dir / "raw.txt").read_text(encoding="utf-8") == "Tidal clocks\nmore notes"
    assert (gen_dir / "parsed.txt").read_text(encoding="utf-8") == "Tidal clocks\n" == outcome.parsed
    # Each validator ran once, with what the design says it receives.
    assert [payload for _, payload in hooks.pre_prompt_calls] == [{"concepts": CONCEPTS}]
    ((text, info),) = hooks.post_llm_calls
    assert text == "Tidal clocks\nmore notes" and info["finish_reason"] == "stop"
    assert hooks.extras_payloads == [{"concepts": CONCEPTS}]

    metadata = json.loads((gen_dir / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["concept_count"] == 2 and metadata["written_by"] == "design-test"  # metadata_extras
    assert metadata["stage"] == "draft" and metadata["template_id"] == "pair"
    assert metadata["model_id"] == "writer" and metadata["model"] == "vendor/writer-model"
    assert metadata["task_id"] == DRAFT_ROW["draft_task_id"] and metadata["combo_id"] == "combo_x"
    assert metadata["max_tokens"] == 321 and metadata["parser"] == "first_line"
    assert metadata["status"] == "complete" and metadata["mode"] == "llm" and metadata["run_id"] == "design-run"
    assert metadata["usage"]["cost"] == 0.002


def test_a_copy_mode_spec_makes_no_call_and_writes_no_prompt(tmp_path: Path) -> None:
    provider = ScriptedProvider([])
    data_root = tmp_path / "data"
    seen_rows: list[TaskRow] = []

    def input_resolver(context: GenerationContext, task_row: TaskRow) -> Payload:
        seen_rows.append(task_row)
        return {"draft_lines": ["one", "two"], "draft_block": "one\r\ntwo"}

    def template_loader(template_id: str) -> str:
        raise AssertionError("copy mode renders no template")

    spec = StageSpec(
        stage="essay",
        template_kind="essay",
        input_resolver=input_resolver,
        template_loader=template_loader,
        generator_mode=lambda template_id: "copy",
        model_selector=lambda task_row: task_row["generation_model"],
        parser_selector=lambda template_id: None,  # identity
        max_tokens_selector=lambda context: None,
        validators=Validators(),
        metadata_extras=lambda context, task_row, payload: {"copied_lines": len(payload["draft_lines"])},
    )
    outcome = orchestrate_generation(
        _context(data_root, provider), ESSAY_ROW, spec, gen_id="copygen0001", parent_gen_id="parentdraft01"
    )

    assert provider.calls == []
    assert _written(data_root) == ["essay/copygen0001/metadata.json", "essay/copygen0001/parsed.txt",
                                   "essay/copygen0001/raw.txt"]
    assert outcome.raw == outcome.parsed == "one\ntwo"
    assert seen_rows[0]["parent_gen_id"] == "parentdraft01"  # the hooks read the flow's parent
    metadata = json.loads((data_root / "gens" / "essay" / "copygen0001" / "metadata.json").read_text())
    assert metadata["mode"] == "copy" and metadata["parent_gen_id"] == "parentdraft01"
    assert metadata["parser"] == "identity" and metadata["copied_lines"] == 2
    assert "usage" not in metadata and "model" not in metadata  # nothing was called


# ---------------------------------------------------------------- the design's error paths


def test_missing_parent_fails_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    provider = ScriptedProvider([])
    data_root = tmp_path / "data"

    def input_resolver(context: GenerationContext, task_row: TaskRow) -> Payload:
        parent = task_row["parent_gen_id"]
        if not context.store.is_complete("draft", parent):
            raise GenerationError(f"essay: parent draft {parent} is not generated yet", metadata={"parent_gen_id": parent})
        return {"draft_block": context.store.read("draft", parent, "parsed.txt")}

    spec = StageSpec(
        stage="essay",
        template_kind="essay",
        input_resolver=input_resolver,
        template_loader=lambda template_id: "{{ draft_block }}",
        generator_mode=lambda template_id: "llm",
        model_selector=lambda task_row: task_row["generation_model"],
        parser_selector=lambda template_id: None,
    )
    with pytest.raises(GenerationError, match="parent draft nosuchdraft01"):
        orchestrate_generation(
            _context(data_root, provider), dict(ESSAY_ROW, essay_template="llm"), spec,
            gen_id="essaygen0001", parent_gen_id="nosuchdraft01",
        )
    assert provider.calls == [] and _written(data_root) == []


def test_missing_template_fails_naming_the_file_and_writes_nothing(tmp_path: Path, hooks: Hooks) -> None:
    provider = ScriptedProvider([])
    data_root = tmp_path / "data"
    row = dict(DRAFT_ROW, draft_template="gone")
    with pytest.raises(GenerationError, match=r"gone\.txt.*template file not found"):
        orchestrate_generation(_context(data_root, provider), row, hooks.draft_spec(), gen_id="designgen0002",
                               parent_gen_id=None)
    assert provider.calls == [] and _written(data_root) == []


def test_a_template_that_fails_to_render_writes_nothing(tmp_path: Path, hooks: Hooks) -> None:
    (hooks.templates / "typo.txt").write_text("{% for c in concepts %}{{ c.nmae.upper() }}{% endfor %}")
    provider = ScriptedProvider([])
    data_root = tmp_path / "data"
    with pytest.raises(GenerationError, match="typo"):
        orchestrate_generation(_context(data_root, provider), dict(DRAFT_ROW, draft_template="typo"),
                               hooks.draft_spec(), gen_id="designgen0003", parent_gen_id=None)
    assert provider.calls == [] and _written(data_root) == []


def test_an_unknown_model_fails_before_prompt_txt_is_written(tmp_path: Path, hooks: Hooks) -> None:
    """Route before prompt.txt: the model is resolved before any file of the generation is written."""
    provider = ScriptedProvider([])
    data_root = tmp_path / "data"
    row = dict(DRAFT_ROW, generation_model="no-such-model")
    with pytest.raises(GenerationError, match="no-such-model"):
        orchestrate_generation(_context(data_root, provider), row, hooks.draft_spec(), gen_id="designgen0004",
                               parent_gen_id=None)
    assert provider.calls == []
    assert not (data_root / "gens" / "draft" / "designgen0004").exists()
    assert _written(data_root) == []


def test_an_unknown_model_writes_nothing_with_a_prompt_already_rendered(tmp_path: Path, hooks: Hooks) -> None:
    """The Dagster path hands the engine its prompt asset's output: still no file before the route."""
    provider = ScriptedProvider([])
    data_root = tmp_path / "data"
    row = dict(DRAFT_ROW, generation_model="no-such-model")
    spec = dataclasses.replace(hooks.draft_spec(), metadata_extras=lambda context, task_row, payload: {})
    with pytest.raises(GenerationError, match="no-such-model"):
        orchestrate_generation(_context(data_root, provider), row, spec, gen_id="designgen0005",
                               parent_gen_id=None, prompt="an already rendered prompt")
    assert provider.calls == [] and _written(data_root) == []


@pytest.mark.xfail(
    strict=True,
    reason="engine/flow.py skips input_resolver when the prompt is given (the Dagster path), so "
    "metadata_extras(context, task_row, payload) receives {} instead of the resolved payload",
)
def test_metadata_extras_receive_the_payload_when_the_prompt_is_given(tmp_path: Path, hooks: Hooks) -> None:
    provider = ScriptedProvider([ScriptedReply("Tidal clocks")])
    orchestrate_generation(_context(tmp_path / "data", provider), DRAFT_ROW, hooks.draft_spec(),
                           gen_id="designgen0007", parent_gen_id=None, prompt="an already rendered prompt")
    assert hooks.extras_payloads == [{"concepts": CONCEPTS}]


@pytest.mark.xfail(
    strict=True,
    reason="engine/flow.py treats any generator_mode other than 'copy' as 'llm'; the design's error path "
    "'invalid generator mode' needs _prepare to refuse it (stages/essay.py refuses it in its own hook)",
)
def test_an_invalid_generator_mode_fails_and_writes_nothing(tmp_path: Path, hooks: Hooks) -> None:
    provider = ScriptedProvider([ScriptedReply("would be paid")])
    data_root = tmp_path / "data"
    with pytest.raises(GenerationError, match="magic"):
        orchestrate_generation(_context(data_root, provider), DRAFT_ROW, hooks.draft_spec(generator_mode="magic"),
                               gen_id="designgen0006", parent_gen_id=None)
    assert provider.calls == [] and _written(data_root) == []


def test_the_products_draft_spec_with_an_unknown_model_writes_nothing(root: Path) -> None:
    """The same order for the stage builders' specs (``stages/``), as ``daydream run`` uses them."""
    provider = ScriptedProvider([])
    cohort = make_cohort(root)
    task = dict(row(cohort, "draft"), generation_model="no-such-model")
    with pytest.raises(GenerationError, match="llm_models.csv"):
        orchestrate_generation(make_context(root, cohort, provider), task, cohort.specs()["draft"],
                               gen_id=task["gen_id"], parent_gen_id=None)
    assert provider.calls == [] and _written(root) == []
