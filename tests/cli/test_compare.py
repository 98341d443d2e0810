"""``daydream compare`` on the hand-built cohort (tests/results/conftest.py): text, JSON, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.results.conftest import build_cohort
from tests.results.test_html_report import _payload


@pytest.fixture
def cohort_root(tmp_path: Path) -> Path:
    return build_cohort(tmp_path / "data")


def _compare(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    code = main(["compare", *flags])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_two_draft_templates_paired_on_combinations(cohort_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _compare(capsys, "--data-root", str(cohort_root), "--factor", "draft_template", "--levels", "d1,d2")
    assert code == EXIT_OK
    # d1: E1 (8, 9) and E3 (10, 10); d2: E2 (3, 6) and E4 (5; m2 failed). Per combination and grader:
    # c1: 3-8, 6-9 -> -4; c2: 5-10 (m1 only) -> -5. Mean -4.5 over 2 pairs; sd 0.707, so the
    # t-interval with 1 degree of freedom is -4.5 -+ 12.706 * 0.5 and t = -9 gives p = 0.0704:
    # interval and p-value agree that 2 pairs cannot show a difference.
    assert "B - A: -4.50 [-10.85, 1.85], 2 pairs, p = 0.0704" in out
    assert "no detectable difference: d2 - d1 = -4.50 [-10.85, 1.85] on 2 pairs" in " ".join(out.split())


def test_json_has_the_documented_keys(cohort_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _compare(capsys, "--data-root", str(cohort_root), "--factor", "evaluation_model",
                         "--levels", "m1,m2", "--json")
    assert code == EXIT_OK
    data = json.loads(out)
    assert {"difference", "ci_low", "ci_high", "pairs", "method"} <= set(data)
    assert {k: data["a"][k] for k in ("level", "mean", "n")} == {"level": "m1", "mean": 7.0, "n": 3}
    assert data["a"]["ci_low"] < 7.0 < data["a"]["ci_high"] and data["b"]["level"] == "m2"
    assert data["pairs"] == 3 and data["unit"] == "essay_gen_id"  # E1, E2, E3: both graders scored them
    assert data["difference"] == pytest.approx(4 / 3, abs=1e-4)
    assert "same essay, same rubric" in data["method"]


@pytest.mark.parametrize("flags", [["--cohort", "A", "--against", "B"], ["--cohort", "A", "--factor",
                                                                           "draft_template", "--levels", "d1,d2"]])
def test_a_cohort_that_never_ran_is_exit_2_naming_the_command_that_makes_it(
    cohort_root: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    code, out = _compare(capsys, "--data-root", str(cohort_root), *flags)
    assert code == EXIT_BAD_INPUT and "Nothing to compare" in out and "--cohort A` first" in out


@pytest.mark.parametrize(("flags", "message"), [
    (["--factor", "draft_template", "--levels", "d1,zz"], "zz has no score in draft_template"),
    (["--factor", "draft_template", "--levels", "d1"], "give --factor COLUMN and --levels X,Y"),
    (["--levels", "d1,d2"], "give --factor COLUMN and --levels X,Y"),
])
def test_bad_flags_exit_2_with_a_fix(cohort_root: Path, capsys: pytest.CaptureFixture[str],
                                     flags: list[str], message: str) -> None:
    code, out = _compare(capsys, "--data-root", str(cohort_root), *flags)
    assert code == EXIT_BAD_INPUT and message in out and "Fix:" in out


def test_no_task_tables_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _compare(capsys, "--data-root", str(tmp_path), "--factor", "draft_template", "--levels", "a,b")
    assert code == EXIT_BAD_INPUT and "daydream run" in out


def test_the_cli_offers_the_factors_the_statistics_know() -> None:
    from daydreaming_dagster.cli.compare import FACTORS as CLI_FACTORS
    from daydreaming_dagster.results.compare import FACTORS

    assert CLI_FACTORS == FACTORS


def _named_cohort(root: Path, name: str, draft_template: str) -> None:
    """Cohort ``name``: the fixture's generations of one draft template, with their task tables."""
    tasks = root / "cohorts" / name / "tasks"
    shutil.copytree(root / "2_tasks", tasks)
    rows = []
    for stage, table in (("draft", "draft_generation_tasks.csv"), ("essay", "essay_generation_tasks.csv"),
                         ("evaluation", "evaluation_tasks.csv")):
        frame = pd.read_csv(tasks / table, dtype=str)
        rows += [(stage, g) for g in frame.loc[frame["draft_template"] == draft_template, "gen_id"]]
    pd.DataFrame(rows, columns=["stage", "gen_id"]).to_csv(root / "cohorts" / name / "membership.csv", index=False)


