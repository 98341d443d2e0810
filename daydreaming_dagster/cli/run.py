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
    add_cohort,
    add_data_root,
    check_positive,
    make_console,
    parse_stages,
    print_error,
)
from daydreaming_dagster.engine.ledger import DEFAULT_COHORT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from daydreaming_dagster.cohort.budget import Spend, SpendingCap
    from daydreaming_dagster.cohort.checks import DescriptionGap
    from daydreaming_dagster.cohort.pipeline import Cohort, PreparedRun
    from daydreaming_dagster.cohort.runner import RunSummary, WorkItem
    from daydreaming_dagster.core.config import ExperimentConfig
    from daydreaming_dagster.core.stages import Stage
    from daydreaming_dagster.engine.flow import StageSpec


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
    add_cohort(run)
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
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="make every call again instead of reusing stored answers (new answers are still stored: "
        "they are what a paid call leaves)",
    )
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
        "--max-study-cost",
        type=float,
        default=None,
        metavar="USD",
        help="spending cap on the data root's total spend (every cohort's paid calls, every process): "
        "at the cap the run stops with exit 3 (default: experiment.toml study_max_cost, else no cap)",
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


def _spend_line(spend: Spend, run_id: str, config: ExperimentConfig) -> str:
    """This run's spend, the cohort's and the data root's: sums over the payment journal."""
    from daydreaming_dagster.cli.plan import usd

    whose = "cohort" if spend.cohort_name == DEFAULT_COHORT else f"cohort {spend.cohort_name}"
    line = f"Spend: this run {usd(spend.run(run_id))}; {whose} total {usd(spend.spent)}"
    if config.max_cost is not None:
        line += f" (cap {usd(config.max_cost)})"
    line += f"; data root total {usd(spend.study.total)}"
    if config.study_max_cost is not None:
        line += f" (study cap {usd(config.study_max_cost)})"
    if spend.cohort.priced_part:
        line += f"; {usd(spend.cohort.priced_part)} of the cohort's estimated from prices (the server reported no cost)"
    if spend.cohort.unpriced:
        line += f"; {spend.cohort.unpriced} paid call(s) with no reported cost and no known price not counted"
    return line + "."


