"""A full disk in the middle of one generation: the paid answer goes to the run's spill file, the
next run moves it into the response cache and the journal, and nothing is paid again."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import pytest

from daydreaming_dagster.core.errors import StorageError
from daydreaming_dagster.engine import store as store_module
from daydreaming_dagster.engine.cache import ResponseCache
from daydreaming_dagster.engine.flow import orchestrate_generation
from daydreaming_dagster.engine.ledger import Payment, PaymentJournal
from daydreaming_dagster.engine.spill import KIND_ANSWER, MIN_SPILL_BYTES, open_spill, recover_spills
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context, row
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_answer_the_disk_refuses_is_kept_in_the_spill_and_recovered(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = make_cohort(root)
    provider = ScriptedProvider([ScriptedReply("Idea one\nIdea two\nIdea three")])
    spill = open_spill(root, MIN_SPILL_BYTES)
    assert spill is not None
    context = dataclasses.replace(make_context(root, cohort, provider), journal=PaymentJournal(root), spill=spill)
    task = row(cohort, "draft")
    real_write_all = store_module._write_all
    monkeypatch.setattr(ResponseCache, "put_entry", _no_space)
    prompt_written = []

    def refuse_after_prompt(fd: int, data: bytes) -> None:  # prompt.txt fits, raw.txt does not
        if prompt_written:
            _no_space()
        prompt_written.append(True)
        real_write_all(fd, data)

    monkeypatch.setattr(store_module, "_write_all", refuse_after_prompt)
    with pytest.raises(StorageError, match="raw.txt"):
        orchestrate_generation(context, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None)
    assert len(provider.calls) == 1 and spill.saved == 1
    assert len(PaymentJournal(root).payments()) == 1  # the payment line reached the journal
    spill.close()  # the run ends; the file holds the answer, so it stays
    assert spill.path.is_file()

    monkeypatch.undo()  # space is freed
    cache = ResponseCache.for_data_root(root)
    kinds: list[str] = []

    def store_answer(entry: dict[str, object]) -> None:
        kinds.append(KIND_ANSWER)
        cache.put_entry(str(entry["key"]), entry["entry"])  # type: ignore[arg-type]

    def record_payment(entry: dict[str, object]) -> None:
        PaymentJournal(root).append(Payment.from_dict(entry["payment"]))  # type: ignore[arg-type]

    assert recover_spills(root, store_answer=store_answer, record_payment=record_payment) == 1
    assert kinds == [KIND_ANSWER] and not spill.path.exists()
    again = make_context(root, cohort, provider)
    outcome = orchestrate_generation(again, task, cohort.specs()["draft"], gen_id=task["gen_id"], parent_gen_id=None)
    assert outcome.cache_hit and len(provider.calls) == 1  # answered from the recovered entry


CHILD = """
import sys
from pathlib import Path
from daydreaming_dagster.engine.spill import KIND_ANSWER, MIN_SPILL_BYTES, open_spill
spill = open_spill(Path(sys.argv[1]), MIN_SPILL_BYTES)
spill.save(KIND_ANSWER, {"key": "k", "entry": {"text": "x"}})
print(spill.path, flush=True)
sys.stdin.readline()  # held until the parent says so; the OS releases the lock at exit
"""


def test_a_spill_file_of_a_live_process_is_left_to_it(root: Path) -> None:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        path = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
        found: list[object] = []
        assert recover_spills(root, store_answer=found.append, record_payment=found.append) == 0
        assert path.is_file() and found == []
    finally:
        child.communicate("go\n", timeout=30)
    assert recover_spills(root, store_answer=found.append, record_payment=found.append) == 1
    assert not path.exists() and len(found) == 1


def test_a_spilled_answer_is_moved_once_the_disk_takes_it_and_never_recovered_twice(root: Path) -> None:
    spill = open_spill(root, MIN_SPILL_BYTES)
    assert spill is not None
    assert spill.save(KIND_ANSWER, {"key": "k1", "entry": {"text": "one"}}, owner="draft d1")
    assert spill.save("payment", {"payment": {"gen_id": "d2"}}, owner="draft d2")
    assert spill.held == ["draft d1", "draft d2"]
    moved: list[str] = []

    def full(entry: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Still full for payments: the answer moves, the payment stays held.
    assert spill.drain(lambda entry: moved.append(str(entry["key"])), full) == 1
    assert moved == ["k1"] and spill.held == ["draft d2"] and spill.saved == 1
    # Space is back: the payment moves too, and the file holds nothing.
    assert spill.drain(lambda entry: moved.append("again"), lambda entry: moved.append("payment")) == 1
    assert moved == ["k1", "payment"] and spill.held == [] and spill.held_bytes == 0
    spill.close()
    assert not spill.path.exists()  # an empty spill file is removed: nothing for the next run
    assert recover_spills(root, store_answer=moved.append, record_payment=moved.append) == 0
