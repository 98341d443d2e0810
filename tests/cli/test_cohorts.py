"""Experiments, not one cohort (issue 18): named cohorts on one data root share generations, keep
their own results, answer to a study budget, and rescore the best essays without regenerating.
Every test runs the real CLI against the fake OpenAI-compatible server, which counts and bills
every completion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_OK, main
from daydreaming_dagster.cohort.budget import read_spend
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.sample_data import MODEL_ID
from tests.cli.test_money_safe import PRICES, priced_root, server_paid

AXES = ["combo_id", "draft_template", "draft_llm", "essay_template", "essay_llm", "evaluation_template", "evaluation_llm"]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=PRICES) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        yield srv


def study_root(path: Path) -> Path:
    """The priced wide root (4 concepts: 6 combos) with a second rubric, ``test-eval-2``."""
    root = priced_root(path, concepts=4)
    raw = root / "1_raw"
    with open(raw / "evaluation_templates.csv", "a") as fh:
        fh.write("test-eval-2,Second rubric,Another score,false,in_last_line\n")
    (raw / "evaluation_templates" / "test-eval-2.txt").write_text(
        "Rate the originality of this essay from 0 to 9.\n{{ response }}\nEnd with a line SCORE: <digit>.\n"
    )
    return root


def combos(root: Path) -> list[str]:
    """The combos of the default cohort (also in the data root's combo catalog after a run)."""
    assert main(["plan", "--data-root", str(root), "--json", "--stages", "draft"]) in (EXIT_OK, 2)
    catalog = (root / "combo_mappings.csv").read_text().splitlines()[1:] if (root / "combo_mappings.csv").exists() else []
    return sorted({line.split(",")[0] for line in catalog})


def write_spec(root: Path, name: str, **axes: list[str] | str) -> Path:
    spec = root / "cohorts" / name / "spec" / "config.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    lines = ["axes:"]
    for axis, levels in axes.items():
        lines.append(f"  {axis}: " + (f"'{levels}'" if isinstance(levels, str) else "[" + ", ".join(levels) + "]"))
    lines.append("output:")
    lines.append("  field_order: [" + ", ".join(a for a in AXES + ["essay_gen_id"] if a in axes) + "]")
    spec.write_text("\n".join(lines) + "\n")
    return spec


def run(root: Path, *flags: str) -> int:
    return main(["run", "--data-root", str(root), "--quiet", *flags])


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def membership(root: Path, name: str) -> set[tuple[str, str]]:
    lines = (root / "cohorts" / name / "membership.csv").read_text().splitlines()
    assert lines[0] == "stage,gen_id"
    return {tuple(line.split(",")) for line in lines[1:]}  # type: ignore[misc]


def test_two_cohorts_share_generations_pay_once_and_keep_their_own_results(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    assert run(root, "--stages", "draft") == EXIT_OK  # the default cohort fills the combo catalog
    before = server.completion_count
    found = combos(root)
    base = {"draft_template": ["test-draft"], "draft_llm": [MODEL_ID], "essay_template": ["test-essay"],
            "essay_llm": [MODEL_ID], "evaluation_llm": [MODEL_ID]}
    write_spec(root, "a", combo_id=found[:3], evaluation_template=["test-eval"], **base)
    write_spec(root, "b", combo_id=found[:4], evaluation_template=["test-eval", "test-eval-2"], **base)

    assert run(root, "--cohort", "a") == EXIT_OK
    paid_a = server.completion_count - before
    a_files = tree(root / "cohorts" / "a")
    assert run(root, "--cohort", "b") == EXIT_OK
    paid_b = server.completion_count - before - paid_a

    # A: 3 drafts (answered by the default cohort's cache: same prompts), 3 essays, 3 evaluations.
    assert paid_a == 3 + 3
    # B pays only what A did not make: 1 draft-combo's essay and evaluations, and the new rubric.
    assert paid_b == 1 + 1 + 4  # essay of combo 4, its test-eval, 4 test-eval-2 evaluations
    assert server.duplicate_completions() == {}
    assert tree(root / "cohorts" / "a") == a_files  # A's results byte-identical after B ran
    shared = membership(root, "a") & membership(root, "b")
    assert {s for s, _ in shared} == {"draft", "essay", "evaluation"} and len(shared) == 9
    for stage, gen_id in shared:  # one folder each, on disk once
        assert (root / "gens" / stage / gen_id / "metadata.json").is_file()
    spend = read_spend(root, "b")
    assert spend.study.total == pytest.approx(server_paid(server), rel=1e-9)

    capsys.readouterr()
    assert main(["cohorts", "--data-root", str(root), "--json"]) == EXIT_OK
    listed = {c["cohort"]: c for c in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"default", "a", "b"}
    assert listed["b"]["generations"]["evaluation"] == {"done": 8}
    assert listed["a"]["last_run"]["exit"] == EXIT_OK
    assert listed["b"]["spent_usd"] == pytest.approx(read_spend(root, "b").spent)

    assert main(["export", "--data-root", str(root), "--cohort", "a"]) == EXIT_OK
    rows = (root / "cohorts" / "a" / "7_reporting" / "generations.jsonl").read_text().splitlines()
    assert rows and all(json.loads(r)["cohort"] == "a" for r in rows)
    assert (root / "cohorts" / "b" / "7_reporting" / "report.html").is_file()
    capsys.readouterr()
    assert main(["report", "--data-root", str(root), "--cohort", "a"]) == EXIT_OK  # rebuilt from A's membership
    assert "cohorts/a/7_reporting/report.html" in capsys.readouterr().out

    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--cohort", "b", "--json"]) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    gens = plan["generations"]
    assert len(gens) == 4 + 4 + 8 and all(g["complete"] for g in gens)
    assert {g["stage"] for g in gens} == {"draft", "essay", "evaluation"}
    evaluation = next(g for g in gens if g["stage"] == "evaluation")
    assert evaluation["parent_gen_id"].startswith("e_") and evaluation["evaluation_template"]


def test_rescoring_the_top_5_essays_pays_only_the_new_evaluations(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    assert run(root) == EXIT_OK  # the default cohort: 6 llm essays + 6 copies, one rubric
    paid = server.completion_count
    capsys.readouterr()
    assert main(["select", "--data-root", str(root), "--top", "5", "--into", "rescore"]) == EXIT_OK
    spec = root / "cohorts" / "rescore" / "spec" / "config.yaml"
    assert "essay_gen_id: '@file:items/essays.csv'" in spec.read_text()
    assert len((spec.parent / "items" / "essays.csv").read_text().splitlines()) == 1 + 5
    spec.write_text(spec.read_text().replace("evaluation_template: [test-eval]", "evaluation_template: [test-eval-2]"))
    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--cohort", "rescore", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["totals"]["to_call"] == 5
    assert run(root, "--cohort", "rescore") == EXIT_OK
    assert server.completion_count - paid == 5 * 1 * 1 * 1  # 5 essays x 1 rubric x 1 grader x 1 replicate
    members = membership(root, "rescore")
    assert sum(1 for s, _ in members if s == "essay") == 5 and sum(1 for s, _ in members if s == "evaluation") == 5


def test_a_spec_can_take_the_top_essays_of_another_cohort_directly(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = study_root(tmp_path / "data")
    assert run(root) == EXIT_OK
    paid = server.completion_count
    write_spec(root, "best3", essay_gen_id="@cohort:default top=3", evaluation_template=["test-eval-2"],
               evaluation_llm=[MODEL_ID])
    assert run(root, "--cohort", "best3") == EXIT_OK
    assert server.completion_count - paid == 3


def test_a_study_cap_stops_a_second_cohort_and_a_cohort_cap_is_never_refunded(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    assert run(root) == EXIT_OK
    spent_default = read_spend(root).spent
    found = combos(root)
    write_spec(root, "more", combo_id=found, draft_template=["test-draft"], draft_llm=[MODEL_ID],
               essay_template=["test-essay"], essay_llm=[MODEL_ID], evaluation_template=["test-eval-2"],
               evaluation_llm=[MODEL_ID])
    cap = 1.1 * spent_default  # the new rubric alone would cost about a quarter more
    capsys.readouterr()
    assert run(root, "--cohort", "more", "--max-study-cost", repr(cap)) == EXIT_BUDGET
    out = capsys.readouterr().out
    assert "the data root (every cohort)" in out and "--max-study-cost USD" in out
    # What the rest costs: the plan of this cohort, not of the default one.
    assert f"What the rest costs: daydream plan --data-root {root} --cohort more" in out
    assert spent_default < server_paid(server) <= cap * (1 + 1e-9)

    # The default cohort's cap counts every payment its runs made, whatever its inputs became:
    # adding a concept changes its evaluation ids, but not what it has spent.
    raw = root / "1_raw"
    with open(raw / "concepts_metadata.csv", "a") as fh:
        fh.write("concept-09,Concept 9,true\n")
    (raw / "concepts" / "descriptions-paragraph" / "concept-09.txt").write_text("Concept 9.\n")
    capsys.readouterr()
    assert run(root, "--max-cost", repr(spent_default)) == EXIT_BUDGET  # nothing refunded: no room
    out = capsys.readouterr().out
    assert f"What the rest costs: daydream plan --data-root {root}" in out and "--cohort" not in out
    assert read_spend(root).spent == pytest.approx(spent_default)


BASE_AXES: dict[str, list[str]] = {
    "draft_template": ["test-draft"], "draft_llm": [MODEL_ID], "essay_template": ["test-essay"],
    "essay_llm": [MODEL_ID], "evaluation_llm": [MODEL_ID],
}


def test_cohorts_counts_a_spec_that_has_not_run_from_its_plan(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    assert run(root, "--stages", "draft") == EXIT_OK
    found = combos(root)
    write_spec(root, "a", combo_id=found[:3], evaluation_template=["test-eval"], **BASE_AXES)
    assert run(root, "--cohort", "a") == EXIT_OK
    write_spec(root, "fresh", combo_id=found[:4], evaluation_template=["test-eval"], **BASE_AXES)  # a's 3 + 1 new
    write_spec(root, "broken", combo_id=found[:1], evaluation_template=["nosuch"], **BASE_AXES)
    paid = server.completion_count
    assert main(["plan", "--data-root", str(root), "--cohort", "fresh"]) == EXIT_OK

    capsys.readouterr()
    assert main(["cohorts", "--data-root", str(root), "--json"]) == EXIT_OK
    listed = {c["cohort"]: c for c in json.loads(capsys.readouterr().out)}
    fresh = listed["fresh"]
    # Not "- - -": its generations, planned now from its spec; a's three are done (the same folders).
    assert fresh["generations"] == {stage: {"done": 3, "missing": 1} for stage in ("draft", "essay", "evaluation")}
    assert fresh["planned"] is True and fresh["last_run"] is None and fresh["problem"] is None
    assert listed["a"]["planned"] is False and listed["a"]["generations"]["evaluation"] == {"done": 3}
    assert listed["broken"]["planned"] is True and "nosuch" in listed["broken"]["problem"]
    assert listed["broken"]["generations"] == {"draft": {}, "essay": {}, "evaluation": {}}
    assert not (root / "cohorts" / "fresh" / "membership.csv").exists()  # planning writes nothing
    assert server.completion_count == paid  # and calls nothing

    assert main(["cohorts", "--data-root", str(root)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "3/0/1" in out and "not run (planned)" in out and "not run (spec error)" in out
    assert "cannot be planned:" in out and "nosuch" in out


def test_reparse_of_a_cohort_touches_only_its_members_and_names_the_other_cohorts(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    assert run(root, "--stages", "draft") == EXIT_OK  # the default cohort: 6 drafts of its own ids
    found = combos(root)
    write_spec(root, "a", combo_id=found[:3], evaluation_template=["test-eval"], **BASE_AXES)
    write_spec(root, "b", combo_id=found[1:5], evaluation_template=["test-eval"], **BASE_AXES)  # shares 2 with a
    assert run(root, "--cohort", "a") == EXIT_OK and run(root, "--cohort", "b") == EXIT_OK
    b_files = tree(root / "cohorts" / "b")
    drafts_csv = root / "1_raw" / "draft_templates.csv"  # a parser for the draft template: parsed.txt changes
    drafts_csv.write_text(drafts_csv.read_text().replace("Lists the concepts,true,\n", "Lists the concepts,true,essay_idea_last\n"))

    capsys.readouterr()
    assert main(["reparse", "--data-root", str(root), "--cohort", "a", "--stages", "draft"]) == EXIT_OK
    out = capsys.readouterr().out
    reparsed = {
        path.parent.name for path in (root / "gens" / "draft").glob("*/metadata.json")
        if json.loads(path.read_text()).get("reparsed")
    }
    assert reparsed == {g for stage, g in membership(root, "a") if stage == "draft"}  # not b's 4th, not default's 6
    assert "Re-parse of cohort a" in out
    assert "2 re-parsed generation(s) are also in cohort b" in out
    assert f"Refresh them with: daydream report --data-root {root} --cohort b" in out
    assert "cohort default" not in out  # its drafts have ids of their own: none was re-parsed
    assert f"daydream run --data-root {root} --cohort a --stages essay,evaluation --force" in out
    assert tree(root / "cohorts" / "b") == b_files  # re-parsing a never writes b's files

    capsys.readouterr()
    assert main(["reparse", "--data-root", str(root), "--stages", "draft"]) == EXIT_OK  # the whole data root
    out = capsys.readouterr().out
    # Now b's 2 drafts that a does not list, and the default cohort's 6 (its own tables are refreshed).
    assert "2 re-parsed generation(s) are also in cohort b" in out and "cohort default" not in out
    assert "cohort a:" not in out and "also in cohort a" not in out  # a's drafts were re-parsed already


def test_plan_json_names_each_stages_template_model_and_replicate(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    with open(root / "1_raw" / "llm_models.csv", "a") as fh:  # a second grader/writer (same served model)
        fh.write("mock-2,vendor/gen-a,openrouter,Mock Two,false,false,general\n")
    spec = write_spec(root, "lineage", combo_id="@combos:concept-00,concept-01,concept-02 k=2", draft_template=["test-draft"], draft_llm=[MODEL_ID],
                      essay_template=["test-essay"], essay_llm=["mock-2"], evaluation_template=["test-eval"],
                      evaluation_llm=["mock-2"])
    text = spec.read_text().replace("output:", "  draft_replicate: [1, 2]\n  evaluation_replicate: [1, 2]\noutput:")
    spec.write_text(text.replace("evaluation_llm]", "evaluation_llm, draft_replicate, evaluation_replicate]"))

    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--cohort", "lineage", "--json"]) == EXIT_OK
    gens = json.loads(capsys.readouterr().out)["generations"]
    by_stage = {stage: [g for g in gens if g["stage"] == stage] for stage in ("draft", "essay", "evaluation")}
    assert [len(v) for v in by_stage.values()] == [6, 6, 12]  # 3 combos x 2 draft replicates; x 2 evaluation replicates
    for g in by_stage["evaluation"]:
        assert (g["draft_model"], g["essay_model"], g["evaluation_model"]) == (MODEL_ID, "mock-2", "mock-2")
        assert g["model_id"] == "mock-2" and g["replicate"] == g["evaluation_replicate"]
        assert g["draft_template"] == "test-draft" and g["essay_template"] == "test-essay"
    assert {(g["draft_replicate"], g["essay_replicate"], g["evaluation_replicate"]) for g in by_stage["evaluation"]} == {
        (1, 1, 1), (1, 1, 2), (2, 1, 1), (2, 1, 2)
    }
    essay = by_stage["essay"][0]
    assert (essay["draft_model"], essay["essay_model"], essay["evaluation_model"]) == (MODEL_ID, "mock-2", "")
    assert essay["evaluation_replicate"] is None and essay["essay_replicate"] == 1
    draft = by_stage["draft"][0]
    assert (draft["draft_model"], draft["essay_model"], draft["essay_replicate"]) == (MODEL_ID, "", None)
    # The default cohort's rows name them too (one generation model for draft and essay, as upstream).
    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--json"]) == EXIT_OK
    evaluation = next(g for g in json.loads(capsys.readouterr().out)["generations"] if g["stage"] == "evaluation")
    assert evaluation["draft_model"] == evaluation["essay_model"] == evaluation["evaluation_model"] == MODEL_ID
    assert (evaluation["draft_replicate"], evaluation["essay_replicate"], evaluation["evaluation_replicate"]) == (1, 1, 1)


def test_select_by_an_unknown_rubric_names_the_cohorts_rubrics(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = study_root(tmp_path / "data")
    assert run(root) == EXIT_OK  # the default cohort, one rubric: test-eval
    capsys.readouterr()
    assert main(["select", "--data-root", str(root), "--top", "3", "--by", "nosuch", "--into", "x"]) == EXIT_BAD_INPUT
    out = capsys.readouterr().out
    assert "--by nosuch: cohort default has no evaluation template 'nosuch'; its rubrics: test-eval" in out
    assert "no essay" not in out and not (root / "cohorts" / "x").exists()
    assert main(["select", "--data-root", str(root), "--top", "3", "--by", "test-eval", "--into", "x"]) == EXIT_OK
    assert len((root / "cohorts" / "x" / "spec" / "items" / "essays.csv").read_text().splitlines()) == 1 + 3
    # The same check for a spec's '@cohort:' reference.
    write_spec(root, "y", essay_gen_id="@cohort:default top=3 by=nosuch", evaluation_template=["test-eval-2"],
               evaluation_llm=[MODEL_ID])
    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--cohort", "y"]) == EXIT_BAD_INPUT
    out = capsys.readouterr().out
    assert "has no evaluation template 'nosuch' to rank by (its rubrics: test-eval)" in out and "by=test-eval" in out


def test_export_rows_name_the_cohort_and_its_id_so_exports_before_and_after_an_input_change_differ(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    root = study_root(tmp_path / "data")

    def exported() -> list[dict[str, object]]:
        assert main(["export", "--data-root", str(root)]) == EXIT_OK
        return [json.loads(line) for line in (root / "7_reporting" / "generations.jsonl").read_text().splitlines()]

    def table_cohort_id() -> str:
        lines = (root / "2_tasks" / "evaluation_tasks.csv").read_text().splitlines()
        return lines[1].split(",")[lines[0].split(",").index("cohort_id")]

    assert run(root) == EXIT_OK
    before, before_id = exported(), table_cohort_id()
    assert before_id.startswith("cohort-")
    assert before and all(r["cohort"] == "default" and r["cohort_id"] == before_id for r in before)
    raw = root / "1_raw"  # a fifth concept: new inputs, a new cohort id
    with open(raw / "concepts_metadata.csv", "a") as fh:
        fh.write("concept-09,Concept 9,true\n")
    (raw / "concepts" / "descriptions-paragraph" / "concept-09.txt").write_text("Concept 9.\n")
    assert run(root) == EXIT_OK
    after = exported()
    assert table_cohort_id() != before_id
    assert all(r["cohort"] == "default" and r["cohort_id"] == table_cohort_id() for r in after)

    write_spec(root, "named", essay_gen_id="@cohort:default top=2", evaluation_template=["test-eval"],
               evaluation_llm=[MODEL_ID])
    assert run(root, "--cohort", "named") == EXIT_OK
    assert main(["export", "--data-root", str(root), "--cohort", "named"]) == EXIT_OK
    rows = [json.loads(line) for line in (root / "cohorts" / "named" / "7_reporting" / "generations.jsonl").read_text().splitlines()]
    assert rows and all(r["cohort"] == "named" and r["cohort_id"] == "named" for r in rows)
