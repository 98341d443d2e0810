"""Upstream's ``daydreaming_dagster.utils.eval_response_parser``, at its old address.

The score parser lives in ``core/score_parser.py`` (one implementation, identical to upstream's on
its golden cases); this module keeps upstream's name and return shape over it:
``parse_llm_response(text, strategy) -> {"score": float, "error": None}``, and ``ValueError`` with
upstream's message for text that holds no valid score. Two deliberate differences, both errors
either way: an unknown strategy is checked before the text (so a misconfiguration is never hidden
by an empty response) and its message lists the known strategies; a NaN score is refused.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from daydreaming_dagster.core import score_parser

__all__ = ["ParseStrategy", "ScoreResult", "parse_llm_response"]

ParseStrategy = Literal["complex", "in_last_line"]


class ScoreResult(TypedDict):
    score: float
    error: None


def parse_llm_response(response_text: str, strategy: ParseStrategy | str) -> ScoreResult:
    """``{"score": <0..10>, "error": None}``; raises ValueError as upstream."""
    return {"score": score_parser.parse_llm_response(response_text, strategy), "error": None}
