"""What every subcommand shares: exit codes, the console, the data-root flag, the error guard.

Imports nothing heavy at module level (``daydream --help`` must stay fast).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from daydreaming_dagster.core.paths import default_data_root

if TYPE_CHECKING:
    from rich.console import Console

    from daydreaming_dagster.core.stages import Stage

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", default=default_data_root(), help="data root (default: $DD_DATA_ROOT or ./data)"
    )


def add_cohort(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cohort",
        default=None,
        metavar="NAME",
        help="a named cohort (its spec: DATA_ROOT/cohorts/NAME/spec/config.yaml); default: the cohort "
        "made from the active flags of 1_raw. `daydream cohorts` lists them",
    )


def make_console() -> Console:
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=True)


def print_error(console: Console, title: str, message: str) -> None:
    """``message`` printed as is (no rich markup: paths and ``[local]`` extras stay visible)."""
    from rich.text import Text

    console.print(Text(title, style="bold red"), Text(message))


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; an error is one line, not a traceback (unless --debug).

    What a user or a filesystem can cause (a ``DaydreamError``, a full disk, a folder that cannot
    be written or read) says what and where, with its exit status; anything else is a bug, which
    the message calls an internal error.
    """
    from daydreaming_dagster.core.errors import DISK_ERRNOS, DaydreamError, describe_os_error

    try:
        with product_warnings_shown():
            return command(args)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DaydreamError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"daydream: {exc}", file=sys.stderr)
        return exc.exit_status
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        if not isinstance(exc, OSError):
            return _internal_error(exc)
        if exc.errno in DISK_ERRNOS:
            print(
                f"daydream: {describe_os_error(exc)}. Free space on that filesystem and run the same command "
                "again: everything already on disk is reused, nothing is paid twice.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            print(
                f"daydream: {describe_os_error(exc)}. Fix: make it writable, or work on a copy of the data "
                "root (--data-root); reading commands take --output to write elsewhere.",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    print(
        f"daydream: internal error: {type(exc).__name__}: {exc}\n"
        "Re-run with --debug for the traceback, and report it.",
        file=sys.stderr,
    )
    return EXIT_FAILED


class _WarningLines(logging.Handler):
    """The product's warnings as plain lines on the console: a path is never wrapped or styled."""

    def __init__(self, console: Console) -> None:
        super().__init__(level=logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            self.console.print(Text.assemble(("warning: ", "yellow"), self.format(record)))
        except Exception:  # a warning must never end the command
            self.handleError(record)


@contextlib.contextmanager
def product_warnings_shown() -> Iterator[None]:
    """Show every warning of the package's loggers (a damaged file, a cache entry set aside...)
    once per command, as plain lines."""
    from daydreaming_dagster.engine.store import forget_reported

    logger = logging.getLogger("daydreaming_dagster")
    handler = _WarningLines(make_console())
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if logger.level in (logging.NOTSET, logging.ERROR) else logger.level)
    logger.propagate = False
    forget_reported()
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = previous


def parse_stages(console: Console, text: str) -> list[Stage] | None:
    """The ``--stages`` flag in pipeline order, or None after printing what is wrong."""
    from daydreaming_dagster.core.errors import SettingError
    from daydreaming_dagster.core.stages import stage_order

    try:
        return stage_order(text.split(","))
    except SettingError as exc:
        print_error(console, "Bad flag:", f"--stages {text!r}: {exc}. Fix: e.g. --stages draft,essay")
        return None


def check_positive(console: Console, **flags: int | None) -> bool:
    """False (after printing it) when a flag given as ``k_max=...`` is below 1."""
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is not None and value < 1:
            print_error(console, "Bad flag:", f"{flag} {value}: must be at least 1. Fix: e.g. {flag} 4")
            return False
    return True
