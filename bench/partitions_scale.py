"""Dynamic partitions at scale on the default (SQLite) Dagster instance.

Part ``sync``: for each size, a fresh persistent SQLite instance (``DagsterInstance.local_temp``
in a temporary DAGSTER_HOME) and ``sync_dynamic_partitions`` with that many gen_ids: the first add,
a no-op resync, removing 1,000 stale keys, adding them back, and reading every key. Then the upstream
way, one ``instance.add_dynamic_partitions`` call with every key (no chunking), to show where SQLite's
bound-variable limit (32,766 since SQLite 3.32) breaks it.

Part ``run``: a cohort with ``--run-evaluations`` evaluation partitions registered by materializing
the ``task_definitions`` group through Dagster, its drafts and essays generated in-process, then ONE
Dagster run of ``evaluation_response`` over the whole partition range (a single-run backfill: tags
``dagster/asset_partition_range_start``/``_end``) with ``MockLLMResource`` (instant canned LLM).

    .venv/bin/python -m bench.partitions_scale                          # sync 20k/40k/60k, run 4k
    .venv/bin/python -m bench.partitions_scale --sizes "" --run-evaluations 20000   # ~7 min
    .venv/bin/python -m bench.partitions_scale --sizes 20000 --run-evaluations 2000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._cohort import Shape, generate_in_process, loadavg, print_table, save_results, write_data_root


def limit_sqlite_variables(limit: int) -> int:
    """Cap bound variables per statement on every new SQLite connection of this process.

    This machine's libsqlite3 (Debian) is built with SQLITE_MAX_VARIABLE_NUMBER = 250,000; stock
    SQLite since 3.32 allows 32,766 (999 before): the limit upstream hit near 36,000 partitions. The
    cap makes this run behave like a stock build. Returns the compiled-in limit.
    """
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    compiled = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    @event.listens_for(Engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)

    return compiled


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def _bulk_delete(instance: Any, name: str, keys: Sequence[str]) -> None:
    """Delete dynamic partitions in chunks of 1,000 keys in one index transaction (Dagster's
    storage internals: a prototype of the fix proposed in docs/benchmarks.md, not package code)."""
    from dagster._core.storage.event_log.schema import DynamicPartitionsTable
    from sqlalchemy import and_

    table = DynamicPartitionsTable
    with instance.event_log_storage.index_connection() as conn:
        for start in range(0, len(keys), 1000):
            chunk = list(keys[start : start + 1000])
            conn.execute(table.delete().where(and_(table.c.partitions_def_name == name, table.c.partition.in_(chunk))))


def sync_part(size: int, stale: int) -> dict[str, Any]:
    from dagster import DagsterInstance, DynamicPartitionsDefinition

    from daydreaming_dagster.core.ids import reserve_gen_id
    from daydreaming_dagster.resources.partition_sync import sync_dynamic_partitions

    keys = [reserve_gen_id("evaluation", f"bench-task-{i}") for i in range(size)]
    partitions = DynamicPartitionsDefinition(name="evaluation_gens")
    row: dict[str, Any] = {"keys": size, "load_before": loadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="dd-home-") as home, DagsterInstance.local_temp(home) as instance:
        row["add_s"], stats = _timed(sync_dynamic_partitions, instance, partitions, keys)
        assert stats["partitions_added"] == size, stats
        row["noop_resync_s"], stats = _timed(sync_dynamic_partitions, instance, partitions, keys)
        assert stats["partitions_added"] == 0 and stats["partitions_removed"] == 0, stats
        row[f"remove_{stale}_s"], stats = _timed(sync_dynamic_partitions, instance, partitions, keys[stale:])
        assert stats["partitions_removed"] == stale, stats
        row[f"readd_{stale}_s"], stats = _timed(sync_dynamic_partitions, instance, partitions, keys)
        assert stats["partitions_added"] == stale, stats
        row["get_all_s"], existing = _timed(instance.get_dynamic_partitions, "evaluation_gens")
        assert len(existing) == size
        # The proposed fix for removals (chunked DELETE ... IN, one transaction), prototyped here:
        row[f"bulk_remove_{stale}_s"], _ = _timed(_bulk_delete, instance, "evaluation_gens", keys[:stale])
        assert len(instance.get_dynamic_partitions("evaluation_gens")) == size - stale
        row["bulk_remove_all_s"], _ = _timed(_bulk_delete, instance, "evaluation_gens", keys)
        assert not instance.get_dynamic_partitions("evaluation_gens")
        try:
            row["unchunked_add_s"], _ = _timed(instance.add_dynamic_partitions, "unchunked_gens", keys)
            row["unchunked_add"] = "ok"
        except Exception as exc:  # the upstream failure: too many SQL variables
            row["unchunked_add_s"] = None
            row["unchunked_add"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
        row["sqlite_db_mb"] = round(sum(p.stat().st_size for p in Path(home).rglob("*.db")) / 2**20, 1)
    row["load_after"] = loadavg()[0]
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}


def _mkdir(path: Path) -> str:
    path.mkdir(parents=True)
    return str(path)


# Dagster's console logger prints every event (two per partition); keep only errors on the terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _phases(instance: Any, run_id: str, started: float) -> dict[str, float]:
    """Where the run's time went, from its event timestamps: creating the run (Dagster logs one
    ASSET_MATERIALIZATION_PLANNED event per partition), generating (the step's body), and storing
    the materialization events (one per partition, after the step returned its output)."""
    from dagster import DagsterEventType

    wanted = {DagsterEventType.RUN_START, DagsterEventType.STEP_OUTPUT, DagsterEventType.HANDLED_OUTPUT,
              DagsterEventType.STEP_START, DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE}
    stamps: dict[str, float] = {}
    for record in instance.all_logs(run_id, of_type=wanted):
        if record.dagster_event is not None:
            stamps.setdefault(record.dagster_event.event_type.name, record.timestamp)
    out: dict[str, float] = {}
    if "RUN_START" in stamps:
        out["create_run_s"] = round(stamps["RUN_START"] - started, 2)
    if "STEP_START" in stamps and "STEP_OUTPUT" in stamps:
        out["generate_s"] = round(stamps["STEP_OUTPUT"] - stamps["STEP_START"], 2)
    if "STEP_OUTPUT" in stamps and "HANDLED_OUTPUT" in stamps:
        out["materialization_events_s"] = round(stamps["HANDLED_OUTPUT"] - stamps["STEP_OUTPUT"], 2)
    return out


def run_part(evaluations: int) -> dict[str, Any]:
    from dagster import AssetKey, AssetsDefinition, DagsterInstance, materialize

    from daydreaming_dagster.definitions import ASSETS, build_resources
    from daydreaming_dagster.engine.store import GensStore
    from daydreaming_dagster.testing.mock_llm import MockLLMResource

    per_essay = 8  # 4 evaluation templates x 2 evaluation models
    shape = Shape(combos=max(1, evaluations // per_essay), evaluation_templates=4, evaluation_models=2)
    out: dict[str, Any] = {"shape": shape.describe(), "load_before": loadavg()[0]}
    task_assets = ["selected_combo_mappings", "draft_generation_tasks", "essay_generation_tasks", "evaluation_tasks"]

    def select(names: Sequence[str]) -> list[Any]:
        wanted = {AssetKey(n) for n in names}
        return [a for a in ASSETS if isinstance(a, AssetsDefinition) and set(a.keys) & wanted]

    with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp, DagsterInstance.local_temp(
        _mkdir(Path(tmp) / "dagster_home")
    ) as instance:
        root = write_data_root(Path(tmp) / "data", shape, concurrency=8)
        llm = MockLLMResource()
        resources = build_resources(str(root), llm=llm)
        started = time.perf_counter()
        result = materialize(select(task_assets), resources=resources, instance=instance, run_config=QUIET)
        out["register_s"] = round(time.perf_counter() - started, 2)
        assert result.success
        keys = instance.get_dynamic_partitions("evaluation_gens")
        out["evaluation_partitions"] = len(keys)
        prefill = generate_in_process(root, concurrency=2, stages=("draft", "essay"))
        out["prefill_drafts_essays_s"] = round(prefill["wall_s"], 2)
        started = time.time()
        result = materialize(
            select(["evaluation_prompt", "evaluation_response", *task_assets]),
            selection=[AssetKey("evaluation_response")],
            resources=resources,
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            run_config=QUIET,
            raise_on_error=False,
        )
        out["run_s"] = round(time.time() - started, 2)
        out["run_success"] = result.success
        out.update(_phases(instance, result.run_id, started))
        if not result.success:
            failures = [e for e in result.all_events if e.is_step_failure]
            out["run_error"] = str(failures[0].step_failure_data.error.message)[:500] if failures else "unknown"  # type: ignore[union-attr]
        out["llm_calls"] = len(llm.provider.calls)
        started = time.perf_counter()
        materialized = instance.get_materialized_partitions(AssetKey("evaluation_response"))
        out["get_materialized_partitions_s"] = round(time.perf_counter() - started, 2)
        out["materialized_partitions"] = len(materialized)
        store = GensStore(root)
        out["complete_on_disk"] = sum(store.is_complete("evaluation", k) for k in keys)
        out["sqlite_db_mb"] = round(sum(p.stat().st_size for p in Path(tmp, "dagster_home").rglob("*.db")) / 2**20, 1)
    out["ms_per_partition"] = round(1000 * out["run_s"] / max(1, out["evaluation_partitions"]), 2)
    out["load_after"] = loadavg()[0]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,40000,60000", help="keys per sync measurement")
    parser.add_argument("--stale", type=int, default=1000, help="stale keys removed (default 1000)")
    parser.add_argument("--sqlite-variable-limit", type=int, default=32766,
                        help="cap SQLite's bound variables per statement like a stock build (default 32766; 0: "
                             "leave this build's limit)")
    parser.add_argument("--run-evaluations", type=int, default=4000,
                        help="evaluation partitions in the single run (0: skip the run; default 4000, ~1.5 min; "
                             "20000 takes ~7 min here, see docs/benchmarks.md)")
    parser.add_argument("--results-name", default="partitions_scale",
                        help="results file bench/results/<name>.json (default partitions_scale)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    os.environ.pop("DD_COHORT", None)
    results: dict[str, Any] = {"load_start": loadavg(), "params": vars(args)}
    if args.sqlite_variable_limit:
        results["sqlite_compiled_variable_limit"] = limit_sqlite_variables(args.sqlite_variable_limit)
        print(f"SQLite bound-variable limit capped at {args.sqlite_variable_limit:,} "
              f"(this build allows {results['sqlite_compiled_variable_limit']:,})")
    sync_rows = [sync_part(int(size), args.stale) for size in args.sizes.split(",") if size]
    results["sync"] = sync_rows
    print_table(sync_rows, "sync_dynamic_partitions on a persistent SQLite instance (seconds)")
    if args.run_evaluations:
        run = run_part(args.run_evaluations)
        results["run"] = run
        print_table([{k: v for k, v in run.items() if k not in ("shape", "run_error")}],
                    "One Dagster run of evaluation_response over every partition (single-run backfill)")
        if run.get("run_error"):
            print("run error:", run["run_error"])
    results["load_end"] = loadavg()
    print(f"results: {save_results(args.results_name, results)}  (load {results['load_start']} -> {results['load_end']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
