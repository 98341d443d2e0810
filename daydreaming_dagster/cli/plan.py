"""``daydream plan``: what ``daydream run`` would do and cost, without any LLM call.

Per stage and model: generations in all, already complete, copy-mode essays, answered by the
response cache, calls to make; input and output tokens; cost as a range in USD; what the cohort
has already spent. The model strings are checked against the provider's ``/models`` list (the one
request it makes, which also refreshes the price cache). Like ``daydream run``, it warns when the
cohort id changed, naming what changed. A table where it fits whole, else one block per stage and
model (80 columns, a pipe). ``--json`` prints the same for scripts.
Exit status: 0, or 2 when an input is wrong or a model string is unknown to the provider.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from daydreaming_dagster.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_cohort,
    add_data_root,
    check_positive,
    make_console,
    parse_stages,
    print_error,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from rich.console import Console
    from rich.table import Table

    from daydreaming_dagster.cohort.pipeline import Cohort
    from daydreaming_dagster.cohort.plan import Plan, PlanRow
    from daydreaming_dagster.cohort.prices import ModelPrice
    from daydreaming_dagster.cohort.runner import WorkItem
    from daydreaming_dagster.core.stages import Stage
    from daydreaming_dagster.engine.store import GensStore


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    plan = sub.add_parser(
        name,
        help="show what a run would generate and cost (no LLM call)",
        description="Show, per stage and model, the generations a `daydream run` with the same "
        "flags would make: total, already complete, copy-mode essays, answered by the response "
        "cache, calls to make; estimated input and output tokens; the cost range in USD; and "
        "what the cohort has already spent. No LLM call is made (only the provider's /models "
        "list is read, for model checks and prices). Exit status: 0 ok, 2 bad input or an "
        "unknown model string.",
    )
    add_data_root(plan)
    add_cohort(plan)
    plan.add_argument(
        "--stages", default="draft,essay,evaluation", help="comma-separated stages (default: all)"
    )
    plan.add_argument(
        "--k-max", type=int, default=None, help="concepts per combination (default: experiment config)"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON (for scripts)")


def usd(value: float | None) -> str:
    """Money for people: unknown stays unknown, small amounts keep their digits."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    if value < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def _price(price: ModelPrice) -> str:
    per_mtok = price.per_mtok()
    if per_mtok is None:
        return f"{price.model_id} unknown"
    return f"{price.model_id} {per_mtok[0]:g}/{per_mtok[1]:g} ({price.source})"


def planned_generations(cohort: Cohort, items: Sequence[WorkItem], store: GensStore) -> list[dict[str, Any]]:
    """Every generation of the plan, so a spec can be checked before anything is paid.

    Each row names its whole lineage: the templates, the model and the replicate of each stage
    (``draft_model``, ``essay_model``, ``evaluation_model``; ``draft_replicate``, ``essay_replicate``,
    ``evaluation_replicate``, as ``parsed_scores.csv`` names replicates; ``essay_model`` is its
    ``generation_model``), empty or null for the stages below it. ``model_id`` and ``replicate``
    are the row's own stage's.
    """
    from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES

    # Every row of the cohort, whatever --stages says: an evaluation's essay and draft are looked up here.
    rows = {(stage, str(row.get("gen_id", ""))): row for stage in STAGES for row in cohort.rows(stage)}

    def replicate(row: Mapping[str, Any]) -> int:
        value = str(row.get("replicate") or "1")
        return int(value) if value.isdigit() else 1

    out = []
    for item in items:
        row, facts = item.row, STAGE_FACTS[item.stage]
        lineage: dict[Stage, Mapping[str, Any]] = {item.stage: row}
        if item.stage == "evaluation":
            lineage["essay"] = rows.get(("essay", item.parent_gen_id or ""), {})
        if "essay" in lineage or item.stage == "essay":
            essay = lineage.get("essay", row)
            lineage["draft"] = rows.get(("draft", str(essay.get("parent_gen_id") or "")), {})
        models = {stage: str(found.get(STAGE_FACTS[stage].model_column) or "") for stage, found in lineage.items()}
        if item.stage == "evaluation" and not models["essay"]:  # a reused essay: the evaluation row says
            models["essay"] = str(row.get("generation_model") or "")
        out.append({
            "stage": item.stage,
            "gen_id": item.gen_id,
            "parent_gen_id": item.parent_gen_id or "",
            "combo_id": row.get("combo_id", ""),
            "draft_template": row.get("draft_template", ""),
            "essay_template": row.get("essay_template", ""),
            "evaluation_template": row.get("evaluation_template", ""),
            "draft_model": models.get("draft", ""),
            "essay_model": models.get("essay", ""),
            "evaluation_model": models.get("evaluation", ""),
            **{
                f"{stage}_replicate": replicate(lineage[stage]) if lineage.get(stage) else None
                for stage in STAGES
            },
            "model_id": row.get(facts.model_column, ""),
            "replicate": replicate(row),
            "complete": store.is_complete(item.stage, item.gen_id),
        })
    return out


