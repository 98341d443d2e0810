"""What every subcommand shares: exit codes, the console, the data-root flag, the error guard.

Imports nothing heavy at module level (``daydream --help`` must stay fast).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
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


def make_console() -> Console:
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=True)


def print_error(console: Console, title: str, message: str) -> None:
    """``message`` printed as is (no rich markup: paths and ``[local]`` extras stay visible)."""
    from rich.text import Text

    console.print(Text(title, style="bold red"), Text(message))


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; an unexpected error is one line, not a traceback (unless --debug)."""
    try:
        return command(args)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        print(
            f"daydream: internal error: {type(exc).__name__}: {exc}\n"
            "Re-run with --debug for the traceback, and report it.",
            file=sys.stderr,
        )
        return EXIT_FAILED


def parse_stages(console: Console, text: str) -> list[Stage] | None:
    """The ``--stages`` flag in pipeline order, or None after printing what is wrong."""
    from daydreaming_dagster.core.stages import stage_order

    try:
        stages = stage_order(text.split(","))
        if not stages:
            raise ValueError("no stage given")
    except ValueError as exc:
        print_error(console, "Bad flag:", f"--stages {text!r}: {exc}. Fix: e.g. --stages draft,essay")
        return None
    return stages


def check_positive(console: Console, **flags: int | None) -> bool:
    """False (after printing it) when a flag given as ``k_max=...`` is below 1."""
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is not None and value < 1:
            print_error(console, "Bad flag:", f"{flag} {value}: must be at least 1. Fix: e.g. {flag} 4")
            return False
    return True
