"""``daydream export``: one row per generation (lineage, texts, score, usage) as JSON Lines or CSV."""

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
        help="export every generation (lineage, prompt, texts, score, usage) as JSONL or CSV",
        description="One row per generation of the cohort: stage, gen_id, parent and lineage (draft, "
        "essay, combination, concepts), template, model, prompt, raw and parsed text, score, usage, "
        "cost, latency and status. For pandas: pd.read_json(path, lines=True) or pd.read_csv(path). "
        "Makes no LLM call. Exit status: 0 written, 2 no task tables yet.",
    )
    add_data_root(parser)
    add_cohort(parser)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="default: jsonl")
    parser.add_argument("--output", default=None,
                        help="file to write, '-' for standard output "
                             "(default: DATA_ROOT/7_reporting/generations.<format>)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from daydreaming_dagster.results.export import export_generations
    from daydreaming_dagster.results.lineage import ResultsInputError

    console = make_console()
    try:
        path, rows = export_generations(Path(args.data_root), args.format, args.output, cohort=args.cohort)
    except ResultsInputError as exc:
        print_error(console, "Nothing to export:", str(exc))
        return EXIT_BAD_INPUT
    if path is not None:
        console.print(f"Exported {rows} generation(s) to {path}", highlight=False)
    return EXIT_OK
