"""From a cohort spec's design rows to generations: one task row per draft, essay and evaluation.

Upstream HEAD's planner, with our task-table columns. Each design row names a draft (``combo_id``,
``draft_template``, ``draft_llm``, draft replicate), an essay of it (``essay_template``,
``essay_llm``, essay replicate) and an evaluation of that essay (``evaluation_template``,
``evaluation_llm``, evaluation replicate); rows that share a draft or an essay give it once, in
first-seen order. Gen ids are upstream's deterministic ``d_``/``e_``/``v_`` ids (``core.ids``),
task ids keep our format, and ``cohort_id`` is the cohort's name.

Curated rows reuse generations already on disk (the guide's "rescoring the best essays"):
an ``essay_gen_id`` column plans only evaluations of that essay; a ``draft_gen_id`` column plans
essays of that draft and their evaluations. The caller reads those generations' metadata into
:class:`ExistingGeneration` values; this module does no I/O.

Refused where upstream was silent: two different generations with one gen_id (upstream's essay id
ignores ``essay_llm``, and ids are lower-cased), unknown models, and rows missing an axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daydreaming_dagster.cohort.tasks import DRAFT_COLUMNS, ESSAY_COLUMNS, EVALUATION_COLUMNS
from daydreaming_dagster.core.ids import (
    compute_deterministic_gen_id,
    draft_signature,
    draft_task_id,
    essay_signature,
    essay_task_id,
    evaluation_signature,
    evaluation_task_id,
    with_replicate,
)
from daydreaming_dagster.inputs import InputError, InputProblem
from daydreaming_dagster.inputs.spec_dsl import DesignRow, Spec, compile_design

# Axis names a design row may use, first name preferred (upstream's names and aliases).
COMBO_AXES = ("combo_id", "combo")
DRAFT_TEMPLATE_AXES = ("draft_template",)
DRAFT_LLM_AXES = ("draft_llm", "draft_model", "generation_llm")
DRAFT_REPLICATE_AXES = ("draft_replicate", "draft_template_replicate", "draft_rep")
ESSAY_TEMPLATE_AXES = ("essay_template",)
ESSAY_LLM_AXES = ("essay_llm",)
ESSAY_REPLICATE_AXES = ("essay_replicate", "essay_template_replicate", "essay_rep")
EVALUATION_TEMPLATE_AXES = ("evaluation_template",)
EVALUATION_LLM_AXES = ("evaluation_llm",)
EVALUATION_REPLICATE_AXES = (
    "evaluation_replicate", "evaluation_template_replicate", "evaluation_llm_replicate", "evaluation_rep",
)
DRAFT_GEN_ID_AXIS = "draft_gen_id"
ESSAY_GEN_ID_AXIS = "essay_gen_id"

_DRAFT_AXES = (*COMBO_AXES, *DRAFT_TEMPLATE_AXES, *DRAFT_LLM_AXES, *DRAFT_REPLICATE_AXES)
_ESSAY_AXES = (*ESSAY_TEMPLATE_AXES, *ESSAY_LLM_AXES, *ESSAY_REPLICATE_AXES)
_EVALUATION_AXES = (*EVALUATION_TEMPLATE_AXES, *EVALUATION_LLM_AXES, *EVALUATION_REPLICATE_AXES)
RECOGNISED_AXES = frozenset({*_DRAFT_AXES, *_ESSAY_AXES, *_EVALUATION_AXES, DRAFT_GEN_ID_AXIS, ESSAY_GEN_ID_AXIS})

# Our task tables' columns, plus the cohort (draft and essay tables add it when salted) and replicate.
PLAN_DRAFT_COLUMNS = (*DRAFT_COLUMNS, "cohort_id", "replicate")
PLAN_ESSAY_COLUMNS = (*ESSAY_COLUMNS, "cohort_id", "replicate")
PLAN_EVALUATION_COLUMNS = (*EVALUATION_COLUMNS, "replicate")

TaskRow = dict[str, str]
Membership = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ExistingGeneration:
    """A draft or essay on disk that a curated row names, as the caller read it from metadata.

    ``model_id`` is the llm_models.csv id that wrote it. Essays also give their template, their
    parent draft's gen_id and task id; both give the draft's combo and template.
    """

    stage: Literal["draft", "essay"]
    gen_id: str
    task_id: str
    combo_id: str
    draft_template: str
    model_id: str
    replicate: int = 1
    essay_template: str = ""
    parent_gen_id: str = ""
    draft_task_id: str = ""


@dataclass(frozen=True)
class SpecPlan:
    """The generations of one cohort spec, as task rows (all values text, as the task CSVs).

    ``membership`` lists (stage, gen_id) of every generation the cohort covers, reused ones
    included (``reused``), drafts then essays then evaluations. ``ignored_axes`` are design
    columns the planner does not read (a tie's own column, or a misspelt axis).
    """

    cohort_id: str
    drafts: tuple[TaskRow, ...]
    essays: tuple[TaskRow, ...]
    evaluations: tuple[TaskRow, ...]
    combo_ids: tuple[str, ...]
    membership: Membership
    reused: Membership = ()
    ignored_axes: tuple[str, ...] = ()


def plan_spec(
    spec: Spec,
    *,
    cohort_id: str,
    model_names: Mapping[str, str],
    evaluation_parsers: Mapping[str, str] | None = None,
    existing: Mapping[str, ExistingGeneration] | None = None,
) -> SpecPlan:
    """Compile ``spec`` and plan its generations (see :func:`plan_design_rows`)."""
    return plan_design_rows(
        compile_design(spec), source=spec.source, cohort_id=cohort_id, model_names=model_names,
        evaluation_parsers=evaluation_parsers, existing=existing,
    )


def plan_design_rows(
    rows: Sequence[DesignRow],
    *,
    source: Path,
    cohort_id: str,
    model_names: Mapping[str, str],
    evaluation_parsers: Mapping[str, str] | None = None,
    existing: Mapping[str, ExistingGeneration] | None = None,
) -> SpecPlan:
    """Task rows for design ``rows`` (from the spec at ``source``, which problems name).

    ``model_names`` maps llm_models.csv ids to provider model strings (every model a row names
    must be there); ``evaluation_parsers`` maps evaluation templates to their parser (the
    ``parser`` column, "" if absent); ``existing`` holds the generations curated rows name, by
    gen_id. Raises InputError.
    """
    planner = _Planner(source, cohort_id, model_names, evaluation_parsers or {}, existing or {})
    for index, row in enumerate(rows, start=1):
        planner.add(index, row)
    return planner.result(rows)


# --------------------------------------------------------------------------------------------


class _Planner:
    def __init__(
        self,
        source: Path,
        cohort_id: str,
        model_names: Mapping[str, str],
        parsers: Mapping[str, str],
        existing: Mapping[str, ExistingGeneration],
    ) -> None:
        self.source = source
        self.cohort_id = cohort_id
        self.model_names = model_names
        self.parsers = parsers
        self.existing = existing
        # Keyed by what the generation is; each value is its task row.
        self.drafts: dict[tuple[str, str, str, int], TaskRow] = {}
        self.essays: dict[tuple[str, str, str, int], TaskRow] = {}
        self.evaluations: dict[tuple[str, str, str, int], TaskRow] = {}
        self.reused: dict[tuple[str, str], None] = {}
        self.combos: dict[str, None] = {}
        self.keys_by_gen_id: dict[str, tuple[int, tuple[object, ...]]] = {}

    # -- problems

    def error(self, index: int, row: DesignRow, problem: str, fix: str) -> InputError:
        shown = ", ".join(f"{key}={value!r}" for key, value in row.items())
        return InputError([InputProblem(self.source, None, None, f"design row {index} ({shown}): {problem}", fix)])

    def text(self, index: int, row: DesignRow, axes: Sequence[str], *, default: str | None = None) -> str:
        for axis in axes:
            value = row.get(axis)
            if value is not None and str(value).strip():
                return str(value).strip()
        if default is not None:
            return default
        raise self.error(
            index, row, f"no {axes[0]} (the planner needs one in every row)",
            f"add a {axes[0]} axis to the spec (or a tuple that sets it); to reuse existing essays or drafts, "
            f"add an {ESSAY_GEN_ID_AXIS} or {DRAFT_GEN_ID_AXIS} axis instead",
        )

    def replicate(self, index: int, row: DesignRow, axes: Sequence[str]) -> int:
        for axis in axes:
            value = row.get(axis)
            if value is None or not str(value).strip():
                continue
            try:
                number = int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
            except (TypeError, ValueError):
                number = 0
            if number < 1:
                raise self.error(index, row, f"{axis} {value!r} is not a replicate number", f"write {axis} levels as whole numbers from 1")
            return number
        return 1

    def model_name(self, index: int, row: DesignRow, axis: str, model_id: str) -> str:
        name = self.model_names.get(model_id)
        if name is None:
            raise self.error(
                index, row, f"{axis} {model_id!r} is not a model of llm_models.csv",
                f"add {model_id!r} to 1_raw/llm_models.csv, or use one of: {', '.join(sorted(self.model_names)) or 'none'}",
            )
        return name

    def claim(self, stage: str, gen_id: str, key: tuple[object, ...], index: int, row: DesignRow) -> None:
        """One gen_id, one generation: refuse two different keys that hash to the same id."""
        seen = self.keys_by_gen_id.setdefault(gen_id, (index, key))
        if seen[1] != key:
            fix = (
                "upstream's essay id ignores essay_llm: give such essays different essay replicates, "
                "or one essay_llm per essay template"
                if stage == "essay"
                else "ids are lower-cased: spell each template, model and combo one way only"
            )
            raise self.error(index, row, f"this {stage} gets gen_id {gen_id}, as a different {stage} of design row {seen[0]}", fix)

    def forbid(self, index: int, row: DesignRow, axes: Iterable[str], reason: str) -> None:
        present = [axis for axis in axes if axis in row]
        if present:
            raise self.error(index, row, f"{', '.join(present)} cannot be combined with {reason}", f"remove {', '.join(present)} from the spec")

    # -- rows

    def add(self, index: int, row: DesignRow) -> None:
        if ESSAY_GEN_ID_AXIS in row:
            self.forbid(index, row, (*_DRAFT_AXES, *_ESSAY_AXES, DRAFT_GEN_ID_AXIS), f"{ESSAY_GEN_ID_AXIS} (the essay exists)")
            essay = self.reuse(index, row, ESSAY_GEN_ID_AXIS, "essay")
        else:
            if DRAFT_GEN_ID_AXIS in row:
                self.forbid(index, row, _DRAFT_AXES, f"{DRAFT_GEN_ID_AXIS} (the draft exists)")
                draft = self.reuse(index, row, DRAFT_GEN_ID_AXIS, "draft")
            else:
                draft = self.add_draft(index, row)
            essay = self.add_essay(index, row, draft)
        self.add_evaluation(index, row, essay)

    def reuse(self, index: int, row: DesignRow, axis: str, stage: Literal["draft", "essay"]) -> TaskRow:
        gen_id = self.text(index, row, (axis,))
        found = self.existing.get(gen_id)
        if found is None or found.stage != stage:
            wanted = f"an {stage}" if stage == "essay" else f"a {stage}"
            what = f"is a {found.stage}, not {wanted}" if found else f"is not {wanted} in the gens store"
            raise self.error(index, row, f"{axis} {gen_id!r} {what}", f"name an existing {stage} (gens/{stage}/<gen_id>/metadata.json)")
        self.combos.setdefault(found.combo_id)
        if stage == "essay" and found.parent_gen_id:
            self.reused.setdefault(("draft", found.parent_gen_id))
        self.reused.setdefault((stage, gen_id))
        task = {
            "gen_id": found.gen_id, "combo_id": found.combo_id, "draft_template": found.draft_template,
            "generation_model": found.model_id, "generation_model_name": self.model_names.get(found.model_id, ""),
        }
        if stage == "draft":
            return {**task, "draft_task_id": found.task_id}
        return {**task, "essay_task_id": found.task_id, "essay_template": found.essay_template}

    def add_draft(self, index: int, row: DesignRow) -> TaskRow:
        combo_id = self.text(index, row, COMBO_AXES)
        template = self.text(index, row, DRAFT_TEMPLATE_AXES)
        model_id = self.text(index, row, DRAFT_LLM_AXES)
        replicate = self.replicate(index, row, DRAFT_REPLICATE_AXES)
        key = (combo_id, template, model_id, replicate)
        if key not in self.drafts:
            gen_id = compute_deterministic_gen_id("draft", draft_signature(combo_id, template, model_id, replicate))
            self.claim("draft", gen_id, key, index, row)
            self.combos.setdefault(combo_id)
            self.drafts[key] = _ordered(PLAN_DRAFT_COLUMNS, {
                "draft_task_id": with_replicate(draft_task_id(combo_id, template, model_id), replicate),
                "combo_id": combo_id, "draft_template": template, "generation_model": model_id,
                "generation_model_name": self.model_name(index, row, DRAFT_LLM_AXES[0], model_id),
                "gen_id": gen_id, "cohort_id": self.cohort_id, "replicate": str(replicate),
            })
        return self.drafts[key]

    def add_essay(self, index: int, row: DesignRow, draft: TaskRow) -> TaskRow:
        template = self.text(index, row, ESSAY_TEMPLATE_AXES)
        # A reused draft's essays default to the draft's model (upstream's curated drafts did so).
        default_model = draft["generation_model"] if DRAFT_GEN_ID_AXIS in row else None
        model_id = self.text(index, row, ESSAY_LLM_AXES, default=default_model)
        replicate = self.replicate(index, row, ESSAY_REPLICATE_AXES)
        key = (draft["gen_id"], template, model_id, replicate)
        if key not in self.essays:
            gen_id = compute_deterministic_gen_id("essay", essay_signature(draft["gen_id"], template, replicate))
            self.claim("essay", gen_id, key, index, row)
            self.essays[key] = _ordered(PLAN_ESSAY_COLUMNS, {
                "essay_task_id": with_replicate(essay_task_id(draft["draft_task_id"], template), replicate),
                "parent_gen_id": draft["gen_id"], "draft_task_id": draft["draft_task_id"],
                "combo_id": draft["combo_id"], "draft_template": draft["draft_template"], "essay_template": template,
                "generation_model": model_id, "generation_model_name": self.model_name(index, row, ESSAY_LLM_AXES[0], model_id),
                "gen_id": gen_id, "cohort_id": self.cohort_id, "replicate": str(replicate),
            })
        return self.essays[key]

    def add_evaluation(self, index: int, row: DesignRow, essay: TaskRow) -> None:
        template = self.text(index, row, EVALUATION_TEMPLATE_AXES)
        model_id = self.text(index, row, EVALUATION_LLM_AXES)
        replicate = self.replicate(index, row, EVALUATION_REPLICATE_AXES)
        key = (essay["gen_id"], template, model_id, replicate)
        if key in self.evaluations:
            return
        gen_id = compute_deterministic_gen_id("evaluation", evaluation_signature(essay["gen_id"], template, model_id, replicate))
        self.claim("evaluation", gen_id, key, index, row)
        self.evaluations[key] = _ordered(PLAN_EVALUATION_COLUMNS, {
            "evaluation_task_id": with_replicate(evaluation_task_id(essay["gen_id"], template, model_id), replicate),
            "parent_gen_id": essay["gen_id"], "document_id": essay["essay_task_id"], "essay_task_id": essay["essay_task_id"],
            "combo_id": essay["combo_id"], "draft_template": essay["draft_template"], "essay_template": essay["essay_template"],
            "generation_model": essay["generation_model"], "generation_model_name": essay["generation_model_name"],
            "evaluation_template": template, "evaluation_model": model_id,
            "evaluation_model_name": self.model_name(index, row, EVALUATION_LLM_AXES[0], model_id),
            "parser": self.parsers.get(template, ""), "file_path": "", "source_dir": "", "source_asset": "essay_response",
            "gen_id": gen_id, "cohort_id": self.cohort_id, "replicate": str(replicate),
        })

    def result(self, rows: Sequence[DesignRow]) -> SpecPlan:
        reused = tuple(self.reused)
        planned: list[tuple[str, str]] = []
        for stage, tasks in (("draft", self.drafts), ("essay", self.essays), ("evaluation", self.evaluations)):
            planned += [item for item in reused if item[0] == stage]
            planned += [(stage, task["gen_id"]) for task in tasks.values()]
        ignored = dict.fromkeys(axis for row in rows for axis in row if axis not in RECOGNISED_AXES)
        return SpecPlan(
            cohort_id=self.cohort_id,
            drafts=tuple(self.drafts.values()),
            essays=tuple(self.essays.values()),
            evaluations=tuple(self.evaluations.values()),
            combo_ids=tuple(self.combos),
            membership=tuple(dict.fromkeys(planned)),
            reused=reused,
            ignored_axes=tuple(ignored),
        )


def _ordered(columns: Sequence[str], values: Mapping[str, str]) -> TaskRow:
    return {column: values[column] for column in columns}


__all__ = [
    "RECOGNISED_AXES",
    "ExistingGeneration",
    "SpecPlan",
    "plan_design_rows",
    "plan_spec",
]
