"""Dagster at scale, on the shipped instances (deploy/dagster.yaml: SQLite; deploy/dagster-postgres.yaml:
a private PostgreSQL 15 cluster started here, default settings, fsync on).

Parts (``--parts``, comma-separated):

- ``register``: ``sync_dynamic_partitions`` with ``--keys`` evaluation gen_ids: first add, no-op
  resync, removing ``--stale`` stale keys (Dagster's public API: one ``delete_dynamic_partition``
  each), adding them back, reading every key; then, for comparison only, a chunked ``DELETE ... IN``
  through Dagster's private schema (no public bulk delete exists in 1.13).
- ``report``: ``InstanceReporter`` writing ``--report-generations`` generations (two
  materializations each) in batches, as ``daydream run`` does, vs the public one-event-at-a-time
  ``report_runless_asset_event`` on a sample; read back with ``get_materialized_partitions``.
- ``backfill``: ``--evaluations`` evaluation partitions registered by the task assets, drafts and
  essays generated in-process, then ONE Dagster run of ``evaluation_response`` over the whole range
  (a single-run backfill) with ``MockLLMResource``; ``--dagster-env`` variants set Dagster's
  ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1`` (one planned event per run instead of one
  per partition) and ``DAGSTER_EVENT_BATCH_SIZE`` (materializations stored in batches).
- ``cli``: ``daydream run`` (child process) at ``--concurrency`` C over ``--n`` N drafts against the
  fake server at ``--latency`` L: without DAGSTER_HOME, then reporting to SQLite, then to PostgreSQL.
  Efficiency = N*L/C / wall time (the runner's, and the whole process's, final flush included).
- ``cli100k``: one ``daydream run`` of ``--big-n`` generations (draft -> essay -> evaluation, a
  third each) with the data root on tmpfs (/dev/shm) and a fast fake server: wall time and peak RSS,
  without and (``--big-report``) with reporting to a SQLite instance.

    .venv/bin/python -m bench.dagster_scale --parts register --keys 100000
    .venv/bin/python -m bench.dagster_scale --parts report --report-generations 20000
    .venv/bin/python -m bench.dagster_scale --parts backfill --evaluations 10000
    .venv/bin/python -m bench.dagster_scale --parts cli --n 2000 --concurrency 100 --latency 1
    .venv/bin/python -m bench.dagster_scale --parts cli100k --big-n 100000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench._cohort import (
    REPO,
    Shape,
    check_ok,
    fake_server,
    generate_in_process,
    loadavg,
    print_table,
    run_cli,
    save_results,
    write_data_root,
)

DEPLOY = REPO / "deploy"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@contextmanager
def dagster_home(storage: str, tmp: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A DAGSTER_HOME with the shipped yaml for ``storage``; yields it and the environment it needs.
    PostgreSQL: a private cluster for the duration."""
    from daydreaming_dagster.testing.postgres import PostgresCluster

    home = tmp / f"dagster_home_{storage}"
    home.mkdir(parents=True)
    env = {"DAGSTER_HOME": str(home)}
    cluster = PostgresCluster() if storage == "postgres" else None
    with cluster if cluster is not None else nullcontext():
        if cluster is not None:
            shutil.copy(DEPLOY / "dagster-postgres.yaml", home / "dagster.yaml")
            env["DAGSTER_PG_URL"] = cluster.url
        else:
            shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield home, env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _open(home: Path) -> Any:
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return round(time.perf_counter() - started, 3), value


# ---------------------------------------------------------------------------- register


