"""Error type shared by the draft parsers and the evaluation score parsers."""

from __future__ import annotations


class UnknownParserError(ValueError):
    """A parser or parse strategy name that is not registered.

    A ValueError subclass so callers that already catch ValueError keep working.
    """
