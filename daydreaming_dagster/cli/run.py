"""``daydream run``: a cohort end to end.

It validates every input, builds the task tables, checks every model it will call, says what
would cost money unnoticed (fallback descriptions, a changed cohort id, orphaned folders), then
generates every selected stage concurrently (pipelined: an essay starts as soon as its draft is
done), writes the result tables and ends with a summary. Re-running skips what is complete.

Ctrl-C or SIGTERM: no new generation starts; calls in flight finish and are stored (a countdown
shows the wait); then the summary, the command that resumes, and exit 130. A second Ctrl-C
abandons the calls in flight at once.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import TYPE_CHECKING

from daydreaming_dagster.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_data_root,
    check_positive,
    make_console,
    parse_stages,
    print_error,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console
    from rich.table import Table

    from daydreaming_dagster.cohort.budget import Ledger, SpendingCap
    from daydreaming_dagster.cohort.runner import RunSummary
    from daydreaming_dagster.core.stages import Stage

GRACE_ENV = "DD_INTERRUPT_GRACE_S"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    run = sub.add_parser(
        name,
        help="run a cohort end to end",
        description="Build the task tables from DATA_ROOT/1_raw, generate every selected stage "
        "(skipping generations already complete on disk), then write the result tables. "
        "Exit status: 0 all succeeded, 1 some generation failed, 2 bad input or configuration, "
        "3 spending cap reached (run again with a higher --max-cost to continue), "
        "130 interrupted (run the same command again to resume).",
    )
    add_data_root(run)
    run.add_argument("--stages", default="draft,essay,evaluation", help="comma-separated stages to run (default: all)")
    run.add_argument(
        "--concurrency", type=int, default=None, help="requests in flight (default: experiment config, 8); a few more generations are prepared meanwhile"
    )
    run.add_argument("--k-max", type=int, default=None, help="concepts per combination (default: experiment config, 6)")
    run.add_argument(
        "--force",
        action="store_true",
        help="regenerate the selected stages' generations even if complete, with fresh LLM calls "
        "(descendants in stages not selected keep their files)",
    )
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--max-cost",
        type=float,
        default=None,
        metavar="USD",
        help="spending cap on the cohort's total spend (every run's paid calls): no call starts that "
        "could take it past the cap; at the cap the run stops with exit 3 (default: experiment.toml "
        "max_cost, else no cap)",
    )
    run.add_argument(
        "--allow-unknown-prices",
        action="store_true",
        help="under a cap, run models whose price is unknown (their calls count only with the cost "
        "the server reports)",
    )


def _summary_table(summary: RunSummary, stages: Sequence[Stage]) -> Table:
    from rich.table import Table

    table = Table(title="DayDreaming run summary")
    for column in ("stage", "done", "skipped", "failed", "blocked"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for stage in stages:
        c = summary.counts[stage]
        table.add_row(stage, *(str(c.get(s, 0)) for s in ("done", "skipped", "failed", "blocked")))
    return table


def resume_command(argv: Sequence[str] | None = None) -> str:
    """The command line that started this run, to run again."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["daydream", *(shlex.quote(a) for a in args)])


def _spend_line(ledger: Ledger, run_id: str, max_cost: float | None) -> str:
    """This run's spend and the cohort's total (the sum over its generations' metadata)."""
    from daydreaming_dagster.cli.plan import usd

    line = f"Spend: this run {usd(ledger.run(run_id))}; cohort total {usd(ledger.spent)}"
    if max_cost is not None:
        line += f" (cap {usd(max_cost)})"
    if ledger.estimated:
        line += f"; {usd(ledger.estimated)} of it estimated from prices (the server reported no cost)"
    if ledger.unpriced_calls:
        line += f"; {ledger.unpriced_calls} paid call(s) with no reported cost and no known price not counted"
    return line + "."


def _cap_stop_message(cap: SpendingCap, ledger: Ledger, run_id: str, not_started: int, data_root: object) -> str:
    """What stopped, what was spent, and the command that continues."""
    from daydreaming_dagster.cli.plan import usd

    args = list(sys.argv[1:])
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--max-cost":
            skip = True
            continue
        if not arg.startswith("--max-cost="):
            kept.append(arg)
    spent = max(ledger.spent, cap.spent)
    least = spent + (cap.next_worst or 0.0)
    command = " ".join(["daydream", *(shlex.quote(a) for a in kept), "--max-cost", "USD"])
    return (
        f"Spending cap reached: the cohort has spent {usd(spent)} of its {usd(cap.cap)} cap (this run "
        f"{usd(ledger.run(run_id))}); the next call could cost up to {usd(cap.next_worst)}, which could pass "
        f"the cap. {not_started} generation(s) not started; calls in flight finished and are stored. "
        f"To continue where this run stopped, raise the cap (it counts the cohort's total spend; "
        f"at least {usd(least)} to start the next call): {command} "
        f"(or max_cost in experiment.toml). What the rest costs: daydream plan --data-root "
        f"{shlex.quote(str(data_root))}"
    )


