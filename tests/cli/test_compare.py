"""``daydream compare`` on the hand-built cohort (tests/results/conftest.py): text, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.results.conftest import build_cohort


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
    # c1: 3-8, 6-9 -> -4; c2: 5-10 (m1 only) -> -5. Mean -4.5 over 2 pairs.
    assert "B - A: -4.50" in out and "2 pairs" in out
    assert "d2 lower than d1 by 4.50" in " ".join(out.split())


def test_json_has_the_documented_keys(cohort_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _compare(capsys, "--data-root", str(cohort_root), "--factor", "evaluation_model",
                         "--levels", "m1,m2", "--json")
    assert code == EXIT_OK
    data = json.loads(out)
    assert {"difference", "ci_low", "ci_high", "pairs", "method"} <= set(data)
    assert data["a"] == {"level": "m1", "mean": 7.0, "n": 3} and data["b"]["level"] == "m2"
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
