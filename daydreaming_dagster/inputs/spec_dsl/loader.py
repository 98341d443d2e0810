"""Reading a spec: YAML, JSON or TOML, its ``@file:`` includes, and its shape.

The rules of upstream HEAD's loader, with two additions: an include must stay inside the spec's
folder, and a multi-column include whose header names the rule's axes in another order is refused
(upstream read it by position and silently swapped the values). YAML problems carry their line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from daydreaming_dagster.core.errors import InputError
from daydreaming_dagster.inputs.spec_dsl.model import (
    BALANCES,
    Balance,
    Level,
    Origin,
    PairRule,
    Rule,
    Spec,
    SubsetRule,
    TieRule,
    TupleRule,
    spec_error,
)

FILE_PREFIX = "@file:"
SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
INCLUDE_SUFFIXES = (".csv", ".txt", ".yaml", ".yml", ".json")
RULE_SECTIONS = ("subsets", "ties", "pairs", "tuples")
SPEC_FILE_NAME = "config.yaml"

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class _Doc:
    """The spec being read: its file, its folder (includes resolve there) and the line of each key."""

    source: Path
    base_dir: Path
    lines: Mapping[KeyPath, int]
    # Resolves '@<kind>:...' axis levels other than @file: (the caller's extension, e.g. @cohort:).
    references: Callable[[str], list[str]] | None = None

    def at(self, path: KeyPath) -> Origin:
        # The key itself, else its nearest ancestor that has a line.
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return Origin(self.source, line)
        return Origin(self.source, None)

    def error(self, path: KeyPath, problem: str, fix: str) -> Exception:
        where = _dotted(path)
        return spec_error(self.at(path), f"{where}: {problem}" if where else problem, fix)


def _dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# --------------------------------------------------------------------------------------------
# Entry points


def load_spec(path: Path | str, *, references: Callable[[str], list[str]] | None = None) -> Spec:
    """Load a spec file (``.yaml``/``.yml``/``.json``/``.toml``); a folder means its ``config.yaml``.

    ``references`` resolves an axis written as another ``@<kind>:`` string (not ``@file:``) into
    its levels; a ValueError it raises becomes an InputError at that axis. Raises InputError
    naming the file (and, for YAML, the line) and the fix.
    """
    spec_path = Path(path)
    if spec_path.is_dir() or (not spec_path.exists() and not spec_path.suffix):
        spec_path = spec_path / SPEC_FILE_NAME
    origin = Origin(spec_path)
    if not spec_path.is_file():
        raise spec_error(origin, "the spec file is missing", f"create it (a cohort's spec is cohorts/<id>/spec/{SPEC_FILE_NAME})")
    suffix = spec_path.suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise spec_error(origin, f"unsupported spec format {suffix!r}", f"write the spec as {', '.join(SPEC_SUFFIXES)}")
    try:
        text = spec_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise spec_error(origin, f"not valid UTF-8 ({exc.reason})", "save the file as UTF-8") from exc
    data, lines = _parse_text(text, suffix, origin)
    return _build_spec(data, _Doc(spec_path, spec_path.parent, MappingProxyType(lines), references))


def parse_spec_mapping(mapping: Mapping[str, Any], *, source: Path | str, base_dir: Path | str | None = None) -> Spec:
    """A spec from an already-parsed mapping; ``@file:`` includes resolve in ``base_dir``
    (default: the folder of ``source``). Problems name ``source`` (without lines)."""
    source_path = Path(source)
    folder = Path(base_dir) if base_dir is not None else source_path.parent
    return _build_spec(mapping, _Doc(source_path, folder, MappingProxyType({})))


def _parse_text(text: str, suffix: str, origin: Origin) -> tuple[Any, dict[KeyPath, int]]:
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
            lines = _yaml_key_lines(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc)
            raise spec_error(Origin(origin.file, line), f"not valid YAML ({reason})", "fix the YAML syntax on that line") from exc
        return ({} if data is None else data), lines
    if suffix == ".json":
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise spec_error(Origin(origin.file, exc.lineno), f"not valid JSON ({exc.msg})", "fix the JSON syntax on that line") from exc
    try:
        return tomllib.loads(text), {}
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise spec_error(Origin(origin.file, line), f"not valid TOML ({exc})", "fix the TOML syntax on that line") from exc


def _yaml_key_lines(text: str) -> dict[KeyPath, int]:
    """1-based line of every mapping key and list item of a YAML document, by key path."""
    lines: dict[KeyPath, int] = {}

    def walk(node: yaml.Node | None, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, str(key_node.value))
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                lines[child] = item.start_mark.line + 1
                walk(item, child)

    walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    return lines


# --------------------------------------------------------------------------------------------
# The spec's sections


def _build_spec(data: Any, doc: _Doc) -> Spec:
    if not isinstance(data, Mapping):
        raise doc.error((), "the spec must be a mapping with 'axes', 'rules' and 'output'", "write the spec as a mapping (see docs/cohorts.md)")
    for key in data:
        if key not in ("axes", "rules", "output"):
            raise doc.error((str(key),), "unknown top-level key", "keep only 'axes', 'rules' and 'output'")

    axes_section = data.get("axes", {})
    if not isinstance(axes_section, Mapping):
        raise doc.error(("axes",), "must be a mapping of axis name to levels", "write 'axes:' with one 'name: [levels]' line per axis")
    axes: dict[str, tuple[Level, ...]] = {}
    for name, payload in axes_section.items():
        path: KeyPath = ("axes", str(name))
        if not isinstance(name, str) or not name:
            raise doc.error(path, "an axis name must be a non-empty string", "name the axis, e.g. draft_template")
        if isinstance(payload, str) and payload.startswith(FILE_PREFIX):
            axes[name] = tuple(value for value, _ in _include(payload, doc, path))
        elif isinstance(payload, str) and payload.startswith("@") and doc.references is not None:
            try:
                axes[name] = tuple(doc.references(payload))
            except (ValueError, InputError) as exc:
                raise doc.error(path, f"{payload!r}: {exc}", "see docs/experiments.md for '@cohort:' and '@combos:'") from None
            if not axes[name]:
                raise doc.error(path, f"{payload!r} gives no levels", "name a cohort with essays, or concepts that exist")
        elif isinstance(payload, list | tuple):
            axes[name] = tuple(_freeze(value, doc, (*path, i)) for i, value in enumerate(payload))
            if not axes[name]:
                raise doc.error(path, "the axis has no levels (it would give no rows)", f"list at least one level, or remove {name!r}")
        else:
            raise doc.error(
                path,
                f"levels must be a list or an '{FILE_PREFIX}' include, not {_kind(payload)}",
                f"write a list, e.g. {name}: [a, b], or {name}: '{FILE_PREFIX}items/{name}.csv'; "
                "an axis whose levels come from a tuple rule is not declared at all",
            )

    rules = _parse_rules(data.get("rules", {}), doc)
    derived = _derive_tuple_axes(rules, axes, set(axes), doc)

    output = data.get("output", {})
    if not isinstance(output, Mapping):
        raise doc.error(("output",), "must be a mapping", "write 'output:' with a 'field_order:' list")
    field_order = output.get("field_order")
    if not isinstance(field_order, list | tuple):
        raise doc.error(
            ("output", "field_order") if "field_order" in output else ("output",),
            "field_order is required (a list of axis names)",
            "add 'output: {field_order: [...]}' listing the columns in the order you want",
        )
    for i, field in enumerate(field_order):
        if field not in axes:
            raise doc.error(
                ("output", "field_order", i),
                f"{field!r} is not an axis",
                f"list only axes ({', '.join(axes) or 'none'}), or declare {field!r} under axes",
            )
    return Spec(
        source=doc.source,
        axes=MappingProxyType(axes),
        derived_axes=frozenset(derived),
        rules=tuple(rules),
        field_order=tuple(str(f) for f in field_order),
        origin=Origin(doc.source),
    )


def _parse_rules(section: Any, doc: _Doc) -> list[Rule]:
    if section is None or section == {}:
        return []
    if not isinstance(section, Mapping):
        raise doc.error(("rules",), "must be a mapping of rule sections", f"write 'rules:' with sections among {', '.join(RULE_SECTIONS)}")
    rules: list[Rule] = []
    # Sections apply in the order written (upstream's loader keeps it; a pair may name a tuple).
    for key, payload in section.items():
        path: KeyPath = ("rules", str(key))
        if key not in RULE_SECTIONS:
            raise doc.error(path, f"unknown rule section {key!r}", f"use one of {', '.join(RULE_SECTIONS)}")
        if not isinstance(payload, Mapping):
            raise doc.error(path, "must be a mapping of rule name to rule", f"write one 'name: ...' entry per rule under {key}")
        for name, body in payload.items():
            rule_path: KeyPath = (*path, str(name))
            if not isinstance(name, str) or not name:
                raise doc.error(rule_path, "a rule name must be a non-empty string", "name the rule")
            if key == "subsets":
                rules.append(_subset_rule(name, body, doc, rule_path))
            elif key == "ties":
                rules.append(_tie_rule(name, body, doc, rule_path))
            elif key == "pairs":
                rules.append(_pair_rule(name, body, doc, rule_path))
            else:
                rules.append(_tuple_rule(name, body, doc, rule_path))
    return rules


def _subset_rule(axis: str, body: Any, doc: _Doc, path: KeyPath) -> SubsetRule:
    entries = _listed(body, doc, path, "levels to keep", f"{axis}: [a, b]")
    return SubsetRule(axis=axis, keep=tuple(value for value, _ in entries), origin=doc.at(path))


def _tie_rule(name: str, body: Any, doc: _Doc, path: KeyPath) -> TieRule:
    axes: Any = body
    if isinstance(body, Mapping):
        if "to" in body:
            raise doc.error((*path, "to"), "'to' is not allowed in a tie", "remove 'to': the tie's name is the shared axis")
        axes = body.get("axes")
    if not isinstance(axes, list | tuple) or not axes or not all(isinstance(a, str) for a in axes):
        raise doc.error(path, "a tie needs a non-empty list of axis names", f"write {name}: {{axes: [draft_template, essay_template]}}")
    return TieRule(name=name, axes=tuple(axes), origin=doc.at(path))


def _pair_rule(name: str, body: Any, doc: _Doc, path: KeyPath) -> PairRule:
    if not isinstance(body, Mapping):
        raise doc.error(path, "a pair must be a mapping", "write left:, right:, allowed: (and optionally balance:)")
    left, right = body.get("left"), body.get("right")
    if not isinstance(left, str) or not isinstance(right, str) or not left or not right:
        raise doc.error(path, "a pair needs 'left' and 'right' axis names", "write left: <axis> and right: <axis>")
    if left == right:
        raise doc.error(path, f"left and right are both {left!r}", "pair two different axes")
    for key in body:
        if key not in ("left", "right", "allowed", "balance"):
            raise doc.error((*path, str(key)), f"unknown pair key {key!r}", "keep only left, right, allowed and balance")
    balance = body.get("balance")
    if balance is not None and balance not in BALANCES:
        raise doc.error((*path, "balance"), f"balance {balance!r} is not one of {', '.join(BALANCES)}", "write balance: left, right or both, or remove it")
    entries = _listed(body.get("allowed"), doc, (*path, "allowed"), "allowed pairs", "allowed: [[a, x], [b, y]]")
    allowed: list[tuple[Level, Level]] = []
    for value, origin in entries:
        if not isinstance(value, tuple) or len(value) != 2:
            raise spec_error(origin, f"pair {name!r}: {value!r} is not a (left, right) pair", "write each allowed entry as [left, right]")
        allowed.append((value[0], value[1]))
    _check_header_order(body.get("allowed"), [left, right], doc, (*path, "allowed"))
    return PairRule(
        name=name, left=left, right=right, allowed=tuple(allowed),
        allowed_origins=tuple(origin for _, origin in entries),
        balance=_as_balance(balance), origin=doc.at(path),
    )


def _as_balance(value: object) -> Balance | None:
    for balance in BALANCES:
        if value == balance:
            return balance
    return None


def _tuple_rule(name: str, body: Any, doc: _Doc, path: KeyPath) -> TupleRule:
    if not isinstance(body, Mapping):
        raise doc.error(path, "a tuple must be a mapping", "write axes: [...] and items: [...]")
    if "expand" in body:
        raise doc.error((*path, "expand"), "'expand' is no longer supported", "remove it: tuples always expand into their axes")
    axes = body.get("axes")
    if not isinstance(axes, list | tuple) or not axes or not all(isinstance(a, str) and a for a in axes):
        raise doc.error((*path, "axes"), "a tuple needs a non-empty list of axis names", "write axes: [essay_template, essay_llm]")
    entries = _listed(body.get("items"), doc, (*path, "items"), "items", "items: [[a, x], [b, y]]")
    if not entries:
        raise doc.error((*path, "items"), f"tuple {name!r} lists no items", "list at least one item (one value per axis)")
    items: list[tuple[Level, ...]] = []
    for value, origin in entries:
        if not isinstance(value, tuple) or len(value) != len(axes):
            raise spec_error(
                origin,
                f"tuple {name!r}: item {value!r} does not have one value per axis ({', '.join(axes)})",
                f"write each item as a list of {len(axes)} values",
            )
        items.append(value)
    _check_header_order(body.get("items"), list(axes), doc, (*path, "items"))
    return TupleRule(
        name=name, axes=tuple(axes), items=tuple(items),
        item_origins=tuple(origin for _, origin in entries), origin=doc.at(path),
    )


def _derive_tuple_axes(rules: list[Rule], axes: dict[str, tuple[Level, ...]], declared: set[str], doc: _Doc) -> set[str]:
    """Add the axes that tuple rules define (levels in first-seen order); they may not be declared."""
    derived: dict[str, list[Level]] = {}
    for rule in rules:
        if not isinstance(rule, TupleRule):
            continue
        for index, axis in enumerate(rule.axes):
            if axis in declared:
                raise spec_error(
                    rule.origin,
                    f"axis {axis!r} is declared under axes and also takes its levels from tuple {rule.name!r}",
                    f"remove {axis!r} from axes: the tuple's items give its levels",
                )
            levels = derived.setdefault(axis, [])
            for item in rule.items:
                if item[index] not in levels:
                    levels.append(item[index])
    for axis, levels in derived.items():
        axes[axis] = tuple(levels)
    return set(derived)


# --------------------------------------------------------------------------------------------
# Values and includes


def _listed(payload: Any, doc: _Doc, path: KeyPath, what: str, example: str) -> list[tuple[Level, Origin]]:
    """A list written inline or included with ``@file:``: each value with where it was written."""
    if isinstance(payload, str) and payload.startswith(FILE_PREFIX):
        return _include(payload, doc, path)
    if isinstance(payload, list | tuple):
        return [(_freeze(value, doc, (*path, i)), doc.at((*path, i))) for i, value in enumerate(payload)]
    raise doc.error(path, f"the {what} must be a list or an '{FILE_PREFIX}' include, not {_kind(payload)}", f"write e.g. {example}")


def _freeze(value: Any, doc: _Doc, path: KeyPath) -> Level:
    """Lists become tuples (levels must be hashable); scalars stay as written."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v, doc, (*path, i)) for i, v in enumerate(value))
    if isinstance(value, Mapping) or not isinstance(value, Hashable):
        raise doc.error(path, f"{value!r} cannot be a level", "write a string or a number (or a list, for a pair or tuple)")
    return value


