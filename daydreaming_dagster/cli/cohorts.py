"""``daydream cohorts``: every cohort of the data root, its spec, its progress, its spend, its last run."""

from __future__ import annotations

import argparse

from daydreaming_dagster.cli._common import EXIT_OK, add_data_root, make_console


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="list the cohorts of the data root (spec, done/failed/missing, spend, last run)",
        description="List every cohort: the default one (made from the active flags of 1_raw) and "
        "each named cohort with a spec at DATA_ROOT/cohorts/NAME/spec/config.yaml; per stage, its "
        "generations done, failed and missing (a generation shared by cohorts counts in each; a "
        "cohort that has not run yet is planned from its spec, so its missing generations are what "
        "a run would make); what its runs paid (the payment journal); its last run. Makes no LLM call "
        "and writes nothing.",
    )
    add_data_root(parser)
    parser.add_argument("--json", action="store_true", help="print the list as JSON (for scripts)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.table import Table
    from rich.text import Text

    from daydreaming_dagster.cli.plan import usd
    from daydreaming_dagster.cohort.overview import DONE, FAILED, MISSING, summarize_cohorts
    from daydreaming_dagster.core.stages import STAGES

    console = make_console()
    data_root = Path(args.data_root)
    summaries = summarize_cohorts(data_root)
    if args.json:
        print(json.dumps([s.to_json() for s in summaries], indent=2))
        return EXIT_OK
    if not summaries:
        console.print(f"No cohort yet in {data_root}: `daydream run` makes the default one; a spec at "
                      f"{data_root / 'cohorts' / '<name>' / 'spec' / 'config.yaml'} makes a named one.")
        return EXIT_OK
    table = Table(title=f"Cohorts of {data_root}")
    table.add_column("cohort", overflow="fold")
    for stage in STAGES:
        table.add_column(f"{stage}\nd/f/m", justify="right")
    table.add_column("paid", justify="right")
    table.add_column("last run", overflow="fold")
    for s in summaries:
        cells = []
        for stage in STAGES:
            c = s.counts.get(stage)
            cells.append(f"{c[DONE]}/{c[FAILED]}/{c[MISSING]}" if c else "-")
        last = s.last_run
        when = f"{str(last.get('finished_at', ''))[:16].replace('T', ' ')} exit {last.get('exit')}" if last else "-"
        if s.planned and not last:
            when = "not run (planned)" if s.problem is None else "not run (spec error)"
        table.add_row(s.name, *cells, f"{usd(s.spent)} ({s.paid_calls})", when)
    console.print(table)
    console.print("d/f/m: generations done / failed / missing; paid: what the cohort's runs paid (calls).")
    if any(s.planned for s in summaries):
        console.print("planned: not run yet, so counted from its spec as planned now (missing: what a run "
                      "would make; `daydream plan --cohort NAME` gives the cost).")
    for s in summaries:
        console.print(Text(f"  {s.name}: {s.spec}"))
        if s.problem is not None:
            console.print(Text(f"    cannot be planned: {s.problem}"))
    return EXIT_OK
