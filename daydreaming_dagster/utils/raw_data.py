"""Load and validate the user's inputs under ``<data_root>/1_raw``.

One job: turn the CSVs, concept descriptions and template files of a data root into typed,
validated values, or raise one :class:`InputError` listing *every* problem found (file, line,
column, what is wrong and how to fix it). Nothing is silently dropped or coerced.

Files read (upstream seed-era layout):

- ``concepts_metadata.csv`` (concept_id, name, active) and
  ``concepts/descriptions-<level>/<concept_id>.txt`` for level sentence, paragraph, article
- ``draft_templates.csv`` (template_id, template_name, description, active[, parser])
- ``essay_templates.csv`` (template_id, template_name, description, active, generator)
- ``evaluation_templates.csv`` (template_id, template_name, description, active, parser)
- ``llm_models.csv`` (id, model, provider[, display_name], for_generation, for_evaluation[, specialization])
- template files: ``generation_templates/{draft,essay}/<id>.txt`` and ``evaluation_templates/<id>.txt``
- optionally ``selected_combo_mappings.csv`` (a curated selection; only its presence is recorded here)

``link_templates.csv`` is legacy and ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

import pandas as pd

from daydreaming_dagster.llm._types import ModelRoute
from daydreaming_dagster.utils.paths import UnsafeIdError, require_safe_segment

TemplateKind = Literal["draft", "essay", "evaluation"]
KINDS: tuple[TemplateKind, ...] = get_args(TemplateKind)
DESCRIPTION_LEVELS: tuple[str, ...] = ("sentence", "paragraph", "article")

RAW_DIR = "1_raw"
CONCEPTS_CSV = "concepts_metadata.csv"
MODELS_CSV = "llm_models.csv"
CURATED_SELECTION_CSV = "selected_combo_mappings.csv"
TEMPLATE_CSVS: Mapping[TemplateKind, str] = MappingProxyType(
    {
        "draft": "draft_templates.csv",
        "essay": "essay_templates.csv",
        "evaluation": "evaluation_templates.csv",
    }
)

ESSAY_GENERATORS: tuple[str, ...] = ("llm", "copy")
EVALUATION_PARSERS: tuple[str, ...] = ("in_last_line", "complex")
DRAFT_PARSERS: tuple[str, ...] = ("essay_idea_last", "essay_block")

_TEMPLATE_COLUMNS = ("template_id", "template_name", "description", "active")

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


@dataclass(frozen=True)
class InputProblem:
    """One problem with the user's input files. ``line`` is 1-based (the header is line 1)."""

    file: Path
    line: int | None
    column: str | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        col = f" column '{self.column}':" if self.column else ""
        return f"{where}:{col} {self.problem.rstrip('.')}. Fix: {self.fix.rstrip('.')}"