def _tokens(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    from pathlib import Path

    from daydreaming_dagster.cohort.checks import cohort_change, reusable_from_cache
    from daydreaming_dagster.cohort.pipeline import check_models, open_run
    from daydreaming_dagster.cohort.plan import build_plan
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.core.errors import DaydreamError
    from daydreaming_dagster.engine.cache import ResponseCache
    from daydreaming_dagster.engine.flow import GenerationContext
    from daydreaming_dagster.engine.store import GensStore

    console = make_console()
    logging.basicConfig(level=logging.ERROR)
    data_root = Path(args.data_root)
    stages = parse_stages(console, args.stages)
    if stages is None or not check_positive(console, k_max=args.k_max):
        return EXIT_BAD_INPUT
    try:
        config = load_experiment_config(data_root, k_max=args.k_max)
        opened = open_run(data_root, config, stages, name=args.cohort)
    except DaydreamError as exc:
        print_error(console, "Input error:", f"\n{exc}")
        return EXIT_BAD_INPUT
    cohort, items, client = opened.cohort, opened.items, opened.client
    store = GensStore(data_root)
    models = check_models(data_root, cohort.raw, opened.specs, items, client)  # what `run` checks first
    warnings: list[str] = []
    if models.not_ready is not None:
        warnings.append(f"`daydream run` would stop before its first call: {models.not_ready}")
    warnings.extend(models.catalogues.warnings)
    cache = ResponseCache.for_data_root(data_root) if config.response_cache else None
    change = cohort_change(data_root, cohort.tables) if cohort.layout.is_default else None
    if change is not None:  # the same warning as `daydream run`'s
        fresh = [item for item in items if (item.stage, item.gen_id) in change.new_gen_ids]
        context = GenerationContext(run_id="plan", store=store, llm=client, cache=cache)
        warnings.append(change.message(reusable_from_cache(context, opened.specs, fresh)))
    plan = build_plan(
        cohort,
        stages,
        client=client,
        prices=models.prices,
        cache=cache,
        store=store,
        warnings=warnings,
        problems=models.problems,
        cohort_name=cohort.name,
    )
    if args.json:
        payload: dict[str, Any] = plan.to_json()
        payload["cohort"] = cohort.name
        payload["max_cost_usd"] = config.max_cost
        payload["study_max_cost_usd"] = config.study_max_cost
        payload["generations"] = planned_generations(cohort, items, store)
        print(json.dumps(payload, indent=2))
    else:
        _print_plan(console, plan, config.max_cost)
    return EXIT_BAD_INPUT if models.problems else EXIT_OK


# The table's columns: (header, justify). Cells come from ``_cells`` in this order.
COLUMNS = (
    ("stage", "left"),
    ("model", "left"),
    ("total", "right"),
    ("done", "right"),
    ("copy", "right"),
    ("cached", "right"),
    ("to call", "right"),
    ("input tok", "right"),
    ("output/call\nlow/exp/max", "right"),
    ("cost USD\nlow–high", "right"),
    ("expected", "right"),
    ("spent", "right"),
)


def _cells(row: PlanRow) -> tuple[str, ...]:
    """One plan row as text, in ``COLUMNS`` order (the table and the stacked layout share it)."""
    out, cost, inp = row.output_per_call, row.cost, row.input_tokens
    return (
        row.stage,
        row.model_id,
        str(row.total),
        str(row.complete),
        str(row.copy),
        str(row.cached),
        str(row.to_call) + (f" +{row.blocked} blocked" if row.blocked else ""),
        _tokens(inp.expected) if inp.expected is not None else f"≤{_tokens(inp.high)}",
        f"{_tokens(out.low)}/{_tokens(out.expected)}/{_tokens(out.high)}",
        f"{usd(cost.low)}–{usd(cost.high)}" if cost is not None else "unknown",
        usd(cost.expected) if cost is not None and cost.expected is not None else "?",
        usd(row.spent),
    )


def _plan_table(title: str, rows: list[tuple[str, ...]]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for name, justify in COLUMNS:
        if name == "model":  # user-chosen ids: fold long ones rather than cut them
            table.add_column(name, overflow="fold")
        else:
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for cells in rows:
        table.add_row(*cells)
    return table


def _plan_blocks(title: str, rows: list[tuple[str, ...]]) -> str:
    """The plan stacked, one block per stage and model: readable at any width, and in a pipe."""
    lines = [title]
    for stage, model, total, done, copy, cached, to_call, inp, out, cost, expected, spent in rows:
        lines += [
            "",
            f"{stage}  {model}",
            f"  calls to make  {to_call} (of {total} generations: {done} done, {copy} copies, {cached} cached)",
            f"  cost USD       {cost}, expected {expected}; spent so far {spent}",
            f"  tokens         input {inp}; output per call {out} (low/expected/max)",
        ]
    return "\n".join(lines) + "\n"


def _print_plan(console: Console, plan: Plan, max_cost: float | None) -> None:
    from rich.measure import Measurement
    from rich.text import Text

    title = f"DayDreaming plan: cohort {plan.cohort_id} ({plan.data_root})"
    rows = [_cells(row) for row in plan.rows]
    table = _plan_table(title, rows)
    # The table only when every column fits whole; narrower (80 columns, a pipe): stacked, as rich
    # would otherwise squeeze columns to "…" and drop the model.
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if natural <= console.width:
        console.print(table)
    else:
        console.print(Text(_plan_blocks(title, rows)), end="")
    total = plan.cost
    unknown = plan.unknown_price_models
    plus = f" + unknown ({', '.join(unknown)})" if unknown else ""
    expected = f"; expected {usd(total.expected)}" if total.expected is not None else ""
    console.print(
        f"Calls to make: {plan.count('to_call')} (of {plan.count('total')} generations: {plan.count('complete')} "
        f"complete, {plan.count('copy')} copies, {plan.count('cached')} from the response cache). "
        f"Estimated cost: {usd(total.low)} – {usd(total.high)}{plus}{expected}."
    )
    ledger = plan.ledger
    spent = f"Already spent by this cohort: {usd(ledger.spent)} over {ledger.cohort.calls} paid call(s)"
    if ledger.cohort.priced_part:
        spent += f" ({usd(ledger.cohort.priced_part)} of it figured from prices: the server reported no cost)"
    if ledger.cohort.unpriced:
        spent += f"; {ledger.cohort.unpriced} call(s) with no cost and no known price are not counted"
    spent += f"; by the whole data root: {usd(ledger.study.total)} over {ledger.study.calls} paid call(s)"
    console.print(spent + ".")
    if max_cost is not None:
        console.print(
            f"Spending cap (experiment.toml max_cost): {usd(max_cost)}; left: {usd(max(0.0, max_cost - ledger.spent))}."
        )
    prices = {r.model_id: r.price for r in plan.rows}
    console.print(
        "Prices (USD per million tokens, in/out): "
        + "; ".join(_price(p) for _, p in sorted(prices.items()))
        + "."
    )
    if unknown:
        console.print(
            "Unknown prices are never counted as free: add prompt_usd_per_mtok,completion_usd_per_mtok "
            "(USD per million tokens) to llm_models.csv for those models."
        )
    if any(r.output is None and r.to_call for r in plan.rows):
        console.print(
            "No finished generation yet for some stage/model: their low end counts input only, the high "
            "end max_tokens. Estimates sharpen once a few generations are done."
        )
    for warning in plan.warnings:
        console.print(Text("warning: ", style="yellow"), Text(warning))
    for problem in plan.problems:
        print_error(console, "error:", problem)
    if plan.problems:
        console.print("`daydream run` would stop before its first call (exit 2): fix llm_models.csv first.")