def test_two_cohorts_with_different_draft_templates_are_paired_saved_and_reported(
    cohort_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cohort A made its drafts with d1, B with d2: they share combinations, rubric and graders."""
    _named_cohort(cohort_root, "A", "d1")
    _named_cohort(cohort_root, "B", "d2")
    code, out = _compare(capsys, "--data-root", str(cohort_root), "--cohort", "A", "--against", "B")
    assert code == EXIT_OK, out
    text = " ".join(out.split())
    assert "B - A: -4.50 [-10.85, 1.85], 2 pairs, p = 0.0704" in text  # as the two levels inside one cohort
    assert "note: draft_template differs (A: d1; B: d2), averaged within each combination" in text
    saved = cohort_root / "cohorts" / "B" / "6_summary" / "compare_A.csv"
    assert f"Written: {saved}" in text
    table = pd.read_csv(saved)
    assert (table["level_a"].iloc[0], table["level_b"].iloc[0], table["pairs"].iloc[0]) == ("A", "B", 2)
    assert table["difference"].iloc[0] == -4.5
    pairs = pd.read_csv(cohort_root / "cohorts" / "B" / "6_summary" / "compare_A.pairs.csv")
    assert sorted(pairs["difference"]) == [-5.0, -4.0]
    # --json: stdout is the JSON alone (the file's path goes to stderr)
    assert main(["compare", "--data-root", str(cohort_root), "--cohort", "A", "--against", "B", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["difference"] == -4.5 and "Written:" in captured.err
    # B's report shows the comparison, with its difference plot
    assert main(["report", "--data-root", str(cohort_root), "--cohort", "B"]) == EXIT_OK
    html = (cohort_root / "cohorts" / "B" / "7_reporting" / "report.html").read_text(encoding="utf-8")
    payload = _payload(html)
    shown = dict(zip(payload["cohort_comparisons"]["columns"], payload["cohort_comparisons"]["rows"][0], strict=True))
    assert (shown["level_a"], shown["level_b"], shown["difference"], shown["pairs"]) == ("A", "B", -4.5, 2)
    (figure,) = [f for f in payload["figures"] if f["section"] == "cohorts"]
    assert figure["caption"] == [table["sentence"].iloc[0]]
    assert sorted(figure["figure"]["data"][0]["x"]) == [-5.0, -4.0]


def test_a_missing_p_value_prints_n_a_not_nan(capsys: pytest.CaptureFixture[str]) -> None:
    from daydreaming_dagster.cli._common import make_console
    from daydreaming_dagster.cli.compare import _show
    from daydreaming_dagster.results.compare import compare_factor
    from tests.results.synthetic import score_frame

    one_pair = score_frame([{"essay": "E1", "combo": "c1", "draft_template": "x", "score": 4.0},
                            {"essay": "E2", "combo": "c1", "draft_template": "y", "score": 5.0}])
    assert _show(make_console(), compare_factor(one_pair, "draft_template", "x", "y"), False) == EXIT_OK
    out = capsys.readouterr().out
    assert "B - A: +1.00 [n/a, n/a], 1 pairs, p n/a" in out and "nan" not in out
    assert "too few to compare (1 pairs (same combination))" in out
