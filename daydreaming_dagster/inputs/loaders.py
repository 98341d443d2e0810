"""Load and validate the user's inputs under ``<data_root>/1_raw``.

One job: turn the CSVs, concept descriptions and template files of a data root into typed,
validated values, or raise one :class:`InputError` listing *every* problem found (file, line,
column, what is wrong and how to fix it). Nothing is silently dropped or coerced.

Files read (upstream seed-era layout):

- ``concepts_metadata.csv`` (concept_id, name, active) and
  ``concepts/descriptions-<level>/<concept_id>.txt`` for level sentence, paragraph, article
- ``draft_templates.csv`` (template_id, template_name, description, active[, parser][, generator])
- ``essay_templates.csv`` (template_id, template_name, description, active, generator[, parser])
- ``evaluation_templates.csv`` (template_id, template_name, description, active, parser[, score_min,
  score_max, success_threshold]: the rubric's score range, upstream's 0-10 when blank, and an optional
  success threshold[, generator])
- ``llm_models.csv`` (id, model, provider[, display_name], for_generation, for_evaluation[, specialization]
  [, prompt_usd_per_mtok, completion_usd_per_mtok]: optional prices, USD per million tokens)
- template files: ``generation_templates/{draft,essay}/<id>.txt`` and ``evaluation_templates/<id>.txt``
- optionally ``selected_combo_mappings.csv`` (a curated selection; only its presence is recorded here)

Upstream HEAD's layout is read too: the same catalogs without their flag columns (``active``,
``for_generation``, ``for_evaluation``: its cohort specs select), and template files under
``templates/<stage>/<id>.txt``. Each is decided from what is there: a catalog without its flags
selects nothing by flags (``RawData.selects_by_flags`` is False), and each kind's templates are read
from the one of the two folders that holds template files. A root that mixes the two (some catalogs
with flags, some without; one kind's templates in both folders) is an InputError naming the files.

In a catalog with flags only its active rows must be usable (parser known, template file present);
in one without, every row must be, since any row may be named by a spec.

``link_templates.csv`` is legacy and ignored.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import MappingProxyType

from daydreaming_dagster.core.errors import InputProblem
from daydreaming_dagster.inputs.reader import (
    CsvRow,
    Problems,
    check_ids,
    parse_bool,
    read_header,
    read_table,
    require_some,
)
from daydreaming_dagster.inputs.types import (
    CONCEPTS_CSV,
    CURATED_SELECTION_CSV,
    DESCRIPTION_LEVELS,
    DRAFT_PARSERS,
    ESSAY_GENERATORS,
    EVALUATION_PARSERS,
    FLAG_COLUMNS,
    KINDS,
    MODELS_CSV,
    PRICE_COLUMNS,
    RAW_DIR,
    SCALE_COLUMNS,
    TEMPLATE_CSVS,
    Concept,
    ModelRow,
    RawData,
    ScoreScale,
    TemplateKind,
    TemplateLayout,
    TemplateRow,
    template_dir,
    template_file_path,
)

_TEMPLATE_COLUMNS = ("template_id", "template_name", "description")
# Upstream HEAD's explicit name for "no parser" (its registry's identity parser).
_IDENTITY_PARSER = "identity"
_HEAD_LAYOUT = "upstream HEAD's layout, where cohort specs select"


# --------------------------------------------------------------------------------------------
# Layout: flags or none, and where the template files are


def _catalog_flags(raw: Path, problems: Problems) -> dict[str, bool]:
    """Whether each catalog is read with its flag columns, decided from its header.

    A catalog with some of its flags but not all is reported here (and read without them).
    Catalogs that disagree are reported on the side with fewer files, the fix naming both ways
    out. A missing or unreadable catalog takes the others' layout, so ``read_table``'s message
    about it shows the header that fits.
    """
    decided: dict[str, bool] = {}
    header_lines: dict[str, int] = {}
    for name, columns in FLAG_COLUMNS.items():
        header = read_header(raw / name)
        if header is None:
            continue
        header_lines[name], names = header
        present = [c for c in columns if c in names]
        if present and len(present) < len(columns):
            missing = [c for c in columns if c not in names]
            problems.add(
                raw / name,
                header_lines[name],
                missing[0],
                f"the header has {', '.join(present)} but not {', '.join(missing)}",
                f"add {', '.join(missing)} (true or false) to select by flags, or remove "
                f"{', '.join(present)} too ({_HEAD_LAYOUT})",
            )
            continue
        decided[name] = bool(present)
    with_flags = [n for n, f in decided.items() if f]
    without = [n for n, f in decided.items() if not f]
    if with_flags and without:
        if len(with_flags) < len(without):  # blame the side with fewer files (flagless on a tie)
            for name in with_flags:
                decided[name] = False  # the odd one out: its flag cells are not read
                shown = ", ".join(FLAG_COLUMNS[name])
                problems.add(
                    raw / name,
                    header_lines[name],
                    FLAG_COLUMNS[name][0],
                    f"the file has flag columns ({shown}) but {', '.join(without)} have none",
                    f"remove {shown} ({_HEAD_LAYOUT}), or add the flag columns to "
                    f"{', '.join(without)} to select the default cohort by flags",
                )
        else:
            for name in without:
                shown = ", ".join(FLAG_COLUMNS[name])
                problems.add(
                    raw / name,
                    header_lines[name],
                    FLAG_COLUMNS[name][0],
                    f"the file has no flag columns ({shown}) but {', '.join(with_flags)} have them",
                    f"add {shown} (true or false) to select the default cohort by flags, or remove "
                    f"the flag columns from {', '.join(with_flags)} ({_HEAD_LAYOUT})",
                )
    # A missing catalog takes the layout most catalogs have (the seed era's on a tie or with none).
    others = len(with_flags) >= len(without)
    flagged: dict[str, bool] = {}
    for name in FLAG_COLUMNS:
        if name in decided:
            flagged[name] = decided[name]
        else:  # some of its flags (reported above: read without them), or missing
            flagged[name] = False if name in header_lines else others
    return flagged


def _holds_templates(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(p.suffix == ".txt" for p in folder.iterdir())
    except OSError:  # unreadable: counts as absent, and its files are reported missing
        return False


def _template_layout(root: Path, kind: TemplateKind, flagged: bool, problems: Problems) -> TemplateLayout:
    """The folder a kind's templates are read from: the one that holds template files; with
    none, the one of the catalog's layout (so a missing file is reported where it belongs)."""
    seed, head = template_dir(root, kind, "seed"), template_dir(root, kind, "head")
    in_seed, in_head = _holds_templates(seed), _holds_templates(head)
    if in_seed and in_head:
        problems.add(
            head,
            None,
            None,
            f"{kind} templates are in two folders, {seed} and {head}",
            f"keep one: move the files into {head} (upstream HEAD's layout) or into {seed} "
            "(the seed era's), and delete the other folder",
        )
    if in_seed or in_head:
        return "seed" if in_seed else "head"
    return "seed" if flagged else "head"


