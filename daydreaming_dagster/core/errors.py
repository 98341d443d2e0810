"""Every error the product raises on purpose, under one base: ``DaydreamError``.

Each class says how the command line ends when it reaches the top (``exit_status``): 2 for what the
user can fix before anything runs (inputs, settings, a data root that cannot be written), 1 for a
run that stopped part way (a generation failed, the disk filled up). Anything that is not a
``DaydreamError`` (or one of the filesystem errors ``cli/_common.py`` names) is a bug: the command
line calls it an internal error.

The layers re-export the classes they raise (``daydreaming_dagster.llm.LLMError``,
``daydreaming_dagster.inputs.InputError``...), so callers import them from where they work.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class DaydreamError(Exception):
    """Base of every error the product raises on purpose."""

    exit_status = EXIT_FAILED


# ---------------------------------------------------------------------------------- the user's files


@dataclass(frozen=True)
class InputProblem:
    """One problem with the user's input files. ``line`` is 1-based (the header is line 1)."""

    file: Path
    line: int | None
    column: str | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        col = f" column '{self.column}':" if self.column else ""
        return f"{where}:{col} {self.problem.rstrip('.')}. Fix: {self.fix.rstrip('.')}"


class InputError(DaydreamError):
    """One or more problems with the user's input files; ``str()`` gives one line per problem."""

    exit_status = EXIT_BAD_INPUT

    def __init__(self, problems: Sequence[InputProblem]):
        self.problems: list[InputProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __reduce__(self) -> tuple[type[InputError], tuple[list[InputProblem]]]:
        return (type(self), (self.problems,))


class UnknownTemplateError(InputError, KeyError):
    """A template id that the kind's CSV does not list."""


class UnsafeIdError(DaydreamError, ValueError):
    """An id read from a CSV (or a partition key) would not stay one folder below its root."""

    exit_status = EXIT_BAD_INPUT


class UnknownParserError(DaydreamError, ValueError):
    """A parser or parse strategy name that is not registered (a ValueError, as callers expect)."""

    exit_status = EXIT_BAD_INPUT


class SettingError(DaydreamError, ValueError):
    """A setting (experiment.toml, a ``DD_*`` variable, a flag) has a wrong value; names it and the fix."""

    exit_status = EXIT_BAD_INPUT


class TemplateProblem(DaydreamError, ValueError):
    """A template cannot be compiled or rendered.

    ``detail`` says what is wrong, ``line`` where in the template (when known), ``fix`` what to do;
    ``str()`` joins them after the template's file name.
    """

    exit_status = EXIT_BAD_INPUT

    def __init__(self, where: str, detail: str, *, line: int | None = None, fix: str = "", kind: str = "other"):
        self.where, self.detail, self.line, self.fix = where, detail, line, fix
        self.kind = kind  # syntax | undefined | unsafe | missing | empty | encoding | unused_input | limit
        at = f" line {line}:" if line is not None else ""
        super().__init__(f"{where}:{at} {detail}." + (f" Fix: {fix}." if fix else ""))


class RecordProblem(DaydreamError, ValueError):
    """A metadata.json or cache entry cannot be read as a record; ``str()`` says why (not where).

    The store names the file and turns it into a ``DamagedFileError`` warning; it never ends a run.
    """


class ResultsInputError(DaydreamError, RuntimeError):
    """There is nothing to summarize yet (no task tables, no membership)."""

    exit_status = EXIT_BAD_INPUT


# ---------------------------------------------------------------------------------- the LLM layer


class LLMError(DaydreamError):
    """Base class of every error raised by the LLM layer."""


class TransientLLMError(LLMError):
    """An attempt failed in a way that may succeed if retried (429, 5xx, timeout, empty body...)."""

    def __init__(self, reason: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


class PermanentLLMError(LLMError):
    """An attempt failed in a way retrying cannot fix (400, 401, 402, 403, 404...)."""

    def __init__(self, reason: str, *, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LLMConfigurationError(LLMError):
    """The run cannot start: unknown model id, missing API key, missing local model..."""

    exit_status = EXIT_BAD_INPUT


class RetryBudgetExceeded(TransientLLMError):
    """Raised before an attempt is sent when waiting for it would overrun the retry budget
    (an open circuit breaker). It ends the retries: it is never retried itself."""


# ---------------------------------------------------------------------------------- generations


class GenerationError(DaydreamError):
    """A generation failed; ``metadata`` is structured detail (Dagster Failure metadata)."""

    def __init__(self, message: str, *, metadata: Mapping[str, Any] | None = None, cause: str | None = None):
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, Any] = dict(metadata or {})
        # What went wrong, without the gen_id: failures of one cause are grouped in run summaries.
        self.cause = cause or message
        # The LLMResponse, set when the failure came after a call, so run summaries still count its
        # tokens (typed loosely: this layer is below the LLM layer).
        self.response: Any = None
        self.cache_hit = False


# The errors a full or failing disk gives: a run stops starting generations on them.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def is_storage_failure(exc: BaseException) -> bool:
    """The disk refused a write: full, failing, read-only or not ours to write."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS | {errno.EROFS, errno.EACCES, errno.EPERM}


def describe_os_error(exc: OSError) -> str:
    """``no space left on device: /path`` (the path when the error names one)."""
    reason = exc.strerror or str(exc)
    reason = reason[0].lower() + reason[1:] if reason else "error"
    name = exc.filename if exc.filename is not None else None
    return f"{reason}: {name}" if name is not None else reason


class StorageError(GenerationError):
    """Writing a generation's files failed because of the disk (full, read-only, failing).

    The run stops starting generations on it; answers already received are kept (docs/costs.md).
    """

    def __init__(self, message: str, *, path: str, error: OSError, metadata: Mapping[str, Any] | None = None):
        # The cause names the kind of file, not its path: one line per cause in a run's summary.
        reason = (error.strerror or str(error)).lower()
        super().__init__(message, metadata={**(metadata or {}), "path": path}, cause=f"{reason} (writing {Path(path).name})")
        self.path = path
        self.os_error = error


class DataRootNotWritable(DaydreamError):
    """The data root (or a folder under it) cannot be written: nothing was generated."""

    exit_status = EXIT_BAD_INPUT


class DamagedFileError(DaydreamError):
    """A file the product wrote earlier cannot be read back (bad encoding, wrong shape or types)."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")
