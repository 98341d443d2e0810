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
    out = " ".join(capsys.readouterr().out.split())
    assert code == EXIT_BAD_INPUT, out
    for part in expected:
        assert part in out, (part, out)
    assert not (root / "gens").exists()
    assert len(out) < 1500  # short: one line per problem