# --------------------------------------------------------------------------------------------
# Loading


def _read_description(path: Path, problems: Problems) -> str | None:
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        problems.add(path, None, None, f"not valid UTF-8 ({exc.reason})", "save the file as UTF-8")
        return None


def _load_concepts(raw: Path, flagged: bool, problems: Problems) -> tuple[Concept, ...]:
    path = raw / CONCEPTS_CSV
    rows = read_table(path, ("concept_id", "name", *(("active",) if flagged else ())), (), problems)
    if rows is None:
        return ()
    safe_ids = check_ids(rows, "concept_id", path, problems)
    concepts: list[Concept] = []
    for row in rows:
        active = parse_bool(row, "active", path, problems) if flagged else False
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
    if flagged:
        require_some((c.active for c in concepts), path, "active", "concept", problems)
    return tuple(concepts)


def _load_templates(
    data_root: Path,
    kind: TemplateKind,
    flagged: bool,
    layout: TemplateLayout,
    problems: Problems,
    deferred: dict[tuple[TemplateKind, str], tuple[InputProblem, ...]],
) -> tuple[TemplateRow, ...]:
    """The rows of a template catalog. An unselected row's problems (parser, template file) are
    not raised but kept in ``deferred``, for when a spec names the row."""
    path = data_root / RAW_DIR / TEMPLATE_CSVS[kind]
    required: tuple[str, ...] = (*_TEMPLATE_COLUMNS, *(("active",) if flagged else ()))
    # Upstream HEAD's catalogs all carry parser and generator; only the meaningful ones are required.
    optional: tuple[str, ...] = ("generator",)
    if kind == "draft":
        optional = ("parser", "generator")
    elif kind == "essay":
        required = (*required, "generator")
        optional = ("parser",)
    else:
        required = (*required, "parser")
        optional = (*SCALE_COLUMNS, "generator")
    rows = read_table(path, required, optional, problems)
    if rows is None:
        return ()
    safe_ids = check_ids(rows, "template_id", path, problems)
    out: list[TemplateRow] = []
    for row in rows:
        active = parse_bool(row, "active", path, problems) if flagged else False
        # A row that can be selected must be usable: an active one, or any row when no flags select.
        selectable = active or not flagged
        usability = problems if selectable else Problems()
        parser: str | None = None
        generator: str | None = None
        scale = ScoreScale()
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
            if row.get("parser").lower() not in ("", _IDENTITY_PARSER):
                problems.add(
                    path,
                    row.line,
                    "parser",
                    f"{row.raw('parser')!r}: essays have no parser",
                    "leave parser blank (the essay is kept as the model wrote it)",
                )
        else:
            _check_llm_generator(row, kind, path, problems)
            if kind == "evaluation":
                parser = row.get("parser").lower()
                if parser not in EVALUATION_PARSERS:
                    usability.add(
                        path,
                        row.line,
                        "parser",
                        f"{row.raw('parser')!r} is not an evaluation parser",
                        "write in_last_line (score on the last line) or complex",
                    )
                scale = _scale(row, path, problems)
            else:
                name = row.get("parser").lower()
                parser = None if name in ("", _IDENTITY_PARSER) else name
                if parser is not None and parser not in DRAFT_PARSERS:
                    usability.add(
                        path,
                        row.line,
                        "parser",
                        f"{row.raw('parser')!r} is not a draft parser",
                        "leave it blank (keep the draft as is) or write " + " or ".join(DRAFT_PARSERS),
                    )
        tid = safe_ids.get(row.line)
        if tid is None:
            continue
        if generator != "copy":
            tpath = template_file_path(data_root, kind, tid, layout)
            if not tpath.is_file():
                usability.add(
                    path,
                    row.line,
                    "template_id",
                    f"template file {tpath} does not exist",
                    f"create {tpath}, or " + ("set active=false on this row" if flagged else "delete this row"),
                )
        if usability is not problems and usability.items:
            deferred[(kind, tid)] = tuple(usability.items)
        out.append(
            TemplateRow(
                kind=kind,
                template_id=tid,
                template_name=row.raw("template_name"),
                description=row.raw("description"),
                active=active,
                parser=parser,
                generator=generator,
                scale=scale,
            )
        )
    if flagged:
        require_some((t.active for t in out), path, "active", f"{kind} template", problems)
    return tuple(out)


