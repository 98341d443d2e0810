"""``atomic_write_text``: the old file or the new one, never half; no temporary left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from daydreaming_dagster.engine import store
from daydreaming_dagster.engine.store import atomic_write_text


def test_text_and_pieces_are_written_as_utf8_with_newlines_kept(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.txt", "héllo\r\nworld\n")
    atomic_write_text(tmp_path / "b.txt", iter(["hé", "llo\n", ""]))
    assert (tmp_path / "a.txt").read_bytes() == "héllo\r\nworld\n".encode()
    assert (tmp_path / "b.txt").read_bytes() == "héllo\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_missing_folders_are_created(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "gens" / "draft" / "g1" / "raw.txt", "text")
    assert (tmp_path / "gens" / "draft" / "g1" / "raw.txt").read_text() == "text"


def test_a_failure_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "parsed.txt"
    atomic_write_text(target, "old")

    def pieces() -> Iterator[str]:
        yield "new, half"
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        atomic_write_text(target, pieces())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["parsed.txt"]


def test_a_temporary_left_by_a_killed_process_with_our_pid_is_replaced(tmp_path: Path) -> None:
    upcoming = next(store._TMP_NAMES) + 1  # the name the next write will use
    stale = tmp_path / f".raw.txt.{os.getpid()}-{upcoming}.tmp"
    stale.write_text("left by a SIGKILLed run")
    atomic_write_text(tmp_path / "raw.txt", "fresh")
    assert (tmp_path / "raw.txt").read_text() == "fresh"
    assert not stale.exists()


def test_mode_follows_the_umask_not_mkstemps_0600(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "metadata.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "metadata.json").stat().st_mode & 0o777 == 0o640
