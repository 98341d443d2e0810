"""A re-run that makes no call: ``daydream run`` over a cohort whose every generation is complete.

Generates a cohort of ``--total`` generations first (in-process, instant ScriptedProvider; same
task tables and gen_ids as the CLI), then times the whole ``daydream run`` process (interpreter
start-up and imports included) ``--repeat`` times. The CLI is pointed at a port where nothing
listens, so any call would fail the run: exit status 0 and "LLM calls 0" prove none was made.
Finally the same re-run is profiled in-process (cProfile) to show where the time goes.

    .venv/bin/python -m bench.noop_rerun                  # 10,000 generations (1,000/1,000/8,000)
    .venv/bin/python -m bench.noop_rerun --combos 200     # 2,000 generations, quicker
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._cohort import (
    DEAD_BASE_URL,
    REPO,
    Shape,
    check_ok,
    generate_in_process,
    loadavg,
    print_table,
    run_cli,
    save_results,
    write_data_root,
)


def _import_time(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import daydreaming_dagster.cli"], check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return min(times)


def _profile(root: Path, top: int) -> tuple[float, str]:
    from daydreaming_dagster.cli import main

    os.environ["DD_LLM_BASE_URL"] = DEAD_BASE_URL
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        profiler.enable()
        code = main(["run", "--data-root", str(root), "--quiet"])
        profiler.disable()
    wall = time.perf_counter() - started
    assert code == 0, code
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return wall, text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combos", type=int, default=1000,
                        help="combinations; each gives 1 draft, 1 essay, 8 evaluations (default 1000 -> 10,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed re-runs (default 3)")
    parser.add_argument("--top", type=int, default=25, help="profile lines to keep (default 25)")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process cProfile")
    parser.add_argument("--results-name", default="noop_rerun",
                        help="results file bench/results/<name>.json (default noop_rerun)")
    args = parser.parse_args(argv)
    os.environ.pop("DD_COHORT", None)
    shape = Shape(combos=args.combos, evaluation_templates=4, evaluation_models=2)
    results: dict[str, Any] = {"load_start": loadavg(), "shape": shape.describe()}
    with tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
        root = write_data_root(Path(tmp) / "data", shape, concurrency=8)
        started = time.perf_counter()
        prefill = generate_in_process(root, concurrency=2)
        prefill["process_wall_s"] = round(time.perf_counter() - started, 2)
        results["prefill"] = prefill
        print(f"generated {prefill['generations']} in {prefill['process_wall_s']} s (in-process, instant provider)")
        rows: list[dict[str, Any]] = []
        walls: list[float] = []
        for attempt in range(1, args.repeat + 1):
            load_before = loadavg()
            result = run_cli(["run", "--data-root", str(root), "--quiet"], base_url=DEAD_BASE_URL)
            check_ok(result, "no-op re-run")
            if result.llm_calls != 0 or "skipped" not in result.output:
                raise SystemExit(f"the re-run was not a no-op:\n{result.output[-2000:]}")
            walls.append(round(result.wall_s, 2))
            rows.append({
                "run": attempt,
                "generations": shape.total,
                "process_wall_s": round(result.wall_s, 2),
                "runner_wall_s": result.runner_wall_s,
                "cpu_s": round(result.cpu_s, 2),
                "max_rss_mb": round(result.max_rss_mb, 1),
                "llm_calls": result.llm_calls,
                "load_before": load_before[0],
                "load_after": loadavg()[0],
            })
        results["reruns"] = rows
        results["median_process_wall_s"] = statistics.median(walls)
        results["import_cli_s"] = round(_import_time(3), 2)
        print_table(rows, f"No-op re-run of {shape.total:,} generations (target <= 15 s for the whole process)")
        print(f"median {results['median_process_wall_s']} s; `import daydreaming_dagster.cli` alone: "
              f"{results['import_cli_s']} s (best of 3)")
        if not args.no_profile:
            wall, profile = _profile(root, args.top)
            results["profile_wall_s"] = round(wall, 2)
            results["profile"] = profile
            print(f"\ncProfile of the same re-run in-process ({wall:.1f} s under the profiler, imports excluded):")
            print(profile)
    results["load_end"] = loadavg()
    print(f"results: {save_results(args.results_name, results)}  (load {results['load_start']} -> {results['load_end']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
