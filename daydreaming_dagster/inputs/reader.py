"""A problem-collecting CSV reader: every problem of every file, with file, line, column and fix.

Cells are read as text (``dtype=str, keep_default_na=False``, as upstream read them); nothing is
coerced. Loaders add their own checks through :class:`Problems` and raise one :class:`InputError`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from daydreaming_dagster.core.errors import InputError, InputProblem, UnsafeIdError
from daydreaming_dagster.core.paths import require_safe_segment

# How to fix a missing column, by column name.
_COLUMN_FIXES: Mapping[str, str] = MappingProxyType(
    {
        "concept_id": "add a 'concept_id' column (a unique id; also the description file name)",
        "name": "add a 'name' column (the concept name templates show)",
        "active": "add an 'active' column (true or false)",
        "template_id": "add a 'template_id' column (a unique id; also the template file name)",
        "template_name": "add a 'template_name' column (a human-readable name)",
        "description": "add a 'description' column (may be blank)",
        "parser": "add a 'parser' column (in_last_line or complex)",
        "generator": "add a 'generator' column (llm or copy)",
        "id": "add an 'id' column (the short model id used in task ids, e.g. sonnet-4)",
        "model": "add a 'model' column (the provider's model string, e.g. anthropic/claude-sonnet-4)",
        "provider": "add a 'provider' column (local for the embedded model, else e.g. openrouter)",
        "for_generation": "add a 'for_generation' column (true or false)",
        "for_evaluation": "add a 'for_evaluation' column (true or false)",
    }
)

_SAFE_ID_FIX = (
    "rename it using only letters, digits, '.', '_', '-' or ':' "
    "(no '/', '\\', '..' or leading dot; at most 200 characters)"
)



# --------------------------------------------------------------------------------------------
# Problems and the error that carries them


class Problems:
    """Collects problems while a data root is validated."""

    def __init__(self) -> None:
        self.items: list[InputProblem] = []

    def add(self, file: Path, line: int | None, column: str | None, problem: str, fix: str) -> None:
        self.items.append(InputProblem(file, line, column, problem, fix))

    def raise_if_any(self) -> None:
        """Raise one InputError: files in the order first reported, each file's problems by line."""
        if self.items:
            file_order: dict[Path, int] = {}
            for p in self.items:
                file_order.setdefault(p.file, len(file_order))
            raise InputError(
                sorted(self.items, key=lambda p: (file_order[p.file], p.line if p.line is not None else 0))
            )


# --------------------------------------------------------------------------------------------
# CSV reading


@dataclass(frozen=True)
class CsvRow:
    """One data row of a CSV: its 1-based starting line and its cells (raw text, never NaN)."""

    line: int
    values: Mapping[str, str]

    def raw(self, column: str) -> str:
        return self.values.get(column, "")

    def get(self, column: str) -> str:
        """The cell with surrounding whitespace removed ("" for an absent optional column)."""
        return self.values.get(column, "").strip()


_LINE_RE = re.compile(r"line (\d+)")


def _line_text(lines: Sequence[str], line: int) -> str:
    return lines[line - 1] if 1 <= line <= len(lines) else ""


