"""Draft parsers and score parsers against the outputs recorded from the seed-era code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from daydreaming_dagster.core.draft_parsers import get_draft_parser
from daydreaming_dagster.core.score_parser import (
    ALLOWED_SCORE_PARSERS,
    format_score,
    parse_llm_response,
)

Outcome = tuple[str, Any]


def _outcome(func: Callable[..., Any], *args: Any) -> Outcome:
    """("ok", result) or (exception type name, str(exception))."""
    try:
        return "ok", func(*args)
    except Exception as exc:  # any type: the type name is part of what we compare
        return type(exc).__name__, str(exc)


def _score_outcome(text: str, strategy: str) -> Outcome:
    kind, value = _outcome(parse_llm_response, text, strategy)
    return (kind, repr(value)) if kind == "ok" else (kind, value)


def test_draft_parser_golden(draft_parser_case: dict[str, Any]) -> None:
    case = draft_parser_case
    expected: Outcome = (
        (case["error_type"], case["error_message"]) if "error_type" in case else ("ok", case["output"])
    )
    assert _outcome(get_draft_parser(case["parser"]), case["input"]) == expected


def test_eval_score_file_golden(eval_score_file_case: dict[str, Any]) -> None:
    case = eval_score_file_case
    expected: Outcome = (
        (case["error_type"], case["error_message"]) if case["error_type"] else ("ok", case["score"])
    )
    assert _score_outcome(case["input"], case["strategy"]) == expected


def test_eval_score_synthetic_golden(eval_score_synthetic_case: dict[str, Any]) -> None:
    case = eval_score_synthetic_case
    if "error_type" in case:
        assert _score_outcome(case["input"], case["strategy"]) == (case["error_type"], case["error_message"])
    else:
        score = parse_llm_response(case["input"], case["strategy"])
        assert repr(score) == case["score_repr"]
        assert score == case["score"]


def test_every_response_file_is_scored_with_both_strategies(compat: Path) -> None:
    # Guards the parametrized test above against a CSV that silently lost rows.
    parsers = compat / "golden" / "parsers"
    files = {path.name for path in (parsers / "eval_responses").glob("*.txt")}
    lines = (parsers / "eval_scores.csv").read_bytes().decode("utf-8").split("\n")[1:]
    recorded = {tuple(line.split(",")[:2]) for line in lines if line}
    assert files
    assert recorded == {(name, strategy) for name in files for strategy in ALLOWED_SCORE_PARSERS}


def test_evaluation_parsed_txt_golden(evaluation_output_case: dict[str, Any]) -> None:
    """parsed.txt of every evaluation the seed pipeline wrote = format_score(parse(raw.txt))."""
    case = evaluation_output_case
    score = parse_llm_response(case["raw"], case["strategy"])
    assert format_score(score) == case["parsed"]
