"""``daydream``: the command line. Each subcommand is a module with ``add_parser`` and ``run``.

Start-up stays fast: this module imports only argparse; a subcommand imports what it needs
(pandas, dagster, openai, llama_cpp) when it runs, so ``daydream --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from daydreaming_dagster.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
)

# Subcommand name -> module under daydreaming_dagster.cli (each: add_parser(sub), run(args) -> int).
SUBCOMMANDS: dict[str, str] = {
    "run": "run",
    "plan": "plan",
    "report": "report",
    "export": "export",
    "reparse": "reparse",
    "orphans": "orphans",
    "cohorts": "cohorts",
    "select": "select",
    "compare": "compare",
}

__all__ = ["EXIT_BAD_INPUT", "EXIT_BUDGET", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daydream",
        description="DayDreaming: LLM idea-generation experiments (draft -> essay -> evaluation).",
        epilog="Exit status: 0 ok, 1 some generation failed, 2 bad input or configuration, "
        "3 spending cap reached (raise --max-cost to continue), 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for bug reports)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        importlib.import_module(f"daydreaming_dagster.cli.{module}").add_parser(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(f"daydreaming_dagster.cli.{SUBCOMMANDS[args.command]}")
    from daydreaming_dagster.cli._common import guarded

    return guarded(module.run, args)


if __name__ == "__main__":
    sys.exit(main())
