"""The gens store: ``<data_root>/gens/<stage>/<gen_id>/{prompt.txt,raw.txt,parsed.txt,metadata.json}``.

Every file is written atomically (a temporary file in the same directory, then ``os.replace``), so a
killed process leaves either the old file or the new one, never half of one. ``metadata.json`` is
written last and carries ``status``: a generation is complete only when it says so, which is what
resume relies on.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from daydreaming_dagster.core.paths import require_safe_segment
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.record import GenerationRecord

PROMPT = "prompt.txt"
RAW = "raw.txt"
PARSED = "parsed.txt"
METADATA = "metadata.json"


_TMP_NAMES = itertools.count()
_OPEN_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


def atomic_write_text(path: Path, text: str | Iterable[str]) -> None:
    """Write UTF-8 text (a string, or pieces of one) with ``\\n`` kept as is; readers never see a
    partial file. The parent folder is created if missing.

    Four system calls (open, write, close, rename) on purpose: at 100 generations in flight every
    call that releases the GIL hands it to another thread, and ``tempfile`` plus a text-mode file
    made about a dozen per file. The temporary name is unique per process and call; ``O_EXCL``
    refuses anything already there. Mode 0666 minus the umask, like any file this user writes
    (``mkstemp`` would make it 0600).
    """
    tmp = f"{path.parent}{os.sep}.{path.name}.{os.getpid()}-{next(_TMP_NAMES)}.tmp"
    try:
        fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    except FileNotFoundError:  # the folder's first file: create the folder once, not before each write
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    except FileExistsError:  # left by a killed process that had our pid: no live process owns it
        os.unlink(tmp)
        fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    try:
        try:
            if isinstance(text, str):
                _write_all(fd, text.encode("utf-8"))
            else:
                for piece in text:
                    _write_all(fd, piece.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@dataclass(frozen=True)
class GensStore:
    """Reads and writes generation documents under ``<data_root>/gens``."""

    data_root: Path

    @property
    def root(self) -> Path:
        return self.data_root / "gens"

    def gen_dir(self, stage: Stage, gen_id: str) -> Path:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        return self.root / stage / require_safe_segment(gen_id, what="gen_id")

    def write(self, stage: Stage, gen_id: str, name: str, text: str) -> Path:
        path = self.gen_dir(stage, gen_id) / name
        atomic_write_text(path, text)
        return path

    def write_record(self, stage: Stage, gen_id: str, record: GenerationRecord) -> Path:
        return self.write(stage, gen_id, METADATA, record.to_json())

    def remove(self, stage: Stage, gen_id: str, name: str) -> None:
        try:
            (self.gen_dir(stage, gen_id) / name).unlink()
        except FileNotFoundError:
            pass

    def read(self, stage: Stage, gen_id: str, name: str) -> str | None:
        """The file's text, or None when it does not exist."""
        try:
            return (self.gen_dir(stage, gen_id) / name).read_bytes().decode("utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_record(self, stage: Stage, gen_id: str) -> GenerationRecord | None:
        """The generation's metadata.json as a record, or None (absent, torn or not an object)."""
        text = self.read(stage, gen_id, METADATA)
        if text is None:
            return None
        return GenerationRecord.from_json(text, task_key_names=STAGE_FACTS[stage].task_keys)

    def is_complete(self, stage: Stage, gen_id: str, record: GenerationRecord | None = None) -> bool:
        """True when a finished generation is on disk (ours, or upstream's final write).

        Upstream's final metadata has ``stage``; its early write (left behind when a step
        failed) has only ``function``/``gen_id``. Ours says ``status``.
        """
        if record is None:  # callers that already read it pass it in
            record = self.read_record(stage, gen_id)
        if record is None or not record.stage or not record.complete:
            return False
        directory = self.gen_dir(stage, gen_id)
        return (directory / RAW).is_file() and (directory / PARSED).is_file()
