"""``daydream reparse``: re-apply the current parsers to the stored raw.txt files, with no LLM call.

Without ``--cohort``: every generation of the data root; with ``--cohort NAME``: the generations
that cohort lists. The other cohorts that list a re-parsed generation are named, with the command
that rewrites their tables.
"""

from __future__ import annotations

import argparse

from daydreaming_dagster.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    add_cohort,
    add_data_root,
    make_console,
    parse_stages,
    print_error,
)


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="re-parse the stored raw.txt files with the current parsers (no LLM call), refresh the results",
        description="Apply each template's current parser (as 1_raw's template CSVs say now) to every "
        "stored raw.txt (with --cohort NAME: only the generations that cohort lists). parsed.txt is rewritten atomically only when the result changed, and "
        "metadata.json records the re-parse; a generation that failed only because its parser failed "
        "becomes complete when it now parses. A generation whose new parse fails is reported and "
        "keeps its files. Then the cohort's result tables and report are rewritten; other cohorts "
        "that list a re-parsed generation are named, with the command that refreshes them. Makes no LLM call. "
        "Exit status: 0 ok, 1 a generation that was parsed no longer parses, 2 bad input.",
    )
    add_data_root(parser)
    add_cohort(parser)
    parser.add_argument("--stages", default="draft,essay,evaluation",
                        help="comma-separated stages to re-parse (default: all)")


def run(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from rich.table import Table

    from daydreaming_dagster.cli.run import cohort_flag
    from daydreaming_dagster.inputs import InputError
    from daydreaming_dagster.results.reparse import (
        ACTIONS,
        CHANGED,
        PARSE_FAILED,
        REPAIRED,
        STILL_FAILED,
        reparse,
    )

    console = make_console()
    stages = parse_stages(console, args.stages)
    if stages is None:
        return EXIT_BAD_INPUT
    try:
        summary = reparse(Path(args.data_root), stages, cohort=args.cohort)
    except InputError as exc:
        print_error(console, "Input error (nothing was re-parsed):", f"\n{exc}")
        return EXIT_BAD_INPUT
    root, flag = shlex.quote(str(args.data_root)), cohort_flag(summary.cohort)
    whose = "" if args.cohort is None else f" of cohort {summary.cohort}"
    table = Table(title=f"Re-parse{whose} (no LLM call)")
    actions = ACTIONS
    table.add_column("stage")
    for action in actions:
        table.add_column(action, justify="right")
    for stage in stages:
        table.add_row(stage, *(str(summary.count(stage, a)) for a in actions))
    console.print(table)
    for outcome in summary.of(CHANGED)[:20] + summary.of(REPAIRED)[:20]:
        console.print(f"{outcome.action}: {outcome.stage} {outcome.gen_id} ({outcome.parser}): {outcome.detail}",
                      highlight=False, markup=False)
    failures = summary.of(PARSE_FAILED)
    for outcome in failures[:20]:
        print_error(console, "parse failed (files kept):",
                    f"{outcome.stage} {outcome.gen_id} ({outcome.parser}): {outcome.detail}")
    if len(failures) > 20:
        console.print(f"... and {len(failures) - 20} more parse failures", highlight=False)
    still = summary.of(STILL_FAILED)
    if still:
        console.print(f"{len(still)} generation(s) whose parser had failed still do not parse, e.g. "
                      f"{still[0].stage} {still[0].gen_id}: {still[0].detail}", highlight=False, markup=False)
    for child, ids in summary.stale.items():
        console.print(
            f"{len(ids)} {child}(s) were made from a re-parsed parent and still hold the old text; "
            f"regenerate them with: daydream run --data-root {root}{flag} --stages {child}"
            f"{',evaluation' if child == 'essay' else ''} --force", highlight=False, markup=False,
        )
    if summary.results:
        console.print(f"Results refreshed: {len(summary.results)} files; report "
                      f"{summary.results.get('report', '(not written)')}", highlight=False, markup=False)
    for other, count in summary.other_cohorts.items():
        console.print(
            f"{count} re-parsed generation(s) are also in cohort {other}: its tables and report still show "
            f"the old text. Refresh them with: daydream report --data-root {root}{cohort_flag(other)}",
            highlight=False, markup=False,
        )
    return EXIT_OK if summary.ok else EXIT_FAILED
