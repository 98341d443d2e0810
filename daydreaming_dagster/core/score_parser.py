"""Evaluation score parsing: turn an evaluator's raw response into a 0-10 score.

Reproduces the seed-era ``parse_llm_response`` (2025-09-09): the same regexes, the same
line selection and the same ``ValueError`` messages. It returns the float score itself
rather than upstream's ``{"score": ..., "error": None}`` dict.
"""

from __future__ import annotations

import re

from daydreaming_dagster.core.parser_errors import UnknownParserError

__all__ = [
    "ALLOWED_SCORE_PARSERS",
    "UnknownParserError",
    "format_score",
    "parse_llm_response",
]

ALLOWED_SCORE_PARSERS: frozenset[str] = frozenset({"complex", "in_last_line"})

# Upstream puts an extra ``[\n\r\s]*`` after the separator. It matches nothing the separator's
# own ``\s*``/``\s+`` does not, and every value starts with a non-space character, so dropping it
# changes no match or group while removing quadratic backtracking on long whitespace runs.
_HEAD = r"(?:Final\s+|Total\s+)?(?:SCORE|Score)(?::\s*|\s+)"
_NUMBER = r"(-?\d+(?:\.\d+)?)"

# in_last_line, pass 1: a line that is exactly "SCORE: d[.ddd]" (one ASCII integer digit).
_EXACT_LINE = re.compile(r"^\s*SCORE:\s*([0-9](?:\.[0-9]+)?)\s*$", re.IGNORECASE)
# in_last_line, pass 2. \s inside the three-digit form may be a tab or another non-space
# whitespace character; upstream then fails its 3-digit check (kept, see _three_digit_score).
_THREE_DIGIT = re.compile(_HEAD + r"(\d(?:,?\s?)\d(?:,?\s?)\d)", re.IGNORECASE)
_STANDARD = re.compile(_HEAD + _NUMBER + r"(?:\s|$)", re.IGNORECASE)
# complex
_FRACTION = re.compile(_HEAD + _NUMBER + "/" + _NUMBER, re.IGNORECASE)

_IN_LAST_LINE_WINDOW = 3
_COMPLEX_WINDOW = 30


def parse_llm_response(text: str, strategy: str) -> float:
    """Score (0 <= score <= 10) found in ``text`` with the named strategy.

    Raises :class:`UnknownParserError` for a strategy outside :data:`ALLOWED_SCORE_PARSERS`
    (checked first, so a misconfiguration is never masked by an empty response) and
    ``ValueError`` with upstream's message for any text that yields no valid score.
    """
    if strategy not in ALLOWED_SCORE_PARSERS:
        raise UnknownParserError(
            f"Unknown parsing strategy: {strategy!r}; known strategies: "
            + ", ".join(sorted(ALLOWED_SCORE_PARSERS))
        )
    if not text or not text.strip():
        raise ValueError("Empty or whitespace-only response")
    if strategy == "in_last_line":
        return _parse_in_last_line(text)
    return _parse_complex(text)


def format_score(score: float) -> str:
    """Text of an evaluation's parsed.txt: the float's repr and a newline (``"7.0\\n"``)."""
    return f"{float(score)}\n"


def _check_range(score: float) -> float:
    # Written so that NaN fails too. (Upstream's `complex` check let a NaN from inf/inf through;
    # that needs 300+ digit numbers and a NaN score would poison every aggregate.)
    if not 0 <= score <= 10:
        raise ValueError(f"Score {score} is outside valid range 0-10")
    return score


def _parse_in_last_line(text: str) -> float:
    """Score from the last 3 non-empty lines; the first qualifying line (top-down) wins."""
    stripped = (line.strip() for line in text.strip().split("\n"))
    lines = [line.replace("*", "").replace("#", "") for line in stripped if line]
    lines = lines[-_IN_LAST_LINE_WINDOW:]

    # Pass 1: a bare "SCORE: n" line beats any "Final/Total Score" line around it.
    for line in lines:
        exact = _EXACT_LINE.match(line)
        if exact is not None:
            return _check_range(float(exact.group(1)))

    # Pass 2: three-digit form, else the standard form. Upstream chains them with `or`, so a
    # three-digit mean of 0.0 ("000") falls through to the standard form.
    for line in lines:
        score = _three_digit_score(line) or _standard_score(line)
        if score is not None:
            return _check_range(score)
    raise ValueError("No score found in the last 3 lines.")


def _three_digit_score(line: str) -> float | None:
    """Mean of a three-digit score ("456" or "4, 5, 6" -> 5.0), or None."""
    found = _THREE_DIGIT.search(line)
    if found is None:
        return None
    raw = found.group(1)
    digits = raw.replace(",", "").replace(" ", "")
    if len(digits) != 3:  # e.g. digits separated by tabs
        raise ValueError(f"Expected 3 digits in score, found {len(digits)}: {raw}")
    return sum(float(digit) for digit in digits) / 3


def _standard_score(line: str) -> float | None:
    found = _STANDARD.search(line)
    return float(found.group(1)) if found is not None else None


def _parse_complex(text: str) -> float:
    """Legacy strategy: the last fraction in the last 30 lines, else the last plain number."""
    window = "\n".join(text.strip().split("\n")[-_COMPLEX_WINDOW:])
    # Order matters: "**" first, then "#" (so "*#*" becomes "**").
    window = window.replace("**", "").replace("#", "")

    fraction = _last_match(_FRACTION, window)
    if fraction is not None:
        numerator, denominator = float(fraction.group(1)), float(fraction.group(2))
        if denominator == 0:
            raise ValueError("Invalid score fraction: division by zero")
        return _check_range((numerator / denominator) * 10)

    single = _last_match(_STANDARD, window)
    if single is not None:
        return _check_range(float(single.group(1)))
    raise ValueError("No SCORE field found in response")


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """Last of the left-to-right, non-overlapping matches (as ``list(finditer)[-1]``)."""
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - the loop only advances to the last match
        pass
    return last
