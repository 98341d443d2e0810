"""A small hand-built cohort on disk (task tables, gens, metadata), with known scores.

Two combinations (c1 = alpha+beta, c2 = alpha+gamma), two draft templates (d1, d2), one essay
template (e1), one generation model (g1), one evaluation template (t1, parser in_last_line) and two
graders (m1, m2): 4 drafts, 4 essays, 8 evaluations. Scores:

    essay  combo draft  m1   m2
    E1     c1    d1     8    9
    E2     c1    d2     3    6
    E3     c2    d1     10   10
    E4     c2    d2     5    (failed: the reply "Score: 5/10" does not parse with in_last_line)

With the ``complex`` parser instead, V21 would be 7 and V42 would be 5 (the re-parse test).

E1 and E2 share combo, essay template and model: upstream's generation key merged them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CONCEPTS = {"alpha": "Alpha Concept", "beta": "Beta Concept", "gamma": "Gamma Concept"}
COMBOS = {"c1": ("alpha", "beta"), "c2": ("alpha", "gamma")}
DRAFTS = {"D1": ("c1", "d1"), "D2": ("c1", "d2"), "D3": ("c2", "d1"), "D4": ("c2", "d2")}
ESSAYS = {"E1": "D1", "E2": "D2", "E3": "D3", "E4": "D4"}
# evaluation gen_id -> (essay, grader model, raw reply)
EVALUATIONS = {
    "V11": ("E1", "m1", "Clear and original.\nSCORE: 8"),
    "V12": ("E1", "m2", "Strong essay.\nSCORE: 9"),
    # in_last_line takes the bare "SCORE: 3" line; complex would take the last "Final Score: 7".
    "V21": ("E2", "m1", "Weak link between ideas.\nSCORE: 3\nOn reflection, Final Score: 7"),
    "V22": ("E2", "m2", "Some merit.\nSCORE: 6"),
    "V31": ("E3", "m1", "It reinvents the target idea.\nSCORE: 10"),
    "V32": ("E3", "m2", "Exactly the loop.\nSCORE: 10"),
    "V41": ("E4", "m1", "Average.\nSCORE: 5"),
    "V42": ("E4", "m2", "Average at best.\nScore: 5/10"),
}
SCORES = {"V11": 8.0, "V12": 9.0, "V21": 3.0, "V22": 6.0, "V31": 10.0, "V32": 10.0, "V41": 5.0}
COST = 0.001


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    _write(path, ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows))


def _metadata(stage: str, gen_id: str, parent: str, template: str, model: str, task_id: str,
              **extra: Any) -> dict[str, Any]:
    usage = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150, "cost": COST}
    meta: dict[str, Any] = {
        "stage": stage, "gen_id": gen_id, "parent_gen_id": parent, "template_id": template,
        "model_id": model, "task_id": task_id, "function": f"{stage}_response", "run_id": "run-1",
        "mode": "llm", "model": f"vendor/{model}", "max_tokens": 2048, "temperature": 0.7,
        "finish_reason": "stop", "usage": usage,
        "llm": {"finish_reason": "stop", "usage": usage, "provider": "mock", "latency_s": 0.5, "attempts": 1},
        "cache": {"hit": False}, "status": "complete", "started_at": "2025-01-01T00:00:00+00:00",
        "finished_at": "2025-01-01T00:00:01+00:00", "duration_s": 1.0,
    }
    meta.update(extra)
    return meta


def _gen(root: Path, stage: str, gen_id: str, prompt: str, raw: str, parsed: str | None,
         meta: dict[str, Any]) -> None:
    d = root / "gens" / stage / gen_id
    _write(d / "prompt.txt", prompt)
    _write(d / "raw.txt", raw)
    if parsed is not None:
        _write(d / "parsed.txt", parsed)
    _write(d / "metadata.json", json.dumps(meta, indent=2))


def write_raw_inputs(root: Path) -> None:
    """A valid ``1_raw`` matching the cohort (so parsers can be looked up by template)."""
    raw = root / "1_raw"
    _csv(raw / "concepts_metadata.csv", ["concept_id", "name", "active"],
         [[c, n, "true"] for c, n in CONCEPTS.items()])
    for c, n in CONCEPTS.items():
        _write(raw / "concepts" / "descriptions-paragraph" / f"{c}.txt", f"{n} described.\n")
    _csv(raw / "draft_templates.csv", ["template_id", "template_name", "description", "active", "parser"],
         [["d1", "D1", "first", "true", ""], ["d2", "D2", "second", "true", ""]])
    for t in ("d1", "d2"):
        _write(raw / "generation_templates" / "draft" / f"{t}.txt",
               "{% for c in concepts %}- {{ c.name }}: {{ c.content }}\n{% endfor %}")
    _csv(raw / "essay_templates.csv", ["template_id", "template_name", "description", "active", "generator"],
         [["e1", "E1", "essay", "true", "llm"]])
    _write(raw / "generation_templates" / "essay" / "e1.txt", "Write an essay from:\n{{ draft_block }}\n")
    set_evaluation_parser(root, "in_last_line")
    _write(raw / "evaluation_templates" / "t1.txt", "Rate this essay:\n{{ response }}\nReply SCORE: <0-10>.\n")
    _csv(raw / "llm_models.csv",
         ["id", "model", "provider", "display_name", "for_generation", "for_evaluation", "specialization"],
         [["g1", "vendor/g1", "mock", "G1", "true", "false", ""],
          ["m1", "vendor/m1", "mock", "M1", "false", "true", ""],
          ["m2", "vendor/m2", "mock", "M2", "false", "true", ""]])


def set_evaluation_parser(root: Path, parser: str) -> None:
    _csv(root / "1_raw" / "evaluation_templates.csv",
         ["template_id", "template_name", "description", "active", "parser"],
         [["t1", "T1", "grade", "true", parser]])


def draft_text(gen_id: str) -> str:
    combo, template = DRAFTS[gen_id]
    names = " and ".join(CONCEPTS[c] for c in COMBOS[combo])
    return f"Idea one joining {names} ({template}).\nIdea two: a loop that keeps ideas.\nIdea three: a critic.\n"


def essay_text(gen_id: str) -> str:
    return f"Essay {gen_id}: generators and verifiers, day and night, a long argument.\n" * 3


def build_cohort(root: Path) -> Path:
    write_raw_inputs(root)
    tasks = root / "2_tasks"
    _csv(tasks / "selected_combo_mappings.csv",
         ["combo_id", "version", "concept_id", "description_level", "k_max", "created_at"],
         [[c, "v1", k, "paragraph", "2", ""] for c, ks in COMBOS.items() for k in ks])
    _csv(tasks / "draft_generation_tasks.csv",
         ["draft_task_id", "combo_id", "draft_template", "generation_model", "generation_model_name", "gen_id"],
         [[f"{c}__{t}__g1", c, t, "g1", "vendor/g1", d] for d, (c, t) in DRAFTS.items()])
    _csv(tasks / "essay_generation_tasks.csv",
         ["essay_task_id", "parent_gen_id", "draft_task_id", "combo_id", "draft_template", "essay_template",
          "generation_model", "generation_model_name", "gen_id"],
         [[f"{DRAFTS[d][0]}__{DRAFTS[d][1]}__g1__e1", d, f"{DRAFTS[d][0]}__{DRAFTS[d][1]}__g1", DRAFTS[d][0],
           DRAFTS[d][1], "e1", "g1", "vendor/g1", e] for e, d in ESSAYS.items()])
    eval_rows = []
    for v, (e, m, _) in EVALUATIONS.items():
        c, t = DRAFTS[ESSAYS[e]]
        eval_rows.append([f"{e}__t1__{m}", e, "x", "x", c, t, "e1", "g1", "vendor/g1", "t1", m, f"vendor/{m}",
                          "in_last_line", "", "", "essay_response", v, "cohort-test"])
    _csv(tasks / "evaluation_tasks.csv",
         ["evaluation_task_id", "parent_gen_id", "document_id", "essay_task_id", "combo_id", "draft_template",
          "essay_template", "generation_model", "generation_model_name", "evaluation_template",
          "evaluation_model", "evaluation_model_name", "parser", "file_path", "source_dir", "source_asset",
          "gen_id", "cohort_id"], eval_rows)
    for d, (c, t) in DRAFTS.items():
        text = draft_text(d)
        _gen(root, "draft", d, f"- concepts of {c}\n", text, text,
             _metadata("draft", d, "", t, "g1", f"{c}__{t}__g1", combo_id=c, parser="identity"))
    for e, d in ESSAYS.items():
        text = essay_text(e)
        _gen(root, "essay", e, "Write an essay from:\n" + draft_text(d) + "\n", text, text,
             _metadata("essay", e, d, "e1", "g1", f"x__{e}", essay_template="e1", parser="identity"))
    for v, (e, m, raw) in EVALUATIONS.items():
        prompt = "Rate this essay:\n" + essay_text(e) + "\nReply SCORE: <0-10>.\n"
        if v in SCORES:
            _gen(root, "evaluation", v, prompt, raw, f"{SCORES[v]}\n",
                 _metadata("evaluation", v, e, "t1", m, f"{e}__t1__{m}", cohort_id="cohort-test",
                           evaluation_template="t1", parser="in_last_line"))
        else:
            message = f"evaluation {v}: parser 'in_last_line' failed on RAW: No SCORE found"
            meta = _metadata("evaluation", v, e, "t1", m, f"{e}__t1__{m}", cohort_id="cohort-test",
                             evaluation_template="t1", status="failed",
                             error={"message": message, "parser": "in_last_line", "error_type": "ValueError",
                                    "raw_chars": len(raw)})
            _gen(root, "evaluation", v, prompt, raw, None, meta)
    return root


@pytest.fixture
def cohort_root(tmp_path: Path) -> Path:
    return build_cohort(tmp_path / "data")
