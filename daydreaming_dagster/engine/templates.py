"""Jinja rendering with upstream's semantics, but strict about undefined variables.

Upstream rendered with a default ``jinja2.Environment()``: no autoescape, no trim/lstrip blocks and
``keep_trailing_newline=False`` (one trailing newline of the source is dropped). We keep all of that
so existing templates render byte-identically, and use ``StrictUndefined`` so a variable the stage
does not provide is an error instead of empty text (an upstream bug).

Templates are shared between researchers, so they render in Jinja's sandbox: a template cannot reach
``__globals__``, ``__class__``, ``os.environ`` or any other Python internals (an API key in the
environment can never be rendered into a prompt). Templates that cannot be right are refused
with the file, the line and the fix: empty ones, ones that are not UTF-8, ``include``/``import``/
``extends`` (a template is one file), and runaway constructs: a range above 100,000 items, string
or list repetition or an output above ``MAX_PROMPT_CHARS``, and loops that together run more than
``MAX_LOOP_ITERATIONS`` times (nested loops that would render nothing for hours).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from daydreaming_dagster.core.errors import TemplateProblem

#: The longest prompt a template may render (characters): far above any real prompt, far below
#: what would exhaust memory or a provider's request limit.
MAX_PROMPT_CHARS = 2_000_000
#: How many loop iterations one rendering may run, all loops together: a real prompt runs a few
#: hundred; a million take well under a second.
MAX_LOOP_ITERATIONS = 1_000_000
_LIMIT_FIX = "a template shows the stage's inputs; it does not build large texts"
_LOOP_BUDGET = threading.local()  # iterations left to the rendering running in this thread
_COUNTED = "__dd_counted_loop"


def _counted_loop(iterable: Any) -> Any:
    """What every ``{% for %}`` iterates through: the same items, each one counted."""
    for item in iterable:
        left = getattr(_LOOP_BUDGET, "left", MAX_LOOP_ITERATIONS) - 1
        if left < 0:
            raise OverflowError(f"the template's loops ran more than {MAX_LOOP_ITERATIONS:,} times")
        _LOOP_BUDGET.left = left
        yield item


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` checked so a template cannot build a huge value."""

    intercepted_binops = frozenset({"*", "**"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The parsed template, with each loop's iterable wrapped in ``_counted_loop``."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name(_COUNTED, "load"), [loop.iter], [], None, None, lineno=loop.lineno)
        tree.set_environment(self)
        return tree

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64 and isinstance(left, int | float) and abs(left) > 1:
                raise OverflowError(f"{left} ** {right} is too large for a template")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_PROMPT_CHARS:
                raise OverflowError(f"repeating a value {times} times makes more than {MAX_PROMPT_CHARS:,} items")
        return operator.mul(left, right)


_ENV = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False)
_ENV.globals[_COUNTED] = _counted_loop
_REFUSED_TAGS = {nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "import", nodes.Extends: "extends"}
_CACHE: dict[str, jinja2.Template] = {}
_CACHE_LOCK = threading.Lock()


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
    tree = _ENV.parse(source)
    for node_type, tag in _REFUSED_TAGS.items():
        for node in tree.find_all(node_type):
            raise TemplateProblem(
                where,
                f"{{% {tag} %}} is not available in templates",
                line=node.lineno,
                kind="unsafe",
                fix="write the text into this template (a template is one file)",
            )
    with _CACHE_LOCK:
        _CACHE[source] = template
    return template


def variables_used(source: str, where: str) -> set[str]:
    """The top-level variables a template reads."""
    _compile(source, where)
    return set(meta.find_undeclared_variables(_ENV.parse(source)))


def render_prompt(source: str, variables: Mapping[str, Any], *, where: str = "<template>") -> str:
    """Render a template source with the stage's variables (upstream-identical output)."""
    template = _compile(source, where)
    _LOOP_BUDGET.left = MAX_LOOP_ITERATIONS
    try:
        pieces, size = [], 0
        for piece in template.generate(**variables):  # streamed, so a runaway output stops early
            size += len(piece)
            if size > MAX_PROMPT_CHARS:
                raise TemplateProblem(
                    where, f"the rendered prompt exceeds {MAX_PROMPT_CHARS:,} characters", kind="limit", fix=_LIMIT_FIX
                )
            pieces.append(piece)
        return "".join(pieces)
    except (OverflowError, MemoryError, RecursionError) as exc:
        raise TemplateProblem(
            where, f"runaway template construct refused ({exc})", line=_template_line(exc), kind="limit", fix=_LIMIT_FIX
        ) from exc
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
    """Read a template file as UTF-8 without newline translation; refuse an empty one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise TemplateProblem(
            str(path), "template file not found", fix="create it, or set active=false on its row", kind="missing"
        ) from exc
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TemplateProblem(
            str(path),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            line=line,
            kind="encoding",
            fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None
    if not source.strip():
        raise TemplateProblem(
            str(path),
            "the template is empty" if not source else "the template holds only whitespace",
            kind="empty",
            fix="write the prompt into it, or set active=false on its row",
        )
    return source
