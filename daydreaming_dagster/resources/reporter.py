"""``daydream run`` reports to a Dagster instance: one state for both front doors.

When ``DAGSTER_HOME`` is set (or an instance is given), ``daydream run`` registers the dynamic
partitions of the cohort's task tables (``resources/partition_sync.py``) and reports every
generation it completes, or finds complete, as a materialization of the stage's ``<stage>_prompt``
and ``<stage>_response`` assets, partition = gen_id, with the same metadata as a Dagster run
(``resources/materialization_metadata.py``). Copy-mode essays are reported for both assets too, as
a Dagster run materializes both (the prompt's metadata says ``mode: copy``, ``prompt_chars: 0``).
The four task-table assets are reported as well, so the UI sees the cohort.

Reporting is a ``RunObserver`` (``cohort.runner``), called from the runner's main thread.
``daydream run`` uses ``ProcessReporter``: the run only sends ``(stage, status, gen_id)`` down a
pipe to a child process (its own core, its own GIL; the run's process never imports Dagster),
which runs an ``InstanceReporter``: it reads each generation's files from disk and writes the
events from a background thread in batches (``store_materializations``): one multi-row INSERT per
batch on PostgreSQL, two transactions per batch on SQLite (Dagster's own path is two or three per
event), one event at a time on any other storage; how is in ``resources/dagster_internals.py``
and docs/dagster.md.

Generations already materialized in the instance (both assets) and skipped by the run are not
reported again, so a re-run does not grow the event log. The disk stays the truth: the CLI decides
what to skip from the gens store, never from the instance. Reporting never fails a run: errors
are counted and shown at the end (the next run reports what is still missing).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daydreaming_dagster.cohort.runner import Status, WorkItem
from daydreaming_dagster.cohort.tasks import TABLE_FILES, TASKS_DIR, TaskTables
from daydreaming_dagster.core import settings
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.flow import GenerationOutcome
from daydreaming_dagster.engine.record import GenerationRecord
from daydreaming_dagster.engine.store import PROMPT, GensStore
from daydreaming_dagster.resources.materialization_metadata import (
    materialization_metadata,
    prompt_key,
    prompt_metadata,
    response_key,
)
from daydreaming_dagster.resources.partition_sync import sync_dynamic_partitions

if TYPE_CHECKING:
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

# Dagster is imported inside the functions that use it: ``daydream run`` imports this module, and
# its process never needs Dagster (the reporting process does).

logger = logging.getLogger("daydreaming_dagster.instance")

# Events per storage write (one asset at a time).
EVENT_BATCH = 500
# The reporting process's niceness: it uses idle CPU, never the run's.
NICE = 10


def store_materializations(
    instance: DagsterInstance, materializations: Sequence[AssetMaterialization], *, batch_size: int = EVENT_BATCH
) -> None:
    """Store runless materializations in as few transactions as the storage allows (module doc).

    Batches hold one asset each: a batch write records only its last event as the asset's latest.
    """
    from daydreaming_dagster.resources.dagster_internals import runless_batch_writer

    writer = runless_batch_writer(instance)
    by_key: dict[AssetKey, list[AssetMaterialization]] = {}  # one asset per batch
    for mat in materializations:
        by_key.setdefault(mat.asset_key, []).append(mat)
    for mats in by_key.values():
        for start in range(0, len(mats), batch_size):
            writer(mats[start : start + batch_size])


# ---------------------------------------------------------------------------- the reporter


@dataclass
class ReportStats:
    generations: int = 0  # generations reported (two events each)
    events: int = 0
    already_materialized: int = 0  # skipped generations the instance already had
    write_s: float = 0.0  # time spent writing to the instance (background thread)
    errors: int = 0
    last_error: str = ""
    registered: dict[str, dict[str, int]] = field(default_factory=dict)
    failure: str = ""  # the instance could not be opened or the partitions registered: nothing reported

    def line(self, where: str) -> str:
        if self.failure:
            return (
                f"Dagster instance ({where}): NOTHING reported: {self.failure}. Fix the instance (docs/dagster.md) "
                f"and run again: complete generations are reported then. {settings.DAGSTER_REPORT}=0 turns reporting off."
            )
        text = (
            f"Dagster instance ({where}): {self.generations} generation(s) reported as materialized "
            f"({self.events} events, {self.write_s:.1f} s of writes)"
        )
        if self.already_materialized:
            text += f"; {self.already_materialized} already materialized"
        if self.errors:
            text += f"; {self.errors} NOT reported ({self.last_error}); the next run reports them"
        return text


@dataclass(frozen=True)
class Registration:
    """What ``register`` needs from the task tables (plain data: it crosses to the reporting process)."""

    data_root: str
    keys: dict[str, list[str]]  # stage -> gen_ids, the task table's order
    selection_rows: int
    cohort_id: str

    @classmethod
    def of(cls, tables: TaskTables, data_root: Path) -> Registration:
        keys: dict[str, list[str]] = {
            stage: [str(k) for k in getattr(tables, STAGE_FACTS[stage].task_table)["gen_id"]] for stage in STAGES
        }
        return cls(str(data_root), keys, len(tables.selection), tables.cohort_id)


@dataclass(frozen=True)
class _Done:
    stage: Stage
    gen_id: str
    record: GenerationRecord | None  # None: read it from disk (a skipped generation)
    cache_hit: bool


_FLUSH = object()
_STOP = object()


class InstanceReporter:
    """Reports generations to a Dagster instance (a ``RunObserver``; see the module docstring).

    ``register(tables)`` syncs the dynamic partitions and reports the task-table assets;
    ``finished`` queues a generation (non-blocking unless ``max_pending`` are waiting); ``close()``
    writes what is left and returns the stats. ``batch_size`` generations (or ``flush_interval_s``)
    make one write per asset.
    """

    def __init__(
        self,
        instance: DagsterInstance,
        store: GensStore,
        *,
        batch_size: int = EVENT_BATCH,
        flush_interval_s: float = 2.0,
        max_pending: int = 20_000,
        owns_instance: bool = False,
    ) -> None:
        self.instance = instance
        self.store = store
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.owns_instance = owns_instance
        self.stats = ReportStats()
        self._known: dict[Stage, set[str]] = {stage: set() for stage in STAGES}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._loop, name="dd-dagster-report", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def where(self) -> str:
        home = settings.dagster_home()
        storage = type(self.instance.event_log_storage).__name__
        return f"{storage}, DAGSTER_HOME={home}" if home else storage

    # -- before the run

    def register(self, tables: TaskTables | Registration) -> dict[str, dict[str, int]]:
        """Sync each stage's dynamic partitions with its task table; report the task assets.

        Also loads which partitions the instance already has materialized (both assets), so a
        re-run does not report them again.
        """
        reg = tables if isinstance(tables, Registration) else Registration.of(tables, self.store.data_root)
        root = Path(reg.data_root)
        task_mats = [
            _table_materialization(root, "selected_combo_mappings", TABLE_FILES["selection"], reg.selection_rows, {})
        ]
        for stage in STAGES:
            facts = STAGE_FACTS[stage]
            keys = reg.keys[stage]
            stats = sync_dynamic_partitions(self.instance, facts.partitions, keys)
            self.stats.registered[stage] = stats
            materialized = self.instance.get_materialized_partitions(response_key(stage))
            if materialized:
                materialized = set(materialized) & set(self.instance.get_materialized_partitions(prompt_key(stage)))
            self._known[stage] = set(materialized)
            extra: dict[str, Any] = {"cohort_id": reg.cohort_id} if stage == "evaluation" else {}
            task_mats.append(
                _table_materialization(root, facts.task_asset, facts.task_file, len(keys), {**stats, **extra})
            )
        started = time.perf_counter()
        store_materializations(self.instance, task_mats)  # errors propagate: the caller decides
        self.stats.write_s += time.perf_counter() - started
        self.stats.events += len(task_mats)
        return self.stats.registered

    # -- RunObserver

    def finished(self, item: WorkItem, status: Status, outcome: GenerationOutcome | None) -> None:
        if status == "done" and outcome is not None:
            self.report(item.stage, status, item.gen_id, outcome.record, outcome.cache_hit)
        else:
            self.report(item.stage, status, item.gen_id)

    def report(
        self, stage: Stage, status: str, gen_id: str, record: GenerationRecord | None = None, cache_hit: bool = False
    ) -> None:
        """Queue one generation; ``record`` None: read from disk. Only done and skipped ones count."""
        if status == "skipped" and gen_id in self._known[stage]:
            self.stats.already_materialized += 1
        elif status in ("done", "skipped"):
            self._queue.put(_Done(stage, gen_id, record, cache_hit))

    # -- after the run

    def close(self, timeout_s: float | None = None) -> ReportStats:
        """Write what is queued, stop the thread; returns the stats. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            if self.owns_instance:
                try:
                    self.instance.dispose()
                except Exception:  # pragma: no cover - closing only
                    pass
        return self.stats

    def flush(self) -> None:
        """Ask the thread to write what is queued now (tests)."""
        self._queue.put(_FLUSH)

    # -- the background thread

    def _loop(self) -> None:
        pending: list[_Done] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if pending else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _FLUSH
            if isinstance(item, _Done):
                if not pending:
                    deadline = time.monotonic() + self.flush_interval_s
                pending.append(item)
            if pending and (item is _FLUSH or item is _STOP or len(pending) >= self.batch_size):
                self._report(pending)
                pending = []
            if item is _STOP:
                return

    def _report(self, done: Sequence[_Done]) -> None:
        mats: list[AssetMaterialization] = []
        generations = 0
        for entry in done:
            try:
                pair = self._materializations(entry)
            except Exception as exc:  # an unreadable file: count it, keep going
                self._error(exc, 1)
                continue
            if pair:
                mats.extend(pair)
                generations += 1
        if self._write(mats, generations):
            self.stats.generations += generations

    def _materializations(self, entry: _Done) -> list[AssetMaterialization]:
        from dagster import AssetMaterialization

        record, cache_hit = entry.record, entry.cache_hit
        if record is None:
            record = self.store.read_record(entry.stage, entry.gen_id)
            if record is None or not record.complete:
                return []
            cache_hit = bool(record.cache and record.cache.get("hit"))  # as metadata.json recorded it
        prompt = self.store.read(entry.stage, entry.gen_id, PROMPT) if record.mode != "copy" else None
        return [
            AssetMaterialization(
                asset_key=prompt_key(entry.stage), partition=entry.gen_id, metadata=prompt_metadata(prompt)
            ),
            AssetMaterialization(
                asset_key=response_key(entry.stage),
                partition=entry.gen_id,
                metadata=materialization_metadata(self.store, record, cache_hit),
            ),
        ]

    def _write(self, mats: Sequence[AssetMaterialization], generations: int = 0) -> bool:
        if not mats:
            return True
        started = time.perf_counter()
        try:
            store_materializations(self.instance, mats, batch_size=self.batch_size)
        except Exception as exc:
            self._error(exc, generations)
            return False
        finally:
            self.stats.write_s += time.perf_counter() - started
        self.stats.events += len(mats)
        return True

    def _error(self, exc: Exception, generations: int) -> None:
        self.stats.errors += generations
        self.stats.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        logger.warning("could not report to the Dagster instance: %s", self.stats.last_error)


