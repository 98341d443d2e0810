"""``daydream select``: the best essays of a cohort into an editable spec for a new cohort.

Upstream's curated-essays flow (select the top essays into a list, build a cohort from it) as one
command: it writes ``cohorts/<into>/spec/config.yaml`` and ``items/essays.csv`` (the chosen essays,
one per line: edit it freely), rescoring them with the source cohort's evaluation templates and
models. Change those to the new rubric or graders, then ``daydream plan --cohort <into>`` shows what
only the new evaluations cost, and ``daydream run --cohort <into>`` pays for them alone.
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
        help="write an editable spec that rescores a cohort's best essays (no LLM call)",
        description="Rank the essays of --cohort by their mean score (over every rubric, or --by one "
        "evaluation template; ties ordered by gen_id), keep the --top N, and write a new cohort's "
        "spec (DATA_ROOT/cohorts/INTO/spec/config.yaml with items/essays.csv) that evaluates them "
        "with the source cohort's evaluation templates and models. Edit it, then run it.",
    )
    add_data_root(parser)
    add_cohort(parser)
    parser.add_argument("--top", type=int, required=True, metavar="N", help="how many essays to keep")
    parser.add_argument("--by", default=None, metavar="TEMPLATE", help="rank by this evaluation template only")
    parser.add_argument("--into", required=True, metavar="NAME", help="the new cohort's name")
    parser.add_argument("--force", action="store_true", help="overwrite the new cohort's spec if it exists")


def run(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from daydreaming_dagster.cohort.named import cohort_rubrics, essay_scores, essays_of_cohort
    from daydreaming_dagster.cohort.tasks import read_table_file
    from daydreaming_dagster.core.errors import DaydreamError
    from daydreaming_dagster.core.layout import CohortLayout, cohort_name
    from daydreaming_dagster.core.stages import STAGE_FACTS
    from daydreaming_dagster.engine.store import atomic_write_text

    console = make_console()
    data_root = Path(args.data_root)
    if args.top < 1:
        print_error(console, "Bad flag:", f"--top {args.top}: must be at least 1. Fix: e.g. --top 20")
        return EXIT_BAD_INPUT
    try:
        source = CohortLayout(data_root, cohort_name(args.cohort))
        target = CohortLayout(data_root, cohort_name(args.into))
        if target.is_default:
            raise DaydreamError("--into default: the default cohort has no spec. Fix: name the new cohort")
        rubrics = cohort_rubrics(data_root, source.name)
        if args.by is not None and rubrics and args.by not in rubrics:
            print_error(console, "Bad flag:", f"--by {args.by}: cohort {source.name} has no evaluation template "
                        f"{args.by!r}; its rubrics: {', '.join(rubrics)}. Fix: e.g. --by {rubrics[0]}, or leave "
                        "out --by (the mean over every rubric).")
            return EXIT_BAD_INPUT
        chosen = essays_of_cohort(data_root, source.name, top=args.top, by=args.by)
    except DaydreamError as exc:
        print_error(console, "Cannot select:", str(exc))
        return EXIT_BAD_INPUT
    if not chosen:
        print_error(console, "Nothing to select:", f"no essay of cohort {source.name} has a score yet. "
                    f"Fix: run its evaluations first (daydream run --cohort {source.name}).")
        return EXIT_BAD_INPUT
    spec = target.spec_dir / "config.yaml"
    if spec.exists() and not args.force:
        print_error(console, "Exists:", f"{spec} already exists. Fix: choose another --into, or add --force.")
        return EXIT_BAD_INPUT
    evaluations = read_table_file(source.tasks_dir / STAGE_FACTS["evaluation"].task_file)
    templates = sorted(set(evaluations["evaluation_template"])) if not evaluations.empty else []
    models = sorted(set(evaluations["evaluation_model"])) if not evaluations.empty else []
    scores = essay_scores(data_root, source.name, by=args.by)
    atomic_write_text(target.spec_dir / "items" / "essays.csv", "essay_gen_id\n" + "".join(f"{g}\n" for g in chosen))
    by = f" by {args.by}" if args.by else " (mean over every rubric, each score as a fraction of its rubric's scale)"
    atomic_write_text(spec, (
        f"# Written by `daydream select --cohort {source.name} --top {args.top}{' --by ' + args.by if args.by else ''}"
        f" --into {target.name}`: the {len(chosen)} best essays of cohort {source.name}{by}.\n"
        "# Edit freely: items/essays.csv lists the essays; change the rubrics or graders below to the\n"
        "# ones to rescore with. Only evaluations not made before are paid (daydream plan --cohort shows it).\n"
        "axes:\n"
        "  essay_gen_id: '@file:items/essays.csv'\n"
        f"  evaluation_template: [{', '.join(templates)}]\n"
        f"  evaluation_llm: [{', '.join(models)}]\n"
        "output:\n"
        "  field_order: [essay_gen_id, evaluation_template, evaluation_llm]\n"
    ))
    for rank, gen_id in enumerate(chosen, 1):
        console.print(f"{rank:>3}. {gen_id}  {scores.get(gen_id, float('nan')):.2f}")
    where = f"--data-root {shlex.quote(str(data_root))} --cohort {target.name}"
    console.print(f"Wrote {spec} and {spec.parent / 'items' / 'essays.csv'} ({len(chosen)} essays). "
                  f"Next: edit it, then daydream plan {where}, daydream run {where}.")
    return EXIT_OK
