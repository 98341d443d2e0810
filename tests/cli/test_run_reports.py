"""What ``daydream run`` says so that nothing costing money happens silently, and its exit paths:
fallback descriptions, a changed cohort id, orphaned folders, grouped failures, sloppy CSVs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_FAILED, EXIT_OK, main
from daydreaming_dagster.cohort.tasks import TABLE_FILES
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.sample_data import write_wide_data_root


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        yield srv


def _run(root: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    code = main(["run", "--data-root", str(root), "--quiet", *flags])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, " ".join(captured.out.split())


def test_a_misnamed_description_file_is_a_warning_naming_it(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)
    folder = root / "1_raw" / "concepts" / "descriptions-paragraph"
    (folder / "concept-01.txt").rename(folder / "concept_01.txt")
    code, out = _run(root, capsys)
    assert code == EXIT_OK
    assert "no description at level 'paragraph'" in out and "concept-01 (shows its name)" in out
    assert "concept_01.txt" in out  # the likely misnamed file
    assert "1 concept(s) were shown with a fallback description" in out  # repeated in the summary


def test_adding_a_concept_explains_the_cohort_change_and_reports_orphans(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)
    assert _run(root, capsys)[0] == EXIT_OK
    first_calls = server.completion_count
    with (root / "1_raw" / "concepts_metadata.csv").open("a") as fh:
        fh.write("concept-09,Concept 9,true\n")
    (root / "1_raw" / "concepts" / "descriptions-paragraph" / "concept-09.txt").write_text("Nine.\n")
    code, out = _run(root, capsys)
    assert code == EXIT_OK
    assert re.search(r"The cohort id changed from cohort-\w+ to cohort-\w+ \(concept `concept-09` added\)\. ", out), out
    assert "Generations with new ids: 3 draft, 6 essay, 12 evaluation; 6 of them will be served from the response cache" in out
    # The 6 old evaluations got new ids: served from the cache, counted apart from paid calls.
    assert "reused from the response cache (no cost) 6" in out
    assert server.completion_count == first_calls + 3 + 3 + 6
    assert "6 evaluation generation folder(s)" in out and "daydream orphans --data-root" in out

    assert main(["orphans", "--data-root", str(root)]) == EXIT_OK
    listed = capsys.readouterr().out
    assert "6 generation folder(s) that no cohort lists found" in listed
    assert len(list((root / "gens" / "evaluation").iterdir())) == 18  # listing deletes nothing
    assert main(["orphans", "--data-root", str(root), "--delete"]) == EXIT_OK
    assert len(list((root / "gens" / "evaluation").iterdir())) == 12


def test_plan_warns_like_run_naming_what_changed(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)
    assert _run(root, capsys)[0] == EXIT_OK
    raw = root / "1_raw"
    with (raw / "concepts_metadata.csv").open("a") as fh:
        fh.write("concept-09,Concept 9,true\n")
    (raw / "concepts" / "descriptions-paragraph" / "concept-09.txt").write_text("Nine.\n")
    with (raw / "llm_models.csv").open("a") as fh:
        fh.write("judge,mock-judge,openrouter,Judge,false,true,general\n")
    with (raw / "draft_templates.csv").open("a") as fh:
        fh.write("second-draft,Second Draft,Lists the concepts again,true,\n")
    (raw / "generation_templates" / "draft" / "second-draft.txt").write_text("{% for c in concepts %}{{ c.name }}\n{% endfor %}")
    what = "(concept `concept-09` added; evaluation model `judge` added; draft template `second-draft` added)"

    assert main(["plan", "--data-root", str(root)]) == EXIT_OK
    plan_out = " ".join(capsys.readouterr().out.split())
    assert re.search(rf"warning: The cohort id changed from cohort-\w+ to cohort-\w+ {re.escape(what)}\. ", plan_out)
    assert "Generations with new ids: 9 draft, 18 essay, 48 evaluation" in plan_out
    code, run_out = _run(root, capsys)
    assert code == EXIT_OK
    assert plan_out.split("warning: The cohort id")[1].split(".")[0] in run_out  # the same words


def test_one_cause_gives_one_grouped_line(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=4)
    (root / "experiment.toml").write_text("k_max = 2\nmin_draft_lines = 50\n")  # every draft is too short
    code, out = _run(root, capsys)
    assert code == EXIT_FAILED
    assert out.count("failed ×") == 1
    assert "failed ×6: draft shorter than min_draft_lines (50)" in out
    assert re.search(r"\(e\.g\. draft \w+\)", out)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("daydreaming_dagster.cohort.pipeline.save_task_tables", broken)
    assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "internal error: OSError: disk full" in captured.err and "Traceback" not in captured.err
    with pytest.raises(OSError, match="disk full"):
        main(["--debug", "run", "--data-root", str(root), "--quiet"])


def test_argparse_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--concurrency", "many"])
    assert exc.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_csvs_saved_by_a_spreadsheet_give_the_same_ids(tmp_path: Path) -> None:
    from daydreaming_dagster.cohort.pipeline import load_cohort
    from daydreaming_dagster.cohort.tasks import csv_text
    from daydreaming_dagster.core.config import load_experiment_config

    clean = write_wide_data_root(tmp_path / "clean", concepts=4)
    sloppy = write_wide_data_root(tmp_path / "sloppy", concepts=4)
    for path in (sloppy / "1_raw").glob("*.csv"):
        rows = path.read_text().splitlines()
        rows = [rows[0]] + [",".join(f" {c} " if c in ("true", "false") else c for c in r.split(",")) for r in rows[1:]]
        path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    tables = [load_cohort(r, load_experiment_config(r)).tables for r in (clean, sloppy)]
    for attr in TABLE_FILES:
        assert csv_text(getattr(tables[0], attr)) == csv_text(getattr(tables[1], attr)), attr
