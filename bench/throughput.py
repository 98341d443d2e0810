"""Throughput at a fixed LLM latency, and the engine's own overhead per generation.

Part ``http``: ``daydream run`` (a child process) against the fake OpenAI-compatible server (another
process) answering every call after ``--latency`` seconds; N generations at concurrency C. The ideal
wall time is N*L/C; efficiency = ideal / actual, for the CohortRunner's wall time (what the CLI
prints) and for the whole process (start-up, imports, task tables and score tables included). Two
cohort shapes: ``flat`` (N drafts) and ``pipelined`` (N/3 drafts -> N/3 essays -> N/3 evaluations).

Part ``overhead``: the instant in-process ScriptedProvider at concurrency 1 through the CohortRunner,
so the whole wall time is engine overhead (render, client layer, response cache, four atomic file
writes, metadata); per stage and pipelined, with and without the response cache; then a cProfile of
the same generations called on the main thread.

    .venv/bin/python -m bench.throughput                    # N=480, L=1 s, C=24, both parts
    .venv/bin/python -m bench.throughput --parts overhead --overhead-n 3000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
from pathlib import Path
from typing import Any

from bench._cohort import (
    Shape,
    check_ok,
    fake_server,
    loadavg,
    print_table,
    run_cli,
    save_results,
    write_data_root,
)


def http_part(
    n: int, latency: float, concurrency: int, shapes: list[str], repeat: int, *, via: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with fake_server(latency) as base_url:
        for shape_name in shapes:
            shape = Shape(combos=n) if shape_name == "flat" else Shape(combos=n // 3)
            for attempt in range(1, repeat + 1):
                with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
                    root = write_data_root(Path(tmp) / "data", shape, concurrency=concurrency)
                    stages = "draft" if shape_name == "flat" else "draft,essay,evaluation"
                    load_before = loadavg()
                    args = ["run", "--data-root", str(root), "--stages", stages, "--quiet"]
                    if via == "flag":
                        args += ["--concurrency", str(concurrency)]
                    result = run_cli(args, base_url=base_url)
                    check_ok(result, f"throughput {shape_name}")
                    generations = shape.drafts if shape_name == "flat" else shape.total
                    assert result.runner_wall_s is not None
                    row_ideal = generations * latency / concurrency
                    rows.append({
                        "shape": shape_name,
                        "run": attempt,
                        "N": generations,
                        "L_s": latency,
                        "C": concurrency,
                        "C_via": via,
                        "ideal_s": round(row_ideal, 2),
                        "runner_wall_s": result.runner_wall_s,
                        "runner_eff": round(row_ideal / result.runner_wall_s, 3),
                        "process_wall_s": round(result.wall_s, 2),
                        "process_eff": round(row_ideal / result.wall_s, 3),
                        "cpu_s": round(result.cpu_s, 2),
                        "cpu_ms_per_gen": round(1000 * result.cpu_s / generations, 2),
                        "max_rss_mb": round(result.max_rss_mb, 1),
                        "llm_calls": result.llm_calls,
                        "load_before": load_before[0],
                        "load_after": loadavg()[0],
                    })
    return rows


def _in_process(root: Path, stages_runs: list[list[str]], *, cache: bool) -> list[dict[str, Any]]:
    from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
    from daydreaming_dagster.cohort.runner import CohortRunner
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.testing.engine_kit import make_context
    from daydreaming_dagster.testing.mock_llm import ScriptedProvider

    cohort = load_cohort(root, load_experiment_config(root))
    save_task_tables(cohort)
    provider = ScriptedProvider()
    context = make_context(root, cohort, provider, cache=cache, run_id="bench-overhead")
    specs = cohort.specs()
    out = []
    for stages in stages_runs:
        items = cohort.items(stages)  # type: ignore[arg-type]
        summary = CohortRunner(context, specs, concurrency=1).run(items)
        assert summary.ok, summary.failures[:3]
        out.append({
            "stages": "+".join(stages),
            "cache": cache,
            "N": len(items),
            "wall_s": round(summary.wall_s, 3),
            "ms_per_gen": round(1000 * summary.wall_s / len(items), 3),
            "load": loadavg()[0],
        })
    return out


def _profile(root: Path, top: int) -> tuple[float, int, str]:
    import time

    from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.engine.flow import orchestrate_generation
    from daydreaming_dagster.testing.engine_kit import make_context
    from daydreaming_dagster.testing.mock_llm import ScriptedProvider

    cohort = load_cohort(root, load_experiment_config(root))
    save_task_tables(cohort)
    context = make_context(root, cohort, ScriptedProvider(), cache=True, run_id="bench-profile")
    specs = cohort.specs()
    items = cohort.items(["draft", "essay", "evaluation"])
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for item in items:
        orchestrate_generation(context, item.row, specs[item.stage], gen_id=item.gen_id, parent_gen_id=item.parent_gen_id)
    profiler.disable()
    wall = time.perf_counter() - started
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return wall, len(items), text.getvalue()


def _fs_floor(root: Path, n: int) -> float:
    """ms per generation for the engine's file operations alone: per generation one directory and
    five atomic writes (prompt, raw, cache entry, parsed, metadata), each with its mkdir(exist_ok)."""
    import time

    from daydreaming_dagster.engine.store import atomic_write_text

    started = time.perf_counter()
    for i in range(n):
        directory = root / "gens" / f"g{i:06d}"
        cache_dir = root / "cache" / f"{i % 256:02x}"
        for name, where in (("prompt.txt", directory), ("raw.txt", directory), (f"{i}.json", cache_dir),
                            ("parsed.txt", directory), ("metadata.json", directory)):
            where.mkdir(parents=True, exist_ok=True)
            atomic_write_text(where / name, "x" * 400)
    return 1000 * (time.perf_counter() - started) / n


def overhead_part(n: int, top: int) -> dict[str, Any]:
    per_stage = n // 3
    shape = Shape(combos=per_stage)
    rows: list[dict[str, Any]] = []
    for cache in (True, False):
        with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
            root = write_data_root(Path(tmp) / "data", shape, concurrency=1)
            rows += _in_process(root, [["draft"], ["essay"], ["evaluation"]], cache=cache)
        with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
            root = write_data_root(Path(tmp) / "data", shape, concurrency=1)
            rows += _in_process(root, [["draft", "essay", "evaluation"]], cache=cache)
    with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
        root = write_data_root(Path(tmp) / "data", shape, concurrency=1)
        wall, count, profile = _profile(root, top)
    with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
        fs_floor = _fs_floor(Path(tmp), n)
    rows.append({"stages": "file operations only (floor)", "cache": None, "N": n, "wall_s": round(fs_floor * n / 1000, 3),
                 "ms_per_gen": round(fs_floor, 3), "load": loadavg()[0]})
    return {"rows": rows, "fs_floor_ms_per_gen": round(fs_floor, 3), "profile_wall_s": wall, "profile_n": count,
            "profile_ms_per_gen_with_profiler": round(1000 * wall / count, 3), "profile": profile}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=480, help="generations per HTTP run (default 480)")
    parser.add_argument("--latency", type=float, default=1.0, help="fake server latency per call, s (default 1)")
    parser.add_argument("--concurrency", type=int, default=24, help="daydream --concurrency (default 24)")
    parser.add_argument("--shapes", default="flat,pipelined", help="flat and/or pipelined (default both)")
    parser.add_argument("--concurrency-via", choices=("flag", "toml"), default="flag",
                        help="pass C as daydream --concurrency (default) or only as experiment.toml concurrency")
    parser.add_argument("--repeat", type=int, default=1, help="HTTP runs per shape (default 1)")
    parser.add_argument("--parts", default="http,overhead", help="http and/or overhead (default both)")
    parser.add_argument("--overhead-n", type=int, default=1500, help="generations for the overhead part (default 1500)")
    parser.add_argument("--top", type=int, default=25, help="profile lines to keep (default 25)")
    parser.add_argument("--results-name", default="throughput",
                        help="results file bench/results/<name>.json (default throughput)")
    args = parser.parse_args(argv)
    os.environ.pop("DD_COHORT", None)
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"load_start": loadavg(), "params": vars(args)}
    if "http" in parts:
        rows = http_part(args.n, args.latency, args.concurrency, args.shapes.split(","), args.repeat,
                          via=args.concurrency_via)
        results["http"] = rows
        print_table(rows, "HTTP throughput (target: runner efficiency >= 0.9 at N=480, L=1 s, C=24)")
    if "overhead" in parts:
        overhead = overhead_part(args.overhead_n, args.top)
        results["overhead"] = overhead
        print_table(overhead["rows"], "Engine overhead, instant in-process provider, concurrency 1 (target <= 5 ms/gen)")
        print(f"\ncProfile ({overhead['profile_n']} generations on the main thread, "
              f"{overhead['profile_ms_per_gen_with_profiler']} ms/gen under the profiler):")
        print(overhead["profile"])
    results["load_end"] = loadavg()
    print(f"results: {save_results(args.results_name, results)}  (load {results['load_start']} -> {results['load_end']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
