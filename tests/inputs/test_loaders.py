"""load_raw_data: the valid inputs load; each bad input gives one clear problem (file, line, fix)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from daydreaming_dagster.inputs import (
    Concept,
    InputError,
    InputProblem,
    RawData,
    load_raw_data,
    read_csv_table,
)
from daydreaming_dagster.testing.sample_data import (
    CONCEPTS,
    DRAFT_TEMPLATE_ID,
    ESSAY_COPY_TEMPLATE_ID,
    ESSAY_LLM_TEMPLATE_ID,
    EVALUATION_TEMPLATE_ID,
    MODEL_ID,
)

COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat"


def _csv(root: Path, name: str) -> Path:
    return root / "1_raw" / name


def _append(root: Path, name: str, text: str) -> None:
    with _csv(root, name).open("a", encoding="utf-8") as fh:
        fh.write(text)


def _replace(root: Path, name: str, old: str, new: str) -> None:
    path = _csv(root, name)
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(root: Path) -> tuple[list[InputProblem], str]:
    with pytest.raises(InputError) as info:
        load_raw_data(root)
    return info.value.problems, str(info.value)


def _only_problem(root: Path, file: str) -> tuple[InputProblem, str]:
    problems, message = _problems(root)
    assert len(problems) == 1, message
    problem = problems[0]
    assert problem.file == _csv(root, file)
    assert problem.fix
    assert "Fix: " in message
    assert str(_csv(root, file)) in message
    return problem, message


# --- valid inputs -----------------------------------------------------------------------------


def test_minimal_data_root_loads(root: Path) -> None:
    data = load_raw_data(root)
    assert isinstance(data, RawData)
    assert [c.concept_id for c in data.active_concepts()] == [c[0] for c in CONCEPTS]
    assert data.active_concepts()[0].content("paragraph") == CONCEPTS[0][2]
    assert [t.template_id for t in data.active_templates("draft")] == [DRAFT_TEMPLATE_ID]
    assert data.template("draft", DRAFT_TEMPLATE_ID).parser is None
    essays = {t.template_id: t.generator for t in data.active_templates("essay")}
    assert essays == {ESSAY_LLM_TEMPLATE_ID: "llm", ESSAY_COPY_TEMPLATE_ID: "copy"}
    assert data.template("evaluation", EVALUATION_TEMPLATE_ID).parser == "in_last_line"
    assert [m.model_id for m in data.generation_models()] == [MODEL_ID]
    assert [m.model_id for m in data.evaluation_models()] == [MODEL_ID]
    route = data.routes()[MODEL_ID]
    assert (route.model_id, route.provider, route.model) == (MODEL_ID, "mock", "mock-model")
    assert data.curated_selection_path is None
    assert data.template_path("draft", DRAFT_TEMPLATE_ID) == (
        root / "1_raw" / "generation_templates" / "draft" / f"{DRAFT_TEMPLATE_ID}.txt"
    )
    assert data.template_path("evaluation", EVALUATION_TEMPLATE_ID) == (
        root / "1_raw" / "evaluation_templates" / f"{EVALUATION_TEMPLATE_ID}.txt"
    )
    assert data.csv_path("llm_models.csv") == root / "1_raw" / "llm_models.csv"


def test_boolean_spellings_are_accepted(root: Path) -> None:
    _append(root, "concepts_metadata.csv", "delta,Delta,FALSE\nepsilon,Epsilon, TRUE \nzeta,Zeta,False\n")
    data = load_raw_data(root)
    flags = {c.concept_id: c.active for c in data.concepts}
    assert flags == {
        "alpha": True,
        "beta": True,
        "gamma": True,
        "delta": False,
        "epsilon": True,
        "zeta": False,
    }


def test_curated_selection_is_detected(root: Path) -> None:
    path = _csv(root, "selected_combo_mappings.csv")
    path.write_text("combo_id,version,concept_id,description_level,k_max,created_at\n", encoding="utf-8")
    assert load_raw_data(root).curated_selection_path == path


def test_legacy_link_templates_are_ignored(root: Path) -> None:
    before = load_raw_data(root)
    _csv(root, "link_templates.csv").write_text('garbage,"unclosed\n', encoding="utf-8")
    assert load_raw_data(root) == before


def test_concept_content_fallbacks() -> None:
    c = Concept("x", "X name", True, {"sentence": "S.", "article": "A."})
    assert c.content("paragraph") == "S."
    assert c.content("article") == "A."
    assert Concept("x", "X name", True, {"article": "A."}).content("sentence") == "X name"
    both = Concept("x", "X", True, {"sentence": "S.", "paragraph": "P.", "article": ""})
    assert both.content("article") == "P."
    with pytest.raises(ValueError):
        c.content("chapter")


def test_description_files_are_stripped_and_optional(root: Path) -> None:
    sentence = root / "1_raw" / "concepts" / "descriptions-sentence" / "alpha.txt"
    sentence.parent.mkdir(parents=True)
    sentence.write_text("  Alpha in one line.\n\n", encoding="utf-8")
    (root / "1_raw" / "concepts" / "descriptions-paragraph" / "beta.txt").unlink()
    data = load_raw_data(root)
    by_id = {c.concept_id: c for c in data.concepts}
    assert by_id["alpha"].content("sentence") == "Alpha in one line."
    assert by_id["beta"].content("paragraph") == "Beta Concept"  # falls back to the name


def test_unknown_template_names_the_csv(root: Path) -> None:
    data = load_raw_data(root)
    with pytest.raises(InputError) as info:
        data.template("essay", "nope")
    assert isinstance(info.value, KeyError)
    assert "essay_templates.csv" in str(info.value)
    assert "nope" in str(info.value)


def test_input_error_survives_pickle(root: Path) -> None:
    _replace(root, "concepts_metadata.csv", "alpha,Alpha Concept,true", "alpha,Alpha Concept,yes")
    problems, message = _problems(root)
    clone = pickle.loads(pickle.dumps(InputError(problems)))
    assert str(clone) == message


# --- one test per bad input -------------------------------------------------------------------


def test_malformed_csv_too_many_fields(root: Path) -> None:
    _append(root, "essay_templates.csv", "extra,Extra,one, two,true,llm\n")
    problem, message = _only_problem(root, "essay_templates.csv")
    assert problem.line == 4
    assert "essay_templates.csv:4:" in message
    assert "extra,Extra,one, two,true,llm" in message  # the offending text
    assert "malformed CSV" in message


def test_malformed_csv_too_many_fields_on_first_data_row(root: Path) -> None:
    # pandas alone would silently turn the first column into the index here
    _replace(root, "concepts_metadata.csv", "alpha,Alpha Concept,true", "alpha,Alpha, Concept,true")
    problem, message = _only_problem(root, "concepts_metadata.csv")
    assert problem.line == 2
    assert "concepts_metadata.csv:2:" in message


def test_malformed_csv_unclosed_quote(root: Path) -> None:
    _append(root, "llm_models.csv", 'other,"unclosed,mock,Other,true,true,general\n')
    problem, message = _only_problem(root, "llm_models.csv")
    assert problem.line == 3
    assert "llm_models.csv:3:" in message and "malformed CSV" in message
    assert 'other,"unclosed' in message


def test_missing_required_column(root: Path) -> None:
    path = _csv(root, "evaluation_templates.csv")
    path.write_text(
        "template_id,template_name,description,active\n"
        f"{EVALUATION_TEMPLATE_ID},Test Evaluation,Score,true\n",
        encoding="utf-8",
    )
    problem, message = _only_problem(root, "evaluation_templates.csv")
    assert problem.line == 1 and problem.column == "parser"
    assert "add a 'parser' column (in_last_line or complex)" in message


def test_missing_optional_columns_are_fine(root: Path) -> None:
    _csv(root, "draft_templates.csv").write_text(
        f"template_id,template_name,description,active\n{DRAFT_TEMPLATE_ID},D,d,true\n", encoding="utf-8"
    )
    _csv(root, "llm_models.csv").write_text(
        f"id,model,provider,for_generation,for_evaluation\n{MODEL_ID},m,mock,true,true\n", encoding="utf-8"
    )
    data = load_raw_data(root)
    assert data.template("draft", DRAFT_TEMPLATE_ID).parser is None
    assert data.models[0].display_name == ""


def test_missing_file(root: Path) -> None:
    _csv(root, "llm_models.csv").unlink()
    problem, message = _only_problem(root, "llm_models.csv")
    assert problem.line is None
    assert "missing" in message and "id,model,provider" in message


def test_duplicate_id_names_both_lines(root: Path) -> None:
    _append(root, "concepts_metadata.csv", "beta,Beta Again,false\n")
    problem, message = _only_problem(root, "concepts_metadata.csv")
    assert problem.line == 5 and problem.column == "concept_id"
    assert "concepts_metadata.csv:5:" in message
    assert "duplicate concept_id 'beta' (also on line 3)" in message


@pytest.mark.parametrize("value", ["yes", "", "1", "T"])
def test_non_boolean_flag(root: Path, value: str) -> None:
    _csv(root, "llm_models.csv").write_text(
        "id,model,provider,display_name,for_generation,for_evaluation,specialization\n"
        f"{MODEL_ID},mock-model,mock,Mock Model,true,true,general\n"
        f"other,other-model,mock,Other,{value},false,general\n",
        encoding="utf-8",
    )
    problem, message = _only_problem(root, "llm_models.csv")
    assert problem.line == 3 and problem.column == "for_generation"
    assert (
        f"llm_models.csv:3: column 'for_generation': {value!r} is not a boolean. Fix: write true or false"
        in message
    )


def test_bad_essay_generator(root: Path) -> None:
    _append(root, "essay_templates.csv", "other,Other,inactive but still checked,false,gpt\n")
    problem, message = _only_problem(root, "essay_templates.csv")
    assert problem.line == 4 and problem.column == "generator"
    assert "'gpt' is not an essay generator" in message and "llm" in problem.fix and "copy" in problem.fix


def test_essay_generator_is_case_insensitive(root: Path) -> None:
    _replace(root, "essay_templates.csv", "true,copy", "true, COPY ")
    assert load_raw_data(root).template("essay", ESSAY_COPY_TEMPLATE_ID).generator == "copy"


def test_bad_evaluation_parser_on_active_row(root: Path) -> None:
    _replace(root, "evaluation_templates.csv", "true,in_last_line", "true,last_line")
    problem, message = _only_problem(root, "evaluation_templates.csv")
    assert problem.line == 2 and problem.column == "parser"
    assert "'last_line' is not an evaluation parser" in message
    assert "in_last_line" in problem.fix and "complex" in problem.fix


def test_bad_evaluation_parser_on_inactive_row_is_ignored(root: Path) -> None:
    _append(root, "evaluation_templates.csv", "old-eval,Old,retired,false,\n")
    data = load_raw_data(root)
    assert [t.template_id for t in data.active_templates("evaluation")] == [EVALUATION_TEMPLATE_ID]
    assert len(data.evaluation_templates) == 2


def test_evaluation_parser_is_case_insensitive(root: Path) -> None:
    _replace(root, "evaluation_templates.csv", "true,in_last_line", "True, Complex")
    assert load_raw_data(root).template("evaluation", EVALUATION_TEMPLATE_ID).parser == "complex"


def test_unknown_draft_parser(root: Path) -> None:
    _replace(root, "draft_templates.csv", "Lists the concepts,true,", "Lists the concepts,true,essay_json")
    problem, message = _only_problem(root, "draft_templates.csv")
    assert problem.line == 2 and problem.column == "parser"
    assert "'essay_json' is not a draft parser" in message
    assert "essay_idea_last" in problem.fix and "blank" in problem.fix


def test_known_draft_parser(root: Path) -> None:
    _replace(root, "draft_templates.csv", "Lists the concepts,true,", "Lists the concepts,true,essay_block")
    assert load_raw_data(root).template("draft", DRAFT_TEMPLATE_ID).parser == "essay_block"


def test_missing_template_file_of_active_template(root: Path) -> None:
    expected = root / "1_raw" / "generation_templates" / "essay" / f"{ESSAY_LLM_TEMPLATE_ID}.txt"
    expected.unlink()
    problem, message = _only_problem(root, "essay_templates.csv")
    assert problem.line == 2 and problem.column == "template_id"
    assert str(expected) in message
    assert "essay_templates.csv:2:" in message


def test_missing_template_file_of_inactive_template_is_fine(root: Path) -> None:
    _append(root, "draft_templates.csv", "retired,Retired,no file,false,\n")
    raw = load_raw_data(root)
    assert raw.template("draft", "retired").active is False
    assert [t.template_id for t in raw.active_templates("draft")] == [DRAFT_TEMPLATE_ID]


@pytest.mark.parametrize("bad_id", ["../evil", "a/b", ".hidden"])
def test_unsafe_id(root: Path, bad_id: str) -> None:
    _append(root, "concepts_metadata.csv", f"{bad_id},Evil,false\n")
    problem, message = _only_problem(root, "concepts_metadata.csv")
    assert problem.line == 5 and problem.column == "concept_id"
    assert f"concept_id {bad_id!r} cannot be used as a file name" in message
    assert "letters, digits" in problem.fix


def test_unsafe_model_id(root: Path) -> None:
    _append(root, "llm_models.csv", "../evil,m,mock,Evil,false,false,general\n")
    problem, _ = _only_problem(root, "llm_models.csv")
    assert problem.line == 3 and problem.column == "id"


def test_empty_id(root: Path) -> None:
    _append(root, "draft_templates.csv", ",Nameless,no id,false,\n")
    problem, message = _only_problem(root, "draft_templates.csv")
    assert problem.line == 3 and problem.column == "template_id"
    assert "template_id is empty" in message


def test_empty_model_and_provider(root: Path) -> None:
    _append(root, "llm_models.csv", "blank,,,Blank,false,false,general\n")
    problems, message = _problems(root)
    assert [(p.line, p.column) for p in problems] == [(3, "model"), (3, "provider")]
    assert "llm_models.csv:3: column 'model': model is empty" in message


@pytest.mark.parametrize(
    ("file", "old", "new", "column"),
    [
        ("concepts_metadata.csv", ",true\n", ",false\n", "active"),
        ("draft_templates.csv", ",true,\n", ",false,\n", "active"),
        ("evaluation_templates.csv", ",true,", ",false,", "active"),
        ("llm_models.csv", ",true,true,", ",false,true,", "for_generation"),
        ("llm_models.csv", ",true,true,", ",true,false,", "for_evaluation"),
    ],
)
def test_no_active_rows(root: Path, file: str, old: str, new: str, column: str) -> None:
    path = _csv(root, file)
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    problem, message = _only_problem(root, file)
    assert problem.column == column
    assert f"set {column}=true on at least one row of {file}" in message


def test_no_active_essay_template(root: Path) -> None:
    path = _csv(root, "essay_templates.csv")
    path.write_text(path.read_text(encoding="utf-8").replace(",true,", ",false,"), encoding="utf-8")
    problem, message = _only_problem(root, "essay_templates.csv")
    assert "no essay template has active=true" in message


def test_every_problem_is_reported_at_once(root: Path) -> None:
    _append(root, "concepts_metadata.csv", "beta,Dup,yes\n")
    _replace(root, "evaluation_templates.csv", "true,in_last_line", "true,bogus")
    _csv(root, "llm_models.csv").unlink()
    problems, message = _problems(root)
    files = {p.file.name for p in problems}
    assert files == {"concepts_metadata.csv", "evaluation_templates.csv", "llm_models.csv"}
    assert len(problems) == 4  # duplicate id, bad flag, bad parser, missing file
    assert len(message.splitlines()) == 4


def test_missing_raw_folder(tmp_path: Path) -> None:
    problems, message = _problems(tmp_path)
    assert len(problems) == 1 and "1_raw" in message


def test_read_csv_table_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('a,b\n1,2\n\n3,"x\ny"\n4,5\n', encoding="utf-8")
    rows = read_csv_table(path, ["a", "b"], ["c"])
    assert [(r.line, r.get("a"), r.raw("b"), r.get("c")) for r in rows] == [
        (2, "1", "2", ""),
        (4, "3", "x\ny", ""),
        (6, "4", "5", ""),
    ]


# --- the upstream inputs, as committed --------------------------------------------------------


@pytest.mark.skipif(
    not (COMPAT / "data" / "1_raw").is_dir(),
    reason=f"upstream compat fixtures not found at {COMPAT} (shared/ is beside the work tree only in the lab)",
)
def test_upstream_compat_inputs_load() -> None:
    data = load_raw_data(COMPAT / "data")
    assert len(data.concepts) == 18
    assert [c.concept_id for c in data.active_concepts()] == [
        "dearth-ai-discoveries",
        "default-mode-network",
        "large-language-model-v1",
        "generate-and-test",
        "positive-feedback-loop",
        "economic-moat-v1",
    ]
    assert all(c.content("paragraph") != c.name for c in data.active_concepts())
    assert [t.template_id for t in data.active_templates("draft")] == [
        "pair-explorer",
        "pair-explorer-recursive-v5",
        "recursive-light",
    ]
    assert all(t.parser is None for t in data.active_templates("draft"))
    assert [(t.template_id, t.generator) for t in data.active_templates("essay")] == [
        ("synthesis-theme-narrative-v19", "llm")
    ]
    assert [(t.template_id, t.parser) for t in data.active_templates("evaluation")] == [
        ("style-coherence-v3", "in_last_line"),
        ("novelty", "in_last_line"),
    ]
    assert [m.model_id for m in data.generation_models()] == [
        "gemini_2.5_flash",
        "sonnet-4",
        "deepseek_r1_p",
        "gemini_25_pro",
        "qwen3-235b-a22b",
    ]
    assert [m.model_id for m in data.evaluation_models()] == ["sonnet-4", "gemini_25_pro"]
    assert data.routes()["sonnet-4"].model == "anthropic/claude-sonnet-4"
    assert data.curated_selection_path is None
