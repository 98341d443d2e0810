"""``daydream reparse`` after a parser change: no client built, no call, the right files change."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from daydreaming_dagster.cli import main
from tests.results.conftest import set_evaluation_parser


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "gens").rglob("*")) if p.is_file()}


@pytest.fixture
def no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a client or calling a provider fails the test."""
    import daydreaming_dagster.llm as llm

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("reparse must not build an LLM client")

    monkeypatch.setattr(llm, "build_llm_client", forbidden)
    monkeypatch.setattr(llm.LLMClient, "__init__", forbidden)


def test_reparse_after_parser_change(cohort_root: Path, no_llm: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reparse", "--data-root", str(cohort_root)]) == 0  # nothing changed yet
    before = _snapshot(cohort_root)
    assert all(not k.startswith(("5_", "6_")) for k in before)
    set_evaluation_parser(cohort_root, "complex")
    capsys.readouterr()

    assert main(["reparse", "--data-root", str(cohort_root)]) == 0
    out = capsys.readouterr().out
    after = _snapshot(cohort_root)
    changed = sorted(k for k in after if before.get(k) != after[k])
    assert changed == [
        "gens/evaluation/V21/metadata.json", "gens/evaluation/V21/parsed.txt",
        "gens/evaluation/V42/metadata.json", "gens/evaluation/V42/parsed.txt",
    ]
    assert after["gens/evaluation/V21/parsed.txt"] == b"7.0\n"
    assert after["gens/evaluation/V42/parsed.txt"] == b"5.0\n"
    meta = json.loads(after["gens/evaluation/V21/metadata.json"])
    (entry,) = meta["reparsed"]
    assert meta["parser"] == "complex" and entry["parser"] == "complex" and entry["previous_parser"] == "in_last_line"
    assert entry["previous_parsed"] == "3.0\n" and len(entry["previous_parsed_sha256"]) == 64 and entry["at"]
    assert meta["status"] == "complete" and meta["usage"]["cost"] == 0.001  # the rest is kept
    repaired = json.loads(after["gens/evaluation/V42/metadata.json"])
    assert repaired["status"] == "complete" and "error" not in repaired
    assert repaired["reparsed"][0]["previous_status"] == "failed"
    assert "in_last_line" in repaired["reparsed"][0]["previous_error"]["message"]
    assert "changed: evaluation V21" in out and "repaired: evaluation V42" in out

    scores = pd.read_csv(cohort_root / "5_parsing" / "parsed_scores.csv", dtype=str, keep_default_na=False)
    by_id = dict(zip(scores["gen_id"], scores["score"], strict=False))
    assert by_id == {"V11": "8.0", "V12": "9.0", "V21": "7.0", "V22": "6.0", "V31": "10.0", "V32": "10.0",
                     "V41": "5.0", "V42": "5.0"}
    assert (scores["error"] == "").all()
    assert (cohort_root / "6_summary" / "final_results.csv").is_file()
    assert (cohort_root / "7_reporting" / "report.html").is_file()

    capsys.readouterr()
    assert main(["reparse", "--data-root", str(cohort_root), "--stages", "evaluation"]) == 0  # idempotent
    assert {k: v for k, v in _snapshot(cohort_root).items() if k.startswith("gens/")} == after


def test_a_parse_that_fails_now_is_reported_and_keeps_the_files(
    cohort_root: Path, no_llm: None, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = cohort_root / "gens" / "evaluation" / "V11" / "raw.txt"
    raw.write_text("The reply was edited and has no score any more.")
    before = _snapshot(cohort_root)
    assert main(["reparse", "--data-root", str(cohort_root), "--stages", "evaluation"]) == 1
    out = capsys.readouterr().out
    assert "parse failed (files kept): evaluation V11 (in_last_line)" in out
    assert {k: v for k, v in _snapshot(cohort_root).items() if k.startswith("gens/")} == before


def test_changed_draft_reports_its_essays_as_stale(cohort_root: Path, no_llm: None, capsys: pytest.CaptureFixture[str]) -> None:
    csv = cohort_root / "1_raw" / "draft_templates.csv"
    csv.write_text(csv.read_text().replace("d1,D1,first,true,", "d1,D1,first,true,essay_block"))
    for draft in ("D1", "D3"):
        (cohort_root / "gens" / "draft" / draft / "raw.txt").write_text("notes\n<essay>The block.</essay>\nmore\n")
    assert main(["reparse", "--data-root", str(cohort_root), "--stages", "draft"]) == 0
    out = capsys.readouterr().out
    assert (cohort_root / "gens" / "draft" / "D1" / "parsed.txt").read_text() == "The block."
    assert "2 essay(s) were made from a re-parsed parent" in out and "--stages essay,evaluation --force" in out


def test_bad_stage_flag(cohort_root: Path) -> None:
    assert main(["reparse", "--data-root", str(cohort_root), "--stages", "nope"]) == 2