def _check_llm_generator(row: CsvRow, kind: TemplateKind, path: Path, problems: Problems) -> None:
    """Upstream HEAD's draft and evaluation catalogs have a generator column: only llm makes sense."""
    if row.get("generator").lower() not in ("", "llm"):
        problems.add(
            path,
            row.line,
            "generator",
            f"{row.raw('generator')!r}: a {kind} is always written by the model",
            "write llm or leave it blank (only essays can copy their parent)",
        )


_SCALE_FIXES = {
    "score_min": "write the lowest score of the rubric as a number (e.g. 0), or leave it blank for upstream's 0",
    "score_max": "write the highest score of the rubric as a number (e.g. 9), or leave it blank for upstream's 10",
    "success_threshold": "write the score an essay must reach to count as a success (e.g. 8), or leave it "
    "blank for no threshold",
}


def _scale(row: CsvRow, path: Path, problems: Problems) -> ScoreScale:
    """The optional scale columns of one evaluation_templates.csv row; blank means upstream's default."""
    default = ScoreScale()
    values: dict[str, float | None] = {}
    for column in SCALE_COLUMNS:
        text = row.get(column)
        number: float | None = None
        if text:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                problems.add(path, row.line, column, f"{row.raw(column)!r} is not a number", _SCALE_FIXES[column])
                return default
        values[column] = number
    low = values["score_min"] if values["score_min"] is not None else default.score_min
    high = values["score_max"] if values["score_max"] is not None else default.score_max
    if low >= high:
        problems.add(
            path,
            row.line,
            "score_max",
            f"the scale {low:g}-{high:g} is empty (score_min must be below score_max)",
            "write the lowest score in score_min and the highest in score_max (e.g. 0 and 9)",
        )
        return default
    threshold = values["success_threshold"]
    if threshold is not None and not low <= threshold <= high:
        problems.add(
            path,
            row.line,
            "success_threshold",
            f"success_threshold {threshold:g} is outside the scale {low:g}-{high:g}",
            f"write a score between {low:g} and {high:g}, or leave it blank for no threshold",
        )
        return default
    return ScoreScale(low, high, threshold)


