"""Upstream HEAD's data root loads beside the seed era's: catalogs without flag columns,
templates under ``1_raw/templates/<stage>/``, ``essay_block_lenient``; mixed roots are refused.

The HEAD root is written here from inline data shaped as upstream HEAD's ``data/1_raw`` (its
headers: ``concept_id,name``; ``template_id,template_name,description,parser,generator`` for the
three template catalogs; ``id,model,provider,display_name,specialization``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daydreaming_dagster.core.draft_parsers import get_draft_parser, parse_essay_block_lenient
from daydreaming_dagster.engine.templates import read_template, render_prompt
from daydreaming_dagster.inputs import InputError, InputProblem, load_raw_data
from daydreaming_dagster.stages import TEMPLATE_INPUTS
from daydreaming_dagster.testing.sample_data import DRAFT_TEMPLATE_ID

HEAD_CATALOGS = {
    "concepts_metadata.csv": (
        "concept_id,name\n"
        "default-mode-network,Default Mode Network\n"
        "mind-wandering,Mind-Wandering\n"
        "generator-verifier-gap,Generator-Verifier Gap\n"
    ),
    "draft_templates.csv": (
        "template_id,template_name,description,parser,generator\n"
        "creative-synthesis-v7,Creative Synthesis V7 (as draft),Legacy essay template,essay_block_lenient,llm\n"
        "deliberate-rolling-thread-v3,Deliberate Rolling Thread V3,Per-step <essay-idea>,essay_idea_last,llm\n"
        "pair-explorer,Pair Explorer,Links between pairs of concepts,,llm\n"
    ),
    "essay_templates.csv": (
        "template_id,template_name,description,parser,generator\n"
        "synthesis-theme-narrative-v19,Essay Synthesis V19,Main theme narrative,,llm\n"
        "parsed-from-links-v1,Parsed From Links (Final Idea),No LLM,,copy\n"
    ),
    "evaluation_templates.csv": (
        "template_id,template_name,description,parser,generator\n"
        "novelty-v2,Novelty V2,Originality auditor,in_last_line,llm\n"
        'style-coherence-v3,Style Coherence V3,"Structure, links and checks",in_last_line,llm\n'
    ),
    "llm_models.csv": (
        "id,model,provider,display_name,specialization\n"
        'sonnet-4,anthropic/claude-sonnet-4,anthropic,"Sonnet 4",reasoning\n'
        'gemini_25_pro,google/gemini-2.5-pro,google,"Gemini 2.5 Pro",general\n'
    ),
    # Upstream HEAD keeps these too; neither is read.
    "link_templates.csv": "template_id,template_name,description,active,parser\npair-explorer,Pair Explorer,x,false,\n",
    "replication_config.csv": "stage,replicates\ndraft,1\nessay,1\nevaluation,2\n",
}
DRAFT = "Concepts:\n{% for concept in concepts %}- {{ concept.name }}: {{ concept.content }}\n{% endfor %}"
HEAD_TEMPLATES = {
    "draft": {
        "creative-synthesis-v7": DRAFT + "Write the essay in <essay></essay> tags.",
        "deliberate-rolling-thread-v3": DRAFT + '{% raw %}<essay-idea stage="{{k}}">{% endraw %}',
        "pair-explorer": DRAFT,
    },
    "essay": {"synthesis-theme-narrative-v19": "Notes:\n{{ links_block }}\nWrite one essay."},
    "evaluation": {
        "novelty-v2": "Essay:\n{{ response }}\nSCORE: <0-9>",
        "style-coherence-v3": "{{ response }}\nRate the style.",
    },
}


def write_head_root(root: Path) -> Path:
    raw = root / "1_raw"
    for name, text in HEAD_CATALOGS.items():
        _write(raw / name, text)
    for cid in ("default-mode-network", "mind-wandering", "generator-verifier-gap"):
        _write(raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt", f"About {cid}.\n")
    _write(raw / "concepts" / "descriptions-sentence" / "mind-wandering.txt", "Short.\n")
    for stage, files in HEAD_TEMPLATES.items():
        for template_id, text in files.items():
            _write(raw / "templates" / stage / f"{template_id}.txt", text)
    return root


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(root: Path) -> tuple[list[InputProblem], str]:
    with pytest.raises(InputError) as info:
        load_raw_data(root)
    return info.value.problems, str(info.value)


@pytest.fixture
def head(tmp_path: Path) -> Path:
    return write_head_root(tmp_path / "head")


# --- upstream HEAD's root loads -----------------------------------------------------------------


def test_head_root_loads_with_nothing_selected_by_flags(head: Path) -> None:
    raw = load_raw_data(head)
    assert raw.selects_by_flags is False
    assert raw.template_layouts == {"draft": "head", "essay": "head", "evaluation": "head"}
    assert [c.concept_id for c in raw.concepts] == ["default-mode-network", "mind-wandering", "generator-verifier-gap"]
    assert raw.concepts[1].content("sentence") == "Short."
    # No flags: nothing is active, and the default cohort has nothing to run.
    assert raw.active_concepts() == []
    assert all(raw.active_templates(kind) == [] for kind in ("draft", "essay", "evaluation"))
    assert raw.generation_models() == [] and raw.evaluation_models() == []


def test_every_head_row_can_be_named(head: Path) -> None:
    raw = load_raw_data(head)
    assert raw.template("draft", "creative-synthesis-v7").parser == "essay_block_lenient"
    assert raw.template("draft", "deliberate-rolling-thread-v3").parser == "essay_idea_last"
    assert raw.template("draft", "pair-explorer").parser is None
    assert raw.template("essay", "parsed-from-links-v1").generator == "copy"
    assert raw.template("essay", "synthesis-theme-narrative-v19").generator == "llm"
    assert raw.template("evaluation", "style-coherence-v3").description == "Structure, links and checks"
    assert raw.template_path("essay", "synthesis-theme-narrative-v19") == (
        head / "1_raw" / "templates" / "essay" / "synthesis-theme-narrative-v19.txt"
    )
    routes = raw.routes()
    assert sorted(routes) == ["gemini_25_pro", "sonnet-4"]
    assert (routes["sonnet-4"].provider, routes["sonnet-4"].model) == ("anthropic", "anthropic/claude-sonnet-4")
    assert get_draft_parser(raw.template("draft", "creative-synthesis-v7").parser) is parse_essay_block_lenient


@pytest.mark.parametrize(
    ("stage", "template_id", "expected"),
    [
        ("draft", "creative-synthesis-v7", "- Default Mode Network: About default-mode-network."),
        ("draft", "deliberate-rolling-thread-v3", '<essay-idea stage="{{k}}">'),
        ("essay", "synthesis-theme-narrative-v19", "Notes:\n"),
        ("evaluation", "novelty-v2", "SCORE: <0-9>"),
    ],
)
def test_head_templates_render(head: Path, stage: str, template_id: str, expected: str) -> None:
    raw = load_raw_data(head)
    path = raw.template_path(stage, template_id)  # type: ignore[arg-type]
    prompt = render_prompt(read_template(path), TEMPLATE_INPUTS[stage].sample(raw), where=str(path))  # type: ignore[index]
    assert expected in prompt


def test_seed_era_root_selects_by_flags(root: Path) -> None:
    raw = load_raw_data(root)
    assert raw.selects_by_flags is True
    assert raw.template_layouts == {"draft": "seed", "essay": "seed", "evaluation": "seed"}


def test_flagged_catalogs_with_head_template_folders(root: Path) -> None:
    # Decided per part: the seed era's flags with templates under 1_raw/templates/<stage>/.
    raw_dir = root / "1_raw"
    for stage, old in (("draft", "generation_templates/draft"), ("essay", "generation_templates/essay"),
                       ("evaluation", "evaluation_templates")):
        (raw_dir / "templates").mkdir(exist_ok=True)
        (raw_dir / old).rename(raw_dir / "templates" / stage)
    raw = load_raw_data(root)
    assert raw.selects_by_flags is True
    assert raw.template_path("draft", DRAFT_TEMPLATE_ID) == raw_dir / "templates" / "draft" / f"{DRAFT_TEMPLATE_ID}.txt"


def test_seed_era_root_accepts_the_lenient_parser(root: Path) -> None:
    _edit(root / "1_raw" / "draft_templates.csv", "Lists the concepts,true,", "Lists the concepts,true,essay_block_lenient")
    assert load_raw_data(root).template("draft", DRAFT_TEMPLATE_ID).parser == "essay_block_lenient"


def test_identity_parser_name_means_no_parser(head: Path) -> None:
    _edit(head / "1_raw" / "draft_templates.csv", "pairs of concepts,,llm", "pairs of concepts,identity,llm")
    _edit(head / "1_raw" / "essay_templates.csv", "narrative,,llm", "narrative,identity,llm")
    raw = load_raw_data(head)
    assert raw.template("draft", "pair-explorer").parser is None


# --- mixed or broken roots ----------------------------------------------------------------------


def test_one_flagless_catalog_in_a_flagged_root(root: Path) -> None:
    path = root / "1_raw" / "concepts_metadata.csv"
    path.write_text("concept_id,name\nalpha,Alpha Concept\n", encoding="utf-8")
    problems, message = _problems(root)
    assert [(p.file, p.column) for p in problems] == [(path, "active")]
    assert "has no flag columns" in problems[0].problem
    assert "add active (true or false)" in problems[0].fix
    assert str(path) in message


def test_one_flagged_catalog_in_a_head_root(head: Path) -> None:
    path = head / "1_raw" / "concepts_metadata.csv"
    _edit(path, "concept_id,name\n", "concept_id,name,active\n")
    problems, _ = _problems(head)
    # Reported on the odd one out, whose other cells are not read as flags.
    assert [(p.file, p.column) for p in problems] == [(path, "active")]
    assert "remove active (upstream HEAD's layout" in problems[0].fix


def test_model_catalog_with_one_of_its_two_flags(head: Path) -> None:
    path = head / "1_raw" / "llm_models.csv"
    _edit(path, "display_name,specialization\n", "display_name,specialization,for_generation\n")
    problems, _ = _problems(head)
    assert [(p.file, p.line, p.column) for p in problems] == [(path, 1, "for_evaluation")]
    assert "add for_evaluation (true or false)" in problems[0].fix
    assert "or remove for_generation too" in problems[0].fix


def test_templates_in_both_folders(root: Path) -> None:
    head_folder = root / "1_raw" / "templates" / "draft"
    _write(head_folder / f"{DRAFT_TEMPLATE_ID}.txt", "{{ concepts }}")
    problems, message = _problems(root)
    assert [p.file for p in problems] == [head_folder]
    assert "keep one" in problems[0].fix
    assert str(root / "1_raw" / "generation_templates" / "draft") in message


def test_a_head_row_without_its_template_file(head: Path) -> None:
    (head / "1_raw" / "templates" / "draft" / "pair-explorer.txt").unlink()
    problems, _ = _problems(head)
    # Every row of a flagless catalog may be named by a spec, so every row must be usable.
    assert [(p.file.name, p.line) for p in problems] == [("draft_templates.csv", 4)]
    assert str(head / "1_raw" / "templates" / "draft" / "pair-explorer.txt") in problems[0].problem
    assert problems[0].fix.endswith("or delete this row")


@pytest.mark.parametrize(
    ("catalog", "old", "new", "column"),
    [
        ("draft_templates.csv", "pairs of concepts,,llm", "pairs of concepts,essay_json,llm", "parser"),
        ("draft_templates.csv", "pairs of concepts,,llm", "pairs of concepts,,copy", "generator"),
        ("essay_templates.csv", "narrative,,llm", "narrative,essay_block,llm", "parser"),
        ("essay_templates.csv", "narrative,,llm", "narrative,,paste", "generator"),
        ("evaluation_templates.csv", "auditor,in_last_line,llm", "auditor,,llm", "parser"),
    ],
)
def test_bad_head_cells(head: Path, catalog: str, old: str, new: str, column: str) -> None:
    _edit(head / "1_raw" / catalog, old, new)
    problems, _ = _problems(head)
    assert [(p.file.name, p.column) for p in problems] == [(catalog, column)]
    assert problems[0].fix


def test_a_missing_head_catalog_is_shown_with_head_columns(head: Path) -> None:
    path = head / "1_raw" / "essay_templates.csv"
    path.unlink()
    problems, _ = _problems(head)
    assert [p.file for p in problems] == [path]
    assert problems[0].fix == "create it with the header line: template_id,template_name,description,generator,parser"


def test_a_catalog_that_is_neither_layout(head: Path) -> None:
    path = head / "1_raw" / "llm_models.csv"
    path.write_text("name,provider\nsonnet-4,anthropic\n", encoding="utf-8")
    problems, _ = _problems(head)
    assert {(p.file, p.column) for p in problems} == {(path, "id"), (path, "model")}


# --- rows a spec names --------------------------------------------------------------------------


def test_require_usable_raises_an_inactive_rows_deferred_problems(root: Path) -> None:
    # An inactive row may be broken (the default cohort never runs it), but not once a spec names it.
    raw_dir = root / "1_raw"
    with (raw_dir / "draft_templates.csv").open("a", encoding="utf-8") as fh:
        fh.write("old-draft,Old,Retired,false,essay_json\n")
    raw = load_raw_data(root)
    raw.require_usable("draft", [DRAFT_TEMPLATE_ID])
    with pytest.raises(InputError) as info:
        raw.require_usable("draft", ["old-draft", "no-such-draft", DRAFT_TEMPLATE_ID])
    problems = info.value.problems
    assert [(p.file.name, p.line, p.column) for p in problems] == [
        ("draft_templates.csv", 3, "parser"),
        ("draft_templates.csv", 3, "template_id"),  # no template file
        ("draft_templates.csv", None, "template_id"),  # unknown
    ]
    assert "'essay_json' is not a draft parser" in problems[0].problem


def test_require_usable_on_a_head_root(head: Path) -> None:
    raw = load_raw_data(head)
    raw.require_usable("draft", ["creative-synthesis-v7", "pair-explorer"])
    raw.require_usable("essay", ["parsed-from-links-v1"])
    with pytest.raises(InputError, match="unknown evaluation template 'novelty'"):
        raw.require_usable("evaluation", ["novelty"])
