"""Ranking a cohort's essays (``select --top``, ``@cohort:X top=N``) over rubrics of different scales."""

from __future__ import annotations

from pathlib import Path

import pytest

from daydreaming_dagster.cohort.named import essay_scores, essays_of_cohort
from daydreaming_dagster.engine.record import GenerationRecord, Status
from daydreaming_dagster.engine.store import METADATA, PARSED, RAW, GensStore

# Essay e1 is top on the 0-5 rubric, e2 nearly top on the 0-10 one: by raw points e2 leads (5.5
# against 5.0), as fractions of each scale e1 does (0.75 against 0.65).
SCORES = {("e1", "r5"): 5.0, ("e1", "r10"): 5.0, ("e2", "r5"): 2.0, ("e2", "r10"): 9.0}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    raw = tmp_path / "1_raw"
    raw.mkdir()
    (raw / "evaluation_templates.csv").write_text(
        "template_id,template_name,description,active,parser,score_min,score_max\n"
        "r5,R5,five,true,in_last_line,0,5\nr10,R10,ten,true,in_last_line,0,10\n"
    )
    tasks = tmp_path / "cohorts" / "A" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "essay_generation_tasks.csv").write_text("gen_id\ne1\ne2\n")
    rows = ["gen_id,parent_gen_id,evaluation_template"]
    store = GensStore(tmp_path)
    for (essay, rubric), score in SCORES.items():
        gen_id = f"v-{essay}-{rubric}"
        rows.append(f"{gen_id},{essay},{rubric}")
        store.write("evaluation", gen_id, RAW, f"SCORE: {score}")
        store.write("evaluation", gen_id, PARSED, f"{score}\n")
        record = GenerationRecord("evaluation", gen_id, template_id=rubric, status=Status.COMPLETE)
        store.write("evaluation", gen_id, METADATA, record.to_json())
    (tasks / "evaluation_tasks.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_over_every_rubric_essays_rank_by_fraction_of_each_scale(root: Path) -> None:
    assert essay_scores(root, "A") == {"e1": 5.0, "e2": 5.5}  # the raw means, as select prints them
    assert essay_scores(root, "A", fraction_of_scale=True) == pytest.approx({"e1": 0.75, "e2": 0.65})
    assert essays_of_cohort(root, "A", top=1) == ["e1"]


def test_by_one_rubric_essays_rank_by_its_score(root: Path) -> None:
    assert essays_of_cohort(root, "A", top=1, by="r10") == ["e2"]
    assert essays_of_cohort(root, "A", top=2, by="r5") == ["e1", "e2"]