def _without_flags(args: Sequence[str], *flags: str) -> list[str]:
    """The command line without ``flags`` and their values (``--flag V`` or ``--flag=V``)."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif not any(arg.startswith(f"{flag}=") for flag in flags):
            kept.append(arg)
    return kept


def _cap_stop_message(cap: SpendingCap, spend: Spend, run_id: str, not_started: int, data_root: object) -> str:
    """What stopped, what was spent, and the command that continues."""
    from daydreaming_dagster.cli.plan import usd

    study = cap.stopped_by == "study"
    flag = "--max-study-cost" if study else "--max-cost"
    limit = cap.study_cap if study else cap.cap
    spent = max(spend.study.total if study else spend.spent, cap.study_spent if study else cap.spent)
    least = spent + (cap.next_worst or 0.0)
    command = " ".join(["daydream", *(shlex.quote(a) for a in _without_flags(sys.argv[1:], flag)), flag, "USD"])
    whose = "the data root (every cohort)" if study else f"the cohort {spend.cohort_name}"
    setting = "study_max_cost" if study else "max_cost"
    others = cap.others_reserved_at_stop[1 if study else 0]
    held = (
        f" Other runs on this data root held {usd(others)} of it for their calls in flight: what they do "
        "not spend is free again when they finish, so running this command again then may go on."
        if others > 0 else ""
    )
    return (
        f"Spending cap reached: {whose} has spent {usd(spent)} of its {usd(limit)} cap (this run "
        f"{usd(spend.run(run_id))}); the next call could cost up to {usd(cap.next_worst)}, which could pass "
        f"the cap.{held} {not_started} generation(s) not started; calls in flight finished and are stored. "
        f"To continue where this run stopped, raise the cap (it counts {'every cohort' if study else 'the cohort'}'s "
        f"total spend, every run and process; at least {usd(least)} to start the next call): {command} "
        f"(or {setting} in experiment.toml). What the rest costs: daydream plan --data-root "
        f"{shlex.quote(str(data_root))}{cohort_flag(spend.cohort_name)}"
    )


def cohort_flag(name: str) -> str:
    """`` --cohort NAME`` for a named cohort (a command to run next names it), nothing for the default one."""
    return "" if name == DEFAULT_COHORT else f" --cohort {shlex.quote(name)}"


def _disk_stop_message(summary: RunSummary, prepared: PreparedRun) -> str:
    """Which write the disk refused, where the answers are, and what to do."""
    first = summary.storage_errors[0]
    spill = prepared.spill
    moved = prepared.retry_spill()  # the disk may have room again by now
    kept = ""
    if moved:
        kept += f" {moved} answer(s) or payment(s) kept in the spill file were written to the cache and the journal."
    if spill is not None and spill.saved:
        owners = sorted({o for o in spill.held if o})
        shown = ", ".join(owners[:8]) + (f" and {len(owners) - 8} more" if len(owners) > 8 else "")
        kept += (
            f" {spill.saved} answer(s) or payment(s) are kept in {spill.path} ({shown}; "
            f"{spill.held_bytes / 1024:.0f} KiB): the next run moves them into the cache and uses them."
        )
    lost = ""
    if spill is not None and spill.lost:
        need = sum(a.size for a in spill.lost)
        names = ", ".join(f"{a.stage} {a.gen_id}" for a in spill.lost[:5])
        lost = (
            f" {len(spill.lost)} answer(s) could not be kept anywhere ({names}; about {need / 1024:.0f} KiB): "
            "they were paid and will be asked again."
        )
    return (
        f"Stopped: {first.cause}: {first.path}. No new generation was started; the calls "
        f"in flight finished.{kept}{lost} Every other answer received is on disk. Free space on that "
        f"filesystem (about {_room_needed(summary, prepared) / 1024 / 1024:.1f} MiB: twice what the "
        f"{summary.not_started} generation(s) not started and the kept answers take, at this run's size per "
        "generation, plus room for the result tables), "
        f"then run the same command again: {resume_command()}"
    )


def _room_needed(summary: RunSummary, prepared: PreparedRun) -> int:
    """Bytes the rest of the run needs, estimated from the generations already on disk."""
    store = prepared.context.store
    sizes = []
    for stage in ("draft", "essay", "evaluation"):
        for gen_id in store.gen_ids(stage)[:50]:  # a sample is enough for an estimate
            folder = store.gen_dir(stage, gen_id)
            sizes.append(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()))
    per_generation = max(sum(sizes) / len(sizes), 4096.0) if sizes else 16384.0
    held = prepared.spill.held_bytes if prepared.spill is not None else 0
    return int(2 * per_generation * (summary.not_started + len(summary.storage_errors)) + 2 * held + (1 << 20))


def _warn(console: Console, text: str) -> None:
    from rich.text import Text

    console.print(Text.assemble(("warning: ", "yellow"), text))


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from rich.logging import RichHandler

    from daydreaming_dagster.cohort.pipeline import open_run, prepare_run
    from daydreaming_dagster.cohort.runner import generation_slots
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.core.errors import DaydreamError, describe_os_error, is_disk_full
    from daydreaming_dagster.core.settings import interrupt_grace_s

    console = make_console()
    logging.basicConfig(  # other libraries' warnings; the product's own: cli/_common.product_warnings_shown
        level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    data_root = Path(args.data_root)
    stages = parse_stages(console, args.stages)
    if stages is None or not check_positive(console, concurrency=args.concurrency, k_max=args.k_max):
        return EXIT_BAD_INPUT
    try:
        grace_s = interrupt_grace_s()
        config = load_experiment_config(
            data_root,
            k_max=args.k_max,
            concurrency=args.concurrency,
            max_cost=args.max_cost,
            study_max_cost=args.max_study_cost,
        )
        if args.no_cache:
            config = config.model_copy(update={"response_cache": False})
        opened = open_run(data_root, config, stages, name=args.cohort, max_in_flight=args.concurrency)
    except DaydreamError as exc:
        print_error(console, "Input error (nothing was generated):", f"\n{exc}")
        return EXIT_BAD_INPUT
    cohort, items, specs, client = opened.cohort, opened.items, opened.specs, opened.client
    run_id = f"cli-{uuid_hex()}"
    try:
        prepared = prepare_run(
            data_root,
            cohort.raw,
            config,
            specs,
            items,
            client,
            run_id=run_id,
            cohort=cohort.name,
            force=args.force,
            allow_unknown_prices=args.allow_unknown_prices,
            generation_slots=generation_slots(config.concurrency),
        )
    except DaydreamError as exc:
        print_error(console, "Cannot start (no generation was attempted):", f"\n{exc}")
        return EXIT_BAD_INPUT
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        print_error(
            console,
            "Cannot start (no generation was attempted):",
            f"no space left on the device ({describe_os_error(exc)}): a run keeps room for the answers it "
            f"pays for. Fix: free space on the filesystem of {data_root}, then run again.",
        )
        return EXIT_FAILED
    from daydreaming_dagster.cohort.overview import record_run

    started_at, status = _now(), EXIT_FAILED
    try:
        status = _run_prepared(console, args, data_root, stages, config, cohort, items, specs, prepared, grace_s)
        return status
    finally:
        prepared.close()
        record_run(data_root, {
            "cohort": cohort.name, "run_id": run_id, "started_at": started_at, "finished_at": _now(),
            "exit": status, "stages": list(stages), "command": resume_command(),
        })


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def uuid_hex() -> str:
    import uuid

    return str(uuid.uuid4())


def _say_before(console: Console, data_root: Path, cohort: Cohort, items: Sequence[WorkItem],
                specs: Mapping[Stage, StageSpec], prepared: PreparedRun) -> list[DescriptionGap]:
    """What would otherwise cost money unnoticed: fallback descriptions, a changed cohort id, orphans."""
    from daydreaming_dagster.cohort.checks import (
        cohort_change,
        description_gaps,
        orphans,
        reusable_from_cache,
    )

    for warning in prepared.warnings:
        _warn(console, warning)
    if prepared.recovered:
        _warn(console, f"{prepared.recovered} answer(s) and payment(s) kept on a full disk by an earlier run were recovered.")
    gaps = description_gaps(cohort.raw, cohort.combinations)
    for gap in gaps:
        _warn(console, gap.message(cohort.raw))
    change = cohort_change(data_root, cohort.tables) if cohort.layout.is_default else None
    if change is not None:
        fresh = [item for item in items if (item.stage, item.gen_id) in change.new_gen_ids]
        _warn(console, change.message(reusable_from_cache(prepared.context, specs, fresh)))
    left_over = orphans(data_root, cohort.tables, current=cohort.name)
    if left_over:
        counts = ", ".join(f"{len(ids)} {stage}" for stage, ids in left_over.items())
        _warn(
            console,
            f"{counts} generation folder(s) under {data_root / 'gens'} belong to no cohort "
            f"(an earlier version's). List them: daydream orphans --data-root {shlex.quote(str(data_root))} "
            "(add --delete to remove them).",
        )
    return gaps


def _run_prepared(
    console: Console,
    args: argparse.Namespace,
    data_root: Path,
    stages: Sequence[Stage],
    config: ExperimentConfig,
    cohort: Cohort,
    items: Sequence[WorkItem],
    specs: Mapping[Stage, StageSpec],
    prepared: PreparedRun,
    grace_s: float,
) -> int:
    import signal
    import threading

    from daydreaming_dagster.cli._progress import PlainStopNotice, RichStageProgress
    from daydreaming_dagster.cli.plan import usd
    from daydreaming_dagster.cohort.budget import read_spend
    from daydreaming_dagster.cohort.pipeline import save_task_tables
    from daydreaming_dagster.cohort.runner import CohortRunner, failure_groups, generation_slots
    from daydreaming_dagster.core.errors import describe_os_error, is_disk_full
    from daydreaming_dagster.core.settings import dagster_home
    from daydreaming_dagster.results.writer import write_all_results

    context, cap = prepared.context, prepared.cap
    gaps = _say_before(console, data_root, cohort, items, specs, prepared)
    save_task_tables(cohort)
    title = cohort.tables.cohort_id if cohort.layout.is_default else f"{cohort.name} ({cohort.layout.spec_file})"
    console.print(
        f"Cohort {title}: {len(cohort.combinations)} combination(s), "
        + ", ".join(f"{len(cohort.rows(s))} {s}" for s in stages)
        + f"; concurrency {config.concurrency}; data root {data_root}"
    )
    before = prepared.spend_before
    if config.max_cost is not None:
        console.print(f"Spending cap {usd(config.max_cost)} on the cohort's total spend; spent so far {usd(before.spent)}.")
    if config.study_max_cost is not None:
        console.print(
            f"Study cap {usd(config.study_max_cost)} on the data root's total spend; spent so far {usd(before.study.total)}."
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
    if dagster_home():  # one state for both front doors (docs/dagster.md)
        from daydreaming_dagster.resources.reporter import reporter_from_env

        reporter = reporter_from_env(
            context.store, cohort.tables, warn=lambda text: _warn(console, text), cohort=cohort.name
        )
    try:
        summary = CohortRunner(
            context,
            specs,
            concurrency=generation_slots(config.concurrency),
            force=args.force,
            progress=progress,
            admission=cap,
            observers=[reporter] if reporter is not None else [],
            stop=stop,
            abandon=abandon,
            grace_s=grace_s,
        ).run(items)
    except BaseException:
        if reporter is not None:  # writes what is still queued
            console.print(reporter.close().line(reporter.where))
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    results: dict[str, Path] = {}
    results_problem = None
    try:
        if summary.stopped is None:  # the result tables and the report, over the whole cohort
            try:
                results = write_all_results(data_root, cohort=cohort.name)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                results_problem = f"the result tables were not written: {describe_os_error(exc)}"
    finally:
        if reporter is not None:  # the generations, then the cohort's partition of the results assets
            if results:
                reporter.report_results(cohort.name, results)
            console.print(reporter.close().line(reporter.where))
    console.print(_summary_table(summary, stages))
    after = read_spend(data_root, context.cohort, store=context.store)
    console.print(
        # The journal's count: it includes calls whose answers the disk refused (kept in the spill).
        f"LLM calls {after.calls_by_run[context.run_id]} (paid unless the model is local); "
        f"reused from the response cache (no cost) {summary.cache_hits}; "
        f"tokens {summary.prompt_tokens} in / {summary.completion_tokens} out; "
        f"cost {usd(after.run(context.run_id))}; wall time {summary.wall_s:.1f} s"
    )
    console.print(_spend_line(after, context.run_id, config))
    if gaps:
        _warn(console, f"{sum(len(g.concept_ids) for g in gaps)} concept(s) were shown with a fallback description (see above).")
    if results:
        folders = sorted({str(p.parent) for name, p in results.items() if name != "report"})
        console.print(f"Result tables ({len(results) - 1}): " + ", ".join(folders))
    groups = failure_groups(summary.failures)
    for cause, count, example in groups[:10]:
        print_error(console, f"failed ×{count}:", f"{cause} (e.g. {example.stage} {example.gen_id})")
    if len(groups) > 10:
        console.print(f"... and {len(groups) - 10} more causes")
    if summary.stopped == "disk":
        print_error(console, "No space left:", _disk_stop_message(summary, prepared))
        return EXIT_FAILED
    if results_problem is not None:
        print_error(
            console,
            "No space left:",
            f"{results_problem}. Every generation is on disk. Free space, then run `daydream report "
            f"--data-root {shlex.quote(str(data_root))}{cohort_flag(cohort.name)}` (or the same command "
            "again: it pays nothing twice).",
        )
        return EXIT_FAILED
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
        console.print(_cap_stop_message(cap, after, context.run_id, summary.not_started, data_root))
        return EXIT_BUDGET
    if "report" in results:  # last, so the path is the line a user sees
        console.print(f"Report: {results['report']}")
    return EXIT_OK if summary.ok else EXIT_FAILED
