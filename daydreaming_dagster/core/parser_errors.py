"""Error type shared by the draft parsers and the evaluation score parsers (defined in core/errors.py)."""

from __future__ import annotations

from daydreaming_dagster.core.errors import UnknownParserError

__all__ = ["UnknownParserError"]
