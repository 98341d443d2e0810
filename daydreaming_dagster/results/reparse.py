"""``reparse(data_root)``: apply the current parsers to every stored ``raw.txt``, with no LLM call.

For each generation folder of the selected stages that has a ``raw.txt`` and a ``metadata.json``
(a named cohort: the folders its membership lists; the default cohort: every folder under
``gens/<stage>/``, as upstream's data root had one cohort):

- complete: the template's current parser (``stages.parser_for``, so a parser changed in the
  template CSV counts) runs on ``raw.txt``. A different result replaces ``parsed.txt`` (atomically)
  and ``metadata.json`` gets ``parser`` and one ``reparsed`` entry (when, which parser, the previous
  parser, the SHA-256 and the start of the previous parsed text). The same text changes nothing,
  not even metadata.json.
- failed because its parser failed (``error.parser``): a parse that now succeeds writes
  ``parsed.txt`` and marks it complete (the entry keeps the previous error). Other failures
  (truncated replies, LLM errors, rejected replies) are left alone: re-parsing cannot fix them.
- a parse that fails now is reported (``parse failed`` for a generation that was complete, ``still
  failed`` for one that had failed already), and the generation's files are left exactly as they were.

Children made from a changed draft or essay keep their files (their prompt used the old text); they
are reported as ``stale`` so they can be regenerated with ``daydream run --stages ... --force``.

Then the cohort's result tables are rewritten. A generation is shared by every cohort that lists
it, so the other cohorts with a re-parsed member are reported (``other_cohorts``): their tables
still show the old text until ``daydream report --cohort NAME`` rewrites them (re-parsing one
cohort never writes another's files).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from daydreaming_dagster.core.errors import DamagedFileError
from daydreaming_dagster.core.layout import DEFAULT_COHORT, CohortLayout, cohort_name, named_cohorts
from daydreaming_dagster.core.stages import STAGES, Stage, child_of
from daydreaming_dagster.engine.record import STATUS_COMPLETE
from daydreaming_dagster.engine.store import PARSED, RAW, GensStore, report_damaged

UNCHANGED, CHANGED, REPAIRED, PARSE_FAILED, STILL_FAILED, SKIPPED = (
    "unchanged", "changed", "repaired", "parse failed", "still failed", "skipped"
)
ACTIONS = (UNCHANGED, CHANGED, REPAIRED, PARSE_FAILED, STILL_FAILED, SKIPPED)
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class ReparseOutcome:
    stage: Stage
    gen_id: str
    action: str  # one of ACTIONS
    parser: str = ""
    detail: str = ""


@dataclass
class ReparseSummary:
    outcomes: list[ReparseOutcome] = field(default_factory=list)
    stale: dict[Stage, list[str]] = field(default_factory=dict)  # children made from changed parents
    results: dict[str, Path] = field(default_factory=dict)  # result tables refreshed
    cohort: str = DEFAULT_COHORT  # whose generations were re-parsed and whose tables were refreshed
    # Other cohorts (with result tables) that list a changed or repaired generation: how many.
    other_cohorts: dict[str, int] = field(default_factory=dict)

    def count(self, stage: Stage, action: str) -> int:
        return sum(1 for o in self.outcomes if o.stage == stage and o.action == action)

    def of(self, action: str) -> list[ReparseOutcome]:
        return [o for o in self.outcomes if o.action == action]

    @property
    def ok(self) -> bool:
        return not self.of(PARSE_FAILED)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reparse_generation(store: GensStore, raw_data: object, stage: Stage, gen_id: str, *, at: str) -> ReparseOutcome:
    from daydreaming_dagster.stages import parser_for

    try:
        record = store.load_record(stage, gen_id)
        raw = store.read(stage, gen_id, RAW)
    except DamagedFileError as exc:
        report_damaged(exc)
        return ReparseOutcome(stage, gen_id, SKIPPED, detail=f"{exc.path} cannot be read ({exc.reason})")
    if record is None or raw is None:
        return ReparseOutcome(stage, gen_id, SKIPPED, detail="no metadata.json or raw.txt (not finished)")
    failed = record.failed
    if failed and not (isinstance(record.error, dict) and "parser" in record.error):
        return ReparseOutcome(stage, gen_id, SKIPPED, detail="failed before parsing (re-parsing cannot fix it)")
    if not failed and not record.complete:
        return ReparseOutcome(stage, gen_id, SKIPPED, detail=f"status {record.status!r}")
    try:
        parser = parser_for(raw_data, stage, record.template_id)  # type: ignore[arg-type]
    except Exception as exc:  # an unknown template or parser name: nothing to apply
        return ReparseOutcome(stage, gen_id, PARSE_FAILED, detail=f"no parser for template {record.template_id!r}: {exc}")
    try:
        parsed = parser.parse(raw)
        if not isinstance(parsed, str) or not parsed.strip():
            raise ValueError("the parser returned empty text")
    except Exception as exc:
        action = STILL_FAILED if failed else PARSE_FAILED
        return ReparseOutcome(stage, gen_id, action, parser.name, f"{type(exc).__name__}: {exc}")
    old = store.read(stage, gen_id, PARSED)
    if not failed and old == parsed:  # same text: nothing is rewritten, not even metadata.json
        return ReparseOutcome(stage, gen_id, UNCHANGED, parser.name)
    entry: dict[str, object] = {
        "at": at,
        "parser": parser.name,
        "previous_parser": record.parser,
        "previous_parsed_sha256": _sha256(old) if old is not None else None,
        "previous_parsed": old[:EXCERPT_CHARS] if old is not None else None,
    }
    if failed:
        entry.update(previous_status=str(record.status), previous_error=record.error)
        record.status, record.error = STATUS_COMPLETE, None
    if old != parsed:
        store.write(stage, gen_id, PARSED, parsed)
    record.parser = parser.name
    record.reparsed = [*(record.reparsed or []), entry]
    store.write_record(stage, gen_id, record)  # last, as the engine does
    if failed:
        return ReparseOutcome(stage, gen_id, REPAIRED, parser.name, f"now parses to {parsed.strip()[:40]!r}")
    return ReparseOutcome(stage, gen_id, CHANGED, parser.name, f"{(old or '').strip()[:40]!r} -> {parsed.strip()[:40]!r}")


def reparse(
    data_root: Path | str, stages: Iterable[Stage] = STAGES, *, refresh_results: bool = True, cohort: str | None = None
) -> ReparseSummary:
    """Re-parse the stored generations of ``stages``; no client is built, no model is called.

    ``cohort``: a named cohort re-parses only the generations its membership lists (a cohort that
    has not run yet: its spec as planned now); None or the default cohort, every generation folder.
    Raises ``InputError`` when ``1_raw`` is invalid (the parsers are read from it), or a named
    cohort's spec cannot be planned.
    """
    from daydreaming_dagster.cohort.overview import cohort_members
    from daydreaming_dagster.inputs import load_raw_data

    root = Path(data_root)
    name = cohort_name(cohort)
    raw_data = load_raw_data(root)
    store = GensStore(root)
    members = None if name == DEFAULT_COHORT else set(cohort_members(root, name))
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    summary = ReparseSummary(cohort=name)
    wanted = [s for s in STAGES if s in set(stages)]

    def gen_ids(stage: Stage) -> list[str]:
        """The stage's folders on disk; a named cohort's: those its membership lists."""
        on_disk = store.gen_ids(stage)
        return on_disk if members is None else [g for g in on_disk if (stage, g) in members]

    for stage in wanted:
        for gen_id in gen_ids(stage):
            summary.outcomes.append(reparse_generation(store, raw_data, stage, gen_id, at=at))
    for stage in wanted:
        changed = {o.gen_id for o in summary.outcomes if o.stage == stage and o.action in (CHANGED, REPAIRED)}
        child = child_of(stage)
        if not changed or child is None:
            continue
        stale = []
        for gen_id in gen_ids(child):
            record = store.read_record(child, gen_id)
            if record is not None and record.parent_gen_id in changed:
                stale.append(gen_id)
        if stale:
            summary.stale[child] = stale
    summary.other_cohorts = _other_cohorts(root, name, summary)
    if refresh_results:
        from daydreaming_dagster.results.lineage import ResultsInputError
        from daydreaming_dagster.results.writer import write_all_results

        try:
            summary.results = write_all_results(root, cohort=cohort)
        except ResultsInputError:
            summary.results = {}
    return summary


def _other_cohorts(root: Path, current: str, summary: ReparseSummary) -> dict[str, int]:
    """The cohorts other than ``current`` that have result tables and list a re-parsed generation."""
    from daydreaming_dagster.cohort.overview import cohort_members

    changed = {(o.stage, o.gen_id) for o in summary.outcomes if o.action in (CHANGED, REPAIRED)}
    if not changed:
        return {}
    out: dict[str, int] = {}
    for name in [DEFAULT_COHORT, *named_cohorts(root)]:
        layout = CohortLayout(root, name)
        # A cohort without its membership (named) or task tables (default) has no results to refresh.
        if name == current or not (layout.membership.is_file() or layout.is_default):
            continue
        count = sum(1 for member in cohort_members(root, name) if member in changed)
        if count:
            out[name] = count
    return out
