"""``daydream``: run a cohort end to end from the command line.

``daydream run`` validates every input, builds the task tables, generates every selected stage
concurrently (pipelined: an essay starts as soon as its draft is done), then writes the score
tables, showing progress and ending with a summary. Re-running skips what is already complete.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from daydreaming_dagster.cohort.pipeline import (
    load_cohort,
    pending_model_ids,
    preflight,
    run_items,
    save_task_tables,
)
from daydreaming_dagster.cohort.results import parsed_scores, write_results
from daydreaming_dagster.cohort.runner import RunSummary, Status, stage_order
from daydreaming_dagster.llm import LLMConfigurationError, LLMSettings, build_llm_client
from daydreaming_dagster.resources.data_root import default_data_root
from daydreaming_dagster.resources.experiment_config import load_experiment_config
from daydreaming_dagster.utils.document import STAGES, GensStore, Stage
from daydreaming_dagster.utils.generation_engine import GenerationContext
from daydreaming_dagster.utils.raw_data import InputError
from daydreaming_dagster.utils.response_cache import ResponseCache

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class RichStageProgress:
    """One bar per stage; advances as generations finish, are skipped or fail."""

    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[Stage, TaskID] = {}
        self._counts: dict[Stage, dict[str, int]] = {}

    def start(self, totals: Mapping[Stage, int]) -> None:
        for stage in STAGES:
            if totals.get(stage):
                self._counts[stage] = {}
                self._tasks[stage] = self._progress.add_task(stage, total=totals[stage], detail="")
        self._progress.start()

    def advance(self, stage: Stage, status: Status) -> None:
        counts = self._counts[stage]
        counts[status] = counts.get(status, 0) + 1
        detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        self._progress.update(self._tasks[stage], advance=1, detail=detail)

    def stop(self) -> None:
        self._progress.stop()


def _summary_table(summary: RunSummary, stages: Sequence[Stage]) -> Table:
    table = Table(title="DayDreaming run summary")
    for column in ("stage", "done", "skipped", "failed", "blocked"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for stage in stages:
        c = summary.counts[stage]
        table.add_row(stage, *(str(c.get(s, 0)) for s in ("done", "skipped", "failed", "blocked")))
    return table


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    data_root = Path(args.data_root)
    stages = stage_order(args.stages.split(","))
    try:
        config = load_experiment_config(data_root, k_max=args.k_max, concurrency=args.concurrency)
        if args.no_cache:
            config = config.model_copy(update={"response_cache": False})
        cohort = load_cohort(data_root, config)
    except (InputError, ValueError) as exc:
        console.print(f"[bold red]Input error[/] (nothing was generated):\n{exc}", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    store = GensStore(data_root)
    items = cohort.items(stages)
    # --concurrency > DD_LLM_MAX_IN_FLIGHT > the experiment's concurrency: one number bounds both
    # the generations in flight and the requests in flight, unless the environment splits them.
    settings = LLMSettings.from_env(defaults={"max_in_flight": config.concurrency}, max_in_flight=args.concurrency)
    client = build_llm_client(cohort.raw.routes(), settings)
    try:
        preflight(client, pending_model_ids(cohort, items, store, force=args.force))
    except LLMConfigurationError as exc:
        console.print(f"[bold red]Cannot start[/] (no generation was attempted):\n{exc}", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    save_task_tables(cohort)
    context = GenerationContext(
        run_id=f"cli-{uuid.uuid4()}",
        store=store,
        llm=client,
        cache=ResponseCache.for_data_root(data_root) if config.response_cache else None,
        refresh_cache=args.force,
    )
    console.print(
        f"Cohort [bold]{cohort.tables.cohort_id}[/]: {len(cohort.combinations)} combination(s), "
        + ", ".join(f"{len(cohort.rows(s))} {s}" for s in stages)
        + f"; concurrency {config.concurrency}; data root {data_root}",
        highlight=False,
    )
    progress = RichStageProgress(console) if not args.quiet else None
    summary = run_items(context, cohort.specs(), items, concurrency=config.concurrency,
                        force=args.force, progress=progress)
    results = None
    if "evaluation" in stages:
        scores = parsed_scores(store, cohort.tables.evaluations, cohort.tables.essays, cohort.combinations)
        results = write_results(data_root, scores)
    console.print(_summary_table(summary, stages))
    console.print(
        f"LLM calls {summary.llm_calls}, reused from cache {summary.cache_hits}; tokens "
        f"{summary.prompt_tokens} in / {summary.completion_tokens} out; cost {summary.cost:.4f}; "
        f"wall time {summary.wall_s:.1f} s",
        highlight=False,
    )
    if results:
        console.print("Scores: " + ", ".join(str(p) for p in results.values()), highlight=False)
    for failure in summary.failures[:10]:
        console.print(f"[red]failed[/] {failure.message}", highlight=False, soft_wrap=True)
    if len(summary.failures) > 10:
        console.print(f"... and {len(summary.failures) - 10} more failures", highlight=False)
    return EXIT_OK if summary.ok else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daydream",
        description="DayDreaming: LLM idea-generation experiments (draft -> essay -> evaluation).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a cohort end to end",
        description="Build the task tables from DATA_ROOT/1_raw, generate every selected stage "
        "(skipping generations already complete on disk), then write the score tables. "
        "Exit status: 0 all succeeded, 1 some generation failed, 2 bad input or configuration.",
    )
    run.add_argument("--data-root", default=default_data_root(), help="data root (default: $DD_DATA_ROOT or ./data)")
    run.add_argument("--stages", default="draft,essay,evaluation", help="comma-separated stages to run (default: all)")
    run.add_argument("--concurrency", type=int, default=None, help="generations and requests in flight (default: experiment config, 8)")
    run.add_argument("--k-max", type=int, default=None, help="concepts per combination (default: experiment config, 6)")
    run.add_argument("--force", action="store_true",
                     help="regenerate the selected stages' generations even if complete, with fresh LLM calls "
                          "(descendants in stages not selected keep their files)")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    logging.basicConfig(
        level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    if args.command == "run":
        return cmd_run(args, console)
    return EXIT_BAD_INPUT  # pragma: no cover - argparse enforces the subcommand


if __name__ == "__main__":
    sys.exit(main())
