"""The design's and upstream's public names: they import, and behave as the design and upstream say."""

from __future__ import annotations

import typing

import pytest

from daydreaming_dagster.core import draft_parsers as core_draft_parsers
from daydreaming_dagster.core import score_parser
from daydreaming_dagster.engine import flow
from daydreaming_dagster.utils import draft_parsers, eval_response_parser, generation_engine

DESIGN_NAMES = (  # ../shared/design/generation_engine_plan.md, "Planned Module"
    "StageSpec",
    "orchestrate_generation",
    "render_prompt",
    "llm_generate",
    "resolve_cohort_id",
    "normalize_newlines",
    "detect_truncation",
)


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_generation_engine_exports_each_design_name_as_the_engines_own(name: str) -> None:
    assert name in generation_engine.__all__
    assert getattr(generation_engine, name) is getattr(flow, name)  # a face, not a copy


def test_every_exported_name_exists() -> None:
    for module in (generation_engine, draft_parsers, eval_response_parser):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], module.__name__


# ---------------------------------------------------------------- utils.draft_parsers


def test_draft_parsers_module_has_upstreams_names_over_the_one_registry() -> None:
    assert draft_parsers.DRAFT_PARSERS_REGISTRY is core_draft_parsers.DRAFT_PARSERS
    assert set(draft_parsers.DRAFT_PARSERS_REGISTRY) == {"essay_idea_last", "essay_block", "essay_block_lenient"}
    assert draft_parsers.parse_essay_block is core_draft_parsers.parse_essay_block
    assert draft_parsers.parse_essay_block_lenient is core_draft_parsers.parse_essay_block_lenient
    assert draft_parsers.parse_essay_idea_last is core_draft_parsers.parse_essay_idea_last


@pytest.mark.parametrize(
    "name,expected",
    [
        ("essay_block", "parse_essay_block"),
        ("  essay_idea_last\t", "parse_essay_idea_last"),  # upstream strips the name
        ("essay_block_lenient", "parse_essay_block_lenient"),  # upstream HEAD's
    ],
)
def test_get_draft_parser_finds_registered_names(name: str, expected: str) -> None:
    parser = draft_parsers.get_draft_parser(name)
    assert parser is getattr(draft_parsers, expected)


@pytest.mark.parametrize("name", [None, 3, float("nan"), "", "  ", "identity", "essay-block", "ESSAY_BLOCK"])
def test_get_draft_parser_answers_none_where_upstream_did(name: object) -> None:
    # Upstream: None for a non-string or unregistered name (the pipeline's core version raises instead).
    assert draft_parsers.get_draft_parser(name) is None


def test_get_draft_parser_parses_like_upstream() -> None:
    parser = draft_parsers.get_draft_parser("essay_block")
    assert parser is not None
    assert parser("intro <essay>  The essay. </essay> outro") == "The essay."
    with pytest.raises(ValueError, match="No <essay> block found"):
        parser("no tags")


# ---------------------------------------------------------------- utils.eval_response_parser


def test_parse_llm_response_returns_upstreams_dict() -> None:
    result = eval_response_parser.parse_llm_response("Good.\nSCORE: 7", "in_last_line")
    assert result == {"score": 7.0, "error": None}
    assert type(result["score"]) is float
    assert eval_response_parser.parse_llm_response("Total Score: 7/10", "complex") == {"score": 7.0, "error": None}


@pytest.mark.parametrize(
    "text,strategy,message",
    [
        ("   \n", "in_last_line", "Empty or whitespace-only response"),
        ("no score here", "in_last_line", "No score found in the last 3 lines."),
        ("no score here", "complex", "No SCORE field found in response"),
        ("SCORE: 11", "complex", "Score 11.0 is outside valid range 0-10"),
        ("SCORE: 7", "bogus", "Unknown parsing strategy"),
    ],
)
def test_parse_llm_response_raises_value_error_as_upstream(text: str, strategy: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        eval_response_parser.parse_llm_response(text, strategy)
    assert str(info.value).startswith(message)


def test_parse_strategy_names_the_allowed_strategies() -> None:
    assert set(typing.get_args(eval_response_parser.ParseStrategy)) == score_parser.ALLOWED_SCORE_PARSERS
