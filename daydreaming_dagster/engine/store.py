"""The gens store: ``<data_root>/gens/<stage>/<gen_id>/{prompt.txt,raw.txt,parsed.txt,metadata.json}``.

Every file is written atomically (a temporary file in the same directory, then ``os.replace``), so a
killed process leaves either the old file or the new one, never half of one. ``metadata.json`` is
written last and carries ``status``: a generation is complete only when it says so, which is what
resume relies on. A metadata.json that cannot be read back makes its generation incomplete, with a
warning naming the file (``read_record``); it never stops a run or a report.

``claim`` is how one process at a time makes a generation: an OS lock per gen_id (``engine/locks.py``),
held from before the call until metadata.json is written, so a second process waits, then finds
it complete and skips it instead of generating (and paying for) it again.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from daydreaming_dagster.core.errors import DamagedFileError
from daydreaming_dagster.core.paths import require_safe_segment
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES, Stage
from daydreaming_dagster.engine.locks import KeyLocks
from daydreaming_dagster.engine.record import GenerationRecord, RecordProblem

logger = logging.getLogger("daydreaming_dagster.store")

PROMPT = "prompt.txt"
RAW = "raw.txt"
PARSED = "parsed.txt"
METADATA = "metadata.json"
GENS_DIR = "gens"

_REPORTED: set[str] = set()  # damaged files already warned about by this process
_REPORTED_LOCK = threading.Lock()


def forget_reported() -> None:
    """A new command: warn again about damaged files seen before (a long-lived process)."""
    with _REPORTED_LOCK:
        _REPORTED.clear()


def report_damaged(error: DamagedFileError) -> None:
    """Warn once per process about a damaged file (the run or the report goes on without it)."""
    with _REPORTED_LOCK:
        if error.path in _REPORTED:
            return
        _REPORTED.add(error.path)
    logger.warning(
        "%s cannot be read (%s): that generation counts as incomplete; the next run redoes it, reusing "
        "its answer from the response cache or raw.txt where it can. Reports skip it.",
        error.path,
        error.reason,
    )


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
    _claims: KeyLocks = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_claims", KeyLocks(self.root))

    @property
    def root(self) -> Path:
        return self.data_root / GENS_DIR

    def stage_dir(self, stage: Stage) -> Path:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        return self.root / stage

    def gen_dir(self, stage: Stage, gen_id: str) -> Path:
        return Path(self._file(stage, gen_id, ""))

    def _file(self, stage: Stage, gen_id: str, name: str) -> str:
        """A generation's file as a string path: reads of 100,000 generations spend more time in
        pathlib than in the system calls (bench/cohorts_scale.py), so the hot readers use strings."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        folder = os.path.join(self._root_text, stage, require_safe_segment(gen_id, what="gen_id"))
        return os.path.join(folder, name) if name else folder

    @property
    def _root_text(self) -> str:
        return os.path.join(str(self.data_root), GENS_DIR)

    def gen_ids(self, stage: Stage) -> list[str]:
        """The generation folders on disk of ``stage`` (sorted), whatever cohort made them."""
        folder = self.stage_dir(stage)
        try:
            return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        except FileNotFoundError:
            return []

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

    @staticmethod
    def _bytes(path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read(self, stage: Stage, gen_id: str, name: str) -> str | None:
        """The file's text, or None when it does not exist (DamagedFileError when it is not UTF-8)."""
        path = self._file(stage, gen_id, name)
        data = self._bytes(path)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DamagedFileError(path, f"not UTF-8 text (byte {exc.start})") from None

    def load_record(self, stage: Stage, gen_id: str) -> GenerationRecord | None:
        """The generation's record, None when absent; DamagedFileError when it cannot be read."""
        found = self.load_record_text(stage, gen_id)
        return None if found is None else found[0]

    def load_record_text(self, stage: Stage, gen_id: str) -> tuple[GenerationRecord, str] | None:
        """The record and the file's text (for readers that keep it), None when absent;
        DamagedFileError when it cannot be read."""
        path = self._file(stage, gen_id, METADATA)
        data = self._bytes(path)
        if data is None:
            return None
        try:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordProblem(f"not UTF-8 text (byte {exc.start})") from None
            return GenerationRecord.from_json(text, task_key_names=STAGE_FACTS[stage].task_keys), text
        except RecordProblem as exc:
            raise DamagedFileError(path, str(exc)) from None

    def read_record(self, stage: Stage, gen_id: str) -> GenerationRecord | None:
        """The record, or None when absent or damaged (a damaged file is reported once, by name)."""
        try:
            return self.load_record(stage, gen_id)
        except DamagedFileError as exc:
            report_damaged(exc)
            return None

    def is_complete(self, stage: Stage, gen_id: str, record: GenerationRecord | None = None) -> bool:
        """True when a finished generation is on disk (ours, or upstream's final write)."""
        if record is None:  # callers that already read it pass it in
            record = self.read_record(stage, gen_id)
        if record is None or not record.complete:
            return False
        return os.path.isfile(self._file(stage, gen_id, RAW)) and os.path.isfile(self._file(stage, gen_id, PARSED))

    @contextlib.contextmanager
    def claim(self, stage: Stage, gen_id: str) -> Iterator[None]:
        """Hold the generation against every other thread and process (waits while one holds it)."""
        with self._claims.hold(f"{stage}/{gen_id}"):
            yield
