"""The gens store: ``<data_root>/gens/<stage>/<gen_id>/{prompt.txt,raw.txt,parsed.txt,metadata.json}``.

Every file is written atomically (a temporary file in the same directory, then ``os.replace``), so a
killed process leaves either the old file or the new one, never half of one. ``metadata.json`` is
written last and carries ``status``: a generation is complete only when it says so, which is what
resume relies on.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from daydreaming_dagster.utils.paths import require_safe_segment

Stage = Literal["draft", "essay", "evaluation"]
STAGES: tuple[Stage, ...] = ("draft", "essay", "evaluation")

PROMPT = "prompt.txt"
RAW = "raw.txt"
PARSED = "parsed.txt"
METADATA = "metadata.json"

STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with ``\\n`` kept as is; readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def dump_metadata(metadata: Mapping[str, Any]) -> str:
    """Upstream's format: indent 2, non-ASCII kept, insertion order, no trailing newline."""
    return json.dumps(metadata, ensure_ascii=False, indent=2)


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
        try:
            atomic_write_text(path, text)
        except FileNotFoundError:  # first file of this generation: create its folder once
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        return path

    def write_metadata(self, stage: Stage, gen_id: str, metadata: Mapping[str, Any]) -> Path:
        return self.write(stage, gen_id, METADATA, dump_metadata(metadata))

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

    def read_metadata(self, stage: Stage, gen_id: str) -> dict[str, Any] | None:
        text = self.read(stage, gen_id, METADATA)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def is_complete(self, stage: Stage, gen_id: str, metadata: Mapping[str, Any] | None = None) -> bool:
        """True when a finished generation is on disk (ours, or upstream's final write).

        Upstream's final metadata has ``stage``; its early write (left behind when a step
        failed) has only ``function``/``gen_id``. Ours says ``status``.
        """
        directory = self.gen_dir(stage, gen_id)
        if metadata is None:  # callers that already read it pass it in
            metadata = self.read_metadata(stage, gen_id)
        if metadata is None or "stage" not in metadata:
            return False
        if metadata.get("status", STATUS_COMPLETE) != STATUS_COMPLETE:
            return False
        return (directory / RAW).is_file() and (directory / PARSED).is_file()
