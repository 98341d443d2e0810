"""``daydream compare``: did B score higher than A? Two levels of one factor, paired on what they share.

``daydream compare --factor draft_template --levels X,Y`` compares level Y with level X of the data
root's cohort: the same combination (for a generation factor) or the same essay (for a grading
factor), the same grader and rubric; it prints the mean difference Y - X with its 95 % interval,
the number of pairs, each side's mean and essays, and one sentence (``--json`` for scripts). The
statistics are ``results/compare.py``'s.

``--cohort A [--against B]`` needs named cohorts, which are not built yet: it exits with status 2
and says so. The seam is ``cohort_scores``: when cohorts land, it returns a named cohort's score
frame, and ``--against`` is ``compare_frames(cohort_scores(A), cohort_scores(B))``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from daydreaming_dagster.cli._common import EXIT_BAD_INPUT, EXIT_OK, add_data_root, make_console, print_error

if TYPE_CHECKING:
    import pandas as pd

# The factors (kept here too so that ``daydream --help`` does not import pandas and scipy).
FACTORS = ("draft_template", "essay_template", "generation_model", "evaluation_template", "evaluation_model")


class CohortsNotAvailable(RuntimeError):
    """Named cohorts (``--cohort``/``--against``) are not built yet."""


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="compare two levels of a factor (e.g. two draft templates), paired, with a 95%% interval",
        description="Compare level B with level A of one factor of the cohort: scores are paired on "
        "the same combination (draft_template, essay_template, generation_model) or the same essay "
        "(evaluation_template, evaluation_model), by the same grader on the same rubric. Prints the "
        "mean difference B - A with its 95%% bootstrap interval, the pairs, each side's mean and "
        "essays, and a plain sentence. Makes no LLM call. Exit status: 0 compared, 2 bad flags, "
        "unknown level, no task tables, or --cohort/--against (named cohorts: not available yet).",
    )
    add_data_root(parser)
    parser.add_argument("--cohort", default=None, metavar="A",
                        help="the cohort to read (named cohorts: not available yet; default: the data root's)")
    parser.add_argument("--against", default=None, metavar="B",
                        help="compare cohort --cohort A with cohort B (not available yet)")
    parser.add_argument("--factor", choices=FACTORS, default=None, metavar="COLUMN",
                        help=f"what differs between the two sides: one of {', '.join(FACTORS)}")
    parser.add_argument("--levels", default=None, metavar="X,Y",
                        help="the two levels of --factor, A first (the difference is Y - X)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: difference, ci_low, ci_high, pairs, method, and a/b with mean and n")


def cohort_scores(data_root: Path, cohort: str | None) -> pd.DataFrame:
    """The ``parsed_scores`` frame of a cohort; ``None`` is the data root's cohort (its task tables).

    The seam for named cohorts: until they exist, a name raises ``CohortsNotAvailable``.
    """
    if cohort is not None:
        raise CohortsNotAvailable(cohort)
    from daydreaming_dagster.results.lineage import load_cohort_view
    from daydreaming_dagster.results.scores import scores_frame

    return scores_frame(load_cohort_view(data_root))


def _levels(text: str | None) -> tuple[str, str] | None:
    parts = [p.strip() for p in (text or "").split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        return None
    return parts[0], parts[1]


def run(args: argparse.Namespace) -> int:
    from daydreaming_dagster.results.compare import compare_factor, levels_of
    from daydreaming_dagster.results.lineage import ResultsInputError

    console = make_console()
    if args.cohort is not None or args.against is not None:
        print_error(console, "Not available yet:",
                    "named cohorts (--cohort, --against) are not built yet. Fix: compare two levels of "
                    "the data root's cohort with --factor COLUMN --levels X,Y")
        return EXIT_BAD_INPUT
    levels = _levels(args.levels)
    if args.factor is None or levels is None:
        print_error(console, "Bad flags:",
                    "give --factor COLUMN and --levels X,Y (two different levels). Fix: e.g. "
                    "--factor draft_template --levels creative-synthesis,problem-solving")
        return EXIT_BAD_INPUT
    try:
        scores = cohort_scores(Path(args.data_root), None)
    except ResultsInputError as exc:
        print_error(console, "Nothing to compare:", str(exc))
        return EXIT_BAD_INPUT
    known = levels_of(scores, args.factor)
    unknown = [level for level in levels if level not in known]
    if unknown:
        print_error(console, "Unknown level:",
                    f"{', '.join(unknown)} has no score in {args.factor}. Fix: use two of: "
                    f"{', '.join(known) or '(no scored level yet)'}")
        return EXIT_BAD_INPUT
    result = compare_factor(scores, args.factor, *levels)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
        return EXIT_OK
    console.print(f"{args.factor}: {result.level_a} (A) vs {result.level_b} (B)", highlight=False)
    for side, level, mean, n in (("A", result.level_a, result.mean_a, result.n_a),
                                 ("B", result.level_b, result.mean_b, result.n_b)):
        console.print(f"  {side}  {level}: mean {mean:.2f} over {n} essays", highlight=False)
    console.print(f"  B - A: {result.difference:+.2f} [{result.ci_low:.2f}, {result.ci_high:.2f}], "
                  f"{result.pairs} pairs, p = {result.p_value:.3g}", highlight=False)
    console.print(result.sentence, highlight=False)
    console.print(f"  method: {result.method}", style="dim", highlight=False)
    return EXIT_OK