def _warn(console: Console, text: str) -> None:
    from rich.text import Text

    console.print(Text.assemble(("warning: ", "yellow"), text))


def run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading
    import uuid
    from pathlib import Path

    from rich.logging import RichHandler

    from daydreaming_dagster.cli._progress import PlainStopNotice, RichStageProgress
    from daydreaming_dagster.cli.plan import usd
    from daydreaming_dagster.cohort.budget import SpendingCap, cohort_spend
    from daydreaming_dagster.cohort.checks import (
        cohort_change,
        description_gaps,
        orphans,
        reusable_from_cache,
    )
    from daydreaming_dagster.cohort.pipeline import (
        load_cohort,
        pending_model_ids,
        preflight,
        run_items,
        save_task_tables,
    )
    from daydreaming_dagster.cohort.prices import resolve_prices, unknown_price_message, unknown_prices
    from daydreaming_dagster.cohort.runner import failure_groups, generation_slots
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.engine.cache import ResponseCache
    from daydreaming_dagster.engine.flow import GenerationContext
    from daydreaming_dagster.engine.store import GensStore
    from daydreaming_dagster.inputs import InputError
    from daydreaming_dagster.llm import LLMConfigurationError, LLMSettings, build_llm_client
    from daydreaming_dagster.results.writer import write_all_results

    console = make_console()
    logging.basicConfig(
        level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    data_root = Path(args.data_root)
    stages = parse_stages(console, args.stages)
    if stages is None or not check_positive(console, concurrency=args.concurrency, k_max=args.k_max):
        return EXIT_BAD_INPUT
    try:
        grace_s = float(os.environ.get(GRACE_ENV) or 120)
    except ValueError:
        print_error(console, "Bad setting:", f"{GRACE_ENV}={os.environ[GRACE_ENV]!r} is not a number of seconds.")
        return EXIT_BAD_INPUT
    try:
        config = load_experiment_config(
            data_root, k_max=args.k_max, concurrency=args.concurrency, max_cost=args.max_cost
        )
        if args.no_cache:
            config = config.model_copy(update={"response_cache": False})
        cohort = load_cohort(data_root, config)
    except (InputError, ValueError) as exc:
        print_error(console, "Input error (nothing was generated):", f"\n{exc}")
        return EXIT_BAD_INPUT
    store = GensStore(data_root)
    items = cohort.items(stages)
    try:
        # --concurrency > DD_LLM_MAX_IN_FLIGHT > the experiment's concurrency: one number bounds both
        # the generations in flight and the requests in flight, unless the environment splits them.
        settings = LLMSettings.from_env(defaults={"max_in_flight": config.concurrency}, max_in_flight=args.concurrency)
        client = build_llm_client(cohort.raw.routes(), settings)
        pending = pending_model_ids(cohort, items, store, force=args.force)
        catalogues = preflight(client, pending, raw=cohort.raw)  # model strings vs the provider's /models
        prices = resolve_prices(cohort.raw, client, cohort.raw.routes(), catalogues, data_root=data_root)
        unknown = unknown_prices(prices, pending) if config.max_cost is not None else []
        if unknown and not args.allow_unknown_prices:
            raise LLMConfigurationError(unknown_price_message(cohort.raw, unknown))
    except (LLMConfigurationError, ValueError) as exc:
        print_error(console, "Cannot start (no generation was attempted):", f"\n{exc}")
        return EXIT_BAD_INPUT
    for warning in catalogues.warnings:
        _warn(console, warning)
    spent_before = cohort_spend(cohort, store, prices)

    gaps = description_gaps(cohort.raw, cohort.combinations)
    for gap in gaps:
        _warn(console, gap.message(cohort.raw))
    context = GenerationContext(
        run_id=f"cli-{uuid.uuid4()}",
        store=store,
        llm=client,
        cache=ResponseCache.for_data_root(data_root) if config.response_cache else None,
        refresh_cache=args.force,
    )
    specs = cohort.specs()
    change = cohort_change(data_root, cohort.tables)
    if change is not None:
        fresh = [item for item in items if (item.stage, item.gen_id) in change.new_gen_ids]
        _warn(console, change.message(reusable_from_cache(context, specs, fresh)))
    save_task_tables(cohort)
    left_over = orphans(data_root, cohort.tables)
    if left_over:
        counts = ", ".join(f"{len(ids)} {stage}" for stage, ids in left_over.items())
        _warn(
            console,
            f"{counts} generation folder(s) under {data_root / 'gens'} belong to no task of this cohort "
            f"(an earlier cohort's). List them: daydream orphans --data-root {shlex.quote(str(data_root))} "
            "(add --delete to remove them).",
        )

    console.print(
        f"Cohort {cohort.tables.cohort_id}: {len(cohort.combinations)} combination(s), "
        + ", ".join(f"{len(cohort.rows(s))} {s}" for s in stages)
        + f"; concurrency {config.concurrency}; data root {data_root}"
    )
    cap = None
    if config.max_cost is not None:
        cap = SpendingCap(
            config.max_cost,
            spent_before=spent_before.spent,
            context=context,
            specs=specs,
            prices=prices,
            allow_unknown=args.allow_unknown_prices,
        )
        console.print(
            f"Spending cap {usd(cap.cap)} on the cohort's total spend; spent so far {usd(spent_before.spent)}."
        )
    stop, abandon = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if not stop.is_set():
            stop.set()
            name = signal.Signals(signum).name
            console.print(
                f"\n{name}: no new generation starts; calls in flight finish and are stored "
                f"(at most {grace_s:.0f} s; Ctrl-C again to abandon them)."
            )
        else:
            abandon.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = RichStageProgress(console) if not args.quiet else PlainStopNotice(console)
    reporter = None
    if os.environ.get("DAGSTER_HOME"):  # one state for both front doors (docs/dagster.md)
        from daydreaming_dagster.resources.instance import reporter_from_env

        reporter = reporter_from_env(store, cohort.tables, warn=lambda text: _warn(console, text))
    try:
        summary = run_items(
            context,
            specs,
            items,
            concurrency=generation_slots(config.concurrency),
            force=args.force,
            progress=progress,
            admission=cap,
            observers=[reporter] if reporter is not None else [],
            stop=stop,
            abandon=abandon,
            grace_s=grace_s,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if reporter is not None:  # writes what is still queued
            console.print(reporter.close().line(reporter.where))

    results: dict[str, Path] = {}
    if summary.stopped is None:  # the result tables and the report, over the whole cohort
        results = write_all_results(data_root)
    console.print(_summary_table(summary, stages))
    console.print(
        f"LLM calls {summary.llm_calls} (paid unless the model is local); "
        f"reused from the response cache (no cost) {summary.cache_hits}; "
        f"tokens {summary.prompt_tokens} in / {summary.completion_tokens} out; cost {summary.cost:.4f}; "
        f"wall time {summary.wall_s:.1f} s"
    )
    ledger = cohort_spend(cohort, store, prices)
    console.print(_spend_line(ledger, context.run_id, config.max_cost))
    if gaps:
        _warn(console, f"{sum(len(g.concept_ids) for g in gaps)} concept(s) were shown with a fallback description (see above).")
    if results:
        folders = sorted({str(p.parent) for name, p in results.items() if name != "report"})
        console.print(f"Result tables ({len(results) - 1}): " + ", ".join(folders))
    for cause, count, example in failure_groups(summary.failures)[:10]:
        print_error(console, f"failed ×{count}:", f"{cause} (e.g. {example.stage} {example.gen_id})")
    groups = failure_groups(summary.failures)
    if len(groups) > 10:
        console.print(f"... and {len(groups) - 10} more causes")
    if summary.stopped == "interrupted":
        lost = f"; {summary.abandoned} call(s) in flight were abandoned" if summary.abandoned else ""
        console.print(
            f"Interrupted: {summary.not_started} generation(s) not started{lost}. Every answer received "
            f"is stored. Resume with: {resume_command()}"
        )
        if summary.abandoned:
            # Abandoned calls still run in worker threads; do not wait for them.
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    if summary.stopped == "budget" and cap is not None:
        console.print(_cap_stop_message(cap, ledger, context.run_id, summary.not_started, data_root))
        return EXIT_BUDGET
    if "report" in results:  # last, so the path is the line a user sees
        console.print(f"Report: {results['report']}")
    return EXIT_OK if summary.ok else EXIT_FAILED
