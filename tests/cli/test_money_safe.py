"""Money-safe everywhere (issue 16): a full disk, several capped runs on one data root, damaged
files, read-only roots and templates that cannot be right never lose a paid answer, pay twice,
overspend or end in an internal error. Every test runs the real CLI against the project's fake
OpenAI-compatible server, which counts every paid completion and bills it at its prices."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_FAILED, EXIT_OK, main
from daydreaming_dagster.cohort.budget import read_spend
from daydreaming_dagster.engine import store as store_module
from daydreaming_dagster.engine.ledger import PaymentJournal
from daydreaming_dagster.results.consistency import PAID_OUTSIDE_ROW
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import canned_compat_usage
from daydreaming_dagster.testing.sample_data import write_wide_data_root

MODEL = "vendor/gen-a"
PRICES = {MODEL: (1e-6, 1e-5)}
DISTINCT_CALLS = 60  # write_wide_data_root: 15 drafts + 15 llm essays + 30 evaluations


def priced_root(path: Path, *, concepts: int = 6) -> Path:
    """The wide data root on one priced remote model; max_tokens 64 (the fake answers 50 tokens),
    so a call's worst case is close to its real cost."""
    root = write_wide_data_root(path, concepts=concepts)
    models = root / "1_raw" / "llm_models.csv"
    models.write_text(models.read_text().replace(",mock-model,openrouter,", f",{MODEL},openrouter,"))
    with open(root / "experiment.toml", "a") as fh:
        fh.write("draft_generation_max_tokens = 64\nessay_generation_max_tokens = 64\nevaluation_max_tokens = 64\n")
    return root


def server_paid(server: FakeOpenAIServer) -> float:
    """What the server billed: every completion it answered, at its prices (counted on its side)."""
    total = 0.0
    for (model, prompt), count in server.completions_by_call().items():
        usage = canned_compat_usage(prompt)
        prompt_price, completion_price = PRICES[model]
        assert prompt_price is not None and completion_price is not None
        total += count * ((usage.prompt_tokens or 0) * prompt_price + (usage.completion_tokens or 0) * completion_price)
    return total


def run(root: Path, *flags: str) -> int:
    return main(["run", "--data-root", str(root), "--quiet", *flags])


def cli(root: Path, server: FakeOpenAIServer, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "daydreaming_dagster.cli", "run", "--data-root", str(root), "--quiet", *flags],
        env={**os.environ, "DD_LLM_BASE_URL": server.base_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=PRICES) as srv:
        monkeypatch.setenv("DD_LLM_BASE_URL", srv.base_url)
        yield srv


def _no_internal_error(text: str) -> None:
    assert "internal error" not in text and "Traceback" not in text, text


# ------------------------------------------------------------------------------- several processes


def _full_price(tmp_path: Path) -> float:
    root = priced_root(tmp_path / "full")
    with FakeOpenAIServer(models=PRICES) as srv:
        proc = cli(root, srv)
        out = proc.communicate(timeout=240)[0]
        assert proc.returncode == EXIT_OK, out
        return server_paid(srv)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_capped_runs_together_stay_within_the_cap(tmp_path: Path, processes: int) -> None:
    cap = 0.4 * _full_price(tmp_path)
    root = priced_root(tmp_path / "data")
    with FakeOpenAIServer(models=PRICES, latency_s=0.2) as srv:
        runs = [cli(root, srv, "--concurrency", "4", "--max-cost", repr(cap)) for _ in range(processes)]
        outputs = [r.communicate(timeout=240)[0] for r in runs]
        for r, out in zip(runs, outputs, strict=True):
            assert r.returncode in (EXIT_OK, EXIT_BUDGET), out
            _no_internal_error(out)
        assert any("Spending cap reached" in out for out in outputs)
        paid = server_paid(srv)
        assert 0 < paid <= cap * (1 + 1e-9)  # together, as the server counts it
        assert srv.duplicate_completions() == {}
        assert read_spend(root).spent == pytest.approx(paid, rel=1e-9)


