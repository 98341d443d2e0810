"""Unit and property tests of the draft parsers and the evaluation score parsers."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from daydreaming_dagster.core.draft_parsers import (
    DRAFT_PARSERS,
    UnknownParserError,
    get_draft_parser,
    identity_parser,
    parse_essay_block,
    parse_essay_block_lenient,
    parse_essay_idea_last,
)
from daydreaming_dagster.core.parser_errors import UnknownParserError as SharedUnknownParserError
from daydreaming_dagster.core.score_parser import (
    ALLOWED_SCORE_PARSERS,
    format_score,
    parse_llm_response,
)

STRATEGIES = sorted(ALLOWED_SCORE_PARSERS)
NO_IDEA_BLOCKS = "No <essay-idea> blocks found in links output"
NO_SCORE_LAST_LINES = "No score found in the last 3 lines."
NO_SCORE_COMPLEX = "No SCORE field found in response"


def idea(content: str, attrs: str = "") -> str:
    return f"<essay-idea{attrs}>\n{content}\n</essay-idea>"


# ------------------------------------------------------------------ parse_essay_idea_last


def test_idea_content_is_verbatim_with_inner_newlines_and_blank_lines() -> None:
    content = "  first line  \n\n\tindented\n\nlast  "
    assert parse_essay_idea_last(idea(content, ' stage="1"')) == content


def test_idea_highest_stage_wins_regardless_of_position() -> None:
    text = "\n".join([idea("one", ' stage="1"'), idea("ten", ' stage="10"'), idea("two", ' stage="2"')])
    assert parse_essay_idea_last(text) == "ten"  # numeric, not lexicographic, comparison


def test_idea_tie_goes_to_last_and_unstaged_blocks_are_ignored() -> None:
    text = "\n".join([idea("a", ' stage="2"'), idea("b", ' stage="2"'), idea("unstaged")])
    assert parse_essay_idea_last(text) == "b"


def test_idea_without_stages_last_block_wins() -> None:
    assert parse_essay_idea_last("intro\n" + idea("x") + "\nmid\n" + idea("y") + "\noutro") == "y"


def test_idea_stage_needs_double_quotes() -> None:
    text = "\n".join([idea("single", " stage='9'"), idea("double", ' stage="1"')])
    assert parse_essay_idea_last(text) == "double"


def test_idea_stage_is_searched_from_line_start_to_block_end() -> None:
    # Upstream quirk kept: a stage="N" earlier on the opening tag's line, or inside the
    # block's content, is taken as the block's stage.
    same_line = '<essay-idea stage="7"> <essay-idea>\nA\n</essay-idea>\n' + idea("B", ' stage="3"')
    assert parse_essay_idea_last(same_line) == "A"
    in_content = idea('C <essay-idea stage="5"') + "\n" + idea("D", ' stage="4"')
    assert parse_essay_idea_last(in_content) == 'C <essay-idea stage="5"'


def test_idea_tag_rules() -> None:
    assert parse_essay_idea_last('   <essay-idea id="x" stage="2">\nindented\n</essay-idea>') == "indented"
    assert parse_essay_idea_last("<essay-idea>\n\n</essay-idea>") == ""
    for text in [
        "<essay-idea>\n</essay-idea>",  # content needs its own line
        "<essay-idea>inline\n</essay-idea>",  # newline must follow the opening tag
        "<essay-idea>\nx\n  </essay-idea>",  # closing tag at column 0
        "<essay-idea>\r\nx\r\n</essay-idea>",  # CRLF never matches
        "<ESSAY-IDEA>\nx\n</ESSAY-IDEA>",  # case-sensitive
        "<essay-ideas>\nx\n</essay-idea>",
        "",
    ]:
        with pytest.raises(ValueError, match=re.escape(NO_IDEA_BLOCKS)):
            parse_essay_idea_last(text)


@pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"), reason="needs the int() digit limit")
def test_idea_stage_too_long_for_int_counts_as_no_stage() -> None:
    huge = "9" * (sys.get_int_max_str_digits() + 1)
    text = "\n".join([idea("huge", f' stage="{huge}"'), idea("small", ' stage="0"')])
    assert parse_essay_idea_last(text) == "small"


@given(st.text())
@example("")
@example("line\n\nline")
@example('<essay-idea stage="3">')
def test_idea_roundtrip(content: str) -> None:
    assume("\n</essay-idea>" not in content)
    assert parse_essay_idea_last(idea(content)) == content
    assert (
        parse_essay_idea_last(idea("earlier", ' stage="1"') + "\n" + idea(content, ' stage="2"')) == content
    )


@given(st.text())
def test_idea_parser_raises_only_value_error(text: str) -> None:
    try:
        result = parse_essay_idea_last(text)
    except ValueError as exc:
        assert str(exc) == NO_IDEA_BLOCKS
    else:
        assert result in text


# ---------------------------------------------------------------------- parse_essay_block


def test_essay_block_first_block_stripped() -> None:
    assert parse_essay_block("pre <essay>\n  first \n</essay> <essay>second</essay>") == "first"
    assert parse_essay_block("<essay>\r\nCRLF\r\n</essay>") == "CRLF"
    assert parse_essay_block("<essay></essay>") == ""


def test_essay_block_fallback_to_end_of_text_without_closing_tag() -> None:
    assert parse_essay_block("intro <essay>\n rest of the text \n") == "rest of the text"
    assert parse_essay_block("</essay> then <essay> tail") == "tail"


def test_essay_block_errors() -> None:
    for text in ["", "no tags", '<essay class="x">attr</essay>', "<ESSAY>x</ESSAY>", "</essay>"]:
        with pytest.raises(ValueError, match="^No <essay> block found$"):
            parse_essay_block(text)


@given(st.text(), st.text())
def test_essay_block_roundtrip(prefix: str, content: str) -> None:
    assume("<essay>" not in prefix and "</essay>" not in content)
    assume(not (prefix + "<essay>").endswith("<essay><essay>"))
    assert parse_essay_block(f"{prefix}<essay>{content}</essay>") == content.strip()


# ---------------------------------------------------------------------- get_draft_parser


def test_registry_names() -> None:
    assert DRAFT_PARSERS == {
        "essay_idea_last": parse_essay_idea_last,
        "essay_block": parse_essay_block,
        "essay_block_lenient": parse_essay_block_lenient,
    }


@pytest.mark.parametrize("name", [None, "", "   ", "identity", " identity\n"])
def test_identity_parser_names(name: str | None) -> None:
    parser = get_draft_parser(name)
    assert parser is identity_parser
    assert parser(" text \r\n") == " text \r\n"


def test_names_are_stripped() -> None:
    assert get_draft_parser(" essay_block\t") is parse_essay_block
    assert get_draft_parser("essay_idea_last") is parse_essay_idea_last


@pytest.mark.parametrize("name", ["essay-block", "ESSAY_BLOCK", "nan", "complex"])
def test_unknown_draft_parser(name: str) -> None:
    with pytest.raises(UnknownParserError) as info:
        get_draft_parser(name)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert repr(name) in message
    assert "essay_block, essay_block_lenient, essay_idea_last, identity" in message


def test_non_string_draft_parser_name() -> None:
    with pytest.raises(UnknownParserError, match="must be a string"):
        get_draft_parser(float("nan"))  # type: ignore[arg-type]


def test_unknown_parser_error_is_shared() -> None:
    assert UnknownParserError is SharedUnknownParserError
    assert issubclass(UnknownParserError, ValueError)


# ------------------------------------------------------------------- parse_llm_response


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("text", ["", " ", "\n\n", "\t\r\n \u2028"])
def test_empty_input(text: str, strategy: str) -> None:
    with pytest.raises(ValueError, match="^Empty or whitespace-only response$"):
        parse_llm_response(text, strategy)


@pytest.mark.parametrize("text", ["SCORE: 5", ""])
def test_unknown_strategy(text: str) -> None:
    with pytest.raises(UnknownParserError, match="Unknown parsing strategy: 'last_line'"):
        parse_llm_response(text, "last_line")
    with pytest.raises(UnknownParserError):
        parse_llm_response(text, " complex")  # no normalisation here: the config loader does that


def test_allowed_score_parsers() -> None:
    assert frozenset({"complex", "in_last_line"}) == ALLOWED_SCORE_PARSERS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reasoning.\nSCORE: 7", 7.0),
        ("SCORE: 7.25", 7.25),
        ("**SCORE:** 6", 6.0),
        ("### SCORE: 6 ###", 6.0),
        ("score:3", 3.0),
        ("Reasoning\r\nSCORE: 7\r\n", 7.0),
        ("SCORE: 10", 10.0),  # two digits: not pass 1, but the standard form accepts it
        ("Final Score 8 of 10", 8.0),
        ("The underscore: 5 is odd", 5.0),  # no word boundary before "score"
        ("Score: 8/10 and later Score: 3", 3.0),
    ],
)
def test_in_last_line_scores(text: str, expected: float) -> None:
    assert parse_llm_response(text, "in_last_line") == expected


def test_in_last_line_bare_score_line_beats_earlier_lines() -> None:
    assert parse_llm_response("Final Score: 9\nnotes\nSCORE: 4", "in_last_line") == 4.0


def test_in_last_line_first_matching_of_last_three_lines_wins() -> None:
    assert parse_llm_response("Total Score: 2\nFinal Score: 3\nFinal Score: 4", "in_last_line") == 2.0
    # Only the last three non-empty lines count; blank lines are skipped.
    text = "Total Score: 1\nTotal Score: 2\n\n  \nnotes\n\nFinal Score: 4\n\n"
    assert parse_llm_response(text, "in_last_line") == 2.0
    with pytest.raises(ValueError, match=re.escape(NO_SCORE_LAST_LINES)):
        parse_llm_response("Final Score: 4\na\nb\nc", "in_last_line")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Score: 456", 5.0),
        ("Score: 4, 5, 6", 5.0),
        ("Score: 4,5,6", 5.0),
        ("Score: 4 5 6", 5.0),
        ("Score: 100", 1 / 3),
        ("Score: 999", 9.0),
        ("Score: 000", 0.0),  # mean 0.0 falls through to the standard form
    ],
)
def test_in_last_line_three_digit_form(text: str, expected: float) -> None:
    assert parse_llm_response(text, "in_last_line") == expected


def test_in_last_line_three_digits_separated_by_other_whitespace() -> None:
    # Upstream quirk kept: \s matched a tab but only "," and " " are removed before the count.
    with pytest.raises(ValueError, match="^Expected 3 digits in score, found 5: 4\t5\t6$"):
        parse_llm_response("Score: 4\t5\t6", "in_last_line")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SCORE: -1", "Score -1.0 is outside valid range 0-10"),
        ("Score: 15", "Score 15.0 is outside valid range 0-10"),
        ("Score: 10.5", "Score 10.5 is outside valid range 0-10"),
        # The first matching line raises; later lines are not tried.
        ("Total Score: 15\nFinal Score: 5", "Score 15.0 is outside valid range 0-10"),
        ("Total Score: 7/10", NO_SCORE_LAST_LINES),
        ("Score:", NO_SCORE_LAST_LINES),
    ],
)
def test_in_last_line_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_llm_response(text, "in_last_line")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Score: 8/10 and later Score: 3", 8.0),  # any fraction beats single numbers
        ("Score: 2/10\nScore: 9/10", 9.0),  # the last fraction
        ("Score: 2\nScore: 9", 9.0),  # no fraction: the last single number
        ("Total Score: 6.5/10", 6.5),
        ("Score: 7/9", 7 / 9 * 10),
        ("Score: 3/4", 3 / 4 * 10),
        ("**Final Score**:  \n**4/10**", 4.0),  # value may be on the next line
        ("underscore: 5", 5.0),
        ("Score: 10", 10.0),
    ],
)
def test_complex_scores(text: str, expected: float) -> None:
    assert repr(parse_llm_response(text, "complex")) == repr(expected)


def test_complex_uses_last_thirty_lines() -> None:
    filler = "\n".join(["x"] * 29)
    assert parse_llm_response("Score: 5/10\n" + filler, "complex") == 5.0
    with pytest.raises(ValueError, match=NO_SCORE_COMPLEX):
        parse_llm_response("Score: 5/10\n" + filler + "\nx", "complex")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Score: 5/0", "Invalid score fraction: division by zero"),
        ("Score: 5/-0.0", "Invalid score fraction: division by zero"),
        ("Score: 12/10", "Score 12.0 is outside valid range 0-10"),
        ("Score: -1/10", "Score -1.0 is outside valid range 0-10"),
        ("Score: 456", "Score 456.0 is outside valid range 0-10"),
        ("Score: 4, 5, 6", NO_SCORE_COMPLEX),
        ("no score here", NO_SCORE_COMPLEX),
        # "**" is removed before "#", so "*#*" leaves "**" in place.
        ("Score: *#*7", NO_SCORE_COMPLEX),
    ],
)
def test_complex_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_llm_response(text, "complex")


def test_format_score() -> None:
    assert format_score(7) == "7.0\n"
    assert format_score(6.5) == "6.5\n"
    assert format_score(1 / 3) == "0.3333333333333333\n"


# ------------------------------------------------------------------- score properties

_NO_DIGITS = st.text(st.characters(exclude_categories=["Nd"]))


@given(prefix=_NO_DIGITS, n=st.integers(0, 9))
def test_in_last_line_final_score_line(prefix: str, n: int) -> None:
    assert parse_llm_response(f"{prefix}\nSCORE: {n}", "in_last_line") == float(n)


@given(a=st.integers(1, 1000), b=st.integers(1, 1000))
def test_complex_fraction(a: int, b: int) -> None:
    assume(a <= b)
    assert parse_llm_response(f"Score: {a}/{b}", "complex") == a / b * 10


# Text built from the tokens the parsers react to, so the generator reaches every branch.
_TOKENS = st.sampled_from(
    [
        "Score",
        "SCORE",
        "score",
        "Final ",
        "Total ",
        ":",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "*",
        "**",
        "#",
        "/",
        "-",
        ".",
        ",",
        "0",
        "1",
        "4",
        "5",
        "9",
        "10",
        "456",
        "x",
        "underscore",
        "\u00a0",
        "٣",
    ]
)
_SCORE_LIKE_TEXT = st.lists(_TOKENS, max_size=40).map("".join)


@pytest.mark.parametrize("strategy", STRATEGIES)
@given(text=st.one_of(st.text(), _SCORE_LIKE_TEXT))
def test_parse_raises_only_value_error(strategy: str, text: str) -> None:
    try:
        score = parse_llm_response(text, strategy)
    except UnknownParserError:
        raise
    except ValueError:
        return
    assert 0.0 <= score <= 10.0


# An oracle written straight from the spec's regexes (with their redundant whitespace part).
_SPEC_HEAD = r"(?:Final\s+|Total\s+)?(?:SCORE|Score)(?::\s*|\s+)[\n\r\s]*"


def _spec_in_last_line(text: str) -> float:
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()][-3:]
    cleaned = [ln.replace("*", "").replace("#", "") for ln in lines]
    for ln in cleaned:
        if re.match(r"^\s*SCORE:\s*[0-9](\.[0-9]+)?\s*$", ln, re.IGNORECASE):
            found = re.search(r"SCORE:\s*(-?\d+(?:\.\d+)?)", ln, re.IGNORECASE)
            assert found is not None
            return float(found.group(1))
    for ln in cleaned:
        score = None
        three = re.search(_SPEC_HEAD + r"(\d(\,?\s?)\d(\,?\s?)\d)", ln, re.IGNORECASE)
        if three:
            digits = three.group(1).replace(",", "").replace(" ", "")
            if len(digits) != 3:
                raise ValueError(f"Expected 3 digits in score, found {len(digits)}: {three.group(1)}")
            score = sum(float(d) for d in digits) / 3
        if not score:
            std = re.search(_SPEC_HEAD + r"(-?\d+(?:\.\d+)?)(?:\s|$)", ln, re.IGNORECASE)
            score = float(std.group(1)) if std else None
        if score is not None:
            if not 0 <= score <= 10:
                raise ValueError(f"Score {score} is outside valid range 0-10")
            return score
    raise ValueError(NO_SCORE_LAST_LINES)


def _spec_complex(text: str) -> float:
    window = "\n".join(text.strip().split("\n")[-30:]).replace("**", "").replace("#", "")
    fractions = list(re.finditer(_SPEC_HEAD + r"(-?\d+(?:\.\d+)?)/(-?\d+(?:\.\d+)?)", window, re.IGNORECASE))
    singles = list(re.finditer(_SPEC_HEAD + r"(-?\d+(?:\.\d+)?)(?:\s|$)", window, re.IGNORECASE))
    if fractions:
        num, den = float(fractions[-1].group(1)), float(fractions[-1].group(2))
        if den == 0:
            raise ValueError("Invalid score fraction: division by zero")
        score = num / den * 10
    elif singles:
        score = float(singles[-1].group(1))
    else:
        raise ValueError(NO_SCORE_COMPLEX)
    if not 0 <= score <= 10:
        raise ValueError(f"Score {score} is outside valid range 0-10")
    return score


def _result(func: object, *args: str) -> tuple[str, str]:
    try:
        return "ok", repr(func(*args))  # type: ignore[operator]
    except ValueError as exc:
        return "error", str(exc)


@given(text=_SCORE_LIKE_TEXT)
@example("Final Score:  \n\n  4/10")
@example("Score \t 4 \t5\t6")
def test_matches_spec_oracle(text: str) -> None:
    assume(text.strip())
    assert _result(parse_llm_response, text, "in_last_line") == _result(_spec_in_last_line, text)
    assert _result(parse_llm_response, text, "complex") == _result(_spec_complex, text)


def test_long_whitespace_run_is_fast() -> None:
    # Upstream's doubled whitespace quantifier backtracked quadratically on this input.
    text = "Score" + " " * 200_000 + "x"
    with pytest.raises(ValueError):
        parse_llm_response(text, "complex")
    with pytest.raises(ValueError):
        parse_llm_response(text, "in_last_line")
