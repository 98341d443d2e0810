"""The user's inputs as typed values: concepts, template rows, model rows, and ``RawData``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

from daydreaming_dagster.core.draft_parsers import DRAFT_PARSERS as _DRAFT_PARSER_REGISTRY
from daydreaming_dagster.core.errors import InputError, InputProblem, UnknownTemplateError
from daydreaming_dagster.core.paths import require_safe_segment
from daydreaming_dagster.llm import ModelRoute

TemplateKind = Literal["draft", "essay", "evaluation"]
KINDS: tuple[TemplateKind, ...] = get_args(TemplateKind)
DESCRIPTION_LEVELS: tuple[str, ...] = ("sentence", "paragraph", "article")

RAW_DIR = "1_raw"
CONCEPTS_CSV = "concepts_metadata.csv"
MODELS_CSV = "llm_models.csv"
#: Optional llm_models.csv columns: USD per million tokens (the unit of provider price pages).
PRICE_COLUMNS: tuple[str, str] = ("prompt_usd_per_mtok", "completion_usd_per_mtok")
CURATED_SELECTION_CSV = "selected_combo_mappings.csv"
TEMPLATE_CSVS: Mapping[TemplateKind, str] = MappingProxyType(
    {
        "draft": "draft_templates.csv",
        "essay": "essay_templates.csv",
        "evaluation": "evaluation_templates.csv",
    }
)

#: The columns by which each catalog selects the default cohort (the seed era's layout). Upstream
#: HEAD's catalogs have none of them: its cohort specs name what they run.
FLAG_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        CONCEPTS_CSV: ("active",),
        **{name: ("active",) for name in TEMPLATE_CSVS.values()},
        MODELS_CSV: ("for_generation", "for_evaluation"),
    }
)

#: Where template files live: "seed" ``1_raw/generation_templates/{draft,essay}/`` and
#: ``1_raw/evaluation_templates/`` (the seed era's), "head" ``1_raw/templates/<stage>/`` (upstream HEAD's).
TemplateLayout = Literal["seed", "head"]
HEAD_TEMPLATES_DIR = "templates"

ESSAY_GENERATORS: tuple[str, ...] = ("llm", "copy")
EVALUATION_PARSERS: tuple[str, ...] = ("in_last_line", "complex")
DRAFT_PARSERS: tuple[str, ...] = tuple(_DRAFT_PARSER_REGISTRY)  # names draft_templates.csv may use
#: Optional evaluation_templates.csv columns: the rubric's score range and its success threshold.
SCALE_COLUMNS: tuple[str, str, str] = ("score_min", "score_max", "success_threshold")


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
class ScoreScale:
    """An evaluation template's score range and optional success threshold.

    The defaults are upstream's: scores from 0 to 10, no threshold. "Perfect" is ``score_max``; an
    essay succeeds on this rubric when its score reaches ``success_threshold``.
    """

    score_min: float = 0.0
    score_max: float = 10.0
    success_threshold: float | None = None

    @property
    def width(self) -> float:
        return self.score_max - self.score_min

    @property
    def label(self) -> str:
        """``0-10``: how the range is written in tables and messages."""
        return f"{self.score_min:g}-{self.score_max:g}"

    def contains(self, score: float) -> bool:
        return self.score_min <= score <= self.score_max


DEFAULT_SCALE = ScoreScale()


@dataclass(frozen=True)
class TemplateRow:
    """One row of a template CSV. ``generator`` is set for essays only ("llm" or "copy");
    ``parser`` for drafts (None = identity) and evaluations ("in_last_line" or "complex");
    ``scale`` for evaluations (the other kinds keep the default)."""

    kind: TemplateKind
    template_id: str
    template_name: str
    description: str
    active: bool
    parser: str | None = None
    generator: str | None = None
    scale: ScoreScale = DEFAULT_SCALE


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    model: str
    provider: str
    display_name: str
    for_generation: bool
    for_evaluation: bool
    line: int | None = field(default=None, compare=False)  # its line in llm_models.csv (header = 1)
    # Optional price columns (USD per million tokens); when both are set they override the
    # provider's /models prices.
    prompt_usd_per_mtok: float | None = None
    completion_usd_per_mtok: float | None = None

    def route(self) -> ModelRoute:
        return ModelRoute(model_id=self.model_id, provider=self.provider, model=self.model)

    @property
    def price_per_token(self) -> tuple[float, float] | None:
        """(prompt, completion) USD per token from the price columns, or None when not given."""
        if self.prompt_usd_per_mtok is None or self.completion_usd_per_mtok is None:
            return None
        return (self.prompt_usd_per_mtok / 1e6, self.completion_usd_per_mtok / 1e6)


def _check_kind(kind: str) -> TemplateKind:
    for k in KINDS:
        if k == kind:
            return k
    raise ValueError(f"unknown template kind {kind!r}: use one of {', '.join(KINDS)}")


def template_dir(data_root: Path, kind: TemplateKind, layout: TemplateLayout = "seed") -> Path:
    """The folder of a kind's template files in ``layout``."""
    raw = data_root / RAW_DIR
    if layout == "head":
        return raw / HEAD_TEMPLATES_DIR / kind
    if kind == "evaluation":
        return raw / "evaluation_templates"
    return raw / "generation_templates" / kind


