"""``daydream cohorts`` and ``daydream plan --cohort`` on a study of 10 named cohorts, ~100,000 generations.

Builds a synthetic data root (``bench/_cohort.py``: 3,000 combinations x 3 draft templates x 2
essay templates x 2 rubrics x 2 graders = 9,000 drafts, 18,000 essays, 72,000 evaluations: 99,000
generations) and 10 named cohorts, each a spec over a window of 600 combinations (windows overlap
by half, so every generation belongs to two cohorts and their union is the whole study). Every
generation is written on disk as a complete one (its four files, a valid record), without any
call. Then it times, as child processes measured with ``wait4`` (wall, CPU, peak RSS):

- ``daydream cohorts`` (every cohort's done/failed/missing, its spend, its last run);
- ``daydream plan --cohort c05 --json`` (plan one cohort: its spec planned, every generation's
  state, the cost of what is left), against the fake server in its own process.

    .venv/bin/python -m bench.cohorts_scale                 # ~99,000 generations (several minutes to build)
    .venv/bin/python -m bench.cohorts_scale --combos 300    # ~9,900, a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench._cohort import (
    Shape,
    check_ok,
    fake_server,
    loadavg,
    machine,
    print_table,
    run_cli,
    save_results,
    write_data_root,
)

COHORTS = 10


def write_specs(root: Path, shape: Shape) -> list[str]:
    """10 specs, each a window of combinations (half of it shared with the next cohort)."""
    from daydreaming_dagster.inputs.combinations import read_curated_selection
    from daydreaming_dagster.inputs.loaders import load_raw_data

    raw = load_raw_data(root)
    combos = [c.combo_id for c in read_curated_selection(raw, root / "1_raw" / "selected_combo_mappings.csv")]
    window = max(1, 2 * len(combos) // COHORTS)
    names = []
    for i in range(COHORTS):
        name = f"c{i:02d}"
        chosen = [combos[(i * window // 2 + j) % len(combos)] for j in range(window)]
        spec = root / "cohorts" / name / "spec"
        (spec / "items").mkdir(parents=True)
        (spec / "items" / "combos.csv").write_text("combo_id\n" + "".join(f"{c}\n" for c in chosen))
        axes = {
            "combo_id": "'@file:items/combos.csv'",
            "draft_template": [f"bench-draft-{t}" for t in range(1, shape.draft_templates + 1)],
            "draft_llm": ["gen-1"],
            "essay_template": [f"bench-essay-{t}" for t in range(1, shape.essay_templates + 1)],
            "essay_llm": ["gen-1"],
            "evaluation_template": [f"bench-evaluation-{t}" for t in range(1, shape.evaluation_templates + 1)],
            "evaluation_llm": [f"eval-{m}" for m in range(1, shape.evaluation_models + 1)],
        }
        lines = ["axes:"] + [
            f"  {axis}: {value if isinstance(value, str) else '[' + ', '.join(value) + ']'}" for axis, value in axes.items()
        ]
        lines += ["output:", f"  field_order: [{', '.join(axes)}]"]
        (spec / "config.yaml").write_text("\n".join(lines) + "\n")
        names.append(name)
    return names


def write_generations(root: Path, names: list[str]) -> int:
    """Plan every cohort and write each generation once, complete, with no call."""
    from daydreaming_dagster.cohort.pipeline import load_cohort, save_task_tables
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.core.stages import STAGES
    from daydreaming_dagster.engine.record import STATUS_COMPLETE, GenerationRecord
    from daydreaming_dagster.engine.store import GensStore
    from daydreaming_dagster.llm import LLMResponse, Usage

    config = load_experiment_config(root)
    store = GensStore(root)
    written = 0
    for name in names:
        cohort = load_cohort(root, config, name=name)
        save_task_tables(cohort)
        specs = cohort.specs()
        for stage in STAGES:
            for row in cohort.rows(stage):
                gen_id = row["gen_id"]
                folder = store.gen_dir(stage, gen_id)
                if folder.is_dir():
                    continue
                text = f"SCORE: {written % 10}\n" if stage == "evaluation" else f"{stage} {gen_id}\nline two\nline three\n"
                folder.mkdir(parents=True)
                (folder / "prompt.txt").write_text(f"prompt of {gen_id}\n")
                (folder / "raw.txt").write_text(text)
                (folder / "parsed.txt").write_text(f"{float(written % 10)}\n" if stage == "evaluation" else text)
                spec = specs[stage]
                record = GenerationRecord(
                    stage=stage, gen_id=gen_id, parent_gen_id=row.get("parent_gen_id", ""),
                    template_id=spec.template_id(row), model_id=spec.model_id(row), run_id="bench",
                    task_keys={k: row.get(k, "") for k in spec.facts.task_keys}, mode="llm",
                    model=f"bench/{spec.model_id(row)}", max_tokens=512, temperature=0.7,
                    response=LLMResponse(text="", finish_reason="stop", usage=Usage(100, 50, 150)),
                    cache={"hit": False}, parser="bench", status=STATUS_COMPLETE,
                )
                (folder / "metadata.json").write_text(record.to_json())
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combos", type=int, default=3000)
    parser.add_argument("--keep", type=Path, default=None, help="build the data root here and keep it")
    parser.add_argument("--reuse", action="store_true", help="with --keep: measure the data root already there")
    args = parser.parse_args()
    shape = Shape(combos=args.combos, draft_templates=3, essay_templates=2, evaluation_templates=2, evaluation_models=2)
    root = args.keep or Path(tempfile.mkdtemp(prefix="dd-cohorts-")) / "data"
    if args.reuse and root.is_dir():
        generations = sum(1 for stage in ("draft", "essay", "evaluation") for _ in (root / "gens" / stage).iterdir())
    else:
        if root.exists():
            shutil.rmtree(root)
        write_data_root(root, shape)
        names = write_specs(root, shape)
        generations = write_generations(root, names)
    # A data root that ran has its payment journal; made here once, as a run's setup would.
    from daydreaming_dagster.cohort.budget import ensure_journal
    from daydreaming_dagster.engine.store import GensStore

    ensure_journal(root, GensStore(root))
    rows: list[dict[str, Any]] = []
    load_before = loadavg()[0]
    with fake_server(0.0) as base_url:
        for what, cli_args in (
            ("daydream cohorts", ["cohorts", "--data-root", str(root)]),
            ("daydream plan --cohort c05 --json", ["plan", "--data-root", str(root), "--cohort", "c05", "--json"]),
        ):
            result = run_cli(cli_args, base_url=base_url)
            check_ok(result, what)
            rows.append({"command": what, "wall_s": round(result.wall_s, 2), "cpu_s": round(result.cpu_s, 2),
                         "max_rss_mb": round(result.max_rss_mb)})
    print_table(rows, f"{COHORTS} cohorts, {generations:,} generations on disk ({shape.describe()})")
    save_results("cohorts_scale", {"machine": machine(), "generations": generations, "shape": shape.describe(),
                                   "rows": rows, "load_before": load_before, "load_after": loadavg()[0]})
    if args.keep is None:
        shutil.rmtree(root.parent, ignore_errors=True)
    os.sync()


if __name__ == "__main__":
    main()
