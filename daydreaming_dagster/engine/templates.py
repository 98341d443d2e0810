"""Jinja rendering with upstream's semantics, but strict about undefined variables.

Upstream rendered with a default ``jinja2.Environment()``: no autoescape, no trim/lstrip blocks and
``keep_trailing_newline=False`` (one trailing newline of the source is dropped). We keep all of that
so existing templates render byte-identically, and use ``StrictUndefined`` so a variable the stage
does not provide is an error instead of empty text (an upstream bug).

Templates are shared between researchers, so they render in Jinja's sandbox: a template cannot reach
``__globals__``, ``__class__``, ``os.environ`` or any other Python internals (an API key in the
environment can never be rendered into a prompt).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_CACHE: dict[str, jinja2.Template] = {}
_CACHE_LOCK = threading.Lock()


class TemplateProblem(ValueError):
    """A template cannot be compiled or rendered.

    ``detail`` says what is wrong, ``line`` where in the template (when known), ``fix`` what to do;
    ``str()`` joins them after the template's file name.
    """

    def __init__(self, where: str, detail: str, *, line: int | None = None, fix: str = "", kind: str = "other"):
        self.where, self.detail, self.line, self.fix = where, detail, line, fix
        self.kind = kind  # syntax | undefined | unsafe | missing
        at = f" line {line}:" if line is not None else ""
        super().__init__(f"{where}:{at} {detail}." + (f" Fix: {fix}." if fix else ""))


def _template_line(exc: BaseException) -> int | None:
    """The template line of a render error (Jinja rewrites tracebacks to template lines)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _compile(source: str, where: str) -> jinja2.Template:
    template = _CACHE.get(source)
    if template is not None:
        return template
    try:
        template = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(
            where,
            f"Jinja syntax error: {exc.message}",
            line=exc.lineno,
            kind="syntax",
            fix="correct the template syntax (see https://jinja.palletsprojects.com/templates/)",
        ) from exc
    with _CACHE_LOCK:
        _CACHE[source] = template
    return template


def render_prompt(source: str, variables: Mapping[str, Any], *, where: str = "<template>") -> str:
    """Render a template source with the stage's variables (upstream-identical output)."""
    template = _compile(source, where)
    try:
        return template.render(**variables)
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateProblem(
            where,
            f"unsafe template code refused ({exc})",
            line=_template_line(exc),
            kind="unsafe",
            fix="a template may only show the stage's variables and their attributes, not Python internals",
        ) from exc
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(
            where,
            str(exc.message),
            line=_template_line(exc),
            kind="undefined",
            fix=f"use only the variables this stage provides ({', '.join(sorted(variables))}) and their attributes",
        ) from exc


def read_template(path: Path) -> str:
    """Read a template file as UTF-8 without newline translation."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise TemplateProblem(
            str(path), "template file not found", fix="create it, or set active=false on its row", kind="missing"
        ) from exc
