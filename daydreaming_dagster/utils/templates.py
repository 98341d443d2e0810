"""Jinja rendering with upstream's semantics, but strict about undefined variables.

Upstream rendered with a default ``jinja2.Environment()``: no autoescape, no trim/lstrip blocks and
``keep_trailing_newline=False`` (one trailing newline of the source is dropped). We keep all of that
so existing templates render byte-identically, and use ``StrictUndefined`` so a variable the stage
does not provide is an error instead of empty text (an upstream bug).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_CACHE: dict[str, jinja2.Template] = {}
_CACHE_LOCK = threading.Lock()


class TemplateProblem(ValueError):
    """A template cannot be compiled or rendered; the message names the file and the fix."""


def _compile(source: str, where: str) -> jinja2.Template:
    template = _CACHE.get(source)
    if template is not None:
        return template
    try:
        template = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"{where}: line {exc.lineno}: Jinja syntax error: {exc.message}. "
            "Fix: correct the template syntax (see https://jinja.palletsprojects.com/templates/)."
        ) from exc
    with _CACHE_LOCK:
        _CACHE[source] = template
    return template


def check_template(source: str, *, provided: Iterable[str], where: str) -> None:
    """Compile ``source`` and check it only uses variables in ``provided``.

    Raises TemplateProblem naming ``where`` (the template file) and the offending variable.
    """
    _compile(source, where)
    undeclared = meta.find_undeclared_variables(_ENV.parse(source))
    unknown = sorted(undeclared - set(provided))
    if unknown:
        raise TemplateProblem(
            f"{where}: uses undefined variable(s) {', '.join(unknown)}. "
            f"Fix: this stage provides only {', '.join(sorted(provided))}."
        )


def render_prompt(source: str, variables: Mapping[str, Any], *, where: str = "<template>") -> str:
    """Render a template source with the stage's variables (upstream-identical output)."""
    template = _compile(source, where)
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(
            f"{where}: {exc.message}. Fix: use only the variables this stage provides "
            f"({', '.join(sorted(variables))})."
        ) from exc


def read_template(path: Path) -> str:
    """Read a template file as UTF-8 without newline translation."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise TemplateProblem(
            f"{path}: template file not found. Fix: create it, or set active=false on its row."
        ) from exc