def register_part(storage: str, keys_n: int, stale: int) -> dict[str, Any]:
    from bench.partitions_scale import _bulk_delete
    from daydreaming_dagster.core.ids import reserve_gen_id
    from daydreaming_dagster.resources.partition_sync import sync_dynamic_partitions

    keys = [reserve_gen_id("evaluation", f"bench-task-{i}") for i in range(keys_n)]
    row: dict[str, Any] = {"storage": storage, "keys": keys_n, "load_before": loadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="dd-dscale-") as tmp, dagster_home(storage, Path(tmp)) as (home, _):
        with _open(home) as instance:
            name = "evaluation_gens"
            row["add_s"], stats = _timed(sync_dynamic_partitions, instance, name, keys)
            assert stats["partitions_added"] == keys_n, stats
            row["noop_resync_s"], stats = _timed(sync_dynamic_partitions, instance, name, keys)
            assert stats["partitions_added"] == 0 and stats["partitions_removed"] == 0, stats
            row[f"remove_{stale}_s"], stats = _timed(sync_dynamic_partitions, instance, name, keys[stale:])
            assert stats["partitions_removed"] == stale, stats
            row["remove_ms_per_key"] = round(1000 * row[f"remove_{stale}_s"] / stale, 2)
            row[f"readd_{stale}_s"], stats = _timed(sync_dynamic_partitions, instance, name, keys)
            assert stats["partitions_added"] == stale, stats
            row["get_all_s"], existing = _timed(instance.get_dynamic_partitions, name)
            assert len(existing) == keys_n
            row[f"private_bulk_delete_{stale}_s"], _ = _timed(_bulk_delete, instance, name, keys[:stale])
            assert len(instance.get_dynamic_partitions(name)) == keys_n - stale
    row["load_after"] = loadavg()[0]
    return row


# ---------------------------------------------------------------------------- report


def report_part(storage: str, generations: int, singles: int) -> dict[str, Any]:
    from dagster import AssetKey, AssetMaterialization

    from daydreaming_dagster.core.ids import reserve_gen_id
    from daydreaming_dagster.engine.record import GenerationRecord
    from daydreaming_dagster.engine.store import GensStore
    from daydreaming_dagster.llm import LLMResponse, Usage
    from daydreaming_dagster.resources.materialization_metadata import materialization_metadata
    from daydreaming_dagster.resources.reporter import InstanceReporter

    row: dict[str, Any] = {"storage": storage, "generations": generations, "load_before": loadavg()[0]}
    response = LLMResponse(text="", finish_reason="stop", usage=Usage(prompt_tokens=100, completion_tokens=50,
                                                                         total_tokens=150))
    with tempfile.TemporaryDirectory(prefix="dd-dscale-") as tmp, dagster_home(storage, Path(tmp)) as (home, _):
        store = GensStore(Path(tmp) / "data")
        with _open(home) as instance:
            # What the reporter's thread writes: two materializations per generation, in batches.
            reporter = InstanceReporter(instance, store)
            records = [
                GenerationRecord(stage="evaluation", gen_id=reserve_gen_id("evaluation", f"t{i}"), mode="llm",
                                 parser="in_last_line", response=response, status="complete")
                for i in range(generations)
            ]
            from daydreaming_dagster.cohort.runner import WorkItem
            from daydreaming_dagster.engine.flow import GenerationOutcome

            started = time.perf_counter()
            for record in records:
                item = WorkItem("evaluation", record.gen_id, None, {})
                reporter.finished(item, "done", GenerationOutcome(record, "", "", False, 0.0))
            queued = time.perf_counter() - started
            stats = reporter.close()
            total = time.perf_counter() - started
            assert stats.errors == 0, stats.last_error
            row["queue_s"] = round(queued, 3)
            row["report_s"] = round(total, 2)
            row["events"] = stats.events
            row["ms_per_event"] = round(1000 * total / max(1, stats.events), 3)
            row["read_back_s"], got = _timed(instance.get_materialized_partitions, AssetKey("evaluation_response"))
            assert len(got) == generations
            # The public path, one event per call, on a sample.
            sample = [
                AssetMaterialization(asset_key=AssetKey("single_response"), partition=r.gen_id,
                                     metadata=materialization_metadata(store, r, False))
                for r in records[:singles]
            ]
            started = time.perf_counter()
            for mat in sample:
                instance.report_runless_asset_event(mat)
            single = time.perf_counter() - started
            row["public_single_ms_per_event"] = round(1000 * single / max(1, singles), 2)
            row["speedup"] = round(row["public_single_ms_per_event"] / row["ms_per_event"], 1)
    row["load_after"] = loadavg()[0]
    return row


# ---------------------------------------------------------------------------- backfill


def _phases(instance: Any, run_id: str, started: float) -> dict[str, float]:
    from bench.partitions_scale import _phases as phases

    return phases(instance, run_id, started)