def _kind(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def _include_path(reference: str, doc: _Doc, path: KeyPath) -> Path:
    relative = reference.removeprefix(FILE_PREFIX).strip()
    folder = doc.base_dir.resolve()
    target = (folder / relative).resolve()
    if not relative or not target.is_relative_to(folder):
        raise doc.error(
            path,
            f"include {reference!r} is outside the spec's folder {doc.base_dir}",
            "put the file in the spec's folder (e.g. items/) and give its path relative to the spec",
        )
    if not target.is_file():
        raise doc.error(path, f"include {reference!r} not found (looked for {target})", f"create it, or correct the path (relative to {doc.base_dir})")
    if target.suffix.lower() not in INCLUDE_SUFFIXES:
        raise doc.error(path, f"include {reference!r}: unsupported file type {target.suffix!r}", f"use one of {', '.join(INCLUDE_SUFFIXES)}")
    return target


def _include(reference: str, doc: _Doc, path: KeyPath) -> list[tuple[Level, Origin]]:
    target = _include_path(reference, doc, path)
    try:
        text = target.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise spec_error(Origin(target), f"not valid UTF-8 ({exc.reason})", "save the file as UTF-8") from exc
    suffix = target.suffix.lower()
    if suffix == ".csv":
        _, rows = _read_csv_include(target, text)
        return rows
    if suffix == ".txt":
        return [(line.strip(), Origin(target, n)) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    sub = _Doc(target, target.parent, MappingProxyType({}))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise spec_error(Origin(target, exc.lineno), f"not valid JSON ({exc.msg})", "fix the JSON syntax on that line") from exc
    else:
        data, lines = _parse_text(text, suffix, Origin(target))
        sub = _Doc(target, target.parent, MappingProxyType(lines))
    if not isinstance(data, list):
        raise spec_error(Origin(target), f"the file must hold a list, not {_kind(data)}", "write a list of levels")
    return [(_freeze(value, sub, (i,)), sub.at((i,))) for i, value in enumerate(data)]


def _read_csv_include(target: Path, text: str) -> tuple[list[str], list[tuple[Level, Origin]]]:
    """A header, then rows: one column gives strings, several give tuples in header order.

    Cells are stripped. Blank lines are skipped; a one-column file skips empty cells too, a
    multi-column file refuses them (upstream's rules).
    """
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    previous_end = 0
    try:
        for fields in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if any(field.strip() for field in fields):
                records.append((start, [field.strip() for field in fields]))
    except csv.Error as exc:
        raise spec_error(Origin(target, previous_end + 1), f"malformed CSV ({exc})", "fix the quoting on that line") from exc
    if not records:
        raise spec_error(Origin(target, 1), "the include is empty", "write a header line, then one value (or row) per line")
    header_line, header = records[0]
    if not all(header) or len(set(header)) != len(header):
        raise spec_error(
            Origin(target, header_line), f"bad header {','.join(header)!r}: a column name is empty or repeated",
            "name each column once (e.g. the axis names), with no trailing comma",
        )
    values: list[tuple[Level, Origin]] = []
    for line, fields in records[1:]:
        origin = Origin(target, line)
        if len(fields) > len(header):
            raise spec_error(origin, f"the row has {len(fields)} fields but the header has {len(header)}", 'remove the extra fields, or quote values that contain commas ("a, b")')
        if len(header) == 1:
            values.append((fields[0], origin))
            continue
        cells = fields + [""] * (len(header) - len(fields))
        for column, cell in zip(header, cells, strict=True):
            if not cell:
                raise spec_error(origin, f"column {column!r} is empty", "fill every column of every row (or delete the row)")
        values.append((tuple(cells), origin))
    if not values:
        raise spec_error(Origin(target, header_line), "the include has a header but no rows", "add one value (or row) per line under the header")
    return header, values


def _check_header_order(payload: Any, axes: list[str], doc: _Doc, path: KeyPath) -> None:
    """Refuse an include whose header names the rule's axes in another order: upstream reads the
    columns by position, so the values would be silently swapped."""
    if not (isinstance(payload, str) and payload.startswith(FILE_PREFIX)):
        return
    target = _include_path(payload, doc, path)
    if target.suffix.lower() != ".csv":
        return
    header, _ = _read_csv_include(target, target.read_text(encoding="utf-8-sig"))
    if header != axes and sorted(header) == sorted(axes):
        raise spec_error(
            Origin(target, 1),
            f"the columns are {','.join(header)} but the rule lists {','.join(axes)}: values are read by position",
            f"reorder the columns to {','.join(axes)}",
        )
