"""What pipelining buys: one pipelined ``daydream run`` vs three runs, stage by stage.

The same draft -> essay -> evaluation cohort, each variant on a fresh copy of the inputs, against
the fake OpenAI-compatible server in its own process:

  (a) ``daydream run`` with all three stages (pipelined: an essay starts when its draft is done);
  (b) ``daydream run --stages draft``, then ``essay``, then ``evaluation`` (a barrier per stage).

Two latency scenarios: ``fixed`` (every call takes L) and ``variable`` (seeded lognormal latencies
with mean L, sigma 0.5 (``--sigma``), clipped to [0.1 L, 4 L], served in request order; real LLM calls vary far
more than that). Both process wall times (start-ups included) and the runners' own wall times.

Part ``priority`` (in-process, same server): the CohortRunner's ready-queue order. The shipped
order runs deeper stages first (evaluation, essay, draft); the alternative runs drafts first
(longest remaining chain first). Monkeypatched in this process only, to measure the proposal;
also reports when the first evaluation finished.

    .venv/bin/python -m bench.pipelining                  # 40 combos: 40 drafts, 40 essays, 80 evaluations; C=16
    .venv/bin/python -m bench.pipelining --latency 2 --scenarios variable --parts cli
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
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

SIGMA = 0.5


def latencies_for(scenario: str, latency: float, count: int, seed: int) -> list[float] | None:
    if scenario == "fixed":
        return None
    rng = random.Random(seed)
    sigma = SIGMA
    mu = math.log(latency) - sigma * sigma / 2  # mean of the lognormal = latency
    return [min(4 * latency, max(0.1 * latency, rng.lognormvariate(mu, sigma))) for _ in range(count)]


def cli_part(shape: Shape, scenario: str, latency: float, concurrency: int, seed: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    plans: dict[str, list[str]] = {
        "pipelined (one run)": ["draft,essay,evaluation"],
        "stage by stage (3 runs)": ["draft", "essay", "evaluation"],
    }
    for variant, runs in plans.items():
        lat = latencies_for(scenario, latency, shape.total + 100, seed)
        with fake_server(latency, lat) as base_url, tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
            root = write_data_root(Path(tmp) / "data", shape, concurrency=concurrency)
            load_before = loadavg()
            process_wall = runner_wall = 0.0
            calls = 0
            for stages in runs:
                result = run_cli(
                    ["run", "--data-root", str(root), "--stages", stages, "--concurrency", str(concurrency), "--quiet"],
                    base_url=base_url,
                )
                check_ok(result, f"pipelining {variant} {stages}")
                process_wall += result.wall_s
                runner_wall += result.runner_wall_s or 0.0
                calls += result.llm_calls or 0
            rows.append({
                "scenario": scenario,
                "variant": variant,
                "N": shape.total,
                "L_s": latency,
                "C": concurrency,
                "ideal_s": round(shape.total * latency / concurrency, 1),
                "process_wall_s": round(process_wall, 2),
                "runner_wall_s": round(runner_wall, 2),
                "llm_calls": calls,
                "load_before": load_before[0],
                "load_after": loadavg()[0],
            })
    return rows


class _Timeline:
    """A ProgressReporter recording when each stage's first and last generation finished."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def start(self, totals: Mapping[str, int]) -> None:
        self.t0 = time.perf_counter()

    def advance(self, stage: str, status: str) -> None:
        now = time.perf_counter() - self.t0
        self.first.setdefault(stage, now)
        self.last[stage] = now

    def stop(self) -> None:
        pass


PRIORITIES: dict[str, dict[str, int]] = {
    "deeper first (shipped)": {"evaluation": 0, "essay": 1, "draft": 2},
    "drafts first (proposal)": {"draft": 0, "essay": 1, "evaluation": 2},
}


