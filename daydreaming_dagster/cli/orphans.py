"""``daydream orphans``: generation folders that no cohort lists.

No named cohort's membership.csv and no task of the default cohort names them: they are an
earlier version's (for example after adding a concept changed the cohort id that salts the default
cohort's evaluation ids). Listing is the default; ``--delete`` removes them: deleting is always
your act.
"""

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
        help="list (or --delete) generation folders of earlier cohorts",
        description="List the folders under DATA_ROOT/gens that no cohort lists (no named cohort's "
        "membership.csv, no task of the default cohort as its inputs are now). With --cohort, that "
        "cohort as its spec is now. Nothing is deleted unless --delete is given.",
    )
    add_data_root(parser)
    add_cohort(parser)
    parser.add_argument("--delete", action="store_true", help="delete the listed folders")


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from daydreaming_dagster.cohort.checks import orphans
    from daydreaming_dagster.cohort.pipeline import load_cohort
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.engine.store import GensStore
    from daydreaming_dagster.inputs import InputError

    console = make_console()
    data_root = Path(args.data_root)
    try:
        cohort = load_cohort(data_root, load_experiment_config(data_root), name=args.cohort)
    except (InputError, ValueError) as exc:
        print_error(console, "Input error:", f"\n{exc}")
        return EXIT_BAD_INPUT
    found = orphans(data_root, cohort.tables, current=cohort.name)
    store = GensStore(data_root)
    total = sum(len(ids) for ids in found.values())
    for stage, ids in found.items():
        for gen_id in ids:
            console.print(str(store.gen_dir(stage, gen_id)))
            if args.delete:
                shutil.rmtree(store.gen_dir(stage, gen_id))
    verb = "deleted" if args.delete else "found"
    console.print(f"{total} generation folder(s) that no cohort lists {verb}.")
    return EXIT_OK
