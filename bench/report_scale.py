"""Time to write the result tables, the HTML report and the export at 1,000 and 10,000 evaluations.

Builds a synthetic cohort on disk (no LLM, no Dagster): task tables, and for every generation its
prompt.txt, raw.txt, parsed.txt and metadata.json, with text of realistic size made of random words
(drafts ~2.5 kB, essays ~4 kB, half of them copies of their draft, evaluations ~1.5 kB of reasoning
then a SCORE line); 2 evaluation templates x 2 evaluation models grade every essay. Then it times
``write_all_results`` (every table and the report), the report alone, and ``export_generations``,
and, when ``chromium`` is installed, how long the page takes to be ready in headless Chromium.

    .venv/bin/python -m bench.report_scale                       # 1,000 and 10,000 evaluations
    .venv/bin/python -m bench.report_scale --evaluations 2000 --keep /tmp/cohort
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CONCEPTS = [f"concept-{i:02d}" for i in range(12)]
DRAFT_TEMPLATES = ["creative-synthesis", "problem-solving", "research-discovery", "systematic-analytical",
                   "application-implementation"]
ESSAY_TEMPLATES = [("llm-essay", "llm"), ("parsed-from-links", "copy")]
GENERATION_MODELS = ["sonnet-4", "gemini-25-pro"]
EVALUATION = [("daydreaming-verification-v2", "in_last_line"), ("novelty-v1", "in_last_line")]
EVALUATION_MODELS = ["gpt-5", "deepseek-r1"]
WORDS = [w for w in re.findall(r"[a-z]+", (__doc__ or "").lower() + " ".join(
    "generator verifier gap default mode network daydreaming loop background critic memory feedback novelty "
    "insight combination concept synthesis recombination economic moat frontier model reinvent idea search "
    "evaluation reward signal exploration exploitation serendipity latent association wandering attention "
    "hypothesis experiment observation theory mechanism architecture training inference compute data".split()))
         if len(w) > 2]


def _text(rng: random.Random, chars: int) -> str:
    lines, line, size = [], [], 0
    while size < chars:
        word = rng.choice(WORDS)
        line.append(word)
        size += len(word) + 1
        if len(line) >= rng.randint(9, 16):
            lines.append(" ".join(line).capitalize() + ".")
            line = []
    lines.append(" ".join(line).capitalize() + ".")
    return "\n".join(lines) + "\n"


def _id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")


def _gen(root: Path, stage: str, gen_id: str, prompt: str | None, raw: str, parsed: str, meta: dict[str, Any]) -> None:
    d = root / "gens" / stage / gen_id
    d.mkdir(parents=True)
    if prompt is not None:
        (d / "prompt.txt").write_text(prompt, encoding="utf-8")
    (d / "raw.txt").write_text(raw, encoding="utf-8")
    (d / "parsed.txt").write_text(parsed, encoding="utf-8")
    (d / "metadata.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _meta(rng: random.Random, stage: str, gen_id: str, parent: str, template: str, model: str, mode: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"stage": stage, "gen_id": gen_id, "parent_gen_id": parent, "template_id": template, "model_id": model,
            "task_id": f"{stage}-{gen_id}", "function": f"{stage}_response", "run_id": "bench", "mode": mode}
    if mode == "llm":
        usage: dict[str, Any] = {"prompt_tokens": rng.randint(800, 3000), "completion_tokens": rng.randint(300, 1500)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage["cost"] = round(usage["total_tokens"] * 3e-6, 6)
        latency = round(rng.uniform(3, 40), 3)
        meta.update(model=f"vendor/{model}", max_tokens=20480, temperature=0.7, finish_reason="stop", usage=usage,
                    llm={"finish_reason": "stop", "usage": usage, "provider": "openai_compatible",
                         "latency_s": latency, "attempts": 1}, cache={"hit": False})
    meta.update(parser="in_last_line" if stage == "evaluation" else "identity", status="complete",
                started_at="2025-09-09T10:00:00+00:00", finished_at="2025-09-09T10:00:30+00:00", duration_s=30.0)
    return meta


def build_cohort(root: Path, evaluations: int, seed: int = 7, concepts: int = len(CONCEPTS)) -> dict[str, int]:
    """A cohort with exactly ``evaluations`` evaluations (a multiple of 8; ``concepts`` choose 3
    combinations x 10 drafts each must be enough: 12 concepts give at most 17,600)."""
    rng = random.Random(seed)
    all_concepts = [f"concept-{i:02d}" for i in range(concepts)]
    per_essay = len(EVALUATION) * len(EVALUATION_MODELS)
    n_drafts = evaluations // per_essay // len(ESSAY_TEMPLATES)
    raw = root / "1_raw"
    _csv(raw / "concepts_metadata.csv", ["concept_id", "name", "active"],
         [[c, c.replace("-", " ").title(), "true"] for c in all_concepts])
    combos: list[tuple[str, list[str]]] = []
    selection: list[list[str]] = []
    for _ in range(100_000):
        chosen = sorted(rng.sample(all_concepts, 3))
        combo = "combo_v1_" + _id(*chosen)[:12]
        if combo not in {c for c, _ in combos}:
            combos.append((combo, chosen))
            selection += [[combo, "v1", c, "paragraph", "3", ""] for c in chosen]
        if len(combos) * len(DRAFT_TEMPLATES) * len(GENERATION_MODELS) >= n_drafts:
            break
    tasks = root / "2_tasks"
    _csv(tasks / "selected_combo_mappings.csv",
         ["combo_id", "version", "concept_id", "description_level", "k_max", "created_at"], selection)
    drafts = [(c, t, m) for c, _ in combos for t in DRAFT_TEMPLATES for m in GENERATION_MODELS][:n_drafts]
    draft_rows, essay_rows, eval_rows = [], [], []
    for combo, template, model in drafts:
        draft_task = f"{combo}__{template}__{model}"
        draft_id = _id("draft", draft_task)
        draft = _text(rng, 2500)
        draft_rows.append([draft_task, combo, template, model, f"vendor/{model}", draft_id])
        _gen(root, "draft", draft_id, f"Concepts of {combo}\n" + _text(rng, 600), draft, draft,
             _meta(rng, "draft", draft_id, "", template, model, "llm"))
        for essay_template, mode in ESSAY_TEMPLATES:
            essay_task = f"{draft_task}__{essay_template}"
            essay_id = _id("essay", essay_task)
            essay = _text(rng, 4000) if mode == "llm" else draft
            prompt = f"Write an essay from these notes:\n{draft}\nMake it rigorous.\n" if mode == "llm" else None
            essay_rows.append([essay_task, draft_id, draft_task, combo, template, essay_template, model,
                               f"vendor/{model}", essay_id])
            _gen(root, "essay", essay_id, prompt, essay, essay,
                 _meta(rng, "essay", essay_id, draft_id, essay_template, model, mode))
            for evaluation_template, parser in EVALUATION:
                for grader in EVALUATION_MODELS:
                    task = f"{essay_id}__{evaluation_template}__{grader}"
                    eval_id = _id("evaluation", task)
                    score = min(10, max(0, round(rng.gauss(5.5, 2.2))))
                    reply = _text(rng, 1500) + f"SCORE: {score}"
                    eval_rows.append([task, essay_id, essay_task, essay_task, combo, template, essay_template, model,
                                      f"vendor/{model}", evaluation_template, grader, f"vendor/{grader}", parser,
                                      "", "", "essay_response", eval_id, "cohort-bench"])
                    _gen(root, "evaluation", eval_id, f"Rate this essay:\n{essay}\nEnd with SCORE: <0-10>.\n",
                         reply, f"{float(score)}\n", _meta(rng, "evaluation", eval_id, essay_id, evaluation_template,
                                                           grader, "llm"))
    _csv(tasks / "draft_generation_tasks.csv",
         ["draft_task_id", "combo_id", "draft_template", "generation_model", "generation_model_name", "gen_id"],
         draft_rows)
    _csv(tasks / "essay_generation_tasks.csv",
         ["essay_task_id", "parent_gen_id", "draft_task_id", "combo_id", "draft_template", "essay_template",
          "generation_model", "generation_model_name", "gen_id"], essay_rows)
    _csv(tasks / "evaluation_tasks.csv",
         ["evaluation_task_id", "parent_gen_id", "document_id", "essay_task_id", "combo_id", "draft_template",
          "essay_template", "generation_model", "generation_model_name", "evaluation_template",
          "evaluation_model", "evaluation_model_name", "parser", "file_path", "source_dir", "source_asset",
          "gen_id", "cohort_id"], eval_rows)
    return {"drafts": len(draft_rows), "essays": len(essay_rows), "evaluations": len(eval_rows)}


def _gens_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in (root / "gens").rglob("*") if p.is_file()) / 1e6


def browser_ready_ms(report: Path) -> int | None:
    """Milliseconds from navigation to the page being ready (data inflated, table and plots drawn)."""
    browser = shutil.which("chromium")
    if browser is None:
        return None
    done = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=30000",
         "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=300, check=False)
    found = re.search(r'data-ready-ms="(\d+)"', done.stdout)
    return int(found.group(1)) if found else None


def bench(evaluations: int, keep: Path | None) -> dict[str, object]:
    from daydreaming_dagster.results.export import export_generations
    from daydreaming_dagster.results.html_report import write_report
    from daydreaming_dagster.results.lineage import load_cohort_view
    from daydreaming_dagster.results.writer import write_all_results

    work = Path(tempfile.mkdtemp(prefix="dd-report-"))
    root = keep or work / "data"
    if root.exists():
        shutil.rmtree(root)
    try:
        t0 = time.perf_counter()
        counts = build_cohort(root, evaluations)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        view = load_cohort_view(root)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        paths = write_all_results(root)
        all_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = write_report(root, view=view)
        report_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_path, rows = export_generations(root, "jsonl", view=view)
        export_s = time.perf_counter() - t0
        assert export_path is not None and "report" in paths
        return {
            **counts, "gens_mb": round(_gens_mb(root), 1), "build_s": round(built, 1),
            "load_view_s": round(load_s, 2), "write_all_results_s": round(all_s, 2),
            "report_only_s": round(report_s, 2), "report_mb": round(report.stat().st_size / 1e6, 1),
            "export_s": round(export_s, 2), "export_mb": round(export_path.stat().st_size / 1e6, 1),
            "browser_ready_ms": browser_ready_ms(report),
        }
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--keep", type=Path, default=None, help="build the (last) cohort here and keep it")
    args = parser.parse_args()
    results = [bench(n, args.keep) for n in args.evaluations]
    columns = list(results[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in results:
        print("| " + " | ".join(str(r[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
