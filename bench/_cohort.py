"""Synthetic data roots of a requested size, and the small harness every benchmark shares.

``write_data_root(root, Shape(...))`` writes a valid ``1_raw`` whose cohort has exactly
``shape.drafts`` / ``shape.essays`` / ``shape.evaluations`` generations: the combinations come from a
curated ``selected_combo_mappings.csv`` (3 concepts each, every combination a distinct concept set, so
no two generations share a prompt and the response cache never turns a call into a hit).

The harness: the project's fake OpenAI-compatible server in a separate process
(``fake_server``), a ``daydream`` run as a child process with its wall time, CPU time and peak RSS
(``run_cli``), in-process generation with the instant ScriptedProvider (``generate_in_process``),
and the results file (``save_results``) and table (``print_table``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
DAYDREAM = Path(sys.executable).with_name("daydream")
# Nothing listens here: a "no call" run pointed at it fails loudly if it ever calls.
DEAD_BASE_URL = "http://127.0.0.1:9/v1"

DRAFT_TEMPLATE = "Draft template {i}. Combine these concepts:\n{{% for c in concepts %}}{{{{ c.name }}}}: {{{{ c.content }}}}\n{{% endfor %}}"
ESSAY_TEMPLATE = "Essay template {i}. Write a short essay from these notes:\n{{{{ draft_block }}}}\n"
EVALUATION_TEMPLATE = (
    "Evaluation template {i}. Rate this essay from 0 to 9.\n{{{{ response }}}}\nEnd with a line SCORE: <digit>.\n"
)


@dataclass(frozen=True)
class Shape:
    """How many of each dimension; every count is exact (see the module docstring)."""

    combos: int
    draft_templates: int = 1
    generation_models: int = 1
    essay_templates: int = 1  # all in llm mode
    evaluation_templates: int = 1
    evaluation_models: int = 1

    @property
    def drafts(self) -> int:
        return self.combos * self.draft_templates * self.generation_models

    @property
    def essays(self) -> int:
        return self.drafts * self.essay_templates

    @property
    def evaluations(self) -> int:
        return self.essays * self.evaluation_templates * self.evaluation_models

    @property
    def total(self) -> int:
        return self.drafts + self.essays + self.evaluations

    def count(self, stage: str) -> int:
        return {"draft": self.drafts, "essay": self.essays, "evaluation": self.evaluations}[stage]

    def describe(self) -> dict[str, int]:
        return {**asdict(self), "drafts": self.drafts, "essays": self.essays,
                "evaluations": self.evaluations, "total": self.total}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _concept_pool(combos: int, k: int = 3) -> int:
    n = k
    while math.comb(n, k) < combos:
        n += 1
    return n


def write_data_root(root: Path, shape: Shape, **experiment: Any) -> Path:
    """Write ``root/1_raw`` (and ``root/experiment.toml`` from ``experiment``) for ``shape``."""
    from daydreaming_dagster.core.ids import generate_combo_id

    raw = root / "1_raw"
    pool = _concept_pool(shape.combos)
    concept_ids = [f"concept{i:03d}" for i in range(pool)]
    _write(
        raw / "concepts_metadata.csv",
        "concept_id,name,active\n" + "".join(f"{cid},Concept {cid},true\n" for cid in concept_ids),
    )
    for cid in concept_ids:
        _write(raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt",
               f"{cid} is a synthetic benchmark concept with a short paragraph of description.\n")
    selection = ["combo_id,version,concept_id,description_level,k_max,created_at"]
    for chosen in itertools.islice(itertools.combinations(concept_ids, 3), shape.combos):
        combo_id = generate_combo_id(chosen, "paragraph", 3)
        selection += [f"{combo_id},v1,{cid},paragraph,3," for cid in chosen]
    _write(raw / "selected_combo_mappings.csv", "\n".join(selection) + "\n")

    def templates(kind: str, count: int, extra_header: str, extra: str, body: str, folder: Path) -> None:
        rows = [f"template_id,template_name,description,active,{extra_header}"]
        for i in range(1, count + 1):
            rows.append(f"bench-{kind}-{i},Bench {kind} {i},synthetic,true,{extra}")
            _write(folder / f"bench-{kind}-{i}.txt", body.format(i=i))
        _write(raw / f"{kind}_templates.csv", "\n".join(rows) + "\n")

    templates("draft", shape.draft_templates, "parser", "", DRAFT_TEMPLATE, raw / "generation_templates" / "draft")
    templates("essay", shape.essay_templates, "generator", "llm", ESSAY_TEMPLATE, raw / "generation_templates" / "essay")
    templates("evaluation", shape.evaluation_templates, "parser", "in_last_line", EVALUATION_TEMPLATE,
              raw / "evaluation_templates")
    models = ["id,model,provider,display_name,for_generation,for_evaluation,specialization"]
    models += [f"gen-{i},bench/gen-{i},fake,Gen {i},true,false,general" for i in range(1, shape.generation_models + 1)]
    models += [f"eval-{i},bench/eval-{i},fake,Eval {i},false,true,general" for i in range(1, shape.evaluation_models + 1)]
    _write(raw / "llm_models.csv", "\n".join(models) + "\n")
    settings = {"draft_generation_max_tokens": 2048, "essay_generation_max_tokens": 2048,
                "evaluation_max_tokens": 512, **experiment}
    _write(root / "experiment.toml", "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    return root


# ---------------------------------------------------------------------------- machine and results


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def machine() -> dict[str, Any]:
    import dagster

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "dagster": dagster.__version__,
        "platform": platform.platform(),
        "tmpdir": tempfile.gettempdir(),
    }


def save_results(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2) + "\n")
    return path


def print_table(rows: Sequence[Mapping[str, Any]], title: str = "") -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    if title:
        print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


# ---------------------------------------------------------------------------- processes


@contextmanager
def fake_server(latency_s: float, latencies: Sequence[float] | None = None) -> Iterator[str]:
    """The fake OpenAI-compatible server in its own process (its own GIL); yields the base URL.

    ``latencies``: per-request delays in arrival order, for variable latency (``latency_s`` unused).
    """
    if latencies is None:
        command = [sys.executable, "-m", "daydreaming_dagster.testing.fake_openai_server", "--port", "0", "--latency", str(latency_s)]
    else:
        command = [sys.executable, "-m", "bench._cohort", "serve", json.dumps([round(x, 3) for x in latencies])]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError(f"fake server did not start (printed {base_url!r})")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class CliResult:
    returncode: int
    wall_s: float  # the whole process: interpreter start-up, imports, run, exit
    cpu_s: float  # user + system CPU of the process
    max_rss_mb: float
    runner_wall_s: float | None  # the CohortRunner's own wall time (the CLI's "wall time X s")
    llm_calls: int | None
    output: str


_WALL = re.compile(r"wall time ([0-9.]+) s")
_CALLS = re.compile(r"LLM calls (\d+)")


def run_cli(args: Sequence[str], *, base_url: str, extra_env: Mapping[str, str] | None = None) -> CliResult:
    """``daydream <args>`` as a child process, timed and measured with wait4 (peak RSS, CPU)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DD_COHORT", "DD_LLM_API_KEY", "OPENROUTER_API_KEY")}
    env.update({"DD_LLM_BASE_URL": base_url, "COLUMNS": "160", "NO_COLOR": "1", **(extra_env or {})})
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([str(DAYDREAM), *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    wall_match, calls_match = _WALL.search(output), _CALLS.search(output)
    return CliResult(
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        runner_wall_s=float(wall_match.group(1)) if wall_match else None,
        llm_calls=int(calls_match.group(1)) if calls_match else None,
        output=output,
    )


def check_ok(result: CliResult, what: str) -> None:
    if result.returncode != 0:
        raise SystemExit(f"{what}: daydream exited {result.returncode}\n{result.output[-3000:]}")


# ---------------------------------------------------------------------------- in-process generation


def generate_in_process(root: Path, *, concurrency: int = 2, stages: Sequence[str] = ("draft", "essay", "evaluation"),
                        ) -> dict[str, Any]:
    """Generate the data root's cohort in this process with the instant ScriptedProvider.

    Writes the same task tables and gen_ids as ``daydream run`` (same inputs, no DD_COHORT).
    """
    from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
    from daydreaming_dagster.cohort.runner import CohortRunner
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.engine.store import STAGES
    from daydreaming_dagster.testing.engine_kit import make_context
    from daydreaming_dagster.testing.mock_llm import ScriptedProvider

    os.environ.pop("DD_COHORT", None)
    cohort = load_cohort(root, load_experiment_config(root))
    save_task_tables(cohort)
    provider = ScriptedProvider()
    context = make_context(root, cohort, provider, run_id="bench-prefill")
    items = cohort.items([s for s in STAGES if s in stages])
    summary = CohortRunner(context, cohort.specs(), concurrency=concurrency).run(items)
    if not summary.ok:
        raise SystemExit(f"in-process generation failed: {summary.failures[:3]}")
    return {"generations": len(items), "wall_s": summary.wall_s, "llm_calls": summary.llm_calls}


def _serve(latencies: list[float]) -> None:
    """The kit's fake server with one queued ``("sleep", s)`` fault per request: variable latency
    (requests beyond the list are answered at once)."""
    from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer

    faults = [("sleep", round(s, 3)) for s in latencies]
    server = FakeOpenAIServer(latency_s=0.0, record_requests=False, faults=faults)
    server.start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        _serve(json.loads(sys.argv[2]))
