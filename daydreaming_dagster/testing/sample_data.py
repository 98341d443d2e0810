"""A tiny valid data root for tests: write it, then break one thing to test a failure."""

from __future__ import annotations

from pathlib import Path

CONCEPTS: tuple[tuple[str, str, str], ...] = (
    ("alpha", "Alpha Concept", "Alpha is the first test concept."),
    ("beta", "Beta Concept", "Beta is the second test concept."),
    ("gamma", "Gamma Concept", "Gamma is the third test concept."),
)
DRAFT_TEMPLATE_ID = "test-draft"
ESSAY_LLM_TEMPLATE_ID = "test-essay"
ESSAY_COPY_TEMPLATE_ID = "test-copy"
EVALUATION_TEMPLATE_ID = "test-eval"
MODEL_ID = "mock-model"

DRAFT_TEMPLATE = "{% for c in concepts %}{{ c.name }}: {{ c.content }}\n{% endfor %}"
ESSAY_TEMPLATE = "Write a short essay from these notes:\n{{ draft_block }}\n"
EVALUATION_TEMPLATE = "Rate this essay from 0 to 9.\n{{ response }}\nEnd with a line SCORE: <digit>.\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_minimal_data_root(root: Path) -> Path:
    """Write a small valid data root under ``root`` and return ``root``.

    3 active concepts (paragraph descriptions), 1 draft template, 2 essay templates (one llm
    using ``{{ draft_block }}``, one copy), 1 in_last_line evaluation template using
    ``{{ response }}``, 1 model ``mock-model`` (provider ``mock``) for generation and evaluation.
    """
    raw = root / "1_raw"
    _write(
        raw / "concepts_metadata.csv",
        "concept_id,name,active\n" + "".join(f"{cid},{name},true\n" for cid, name, _ in CONCEPTS),
    )
    for cid, _, text in CONCEPTS:
        _write(raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt", text + "\n")
    _write(
        raw / "draft_templates.csv",
        "template_id,template_name,description,active,parser\n"
        f"{DRAFT_TEMPLATE_ID},Test Draft,Lists the concepts,true,\n",
    )
    _write(raw / "generation_templates" / "draft" / f"{DRAFT_TEMPLATE_ID}.txt", DRAFT_TEMPLATE)
    _write(
        raw / "essay_templates.csv",
        "template_id,template_name,description,active,generator\n"
        f"{ESSAY_LLM_TEMPLATE_ID},Test Essay,Essay written by the model,true,llm\n"
        f"{ESSAY_COPY_TEMPLATE_ID},Test Copy,Essay copied from the draft,true,copy\n",
    )
    _write(raw / "generation_templates" / "essay" / f"{ESSAY_LLM_TEMPLATE_ID}.txt", ESSAY_TEMPLATE)
    _write(
        raw / "evaluation_templates.csv",
        "template_id,template_name,description,active,parser\n"
        f"{EVALUATION_TEMPLATE_ID},Test Evaluation,Score on the last line,true,in_last_line\n",
    )
    _write(raw / "evaluation_templates" / f"{EVALUATION_TEMPLATE_ID}.txt", EVALUATION_TEMPLATE)
    _write(
        raw / "llm_models.csv",
        "id,model,provider,display_name,for_generation,for_evaluation,specialization\n"
        f"{MODEL_ID},mock-model,mock,Mock Model,true,true,general\n",
    )
    return root


def write_wide_data_root(root: Path, *, concepts: int = 6, k_max: int = 2, provider: str = "openrouter") -> Path:
    """The minimal data root with more concepts and ``k_max`` (every k-combination): enough
    generations to keep several calls in flight. With the defaults: 15 drafts, 30 essays (15 of
    them copies), 30 evaluations; 60 distinct calls. ``provider`` is the model row's provider."""
    write_minimal_data_root(root)
    raw = root / "1_raw"
    for cid, _, _ in CONCEPTS:
        (raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt").unlink()
    rows = ["concept_id,name,active"]
    for i in range(concepts):
        cid = f"concept-{i:02d}"
        rows.append(f"{cid},Concept {i},true")
        _write(raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt", f"Concept {i} is test concept number {i}.\n")
    _write(raw / "concepts_metadata.csv", "\n".join(rows) + "\n")
    _write(root / "experiment.toml", f"k_max = {k_max}\nmin_draft_lines = 1\n")
    models = raw / "llm_models.csv"
    models.write_text(models.read_text().replace(f"{MODEL_ID},mock-model,mock,", f"{MODEL_ID},mock-model,{provider},"))
    return root