@pytest.mark.slow
def test_two_uncapped_runs_together_leave_a_ledger_equal_to_what_the_server_was_paid(tmp_path: Path) -> None:
    root = priced_root(tmp_path / "data")
    with FakeOpenAIServer(models=PRICES, latency_s=0.1) as srv:
        runs = [cli(root, srv, "--concurrency", "4") for _ in range(2)]
        outputs = [r.communicate(timeout=240)[0] for r in runs]
        assert [r.returncode for r in runs] == [EXIT_OK, EXIT_OK], outputs
        assert srv.completion_count == DISTINCT_CALLS and srv.duplicate_completions() == {}
        spend = read_spend(root)
        assert spend.cohort.calls == DISTINCT_CALLS
        assert spend.spent == pytest.approx(server_paid(srv), rel=1e-9)
    # Each generation's metadata was written by the one process that made it: every paid call is
    # recorded as paid (no second process rewrote it as a cache hit).
    answered = 0
    for meta in (root / "gens").rglob("metadata.json"):
        data = json.loads(meta.read_text())
        answered += bool(data.get("llm")) and not (data.get("cache") or {}).get("hit")
    assert answered == DISTINCT_CALLS


def _money_figures(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """The cohort's cost as plan, the summary table, the export and the report data give it."""
    capsys.readouterr()
    assert main(["plan", "--data-root", str(root), "--json"]) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    with open(root / "7_reporting" / "generation_summary.csv", newline="") as fh:
        summary = {row["stage"]: float(row["cost"]) for row in csv.DictReader(fh)}
    assert main(["export", "--data-root", str(root), "--format", "jsonl"]) == EXIT_OK
    rows = [json.loads(line) for line in (root / "7_reporting" / "generations.jsonl").read_text().splitlines()]
    return {
        "plan": plan["spent"]["spent_usd"],
        "generation_summary": summary.get("all", sum(summary.values())),
        "export": sum(float(r["cost"] or 0) for r in rows),
        "export_paid": sum(float(r["cost"] or 0) for r in rows if r["answer"] == "paid"),
    }


def test_a_second_run_reusing_cached_answers_keeps_every_money_figure_equal_to_the_server(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = priced_root(tmp_path / "data", concepts=4)
    assert run(root) == EXIT_OK
    paid = server_paid(server)
    calls = server.completion_count
    shutil.rmtree(root / "gens")  # every generation is made again, from the response cache
    capsys.readouterr()
    assert run(root) == EXIT_OK
    out = capsys.readouterr().out
    assert server.completion_count == calls  # nothing paid twice
    assert f"cohort total ${paid:.4f}" in out and "this run $0;" in out
    figures = _money_figures(root, capsys)
    assert figures == pytest.approx(dict.fromkeys(figures, paid), rel=1e-6)
    rows = [json.loads(line) for line in (root / "7_reporting" / "generations.jsonl").read_text().splitlines()]
    assert {r["answer"] for r in rows} == {"paid", "copy"}  # each row says how it got its answer


def test_after_a_cohort_change_every_money_figure_still_equals_the_server(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new concept changes the cohort id: the old evaluations are no longer listed, but they were
    paid. The tables and the report name them in their own row; plan and the run say the same total."""
    root = priced_root(tmp_path / "data", concepts=4)
    assert run(root) == EXIT_OK
    calls_before = server.completion_count
    raw = root / "1_raw"
    with open(raw / "concepts_metadata.csv", "a") as fh:
        fh.write("concept-04,Concept 4,true\n")
    (raw / "concepts" / "descriptions-paragraph" / "concept-04.txt").write_text("Concept 4 is new.\n")
    capsys.readouterr()
    assert run(root) == EXIT_OK
    out = capsys.readouterr().out
    paid = server_paid(server)
    assert server.completion_count > calls_before and server.duplicate_completions() == {}
    assert f"cohort total ${paid:.4f}" in out
    figures = _money_figures(root, capsys)
    with open(root / "7_reporting" / "generation_summary.csv", newline="") as fh:
        summary = {row["stage"]: row for row in csv.DictReader(fh)}
    outside = summary[PAID_OUTSIDE_ROW]
    assert int(outside["llm_calls"]) > 0 and float(outside["cost"]) > 0
    assert int(summary["all"]["llm_calls"]) == server.completion_count
    # The export lists the cohort's generations; with the row of those it no longer lists, the total.
    assert figures["export"] + float(outside["cost"]) == pytest.approx(paid, rel=1e-6)
    assert figures["plan"] == pytest.approx(paid, rel=1e-6)
    assert figures["generation_summary"] == pytest.approx(paid, rel=1e-6)


# ------------------------------------------------------------------------------- a full disk


def _write_budget(monkeypatch: pytest.MonkeyPatch, budget: list[int]) -> None:
    """Files written through the store's atomic writes get ENOSPC once ``budget[0]`` bytes are used."""
    real = store_module._write_all

    def limited(fd: int, data: bytes) -> None:
        if budget[0] < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        budget[0] -= len(data)
        real(fd, data)

    monkeypatch.setattr(store_module, "_write_all", limited)


def test_a_full_disk_keeps_every_paid_answer_and_the_rerun_pays_only_distinct_calls(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = priced_root(tmp_path / "data")
    budget = [40_000]  # room for the task tables and a few generations
    _write_budget(monkeypatch, budget)
    capsys.readouterr()
    assert run(root, "--concurrency", "2") == EXIT_FAILED
    out = capsys.readouterr().out
    _no_internal_error(out)
    assert "No space left" in out and "no space left on device" in out and str(root) in out
    paid = server.completion_count
    assert 0 < paid < DISTINCT_CALLS and server.duplicate_completions() == {}
    # Whether an answer had to go to the spill file depends on timing (tests/engine/test_spill.py
    # covers that path deterministically); what must hold is that none is paid again.

    monkeypatch.undo()  # space is freed
    monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
    capsys.readouterr()
    assert run(root) == EXIT_OK
    assert server.completion_count == DISTINCT_CALLS  # paid completions == distinct calls
    assert server.duplicate_completions() == {}
    assert not list((root / "ledger").glob("spill-*"))  # recovered, then removed
    assert read_spend(root).spent == pytest.approx(server_paid(server), rel=1e-9)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
def test_a_real_full_filesystem(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", "8m") as fs:
        root = priced_root(fs / "data")
        filler = fs / "filler"
        free = shutil.disk_usage(fs).free
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, free - 420_000))
        with FakeOpenAIServer(models=PRICES, latency_s=0.05) as srv:
            first = cli(root, srv, "--concurrency", "2")
            out = first.communicate(timeout=240)[0]
            assert first.returncode == EXIT_FAILED, out
            _no_internal_error(out)
            assert "no space left" in out.lower()
            assert srv.duplicate_completions() == {}
            filler.unlink()  # space is freed
            again = cli(root, srv)
            out = again.communicate(timeout=240)[0]
            assert again.returncode == EXIT_OK, out
            assert srv.completion_count == DISTINCT_CALLS and srv.duplicate_completions() == {}


# ------------------------------------------------------------------------------- damaged files


def _cache_entry_of(root: Path, stage: str, gen_id: str) -> Path:
    key = json.loads((root / "gens" / stage / gen_id / "metadata.json").read_text())["cache"]["key"]
    return root / "cache" / "llm" / key[:2] / f"{key}.json"


@pytest.mark.parametrize(
    "damage",
    [b"\xff\xfe not utf-8", b'{"schema": 9, "answer": "x"}', b'["a", "list"]', b'{"text": 5}'],
    ids=["not-utf8", "other-schema", "a-list", "wrong-type"],
)
def test_a_damaged_cache_entry_is_set_aside_and_paid_at_most_once(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], damage: bytes
) -> None:
    root = priced_root(tmp_path / "data", concepts=3)
    assert run(root) == EXIT_OK
    calls = server.completion_count
    draft = sorted((root / "gens" / "draft").iterdir())[0].name
    entry = _cache_entry_of(root, "draft", draft)
    entry.write_bytes(damage)
    shutil.rmtree(root / "gens" / "draft" / draft)
    capsys.readouterr()
    assert run(root) == EXIT_OK
    out = capsys.readouterr().out
    _no_internal_error(out)
    assert entry.name in out and "cannot be read" in out
    assert server.completion_count == calls + 1  # one new call, once
    assert entry.with_name(entry.name + ".damaged").read_bytes() == damage
    assert run(root) == EXIT_OK and server.completion_count == calls + 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: m.update(llm={**m["llm"], "usage": [1, 2]}),
        lambda m: m.update(replicate="abc"),
        None,  # not UTF-8
    ],
    ids=["usage-a-list", "replicate-text", "not-utf8"],
)
def test_a_damaged_metadata_json_is_one_named_warning_never_a_stuck_cohort(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], damage: object
) -> None:
    root = priced_root(tmp_path / "data", concepts=3)
    assert run(root) == EXIT_OK
    calls = server.completion_count
    evaluation = sorted((root / "gens" / "evaluation").iterdir())[0]
    meta = evaluation / "metadata.json"
    if damage is None:
        meta.write_bytes(b"\xff" + meta.read_bytes())
    else:
        data = json.loads(meta.read_text())
        damage(data)  # type: ignore[operator]
        meta.write_text(json.dumps(data))
    for command in (["report"], ["export"], ["reparse"]):
        capsys.readouterr()
        assert main([*command, "--data-root", str(root)]) == EXIT_OK, command
        captured = capsys.readouterr()
        _no_internal_error(captured.out + captured.err)
    capsys.readouterr()
    assert run(root) == EXIT_OK  # the generation is redone from the cache: no new call
    out = capsys.readouterr().out
    _no_internal_error(out)
    assert str(meta) in out and "cannot be read" in out
    assert server.completion_count == calls
    assert json.loads(meta.read_text())["status"] == "complete"