def priority_part(shape: Shape, scenario: str, latency: float, concurrency: int, seed: int) -> list[dict[str, Any]]:
    from daydreaming_dagster.cohort import runner as runner_module
    from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
    from daydreaming_dagster.cohort.runner import CohortRunner
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.engine.cache import ResponseCache
    from daydreaming_dagster.engine.flow import GenerationContext
    from daydreaming_dagster.engine.store import STAGES, GensStore
    from daydreaming_dagster.llm import LLMSettings, build_llm_client

    rows: list[dict[str, Any]] = []
    shipped = runner_module._PRIORITY
    try:
        for name, priority in PRIORITIES.items():
            runner_module._PRIORITY = priority  # type: ignore[assignment]
            lat = latencies_for(scenario, latency, shape.total + 100, seed)
            with fake_server(latency, lat) as base_url, tempfile.TemporaryDirectory(prefix="dd-bench-") as tmp:
                root = write_data_root(Path(tmp) / "data", shape, concurrency=concurrency)
                cohort = load_cohort(root, load_experiment_config(root))
                save_task_tables(cohort)
                client = build_llm_client(cohort.raw.routes(), LLMSettings(base_url=base_url, max_in_flight=concurrency))
                context = GenerationContext(run_id="bench-priority", store=GensStore(root), llm=client,
                                            cache=ResponseCache.for_data_root(root))
                timeline = _Timeline()
                runner = CohortRunner(context, cohort.specs(), concurrency=concurrency, progress=timeline)  # type: ignore[arg-type]
                load_before = loadavg()
                summary = runner.run(cohort.items(STAGES))
                assert summary.ok, summary.failures[:3]
                rows.append({
                    "scenario": scenario,
                    "priority": name,
                    "N": shape.total,
                    "ideal_s": round(shape.total * latency / concurrency, 1),
                    "runner_wall_s": round(summary.wall_s, 2),
                    "first_evaluation_s": round(timeline.first.get("evaluation", float("nan")), 2),
                    "last_draft_s": round(timeline.last.get("draft", float("nan")), 2),
                    "load_before": load_before[0],
                    "load_after": loadavg()[0],
                })
    finally:
        runner_module._PRIORITY = shipped
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combos", type=int, default=40, help="combinations (drafts); default 40")
    parser.add_argument("--evaluation-templates", type=int, default=2, help="evaluations per essay (default 2)")
    parser.add_argument("--latency", type=float, default=1.0, help="mean latency per call, s (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrency (default 16)")
    parser.add_argument("--scenarios", default="fixed,variable", help="fixed and/or variable (default both)")
    parser.add_argument("--parts", default="cli,priority", help="cli and/or priority (default both)")
    parser.add_argument("--sigma", type=float, default=0.5, help="lognormal sigma of the variable scenario (default 0.5)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the variable latencies (default 7)")
    parser.add_argument("--results-name", default="pipelining",
                        help="results file bench/results/<name>.json (default pipelining)")
    args = parser.parse_args(argv)
    global SIGMA
    SIGMA = args.sigma
    os.environ.pop("DD_COHORT", None)
    shape = Shape(combos=args.combos, evaluation_templates=args.evaluation_templates)
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"load_start": loadavg(), "params": vars(args), "shape": shape.describe()}
    cli_rows: list[dict[str, Any]] = []
    priority_rows: list[dict[str, Any]] = []
    for scenario in args.scenarios.split(","):
        if "cli" in parts:
            cli_rows += cli_part(shape, scenario, args.latency, args.concurrency, args.seed)
        if "priority" in parts:
            priority_rows += priority_part(shape, scenario, args.latency, args.concurrency, args.seed)
    results["cli"] = cli_rows
    results["priority"] = priority_rows
    print_table(cli_rows, f"Pipelined vs stage by stage ({shape.drafts} drafts, {shape.essays} essays, "
                          f"{shape.evaluations} evaluations)")
    print_table(priority_rows, "Ready-queue priority, in-process CohortRunner over HTTP")
    results["load_end"] = loadavg()
    print(f"results: {save_results(args.results_name, results)}  (load {results['load_start']} -> {results['load_end']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
