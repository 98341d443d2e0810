"""``daydream compare``: did B score higher than A? Two levels of one factor, paired on what they share.

``daydream compare --factor draft_template --levels X,Y`` compares level Y with level X of the data
root's cohort: the same combination (for a generation factor) or the same essay (for a grading
factor), the same grader and rubric; it prints the mean difference Y - X with its 95 % interval,
the number of pairs, each side's mean and essays, and one sentence (``--json`` for scripts). The
statistics are ``results/compare.py``'s.

``--cohort A --against B`` compares two cohorts: B - A over the combinations both scored, with
the same rubric and grader, and every other factor whose levels both cohorts share; a factor whose
levels differ (what was changed) is averaged within each combination and named
(``compare_cohorts``). It also writes the result into B's ``6_summary/compare_<A>.csv`` (pairs in
``compare_<A>.pairs.csv``), which B's report shows. ``--cohort A --factor ...`` compares two levels
inside cohort A.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from daydreaming_dagster.cli._common import EXIT_BAD_INPUT, EXIT_OK, add_data_root, make_console, print_error

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from daydreaming_dagster.results.compare import Comparison

# The factors (kept here too so that ``daydream --help`` does not import pandas and scipy).
FACTORS = ("draft_template", "essay_template", "generation_model", "evaluation_template", "evaluation_model")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="compare two levels of a factor (e.g. two draft templates), paired, with a 95%% interval",
        description="Compare level B with level A of one factor of the cohort: scores are paired on "
        "the same combination (draft_template, essay_template, generation_model) or the same essay "
        "(evaluation_template, evaluation_model), by the same grader on the same rubric. Prints the "
        "mean difference B - A with its 95%% t-interval and p-value, the pairs, each side's mean and "
        "essays, and a plain sentence. With --against B: cohort B against cohort A, paired on the "
        "combinations both scored (same rubric and grader); what differs between the cohorts is named "
        "and averaged within each combination; the result is also written to B's "
        "6_summary/compare_<A>.csv, shown in B's report. Makes no LLM call. Exit status: 0 compared, "
        "2 bad flags, unknown level or cohort, or no task tables.",
    )
    add_data_root(parser)
    parser.add_argument("--cohort", default=None, metavar="A",
                        help="the cohort to read (default: the cohort made from the active flags)")
    parser.add_argument("--against", default=None, metavar="B",
                        help="compare cohort B with cohort --cohort A, paired on the combinations both scored; "
                        "also writes B's 6_summary/compare_<A>.csv")
    parser.add_argument("--factor", choices=FACTORS, default=None, metavar="COLUMN",
                        help=f"what differs between the two sides: one of {', '.join(FACTORS)}")
    parser.add_argument("--levels", default=None, metavar="X,Y",
                        help="the two levels of --factor, A first (the difference is Y - X)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: difference, ci_low, ci_high, pairs, method, and a/b with mean and n")


def cohort_scores(data_root: Path, cohort: str | None) -> pd.DataFrame:
    """The ``parsed_scores`` frame of a cohort (``None``: the default cohort)."""
    return _cohort(data_root, cohort)[0]


def _cohort(data_root: Path, cohort: str | None) -> tuple[pd.DataFrame, Path]:
    """A cohort's ``parsed_scores`` frame and its ``6_summary`` folder."""
    from daydreaming_dagster.core.layout import SUMMARY_DIR
    from daydreaming_dagster.results.lineage import load_cohort_view
    from daydreaming_dagster.results.scores import scores_frame

    view = load_cohort_view(data_root, cohort)
    return scores_frame(view), view.layout.results(SUMMARY_DIR)


def _levels(text: str | None) -> tuple[str, str] | None:
    parts = [p.strip() for p in (text or "").split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        return None
    return parts[0], parts[1]


def run(args: argparse.Namespace) -> int:
    from daydreaming_dagster.core.errors import DaydreamError
    from daydreaming_dagster.core.layout import DEFAULT_COHORT
    from daydreaming_dagster.results.compare import (
        compare_cohorts,
        compare_factor,
        levels_of,
        save_comparison,
    )
    from daydreaming_dagster.results.lineage import ResultsInputError

    console = make_console()
    if args.against is not None:
        try:
            a, _ = _cohort(Path(args.data_root), args.cohort)
            b, b_summary = _cohort(Path(args.data_root), args.against)
        except DaydreamError as exc:
            print_error(console, "Nothing to compare:", str(exc))
            return EXIT_BAD_INPUT
        names = (args.cohort or DEFAULT_COHORT, args.against)
        result = compare_cohorts(a, b, labels=names)
        path, _ = save_comparison(b_summary, result)
        code = _show(console, result, args.json)
        # on stderr with --json, so that stdout stays one JSON document
        (make_error_console() if args.json else console).print(
            f"Written: {path} (shown in {args.against}'s report the next time it is written: "
            f"daydream report --cohort {args.against})", highlight=False, markup=False)
        return code
    levels = _levels(args.levels)
    if args.factor is None or levels is None:
        print_error(console, "Bad flags:",
                    "give --factor COLUMN and --levels X,Y (two different levels). Fix: e.g. "
                    "--factor draft_template --levels creative-synthesis,problem-solving")
        return EXIT_BAD_INPUT
    try:
        scores = cohort_scores(Path(args.data_root), args.cohort)
    except (ResultsInputError, DaydreamError) as exc:
        print_error(console, "Nothing to compare:", str(exc))
        return EXIT_BAD_INPUT
    known = levels_of(scores, args.factor)
    unknown = [level for level in levels if level not in known]
    if unknown:
        print_error(console, "Unknown level:",
                    f"{', '.join(unknown)} has no score in {args.factor}. Fix: use two of: "
                    f"{', '.join(known) or '(no scored level yet)'}")
        return EXIT_BAD_INPUT
    return _show(console, compare_factor(scores, args.factor, *levels), args.json)


def make_error_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _number(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def _show(console: Console, result: Comparison, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return EXIT_OK
    console.print(f"{result.factor}: {result.level_a} (A) vs {result.level_b} (B)", highlight=False, markup=False)
    measure = " (fraction of scale)" if result.measure != "score" else ""
    for side, level, mean, n, low, high in (
            ("A", result.level_a, result.mean_a, result.n_a, result.mean_a_ci_low, result.mean_a_ci_high),
            ("B", result.level_b, result.mean_b, result.n_b, result.mean_b_ci_low, result.mean_b_ci_high)):
        console.print(f"  {side}  {level}: mean{measure} {_number(mean, '.2f')} [{_number(low, '.2f')}, "
                      f"{_number(high, '.2f')}] over {n} essays", highlight=False, markup=False)
    p_value = "p n/a" if math.isnan(result.p_value) else f"p = {result.p_value:.3g}"
    console.print(f"  B - A: {_number(result.difference, '+.2f')} [{_number(result.ci_low, '.2f')}, "
                  f"{_number(result.ci_high, '.2f')}], {result.pairs} pairs, {p_value}", highlight=False, markup=False)
    console.print(result.sentence, highlight=False, markup=False)
    if result.note:
        console.print(f"  note: {result.note}", highlight=False, markup=False)
    console.print(f"  method: {result.method}", style="dim", highlight=False, markup=False)
    return EXIT_OK