def backfill_part(storage: str, evaluations: int, dagster_env: dict[str, str]) -> dict[str, Any]:
    from dagster import AssetKey, AssetsDefinition, materialize

    from daydreaming_dagster.definitions import ASSETS, build_resources
    from daydreaming_dagster.engine.store import GensStore
    from daydreaming_dagster.testing.mock_llm import MockLLMResource

    per_essay = 8  # 4 evaluation templates x 2 evaluation models
    shape = Shape(combos=max(1, evaluations // per_essay), evaluation_templates=4, evaluation_models=2)
    label = ",".join(f"{k.removeprefix('DAGSTER_')}={v}" for k, v in dagster_env.items()) or "defaults"
    out: dict[str, Any] = {"storage": storage, "dagster_env": label, "load_before": loadavg()[0]}
    task_assets = ["selected_combo_mappings", "draft_generation_tasks", "essay_generation_tasks", "evaluation_tasks"]

    def select(names: Sequence[str]) -> list[Any]:
        wanted = {AssetKey(n) for n in names}
        return [a for a in ASSETS if isinstance(a, AssetsDefinition) and set(a.keys) & wanted]

    saved = {k: os.environ.get(k) for k in dagster_env}
    with tempfile.TemporaryDirectory(prefix="dd-dscale-") as tmp, dagster_home(storage, Path(tmp)) as (home, _):
        with _open(home) as instance:
            root = write_data_root(Path(tmp) / "data", shape, concurrency=8)
            llm = MockLLMResource()
            resources = build_resources(str(root), llm=llm)
            out["register_s"], result = _timed(
                materialize, select(task_assets), resources=resources, instance=instance, run_config=QUIET
            )
            assert result.success
            keys = instance.get_dynamic_partitions("evaluation_gens")
            out["evaluation_partitions"] = len(keys)
            prefill = generate_in_process(root, concurrency=2, stages=("draft", "essay"))
            out["prefill_drafts_essays_s"] = round(prefill["wall_s"], 1)
            os.environ.update(dagster_env)
            try:
                started = time.time()
                result = materialize(
                    select(["evaluation_prompt", "evaluation_response", *task_assets]),
                    selection=[AssetKey("evaluation_response")],
                    resources=resources,
                    instance=instance,
                    tags={"dagster/asset_partition_range_start": keys[0],
                          "dagster/asset_partition_range_end": keys[-1]},
                    run_config=QUIET,
                    raise_on_error=False,
                )
                out["run_s"] = round(time.time() - started, 1)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            out["run_success"] = result.success
            out.update(_phases(instance, result.run_id, started))
            out["ms_per_partition"] = round(1000 * out["run_s"] / max(1, len(keys)), 2)
            out["llm_calls"] = len(llm.provider.calls)
            out["get_materialized_s"], materialized = _timed(
                instance.get_materialized_partitions, AssetKey("evaluation_response")
            )
            out["materialized"] = len(materialized)
            store = GensStore(root)
            out["complete_on_disk"] = sum(store.is_complete("evaluation", k) for k in keys)
    import resource

    out["process_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["load_after"] = loadavg()[0]
    return out


# ---------------------------------------------------------------------------- cli


_REPORT = re.compile(r"(\d+) generation\(s\) reported as materialized \((\d+) events, ([0-9.]+) s of writes\)")


def cli_part(n: int, concurrency: int, latency: float, storages: Sequence[str], data_dir: str | None = None
             ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    shape = Shape(combos=n)
    ideal = n * latency / concurrency
    with fake_server(latency) as base_url:
        for where in ["none", *storages]:
            with tempfile.TemporaryDirectory(prefix="dd-dscale-", dir=data_dir) as tmp:
                root = write_data_root(Path(tmp) / "data", shape, concurrency=concurrency)
                home_cm = dagster_home(where, Path(tmp)) if where != "none" else nullcontext((None, {}))
                with home_cm as (_, env):
                    load = loadavg()[0]
                    args = ["run", "--data-root", str(root), "--stages", "draft", "--concurrency", str(concurrency),
                            "--quiet"]
                    result = run_cli(args, base_url=base_url, extra_env={**env, "DD_LLM_MAX_IN_FLIGHT": str(concurrency)}
                                     if env else {"DD_LLM_MAX_IN_FLIGHT": str(concurrency)})
                    check_ok(result, f"cli {where}")
                    assert result.runner_wall_s is not None
                    match = _REPORT.search(" ".join(result.output.split()))
                    rows.append({
                        "dagster_instance": where,
                        "data_dir": data_dir or tempfile.gettempdir(),
                        "N": n, "C": concurrency, "L_s": latency, "ideal_s": round(ideal, 2),
                        "runner_wall_s": result.runner_wall_s,
                        "runner_eff": round(ideal / result.runner_wall_s, 3),
                        "process_wall_s": round(result.wall_s, 2),
                        "process_eff": round(ideal / result.wall_s, 3),
                        "cpu_s": round(result.cpu_s, 1),
                        "max_rss_mb": round(result.max_rss_mb),
                        "reported": int(match.group(1)) if match else None,
                        "report_write_s": float(match.group(3)) if match else None,
                        "llm_calls": result.llm_calls,
                        "load_before": load,
                    })
    return rows


def _run_sampled(args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """``daydream <args>`` as a child, with its RSS sampled from /proc every 0.5 s: the peak while
    generating (until the summary table) and the peak over the whole process (result tables,
    report), plus wall time, CPU and the output."""
    import subprocess
    import threading

    from bench._cohort import DAYDREAM

    full_env = {k: v for k, v in os.environ.items() if k not in ("DD_COHORT", "DD_LLM_API_KEY", "OPENROUTER_API_KEY")}
    full_env.update({"COLUMNS": "160", "NO_COLOR": "1", **env})
    started = time.perf_counter()
    proc = subprocess.Popen([str(DAYDREAM), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env,
                            text=True, cwd=REPO)
    rss: list[tuple[float, int]] = []  # (seconds since start, MB)

    def sample() -> None:
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status", encoding="ascii") as status:
                    kb = int(next(line for line in status if line.startswith("VmRSS")).split()[1])
                rss.append((time.perf_counter() - started, kb // 1024))
            except (OSError, StopIteration, ValueError):
                pass
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None
    lines = []
    run_started = None  # the "Cohort ..." line is printed just before the generations start
    for line in proc.stdout:
        if run_started is None and line.startswith("Cohort "):
            run_started = time.perf_counter() - started
        lines.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    sampler.join(2)
    output = "".join(lines)
    wall = re.search(r"wall time ([0-9.]+) s", output)
    calls = re.search(r"LLM calls (\d+)", output)
    runner_end = (run_started or 0.0) + (float(wall.group(1)) if wall else 0.0)
    generating = [mb for t, mb in rss if t <= runner_end]
    return {
        "returncode": os.waitstatus_to_exitcode(status),
        "runner_wall_s": float(wall.group(1)) if wall else None,
        "process_wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "rss_peak_generating_mb": max(generating, default=0),  # up to the runner's end
        "rss_series_mb": [(round(t), mb) for t, mb in rss[:: max(1, len(rss) // 60)]],
        "max_rss_mb": round(usage.ru_maxrss / 1024),
        "llm_calls": int(calls.group(1)) if calls else None,
        "output": output,
    }


def cli100k_part(n: int, latency: float, concurrency: int, report: bool) -> dict[str, Any]:
    shape = Shape(combos=max(1, n // 3))
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    row: dict[str, Any] = {"generations": shape.total, "L_s": latency, "C": concurrency,
                           "reporting": "sqlite" if report else "none", "load_before": loadavg()[0]}
    with fake_server(latency) as base_url, tempfile.TemporaryDirectory(prefix="dd-big-", dir=base) as tmp:
        root = write_data_root(Path(tmp) / "data", shape, concurrency=concurrency)
        home_cm = dagster_home("sqlite", Path(tmp)) if report else nullcontext((None, {}))
        with home_cm as (_, env):
            result = _run_sampled(["run", "--data-root", str(root), "--quiet"],
                                  {**env, "DD_LLM_BASE_URL": base_url, "DD_LLM_MAX_IN_FLIGHT": str(concurrency)})
        output = result.pop("output")
        if result["returncode"] != 0:
            raise SystemExit(f"cli100k: daydream exited {result['returncode']}\n{output[-3000:]}")
        match = _REPORT.search(" ".join(output.split()))
        row.update({
            "data_root": "tmpfs" if base else "disk",
            **result,
            "ms_cpu_per_gen": round(1000 * result["cpu_s"] / shape.total, 2),
            "reported": int(match.group(1)) if match else None,
            "report_write_s": float(match.group(3)) if match else None,
            "load_after": loadavg()[0],
        })
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="register,report,backfill,cli")
    parser.add_argument("--storages", default="sqlite,postgres")
    parser.add_argument("--keys", type=int, default=100_000, help="register: partition keys (default 100,000)")
    parser.add_argument("--stale", type=int, default=1000, help="register: stale keys removed (default 1,000)")
    parser.add_argument("--report-generations", type=int, default=10_000, help="report: generations (default 10,000)")
    parser.add_argument("--report-singles", type=int, default=200, help="report: public one-by-one sample (200)")
    parser.add_argument("--evaluations", type=int, default=4000, help="backfill: evaluation partitions (default 4,000)")
    parser.add_argument("--dagster-env", default="none,planned+batch",
                        help="backfill variants: none, planned (one planned event per run), batch "
                             "(DAGSTER_EVENT_BATCH_SIZE=1000), planned+batch (default: none,planned+batch)")
    parser.add_argument("--n", type=int, default=2000, help="cli: drafts (default 2,000)")
    parser.add_argument("--concurrency", type=int, default=100, help="cli: concurrency (default 100)")
    parser.add_argument("--latency", type=float, default=1.0, help="cli: fake server latency, s (default 1)")
    parser.add_argument("--data-dir", default=None,
                        help="cli: where the data roots go (default: the system temp dir; /dev/shm for tmpfs)")
    parser.add_argument("--big-n", type=int, default=100_000, help="cli100k: generations (default 100,000)")
    parser.add_argument("--big-latency", type=float, default=0.0, help="cli100k: latency (default 0)")
    parser.add_argument("--big-concurrency", type=int, default=16, help="cli100k: concurrency (default 16)")
    parser.add_argument("--big-report", action="store_true", help="cli100k: report to a SQLite instance too")
    parser.add_argument("--results-name", default="dagster_scale")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.pop("DD_COHORT", None)
    parts = set(args.parts.split(","))
    storages = [s for s in args.storages.split(",") if s]
    results: dict[str, Any] = {"load_start": loadavg(), "params": vars(args)}
    if "register" in parts:
        rows = [register_part(s, args.keys, args.stale) for s in storages]
        results["register"] = rows
        print_table(rows, "sync_dynamic_partitions (seconds)")
    if "report" in parts:
        rows = [report_part(s, args.report_generations, args.report_singles) for s in storages]
        results["report"] = rows
        print_table(rows, "InstanceReporter: batched runless materializations")
    if "backfill" in parts:
        variants = {
            "none": {},
            "planned": {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"},
            "batch": {"DAGSTER_EVENT_BATCH_SIZE": "1000"},
            "planned+batch": {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1", "DAGSTER_EVENT_BATCH_SIZE": "1000"},
        }
        rows = [backfill_part(s, args.evaluations, variants[v]) for s in storages for v in args.dagster_env.split(",")]
        results["backfill"] = rows
        print_table(rows, "One Dagster run over every evaluation partition (single-run backfill)")
    if "cli" in parts:
        rows = cli_part(args.n, args.concurrency, args.latency, storages, args.data_dir)
        results["cli"] = rows
        print_table(rows, "daydream run: the cost of reporting to the instance")
    if "cli100k" in parts:
        row = cli100k_part(args.big_n, args.big_latency, args.big_concurrency, args.big_report)
        results["cli100k"] = row
        print_table([{k: v for k, v in row.items() if k != "rss_series_mb"}], "One daydream run of 100k generations")
    results["load_end"] = loadavg()
    print(f"results: {save_results(args.results_name, results)}  (load {results['load_start']} -> {results['load_end']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
