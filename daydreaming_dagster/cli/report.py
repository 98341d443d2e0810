"""``daydream report``: the cohort as one self-contained HTML file (no network needed to open it)."""

from __future__ import annotations

import argparse

from daydreaming_dagster.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_cohort,
    add_data_root,
    make_console,
    print_error,
)


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="write the cohort's HTML report (overview, plots, top essays, every generation)",
        description="Write one self-contained HTML file (plots, data and script embedded; it opens "
        "offline): the cohort overview, score plots, evaluator agreement, the top essays, and a "
        "browser of every generation with its prompt, texts, metadata, scores and lineage. "
        "Makes no LLM call. Exit status: 0 written, 2 no task tables yet.",
    )
    add_data_root(parser)
    add_cohort(parser)
    parser.add_argument("--output", default=None,
                        help="where to write it (default: DATA_ROOT/7_reporting/report.html)")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from daydreaming_dagster.results.html_report import write_report
    from daydreaming_dagster.results.lineage import ResultsInputError

    console = make_console()
    started = time.perf_counter()
    try:
        path = write_report(Path(args.data_root), args.output, cohort=args.cohort)
    except ResultsInputError as exc:
        print_error(console, "Nothing to report:", str(exc))
        return EXIT_BAD_INPUT
    size = path.stat().st_size / 1e6
    console.print(f"Report: {path} ({size:.1f} MB, {time.perf_counter() - started:.1f} s)", highlight=False)
    return EXIT_OK
