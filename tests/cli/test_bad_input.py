"""Every bad input stops ``daydream run`` with a short message naming the file and the fix,
exit status 2, and nothing written under gens/ (no LLM call can have happened)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, main
from daydreaming_dagster.testing import sample_data as sd


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new))


RAW = Path("1_raw")
CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "malformed_csv": (
        lambda r: _edit(r / RAW / "concepts_metadata.csv", "alpha,Alpha Concept,true", "alpha,Alpha Concept,true,extra,cells"),
        ["concepts_metadata.csv:2:", "Fix"],
    ),
    "missing_column": (
        lambda r: (r / RAW / "essay_templates.csv").write_text(
            (r / RAW / "essay_templates.csv").read_text().replace(",generator\n", "\n").replace(",llm\n", "\n").replace(",copy\n", "\n")
        ),
        ["essay_templates.csv", "generator", "llm or copy"],
    ),
    "duplicate_id": (
        lambda r: _edit(r / RAW / "concepts_metadata.csv", "beta,Beta Concept", "alpha,Beta Concept"),
        ["concepts_metadata.csv", "duplicate", "alpha"],
    ),
    "non_boolean_flag": (
        lambda r: _edit(r / RAW / "concepts_metadata.csv", "gamma,Gamma Concept,true", "gamma,Gamma Concept,yes"),
        ["concepts_metadata.csv:4:", "'yes'", "true or false"],
    ),
    "missing_template_file": (
        lambda r: (r / RAW / "evaluation_templates" / f"{sd.EVALUATION_TEMPLATE_ID}.txt").unlink(),
        ["evaluation_templates", f"{sd.EVALUATION_TEMPLATE_ID}.txt"],
    ),
    "template_syntax_error": (
        lambda r: (r / RAW / "generation_templates" / "essay" / f"{sd.ESSAY_LLM_TEMPLATE_ID}.txt").write_text("{% for x in %}"),
        [f"{sd.ESSAY_LLM_TEMPLATE_ID}.txt", "syntax error", "Fix"],
    ),
    "undefined_template_variable": (
        lambda r: (r / RAW / "evaluation_templates" / f"{sd.EVALUATION_TEMPLATE_ID}.txt").write_text("{{ essay_text }}"),
        [f"{sd.EVALUATION_TEMPLATE_ID}.txt", "essay_text", "response"],
    ),
    "unknown_local_model": (
        lambda r: _edit(r / RAW / "llm_models.csv", f"{sd.MODEL_ID},mock-model,mock,", f"{sd.MODEL_ID},no-such-model,local,"),
        ["no-such-model", sd.MODEL_ID],
    ),
    "unsafe_id": (
        lambda r: _edit(r / RAW / "concepts_metadata.csv", "beta,Beta Concept", "../beta,Beta Concept"),
        ["concepts_metadata.csv", "../beta", "cannot be used as a file name"],
    ),
    "template_attribute_typo": (
        lambda r: (r / RAW / "generation_templates" / "draft" / f"{sd.DRAFT_TEMPLATE_ID}.txt").write_text(
            "Concepts:\n{% for c in concepts %}{{ c.name }}: {{ c.description }}\n{% endfor %}"
        ),
        [f"{sd.DRAFT_TEMPLATE_ID}.txt:2:", "has no attribute 'description'", "each item has name and content"],
    ),
    "template_reaching_globals": (
        lambda r: (r / RAW / "generation_templates" / "draft" / f"{sd.DRAFT_TEMPLATE_ID}.txt").write_text(
            "{{ cycler.__init__.__globals__.os.getcwd() }}"
        ),
        [f"{sd.DRAFT_TEMPLATE_ID}.txt", "unsafe", "Python internals"],
    ),
    "template_reaching_class": (
        lambda r: (r / RAW / "evaluation_templates" / f"{sd.EVALUATION_TEMPLATE_ID}.txt").write_text(
            "{{ response.__class__.__mro__ }}"
        ),
        [f"{sd.EVALUATION_TEMPLATE_ID}.txt", "unsafe"],
    ),
    "bad_description_level": (
        lambda r: (r / "experiment.toml").write_text('description_level = "summary"\n'),
        ["experiment.toml", "description_level", "'summary'", "sentence", "article"],
    ),
    "bad_toml": (
        lambda r: (r / "experiment.toml").write_text("k_max = \n"),
        ["experiment.toml", "TOML"],
    ),
    "unknown_setting": (
        lambda r: (r / "experiment.toml").write_text("kmax = 2\n"),
        ["experiment.toml", "unknown setting", "kmax", "k_max"],
    ),
    "local_model_without_extra": (
        lambda r: _edit(r / RAW / "llm_models.csv", f"{sd.MODEL_ID},mock-model,mock,", f"{sd.MODEL_ID},/nowhere/model.gguf,local,"),
        ["/nowhere/model.gguf"],
    ),
    "missing_api_key": (
        lambda r: None,  # provider "mock" is served by OpenRouter by default, and no key is set
        ["OPENROUTER_API_KEY"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_stops_before_any_generation(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = sd.write_minimal_data_root(tmp_path / "data")
    breaker, expected = CASES[case]
    breaker(root)
    code = main(["run", "--data-root", str(root), "--quiet"])
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert code == EXIT_BAD_INPUT, out
    assert "Traceback" not in captured.out + captured.err
    for part in expected:
        assert part in out, (part, out)
    assert not (root / "gens").exists()
    assert len(out) < 1500  # short: one line per problem


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--stages", "drafts"], ["--stages", "drafts", "draft, essay, evaluation"]),
        (["--stages", ""], ["--stages", "no stage"]),
        (["--concurrency", "0"], ["--concurrency 0", "at least 1"]),
        (["--k-max", "0"], ["--k-max 0", "at least 1"]),
    ],
)
def test_bad_flags_are_input_errors(flags: list[str], expected: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = sd.write_minimal_data_root(tmp_path / "data")
    code = main(["run", "--data-root", str(root), "--quiet", *flags])
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert code == EXIT_BAD_INPUT, out
    assert "Traceback" not in captured.out + captured.err and "pydantic" not in out
    for part in expected:
        assert part in out, (part, out)
    assert not (root / "gens").exists()


def test_no_secret_can_reach_a_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DD_LLM_API_KEY", "sk-secret-value")
    root = sd.write_minimal_data_root(tmp_path / "data")
    template = root / RAW / "generation_templates" / "draft" / f"{sd.DRAFT_TEMPLATE_ID}.txt"
    for source in (
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ lipsum.__globals__['os'].environ['DD_LLM_API_KEY'] }}",
        "{{ concepts.__class__.__base__.__subclasses__() }}",
    ):
        template.write_text(source)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_BAD_INPUT
        out = capsys.readouterr().out
        assert "sk-secret-value" not in out and "unsafe" in out
    assert not (root / "gens").exists()