def load_score_scales(data_root: Path | str) -> dict[str, ScoreScale]:
    """Each evaluation template's scale, from ``evaluation_templates.csv`` alone (template_id -> scale).

    For the result tables, which need only the scales: the file's other columns are not checked
    here (``load_raw_data`` does that before a run). No file gives no scales (every template then has
    upstream's 0-10); a scale that is not valid raises InputError with its line and fix.
    """
    path = Path(data_root) / RAW_DIR / TEMPLATE_CSVS["evaluation"]
    if not path.is_file():
        return {}
    problems = Problems()
    rows = read_table(path, ("template_id",), SCALE_COLUMNS, problems)
    scales = {row.get("template_id"): _scale(row, path, problems) for row in rows or ()}
    problems.raise_if_any()
    return scales


def _load_models(raw: Path, flagged: bool, problems: Problems) -> tuple[ModelRow, ...]:
    path = raw / MODELS_CSV
    flags = FLAG_COLUMNS[MODELS_CSV] if flagged else ()
    rows = read_table(
        path,
        ("id", "model", "provider", *flags),
        ("display_name", "specialization", *PRICE_COLUMNS),
        problems,
    )
    if rows is None:
        return ()
    safe_ids = check_ids(rows, "id", path, problems)
    out: list[ModelRow] = []
    for row in rows:
        for_generation = parse_bool(row, "for_generation", path, problems) if flagged else False
        for_evaluation = parse_bool(row, "for_evaluation", path, problems) if flagged else False
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
        prompt_price, completion_price = _prices(row, path, problems)
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
                line=row.line,
                prompt_usd_per_mtok=prompt_price,
                completion_usd_per_mtok=completion_price,
            )
        )
    if flagged:
        require_some((m.for_generation for m in out), path, "for_generation", "model", problems)
        require_some((m.for_evaluation for m in out), path, "for_evaluation", "model", problems)
    return tuple(out)


def _prices(row: CsvRow, path: Path, problems: Problems) -> tuple[float | None, float | None]:
    """The optional price columns of one llm_models.csv row (USD per million tokens): both or
    neither, each a finite number >= 0."""
    values: list[float | None] = []
    for column in PRICE_COLUMNS:
        text = row.get(column)
        if not text:
            values.append(None)
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            problems.add(
                path,
                row.line,
                column,
                f"{row.raw(column)!r} is not a price",
                "write USD per million tokens as a number >= 0 (e.g. 3 or 0.15), or leave it blank "
                "to use the provider's price",
            )
            number = math.nan
        values.append(number)
    given = [v for v in values if v is not None]
    if any(math.isnan(v) for v in given):
        return None, None
    if len(given) == 1:
        missing = PRICE_COLUMNS[values.index(None)]
        problems.add(
            path,
            row.line,
            missing,
            "only one of the two price columns is set",
            f"fill {missing} too (USD per million tokens), or leave both blank to use the provider's prices",
        )
        return None, None
    return values[0], values[1]


def load_raw_data(data_root: Path | str) -> RawData:
    """Load and validate ``<data_root>/1_raw``; raise InputError listing every problem found."""
    root = Path(data_root)
    raw = root / RAW_DIR
    problems = Problems()
    if not raw.is_dir():
        problems.add(
            raw,
            None,
            None,
            "the data root has no 1_raw folder",
            "use a data root that holds a 1_raw/ folder (see data/README.md), or create it",
        )
        problems.raise_if_any()
    flagged = _catalog_flags(raw, problems)
    concepts = _load_concepts(raw, flagged[CONCEPTS_CSV], problems)
    layouts: dict[TemplateKind, TemplateLayout] = {}
    templates: dict[TemplateKind, tuple[TemplateRow, ...]] = {}
    deferred: dict[tuple[TemplateKind, str], tuple[InputProblem, ...]] = {}
    for kind in KINDS:
        kind_flagged = flagged[TEMPLATE_CSVS[kind]]
        layouts[kind] = _template_layout(root, kind, kind_flagged, problems)
        templates[kind] = _load_templates(root, kind, kind_flagged, layouts[kind], problems, deferred)
    models = _load_models(raw, flagged[MODELS_CSV], problems)
    problems.raise_if_any()
    curated = raw / CURATED_SELECTION_CSV
    return RawData(
        data_root=root,
        concepts=concepts,
        draft_templates=templates["draft"],
        essay_templates=templates["essay"],
        evaluation_templates=templates["evaluation"],
        models=models,
        curated_selection_path=curated if curated.is_file() else None,
        template_layouts=layouts,
        selects_by_flags=all(flagged.values()),
        unselected_row_problems=deferred,
    )

