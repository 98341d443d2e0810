"""Draft-phase parsers: pick the part of a raw draft that the essay stage consumes.

``essay_idea_last`` and ``essay_block`` reproduce the seed-era (2025-09-09) behaviour exactly,
including its quirks: tags are matched case-sensitively and only with ``\\n`` newlines (CRLF text
never matches ``<essay-idea>`` blocks), and error messages are verbatim. ``essay_block_lenient``
is upstream HEAD's (``utils/draft_parsers.py``), with HEAD's any-case tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from daydreaming_dagster.core.parser_errors import UnknownParserError

__all__ = [
    "DRAFT_PARSERS",
    "IDENTITY_PARSER",
    "UnknownParserError",
    "get_draft_parser",
    "identity_parser",
    "parse_essay_block",
    "parse_essay_block_lenient",
    "parse_essay_idea_last",
]

DraftParser = Callable[[str], str]

# The opening tag may carry attributes and be indented; a "\n" must follow it directly and the
# closing tag must sit at column 0 right after a "\n". The content is kept verbatim.
_ESSAY_IDEA_BLOCK = re.compile(r"<essay-idea(?:\s+[^>]*)?>\n([\s\S]*?)\n</essay-idea>")
# Double quotes only: stage='4' is not a stage (golden case 11).
_STAGE_ATTR = re.compile(r'<essay-idea[^>]*stage="(\d+)"')
_ESSAY_BLOCK = re.compile(r"<essay>([\s\S]*?)</essay>")
_ESSAY_OPEN = "<essay>"
# Upstream HEAD's essay_block (the one its lenient parser calls) matches the tags in any case;
# the seed era's did not, so the two live side by side.
_ESSAY_BLOCK_ANY_CASE = re.compile(r"<essay>([\s\S]*?)</essay>", re.IGNORECASE)
_THINKING_BLOCK = re.compile(r"<thinking\b[^>]*>([\s\S]*?)</thinking>", re.IGNORECASE)


def _block_stage(text: str, block: re.Match[str]) -> int | None:
    """Stage number of one ``<essay-idea>`` block, or None.

    Upstream searches from the start of the opening tag's line to the end of the block, so a
    ``stage="N"`` earlier on that line, or inside the block's content, also counts.
    """
    line_start = text.rfind("\n", 0, block.start()) + 1
    found = _STAGE_ATTR.search(text, line_start, block.end())
    if found is None:
        return None
    try:
        return int(found.group(1))
    except ValueError:  # more digits than int() accepts: treated as "no stage", as upstream
        return None


def parse_essay_idea_last(text: str) -> str:
    """Content of the highest-stage ``<essay-idea>`` block (last one on ties).

    If no block carries a numeric ``stage="N"``, the last block wins. Raises ValueError when
    there is no block at all.
    """
    last: str | None = None
    best: str | None = None
    best_stage = -1
    for block in _ESSAY_IDEA_BLOCK.finditer(text):
        content = block.group(1)
        last = content
        stage = _block_stage(text, block)
        if stage is not None and stage >= best_stage:  # >=: the later block wins a tie
            best_stage, best = stage, content
    if last is None:
        raise ValueError("No <essay-idea> blocks found in links output")
    return best if best is not None else last


def parse_essay_block(text: str) -> str:
    """Stripped content of the first ``<essay>...</essay>`` block (no attributes allowed).

    Fallback: with an opening ``<essay>`` but no closing tag after it, everything after the
    tag to the end of the text, stripped. Raises ValueError when there is no ``<essay>``.
    """
    block = _ESSAY_BLOCK.search(text)
    if block is not None:
        return block.group(1).strip()
    start = text.find(_ESSAY_OPEN)
    if start != -1:
        return text[start + len(_ESSAY_OPEN) :].strip()
    raise ValueError("No <essay> block found")


def _strip_thinking_blocks(text: str) -> str:
    """Remove every closed ``<thinking ...>...</thinking>`` section (tags in any case)."""
    if "<thinking" not in text.lower():
        return text
    return _THINKING_BLOCK.sub("", text)


def parse_essay_block_lenient(text: str) -> str:
    """Upstream HEAD's ``essay_block_lenient``: the essay block if there is one, else the text.

    First every closed ``<thinking>`` section is removed (an unclosed one stays). Then, with tags
    matched in any case: the stripped content of the first ``<essay>...</essay>`` block; else,
    after an ``<essay>`` with no closing tag, everything to the end, stripped; else the whole
    text, stripped. Never raises.
    """
    sanitized = _strip_thinking_blocks(text)
    block = _ESSAY_BLOCK_ANY_CASE.search(sanitized)
    if block is not None:
        return block.group(1).strip()
    # As upstream: the position is found in a lower-cased copy and used on the text itself.
    start = sanitized.lower().find(_ESSAY_OPEN)
    if start != -1:
        return sanitized[start + len(_ESSAY_OPEN) :].strip()
    return sanitized.strip()


def identity_parser(text: str) -> str:
    """The parser of templates without one: the draft is used as is."""
    return text


IDENTITY_PARSER = "identity"

DRAFT_PARSERS: dict[str, DraftParser] = {
    "essay_idea_last": parse_essay_idea_last,
    "essay_block": parse_essay_block,
    "essay_block_lenient": parse_essay_block_lenient,
}


def get_draft_parser(name: str | None) -> DraftParser:
    """Look up a draft parser by its (whitespace-stripped) name.

    ``None``, a blank name and ``"identity"`` give :func:`identity_parser`. Any other name
    that is not in :data:`DRAFT_PARSERS` raises :class:`UnknownParserError`. Unlike upstream
    (which returned None), an unknown name is an error, so a typo in draft_templates.csv
    cannot silently disable parsing. Callers reading pandas frames must map NaN to None.
    """
    if name is None:
        return identity_parser
    if not isinstance(name, str):
        raise UnknownParserError(f"Draft parser name must be a string, got {name!r}")
    key = name.strip()
    if key in ("", IDENTITY_PARSER):
        return identity_parser
    parser = DRAFT_PARSERS.get(key)
    if parser is None:
        known = ", ".join(sorted([*DRAFT_PARSERS, IDENTITY_PARSER]))
        raise UnknownParserError(f"Unknown draft parser {name!r}; known parsers: {known}")
    return parser