def _table_materialization(
    root: Path, asset: str, file_name: str, rows: int, extra: Mapping[str, Any]
) -> AssetMaterialization:
    from dagster import AssetKey, AssetMaterialization

    metadata: dict[str, Any] = {"path": str(root / TASKS_DIR / file_name), "rows": rows}
    if asset != "selected_combo_mappings":
        metadata["task_count"] = rows
    metadata.update(extra)
    return AssetMaterialization(asset_key=AssetKey(asset), metadata=metadata)


class ProcessReporter:
    """The reporter ``daydream run`` uses: an ``InstanceReporter`` in a child process.

    Reporting costs CPU (Dagster's serialization, about 0.5 ms per event) and, in a thread, the GIL
    that the run's worker threads need; in its own process it uses another core, and the run's
    process never imports Dagster. The child (``python -m daydreaming_dagster.resources.reporter``)
    reads the registration as one JSON line on stdin, then one line per generation
    (``stage<TAB>status<TAB>gen_id``) until stdin closes; it reads each generation's files from
    disk (the truth), writes in batches, and prints its stats as JSON. A feeder thread writes to the
    pipe, so the run never waits for the child, which runs at niceness ``NICE``: when the machine's
    cores are busy with the run, it takes what is left and catches up at the end. ``close()`` waits
    for the child to finish.
    """

    def __init__(self, home: Path, store: GensStore, tables: TaskTables) -> None:
        import json
        import subprocess
        import sys
        import tempfile

        self.home = home
        self._where = f"DAGSTER_HOME={home}"
        self._stats: ReportStats | None = None
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "daydreaming_dagster.resources.reporter"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, settings.DAGSTER_HOME: str(home)},  # the child's instance: this one
            text=True,
            encoding="utf-8",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lines.put(json.dumps(dataclasses.asdict(Registration.of(tables, store.data_root))))
        self._broken = ""
        self._feeder = threading.Thread(target=self._feed, name="dd-dagster-report-feed", daemon=True)
        self._feeder.start()

    @property
    def where(self) -> str:
        return self._where

    def finished(self, item: WorkItem, status: Status, outcome: GenerationOutcome | None) -> None:
        if status in ("done", "skipped"):
            self._lines.put(f"{item.stage}\t{status}\t{item.gen_id}")

    def _feed(self) -> None:
        pipe = self._process.stdin
        assert pipe is not None
        try:
            while (line := self._lines.get()) is not None:
                pipe.write(line + "\n")
                if self._lines.empty():
                    pipe.flush()
        except (BrokenPipeError, OSError) as exc:
            self._broken = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def close(self) -> ReportStats:
        """Wait until the child wrote everything (or died); its stats. Idempotent."""
        import json

        if self._stats is not None:
            return self._stats
        self._lines.put(None)
        self._feeder.join()
        assert self._process.stdout is not None
        out = self._process.stdout.read()
        self._process.stdout.close()
        self._process.wait()
        try:
            result = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
        except json.JSONDecodeError:
            result = None
        if not isinstance(result, dict):
            self._stderr.seek(0)
            tail = " | ".join(self._stderr.read().strip().splitlines()[-3:])
            why = self._broken or f"exit {self._process.returncode}"
            self._stats = ReportStats(failure=f"the reporting process failed ({why}): {tail[-400:]}")
        else:
            self._where = str(result.pop("where", self._where))
            self._stats = ReportStats(**result)
        self._stderr.close()
        return self._stats