def read_table(
    path: Path,
    required: Sequence[str],
    optional: Sequence[str],
    problems: Problems,
) -> list[CsvRow] | None:
    """Read ``path`` as text cells; report problems and return None if it cannot be used."""
    if not path.is_file():
        cols = ",".join([*required, *optional])
        problems.add(path, None, None, "required file is missing", f"create it with the header line: {cols}")
        return None
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(path, line, None, f"not valid UTF-8 ({exc.reason})", "save the file as UTF-8")
        return None
    lines = text.splitlines()

    # Structure pass with the csv module: exact line numbers, and rows with too many fields
    # (pandas silently swallows those on the first data row: it turns column 1 into the index).
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    prev_end = 0
    try:
        for fields in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line: pandas skips it too
            records.append((start, fields))
    except csv.Error as exc:
        problems.add(path, prev_end + 1, None, f"malformed CSV ({exc})", "fix the quoting on that line")
        return None
    if not records:
        cols = ",".join([*required, *optional])
        problems.add(path, 1, None, "the file is empty", f"write the header line: {cols}")
        return None

    header_line, header = records[0]
    header_names = [h.strip() for h in header]
    malformed = False
    seen_cols: dict[str, int] = {}
    for i, name in enumerate(header_names):
        if name in seen_cols:
            problems.add(
                path,
                header_line,
                name,
                "the column appears twice in the header",
                "keep only one column with this name",
            )
            malformed = True
        seen_cols.setdefault(name, i)
    for start, fields in records[1:]:
        if len(fields) > len(header):
            problems.add(
                path,
                start,
                None,
                f"malformed CSV: the row has {len(fields)} fields but the header has {len(header)}: "
                f"{_line_text(lines, start)!r}",
                'remove the extra fields, or quote values that contain commas ("a, b")',
            )
            malformed = True
    missing = [c for c in required if c not in seen_cols]
    for col in missing:
        problems.add(
            path,
            header_line,
            col,
            "required column is missing",
            _COLUMN_FIXES.get(col, f"add a '{col}' column"),
        )
    if malformed or missing:
        return None

    # Values with pandas, as upstream read them, but as text only.
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except (pd.errors.ParserError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        m = _LINE_RE.search(msg)
        line_no = int(m.group(1)) if m else None
        if line_no is None and "EOF inside string" in msg:
            # An unclosed quote: the csv pass read from it to the end of file as one last record.
            line_no = records[-1][0]
        shown = f": {_line_text(lines, line_no)!r}" if line_no is not None else ""
        problems.add(
            path,
            line_no,
            None,
            f"malformed CSV ({msg}){shown}",
            "make every row have as many comma-separated fields as the header, and close every quote",
        )
        return None
    frame.columns = [str(c).strip() for c in frame.columns]

    data_records = records[1:]
    if len(data_records) == len(frame):
        line_numbers = [start for start, _ in data_records]
    else:  # the two parsers disagree on row boundaries: fall back to the plain count
        line_numbers = [i + 2 for i in range(len(frame))]

    wanted = [c for c in (*required, *optional) if c in frame.columns]
    rows: list[CsvRow] = []
    for line_no, rec in zip(line_numbers, frame[wanted].itertuples(index=False, name=None), strict=True):
        values = {col: (val if isinstance(val, str) else "") for col, val in zip(wanted, rec, strict=True)}
        rows.append(CsvRow(line=line_no, values=MappingProxyType(values)))
    return rows


def read_header(path: Path) -> tuple[int, tuple[str, ...]] | None:
    """A CSV's header line: its 1-based number and its column names (stripped); None when the
    file is missing, empty or unreadable (``read_table`` then reports why)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    prev_end = 0
    try:
        for fields in reader:
            if fields and not (len(fields) == 1 and not fields[0].strip()):
                return prev_end + 1, tuple(f.strip() for f in fields)
            prev_end = reader.line_num
    except csv.Error:
        return None
    return None


def read_csv_table(path: Path | str, required: Sequence[str], optional: Sequence[str] = ()) -> list[CsvRow]:
    """Read one CSV as text cells (``dtype=str, keep_default_na=False``).

    Raises InputError if the file is missing, malformed, or lacks a required column. Absent
    optional columns read as "".
    """
    problems = Problems()
    rows = read_table(Path(path), required, optional, problems)
    problems.raise_if_any()
    assert rows is not None
    return rows


# --------------------------------------------------------------------------------------------
# Cell checks


def parse_bool(row: CsvRow, column: str, path: Path, problems: Problems) -> bool:
    raw = row.raw(column)
    value = raw.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    problems.add(path, row.line, column, f"{raw!r} is not a boolean", "write true or false")
    return False


def check_ids(rows: Iterable[CsvRow], column: str, path: Path, problems: Problems) -> dict[int, str]:
    """Validate the id column; return {line: id} for the rows whose id is usable as a file name."""
    first_seen: dict[str, int] = {}
    safe: dict[int, str] = {}
    for row in rows:
        value = row.get(column)
        if not value:
            problems.add(path, row.line, column, f"{column} is empty", f"write a unique {column}")
            continue
        try:
            require_safe_segment(value, what=column, where=f"{path}:{row.line}")
        except UnsafeIdError:
            problems.add(
                path, row.line, column, f"{column} {value!r} cannot be used as a file name", _SAFE_ID_FIX
            )
            continue
        if value in first_seen:
            problems.add(
                path,
                row.line,
                column,
                f"duplicate {column} {value!r} (also on line {first_seen[value]})",
                f"give each row a unique {column}, or delete one of the two rows",
            )
            continue
        first_seen[value] = row.line
        safe[row.line] = value
    return safe


def require_some(flags: Iterable[bool], path: Path, column: str, what: str, problems: Problems) -> None:
    if not any(flags):
        problems.add(
            path,
            None,
            column,
            f"no {what} has {column}=true",
            f"set {column}=true on at least one row of {path.name}",
        )


