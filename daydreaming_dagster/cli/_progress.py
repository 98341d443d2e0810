"""Rich progress bars for ``daydream run``: one bar per stage."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from daydreaming_dagster.cohort.runner import Status
from daydreaming_dagster.core.stages import STAGES, Stage


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
        self._stopping: TaskID | None = None

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

    def stopping(self, in_flight: int, seconds_left: float) -> None:
        """The countdown while calls in flight finish after Ctrl-C / SIGTERM."""
        text = (
            f"stopping: waiting for {in_flight} call(s) in flight, {seconds_left:.0f} s left "
            "(Ctrl-C again to abandon them)"
        )
        if self._stopping is None:
            self._stopping = self._progress.add_task("", total=None, detail=text)
        else:
            self._progress.update(self._stopping, detail=text)

    def stop(self) -> None:
        self._progress.stop()


class PlainStopNotice:
    """``--quiet`` runs still say why they are waiting after Ctrl-C (once per 5 s)."""

    def __init__(self, console: Console):
        self._console = console
        self._last = -1.0

    def start(self, totals: Mapping[Stage, int]) -> None:
        pass

    def advance(self, stage: Stage, status: Status) -> None:
        pass

    def stopping(self, in_flight: int, seconds_left: float) -> None:
        if self._last < 0 or self._last - seconds_left >= 5:
            self._last = seconds_left
            self._console.print(
                f"stopping: waiting for {in_flight} call(s) in flight, {seconds_left:.0f} s left "
                "(Ctrl-C again to abandon them)"
            )

    def stop(self) -> None:
        pass