def _describe(exc: BaseException) -> str:
    """One readable line: Dagster's config errors put the useful part after "Error 1:"."""
    text = " ".join(str(exc).split())
    if "Error 1:" in text:
        text = text.split("Error 1:", 1)[1].strip()
    return f"{type(exc).__name__}: {text[:300]}"


def _child_main() -> int:
    """The reporting process (``ProcessReporter``): stdin in, stats as JSON on stdout."""
    import json
    import sys
    import warnings

    from dagster import DagsterInstance

    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.ERROR)  # its notice when dagster.yaml is missing
    try:
        os.nice(NICE)  # on a busy machine the run goes first; the reporter catches up at the end
    except OSError:
        pass
    where = f"DAGSTER_HOME={settings.dagster_home() or ''}"
    stats = ReportStats()
    reporter: InstanceReporter | None = None
    try:
        registration = Registration(**json.loads(sys.stdin.readline()))
        instance = DagsterInstance.get()
        where = f"{type(instance.event_log_storage).__name__}, {where}"
        reporter = InstanceReporter(instance, GensStore(Path(registration.data_root)), owns_instance=True)
        reporter.register(registration)
    except Exception as exc:
        stats.failure = _describe(exc)
        if reporter is not None:
            reporter.close()
            reporter = None
    for line in sys.stdin:  # until the run closes the pipe (or dies)
        if reporter is not None:
            stage, status, gen_id = line.rstrip("\n").split("\t")
            reporter.report(stage, status, gen_id)  # type: ignore[arg-type]
    if reporter is not None:
        stats = reporter.close()
    print(json.dumps({**dataclasses.asdict(stats), "where": where}), flush=True)
    return 0


