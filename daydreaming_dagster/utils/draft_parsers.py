"""Upstream's ``daydreaming_dagster.utils.draft_parsers``, at its old address and with its behaviour.

The parsers live in ``core/draft_parsers.py`` (one implementation, byte-identical on upstream's
golden cases); this module keeps upstream's names over them. ``get_draft_parser`` answers as
upstream's did: ``None`` for a name that is not a string or not registered (so ``None``, a blank
name and ``"identity"`` give ``None`` too). The pipeline itself uses ``core.draft_parsers``, where
an unknown name is an error rather than silently no parsing.
"""

from __future__ import annotations

from collections.abc import Callable

from daydreaming_dagster.core.draft_parsers import (
    DRAFT_PARSERS,
    parse_essay_block,
    parse_essay_block_lenient,
    parse_essay_idea_last,
)

__all__ = [
    "DRAFT_PARSERS_REGISTRY",
    "get_draft_parser",
    "parse_essay_block",
    "parse_essay_block_lenient",  # upstream HEAD's
    "parse_essay_idea_last",
]

#: Upstream's registry name for the one registry (the same dict: one list of parsers).
DRAFT_PARSERS_REGISTRY: dict[str, Callable[[str], str]] = DRAFT_PARSERS


def get_draft_parser(name: object) -> Callable[[str], str] | None:
    """The parser registered under ``name`` (stripped), or None, as upstream."""
    if not isinstance(name, str):
        return None
    return DRAFT_PARSERS_REGISTRY.get(name.strip())