class InputError(Exception):
    """One or more problems with the user's input files; ``str()`` gives one line per problem."""

    def __init__(self, problems: Sequence[InputProblem]):
        self.problems: list[InputProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __reduce__(self) -> tuple[type[InputError], tuple[list[InputProblem]]]:
        return (type(self), (self.problems,))


class UnknownTemplateError(InputError, KeyError):
    """A template id that the kind's CSV does not list."""


class _Problems:
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


def _read_table(
    path: Path,
    required: Sequence[str],
    optional: Sequence[str],
    problems: _Problems,
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


def read_csv_table(path: Path | str, required: Sequence[str], optional: Sequence[str] = ()) -> list[CsvRow]:
    """Read one CSV as text cells (``dtype=str, keep_default_na=False``).

    Raises InputError if the file is missing, malformed, or lacks a required column. Absent
    optional columns read as "".
    """
    problems = _Problems()
    rows = _read_table(Path(path), required, optional, problems)
    problems.raise_if_any()
    assert rows is not None
    return rows


# --------------------------------------------------------------------------------------------
# Cell checks


def _parse_bool(row: CsvRow, column: str, path: Path, problems: _Problems) -> bool:
    raw = row.raw(column)
    value = raw.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    problems.add(path, row.line, column, f"{raw!r} is not a boolean", "write true or false")
    return False


def _check_ids(rows: Iterable[CsvRow], column: str, path: Path, problems: _Problems) -> dict[int, str]:
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


def _require_some(flags: Iterable[bool], path: Path, column: str, what: str, problems: _Problems) -> None:
    if not any(flags):
        problems.add(
            path,
            None,
            column,
            f"no {what} has {column}=true",
            f"set {column}=true on at least one row of {path.name}",
        )


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Concept:
    concept_id: str
    name: str
    active: bool
    descriptions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def content(self, level: str) -> str:
        """The text templates show: the requested level if non-empty, else paragraph, else
        sentence, else the name (``article`` is never a fallback)."""
        if level not in DESCRIPTION_LEVELS:
            raise ValueError(
                f"unknown description level {level!r}: use one of {', '.join(DESCRIPTION_LEVELS)}"
            )
        for lvl in (level, "paragraph", "sentence"):
            text = self.descriptions.get(lvl, "")
            if text:
                return text
        return self.name


@dataclass(frozen=True)
class TemplateRow:
    """One row of a template CSV. ``generator`` is set for essays only ("llm" or "copy");
    ``parser`` for drafts (None = identity) and evaluations ("in_last_line" or "complex")."""

    kind: TemplateKind
    template_id: str
    template_name: str
    description: str
    active: bool
    parser: str | None = None
    generator: str | None = None


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    model: str
    provider: str
    display_name: str
    for_generation: bool
    for_evaluation: bool

    def route(self) -> ModelRoute:
        return ModelRoute(model_id=self.model_id, provider=self.provider, model=self.model)


def _check_kind(kind: str) -> TemplateKind:
    for k in KINDS:
        if k == kind:
            return k
    raise ValueError(f"unknown template kind {kind!r}: use one of {', '.join(KINDS)}")


def template_file_path(data_root: Path, kind: TemplateKind, template_id: str) -> Path:
    """Where a template's text lives (the id must already be a safe path segment)."""
    require_safe_segment(template_id, what="template_id")
    raw = data_root / RAW_DIR
    if kind == "evaluation":
        return raw / "evaluation_templates" / f"{template_id}.txt"
    return raw / "generation_templates" / kind / f"{template_id}.txt"


@dataclass(frozen=True)
class RawData:
    data_root: Path
    concepts: tuple[Concept, ...]
    draft_templates: tuple[TemplateRow, ...]
    essay_templates: tuple[TemplateRow, ...]
    evaluation_templates: tuple[TemplateRow, ...]
    models: tuple[ModelRow, ...]
    curated_selection_path: Path | None = None

    def csv_path(self, name: str) -> Path:
        """``data_root/1_raw/<name>`` (e.g. ``csv_path("llm_models.csv")``)."""
        return self.data_root / RAW_DIR / require_safe_segment(name, what="CSV file name")

    def active_concepts(self) -> list[Concept]:
        return [c for c in self.concepts if c.active]

    def templates(self, kind: TemplateKind) -> tuple[TemplateRow, ...]:
        k = _check_kind(kind)
        if k == "draft":
            return self.draft_templates
        if k == "essay":
            return self.essay_templates
        return self.evaluation_templates

    def active_templates(self, kind: TemplateKind) -> list[TemplateRow]:
        return [t for t in self.templates(kind) if t.active]

    def template(self, kind: TemplateKind, template_id: str) -> TemplateRow:
        for t in self.templates(kind):
            if t.template_id == template_id:
                return t
        path = self.csv_path(TEMPLATE_CSVS[kind])
        raise UnknownTemplateError(
            [
                InputProblem(
                    path,
                    None,
                    "template_id",
                    f"unknown {kind} template {template_id!r}",
                    f"add a row for it to {path.name} or use one of: "
                    + ", ".join(t.template_id for t in self.templates(kind)),
                )
            ]
        )

    def template_path(self, kind: TemplateKind, template_id: str) -> Path:
        return template_file_path(self.data_root, _check_kind(kind), template_id)

    def generation_models(self) -> list[ModelRow]:
        return [m for m in self.models if m.for_generation]

    def evaluation_models(self) -> list[ModelRow]:
        return [m for m in self.models if m.for_evaluation]

    def routes(self) -> dict[str, ModelRoute]:
        return {m.model_id: m.route() for m in self.models}


# --------------------------------------------------------------------------------------------
# Loading


def _read_description(path: Path, problems: _Problems) -> str | None:
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        problems.add(path, None, None, f"not valid UTF-8 ({exc.reason})", "save the file as UTF-8")
        return None


def _load_concepts(raw: Path, problems: _Problems) -> tuple[Concept, ...]:
    path = raw / CONCEPTS_CSV
    rows = _read_table(path, ("concept_id", "name", "active"), (), problems)
    if rows is None:
        return ()
    safe_ids = _check_ids(rows, "concept_id", path, problems)
    concepts: list[Concept] = []
    for row in rows:
        active = _parse_bool(row, "active", path, problems)
        name = row.raw("name")
        if not name.strip():
            problems.add(path, row.line, "name", "name is empty", "write the concept's name")
        cid = safe_ids.get(row.line)
        if cid is None:
            continue
        descriptions: dict[str, str] = {}
        for level in DESCRIPTION_LEVELS:
            text = _read_description(raw / "concepts" / f"descriptions-{level}" / f"{cid}.txt", problems)
            if text is not None:
                descriptions[level] = text
        concepts.append(Concept(cid, name, active, MappingProxyType(descriptions)))
    _require_some((c.active for c in concepts), path, "active", "concept", problems)
    return tuple(concepts)


def _load_templates(data_root: Path, kind: TemplateKind, problems: _Problems) -> tuple[TemplateRow, ...]:
    path = data_root / RAW_DIR / TEMPLATE_CSVS[kind]
    required: tuple[str, ...] = _TEMPLATE_COLUMNS
    optional: tuple[str, ...] = ()
    if kind == "draft":
        optional = ("parser",)
    elif kind == "essay":
        required = (*required, "generator")
    else:
        required = (*required, "parser")
    rows = _read_table(path, required, optional, problems)
    if rows is None:
        return ()
    safe_ids = _check_ids(rows, "template_id", path, problems)
    out: list[TemplateRow] = []
    for row in rows:
        active = _parse_bool(row, "active", path, problems)
        parser: str | None = None
        generator: str | None = None
        if kind == "essay":
            generator = row.get("generator").lower()
            if generator not in ESSAY_GENERATORS:
                problems.add(
                    path,
                    row.line,
                    "generator",
                    f"{row.raw('generator')!r} is not an essay generator",
                    "write llm (the model writes the essay) or copy (the essay is the draft)",
                )
        elif kind == "evaluation":
            parser = row.get("parser").lower()
            if active and parser not in EVALUATION_PARSERS:
                problems.add(
                    path,
                    row.line,
                    "parser",
                    f"{row.raw('parser')!r} is not an evaluation parser",
                    "write in_last_line (score on the last line) or complex",
                )
        else:
            parser = row.get("parser").lower() or None
            if active and parser is not None and parser not in DRAFT_PARSERS:
                problems.add(
                    path,
                    row.line,
                    "parser",
                    f"{row.raw('parser')!r} is not a draft parser",
                    "leave it blank (keep the draft as is) or write essay_idea_last or essay_block",
                )
        tid = safe_ids.get(row.line)
        if tid is None:
            continue
        if active and generator != "copy":
            tpath = template_file_path(data_root, kind, tid)
            if not tpath.is_file():
                problems.add(
                    path,
                    row.line,
                    "template_id",
                    f"template file {tpath} does not exist",
                    f"create {tpath}, or set active=false on this row",
                )
        out.append(
            TemplateRow(
                kind=kind,
                template_id=tid,
                template_name=row.raw("template_name"),
                description=row.raw("description"),
                active=active,
                parser=parser,
                generator=generator,
            )
        )
    _require_some((t.active for t in out), path, "active", f"{kind} template", problems)
    return tuple(out)


def _load_models(raw: Path, problems: _Problems) -> tuple[ModelRow, ...]:
    path = raw / MODELS_CSV
    rows = _read_table(
        path,
        ("id", "model", "provider", "for_generation", "for_evaluation"),
        ("display_name", "specialization"),
        problems,
    )
    if rows is None:
        return ()
    safe_ids = _check_ids(rows, "id", path, problems)
    out: list[ModelRow] = []
    for row in rows:
        for_generation = _parse_bool(row, "for_generation", path, problems)
        for_evaluation = _parse_bool(row, "for_evaluation", path, problems)
        model = row.get("model")
        provider = row.get("provider")
        if not model:
            problems.add(
                path,
                row.line,
                "model",
                "model is empty",
                "write the provider's model string (e.g. anthropic/claude-sonnet-4, or "
                "smollm2-135m-instruct with provider local)",
            )
        if not provider:
            problems.add(
                path,
                row.line,
                "provider",
                "provider is empty",
                "write local for the embedded model, or the serving provider (e.g. openrouter)",
            )
        mid = safe_ids.get(row.line)
        if mid is None:
            continue
        out.append(
            ModelRow(
                model_id=mid,
                model=model,
                provider=provider,
                display_name=row.get("display_name"),
                for_generation=for_generation,
                for_evaluation=for_evaluation,
            )
        )
    _require_some((m.for_generation for m in out), path, "for_generation", "model", problems)
    _require_some((m.for_evaluation for m in out), path, "for_evaluation", "model", problems)
    return tuple(out)


def load_raw_data(data_root: Path | str) -> RawData:
    """Load and validate ``<data_root>/1_raw``; raise InputError listing every problem found."""
    root = Path(data_root)
    raw = root / RAW_DIR
    problems = _Problems()
    if not raw.is_dir():
        problems.add(
            raw,
            None,
            None,
            "the data root has no 1_raw folder",
            "use a data root that holds a 1_raw/ folder (see data/README.md), or create it",
        )
        problems.raise_if_any()
    concepts = _load_concepts(raw, problems)
    drafts = _load_templates(root, "draft", problems)
    essays = _load_templates(root, "essay", problems)
    evaluations = _load_templates(root, "evaluation", problems)
    models = _load_models(raw, problems)
    problems.raise_if_any()
    curated = raw / CURATED_SELECTION_CSV
    return RawData(
        data_root=root,
        concepts=concepts,
        draft_templates=drafts,
        essay_templates=essays,
        evaluation_templates=evaluations,
        models=models,
        curated_selection_path=curated if curated.is_file() else None,
    )