def reporter_from_env(
    store: GensStore, tables: TaskTables, *, warn: Callable[[str], None], instance: DagsterInstance | None = None
) -> ProcessReporter | InstanceReporter | None:
    """The reporter for ``daydream run``, or None when DAGSTER_HOME is unset or reporting is off.

    With ``instance``: an in-process ``InstanceReporter`` on it, partitions registered now (None,
    after a warning, if that fails). Otherwise a ``ProcessReporter`` on DAGSTER_HOME's instance:
    a failure to open or register shows in its closing line.
    """
    if instance is not None:
        reporter = InstanceReporter(instance, store)
        try:
            reporter.register(tables)
        except Exception as exc:
            reporter.close()
            warn(
                f"the Dagster instance ({reporter.where}) could not register the partitions "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); this run is not reported to it."
            )
            return None
        return reporter
    home_setting = settings.dagster_home()
    if home_setting is None or not settings.dagster_reporting():
        return None
    home = Path(home_setting).expanduser().resolve()  # Dagster wants an absolute path
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        warn(f"DAGSTER_HOME={home} cannot be created ({exc}); this run is not reported to a Dagster instance.")
        return None
    if not (home / "dagster.yaml").is_file():
        warn(
            f"DAGSTER_HOME={home} has no dagster.yaml: Dagster's defaults apply (SQLite in that folder, "
            "no pool limits). `bash scripts/dagster_home.sh` installs the project's (docs/dagster.md)."
        )
    return ProcessReporter(home, store, tables)


if __name__ == "__main__":
    raise SystemExit(_child_main())