@pytest.mark.parametrize("prompt_kept", [True, False], ids=["with-prompt", "without-prompt"])
def test_raw_txt_without_its_cache_entry_or_metadata_completes_with_no_call(
    tmp_path: Path, server: FakeOpenAIServer, prompt_kept: bool
) -> None:
    root = priced_root(tmp_path / "data", concepts=3)
    assert run(root) == EXIT_OK
    calls = server.completion_count
    evaluation = sorted((root / "gens" / "evaluation").iterdir())[0]
    raw = (evaluation / "raw.txt").read_text()
    _cache_entry_of(root, "evaluation", evaluation.name).unlink()
    (evaluation / "metadata.json").unlink()
    (evaluation / "parsed.txt").unlink()
    if not prompt_kept:  # the payment journal still says which call raw.txt answers
        (evaluation / "prompt.txt").unlink()
    assert run(root) == EXIT_OK
    assert server.completion_count == calls
    meta = json.loads((evaluation / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["cache"]["source"] == "raw.txt"
    assert (evaluation / "raw.txt").read_text() == raw and (evaluation / "prompt.txt").is_file()


# ------------------------------------------------------------------------------- read-only roots


@contextlib.contextmanager
def read_only(root: Path) -> Iterator[None]:
    """The data root as a read-only filesystem (root ignores file modes, so it remounts a tmpfs)."""
    if os.geteuid() != 0:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            yield
        finally:
            for path in [root, *root.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
        return
    copy = root.with_name(root.name + "-copy")
    shutil.copytree(root, copy)
    shutil.rmtree(root)
    root.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        shutil.copytree(copy, root, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _done_root_with_new_work(tmp_path: Path, server: FakeOpenAIServer) -> tuple[Path, int]:
    """A cohort run to the end, then a new concept: the next run has generations to make."""
    root = priced_root(tmp_path / "data", concepts=3)
    assert run(root) == EXIT_OK
    (root / "1_raw" / "concepts_metadata.csv").write_text(
        (root / "1_raw" / "concepts_metadata.csv").read_text() + "concept-09,Concept 9,true\n"
    )
    (root / "1_raw" / "concepts" / "descriptions-paragraph" / "concept-09.txt").write_text("Nine.\n")
    return root, server.completion_count


def test_a_read_only_data_root_is_exit_2_before_any_call_and_reports_still_work(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root, calls = _done_root_with_new_work(tmp_path, server)
    with read_only(root):
        capsys.readouterr()
        assert run(root) == EXIT_BAD_INPUT
        captured = capsys.readouterr()
        _no_internal_error(captured.out + captured.err)
        assert "cannot write to" in captured.out and "--data-root" in captured.out
        assert server.completion_count == calls
        elsewhere = tmp_path / "report.html"
        assert main(["report", "--data-root", str(root), "--output", str(elsewhere)]) == EXIT_OK
        assert elsewhere.stat().st_size > 0
        capsys.readouterr()
        assert main(["report", "--data-root", str(root)]) == EXIT_BAD_INPUT  # its default is inside the root
        captured = capsys.readouterr()
        _no_internal_error(captured.out + captured.err)
        assert "--output" in captured.err


# ------------------------------------------------------------------------------- templates


DRAFT_TEMPLATE = Path("1_raw/generation_templates/draft/test-draft.txt")
EVALUATION_TEMPLATE = Path("1_raw/evaluation_templates/test-eval.txt")


@pytest.mark.parametrize(
    "template,content,expected",
    [
        (DRAFT_TEMPLATE, b"", "the template is empty"),
        (EVALUATION_TEMPLATE, b"  \n\t\n", "holds only whitespace"),
        (DRAFT_TEMPLATE, "Caf\u00e9 {{ concepts }}\nline two \u00e9".encode("latin-1"), ":1: not UTF-8"),
        (DRAFT_TEMPLATE, b"Draft\n{% include 'other.txt' %}{{ concepts }}", ":2: {% include %} is not available"),
        (DRAFT_TEMPLATE, b"{% import 'x.txt' as x %}{{ concepts }}", "{% import %} is not available"),
        (DRAFT_TEMPLATE, b"{% extends 'base.txt' %}", "{% extends %} is not available"),
        (DRAFT_TEMPLATE, b"{{ range(10**9) | length }} {{ concepts }}", "runaway template construct"),
        (DRAFT_TEMPLATE, b"{{ 'x' * 10**8 }}{{ concepts }}", "runaway template construct"),
        (DRAFT_TEMPLATE, b"Write an essay about creativity.", "never uses its input (concepts)"),
        (EVALUATION_TEMPLATE, b"Give a score.\nSCORE: 5", "never uses its input (response)"),
        (EVALUATION_TEMPLATE, b"{% if false %}{{ response }}{% endif %}Score it.", "never uses its input (response)"),
        (EVALUATION_TEMPLATE, b"{{ response[:0] }}Score it.", "never uses its input (response)"),
        (EVALUATION_TEMPLATE, b"{% set x = response %}Score it.", "never uses its input (response)"),
        (
            DRAFT_TEMPLATE,
            b"{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}{{ concepts }}",
            "runaway template construct",
        ),
    ],
    ids=["empty", "whitespace", "latin1", "include", "import", "extends", "range", "repeat", "no-concepts",
         "no-response", "dead-branch", "empty-slice", "set-only", "nested-loops"],
)
def test_templates_that_cannot_be_right_are_refused_before_any_call(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], template: Path, content: bytes,
    expected: str,
) -> None:
    root = priced_root(tmp_path / "data", concepts=3)
    (root / template).write_bytes(content)
    capsys.readouterr()
    assert run(root) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    _no_internal_error(captured.out + captured.err)
    assert str(root / template) in captured.out and expected in captured.out and "Fix:" in captured.out
    assert server.request_count == 0
    assert not (root / "gens").exists()


def test_the_journal_holds_each_paid_call_once(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = priced_root(tmp_path / "data", concepts=3)
    assert run(root) == EXIT_OK
    payments = PaymentJournal(root).payments()
    assert len(payments) == server.completion_count
    assert len({(p.stage, p.gen_id) for p in payments}) == len(payments)
    assert sum(p.cost or 0 for p in payments) == pytest.approx(server_paid(server), rel=1e-9)


@pytest.mark.parametrize("folder", ["cache/llm", "gens/evaluation", "ledger"])
def test_a_read_only_folder_inside_the_root_is_exit_2_before_any_call(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    root, calls = _done_root_with_new_work(tmp_path, server)
    with read_only(root / folder):
        capsys.readouterr()
        assert run(root) == EXIT_BAD_INPUT
        captured = capsys.readouterr()
        _no_internal_error(captured.out + captured.err)
        assert f"cannot write to {root / folder}" in " ".join(captured.out.split())
        assert server.completion_count == calls


@pytest.mark.parametrize("others", [0.0, 0.004])
def test_a_cap_stop_says_what_other_runs_hold_for_their_calls_in_flight(others: float) -> None:
    from types import SimpleNamespace

    from daydreaming_dagster.cli.run import _cap_stop_message
    from daydreaming_dagster.cohort.budget import Spend

    cap = SimpleNamespace(
        stopped_by="cohort", cap=0.0133, study_cap=None, spent=0.0, study_spent=0.0, next_worst=0.0008,
        others_reserved_at_stop=(others, others),
    )
    message = _cap_stop_message(cap, Spend("default"), "r1", 5, "/data")  # type: ignore[arg-type]
    assert "has spent $0 of its $0.0133 cap" in message
    assert ("Other runs on this data root held $0.0040" in message) is (others > 0)