def template_file_path(
    data_root: Path, kind: TemplateKind, template_id: str, layout: TemplateLayout = "seed"
) -> Path:
    """Where a template's text lives (the id must already be a safe path segment)."""
    require_safe_segment(template_id, what="template_id")
    return template_dir(data_root, kind, layout) / f"{template_id}.txt"


def _seed_layouts() -> Mapping[TemplateKind, TemplateLayout]:
    return {kind: "seed" for kind in KINDS}


@dataclass(frozen=True)
class RawData:
    data_root: Path
    concepts: tuple[Concept, ...]
    draft_templates: tuple[TemplateRow, ...]
    essay_templates: tuple[TemplateRow, ...]
    evaluation_templates: tuple[TemplateRow, ...]
    models: tuple[ModelRow, ...]
    curated_selection_path: Path | None = None
    # Each kind's template folder, as load_raw_data found it (a plain dict: RawData stays picklable).
    template_layouts: Mapping[TemplateKind, TemplateLayout] = field(default_factory=_seed_layouts, hash=False)
    #: True when the catalogs carry the flag columns (``active``, ``for_generation``,
    #: ``for_evaluation``: the seed era's layout), so the default cohort can be built from them;
    #: False for upstream HEAD's layout, where every row is unselected and only spec cohorts run.
    #: Either way every row can be named: ``template``, ``template_path`` and ``routes`` ignore flags.
    selects_by_flags: bool = True
    # Problems of inactive rows of flagged catalogs (unknown parser, missing template file): not
    # raised at load, where such rows are never run; raised by ``require_usable`` when named.
    unselected_row_problems: Mapping[tuple[TemplateKind, str], tuple[InputProblem, ...]] = field(
        default_factory=dict, hash=False
    )

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

    def require_usable(self, kind: TemplateKind, template_ids: Iterable[str]) -> None:
        """Raise one InputError listing every one of these templates that is unknown or unusable
        (a parser that does not exist, a missing template file). ``load_raw_data`` has checked
        every row a default cohort can select; call this for the rows a spec names, which may be
        inactive rows of a flagged catalog."""
        k = _check_kind(kind)
        problems: list[InputProblem] = []
        for template_id in dict.fromkeys(template_ids):
            try:
                self.template(k, template_id)
            except UnknownTemplateError as exc:
                problems.extend(exc.problems)
                continue
            problems.extend(self.unselected_row_problems.get((k, template_id), ()))
        if problems:
            raise InputError(problems)

    def template_path(self, kind: TemplateKind, template_id: str) -> Path:
        k = _check_kind(kind)
        return template_file_path(self.data_root, k, template_id, self.template_layouts.get(k, "seed"))

    def generation_models(self) -> list[ModelRow]:
        return [m for m in self.models if m.for_generation]

    def evaluation_models(self) -> list[ModelRow]:
        return [m for m in self.models if m.for_evaluation]

    def routes(self) -> dict[str, ModelRoute]:
        return {m.model_id: m.route() for m in self.models}


