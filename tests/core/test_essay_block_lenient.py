"""``essay_block_lenient``, upstream HEAD's draft parser (``src/daydreaming_dagster/utils/draft_parsers.py``).

The first cases are upstream's own tests (``tests/test_draft_parsers.py`` and
``tests/test_draft_parser_failure_raw_saved.py::test_draft_parser_lenient_passes_without_tags``);
the others follow its code path by path: thinking sections removed first, then HEAD's
``essay_block`` (tags in any case, an unclosed ``<essay>`` runs to the end), then the whole text.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daydreaming_dagster.core.draft_parsers import (
    get_draft_parser,
    parse_essay_block,
    parse_essay_block_lenient,
)

CASES = [
    # upstream's tests
    ("<thinking>reasoning</thinking>\nFirst line of answer.\nSecond line.", "First line of answer.\nSecond line."),
    ("<thinking>chain</thinking>\n<essay>\nFinal answer\n</essay>\n", "Final answer"),
    ("Line A\nLine B\nLine C\n", "Line A\nLine B\nLine C"),
    # a block: its stripped content, the first of several, tags in any case
    ("notes\n<essay>\n  The essay.  \n</essay>\ntail", "The essay."),
    ("<essay>one</essay><essay>two</essay>", "one"),
    ("<ESSAY>\nShouting\n</Essay>", "Shouting"),
    # an opening tag with no closing one: everything after it
    ("intro <Essay>\nunfinished essay\n", "unfinished essay"),
    # an opening tag with attributes is not an essay tag: the whole text
    ('<essay id="1">x</essay>', '<essay id="1">x</essay>'),
    # thinking sections go first, so an essay inside one is not taken
    ("<thinking><essay>draft</essay></thinking>\n<essay>real</essay>", "real"),
    ('<THINKING mode="deep">\nhidden\n</Thinking>\nvisible\n', "visible"),
    ("<thinking>a</thinking>kept<thinking>b</thinking>", "kept"),
    # an unclosed thinking section stays; <thinkingx> is not a thinking tag
    ("<thinking>no end\n<essay>e</essay>", "e"),
    ("<thinking>no end, no essay", "<thinking>no end, no essay"),
    ("<thinkingx>kept</thinking>", "<thinkingx>kept</thinking>"),
    # nothing left
    ("", ""),
    ("<thinking>only this</thinking>\n", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_upstream_semantics(text: str, expected: str) -> None:
    assert parse_essay_block_lenient(text) == expected


def test_registered_for_draft_templates() -> None:
    assert get_draft_parser("essay_block_lenient") is parse_essay_block_lenient


def test_seed_era_essay_block_keeps_its_case() -> None:
    # The seed-era parser under the name essay_block stays case-sensitive (goldens).
    with pytest.raises(ValueError, match="No <essay> block found"):
        parse_essay_block("<ESSAY>x</ESSAY>")


@given(st.text())
def test_never_raises_and_is_stripped(text: str) -> None:
    parsed = parse_essay_block_lenient(text)
    assert parsed == parsed.strip()


@given(st.text().filter(lambda t: "<" not in t))
def test_untagged_text_is_the_draft_stripped(text: str) -> None:
    assert parse_essay_block_lenient(text) == text.strip()
