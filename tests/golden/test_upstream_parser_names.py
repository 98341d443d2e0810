"""Upstream's parser modules at upstream's names give upstream's recorded outputs, in upstream's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daydreaming_dagster.utils.draft_parsers import get_draft_parser
from daydreaming_dagster.utils.eval_response_parser import parse_llm_response

Outcome = tuple[str, Any]


def _outcome(func: Callable[..., Any], *args: Any) -> Outcome:
    try:
        return "ok", func(*args)
    except Exception as exc:  # the type name is part of what the goldens record
        return type(exc).__name__, str(exc)


def test_draft_parser_golden_through_upstreams_module(draft_parser_case: dict[str, Any]) -> None:
    case = draft_parser_case
    parser = get_draft_parser(case["parser"])
    assert parser is not None, case["parser"]
    expected: Outcome = (
        (case["error_type"], case["error_message"]) if "error_type" in case else ("ok", case["output"])
    )
    assert _outcome(parser, case["input"]) == expected


def _expected_result(case: dict[str, Any], score_key: str) -> Outcome:
    if case.get("error_type"):
        return case["error_type"], case["error_message"]
    return "ok", {"score": float(case[score_key]), "error": None}


def test_eval_score_file_golden_through_upstreams_module(eval_score_file_case: dict[str, Any]) -> None:
    case = eval_score_file_case
    assert _outcome(parse_llm_response, case["input"], case["strategy"]) == _expected_result(case, "score")


def test_eval_score_synthetic_golden_through_upstreams_module(eval_score_synthetic_case: dict[str, Any]) -> None:
    case = eval_score_synthetic_case
    kind, result = _outcome(parse_llm_response, case["input"], case["strategy"])
    assert (kind, result) == _expected_result(case, "score")
    if kind == "ok":
        assert repr(result["score"]) == case["score_repr"]
