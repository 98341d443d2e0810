"""Upstream's result tables, built right, and the tables a researcher asked for beyond them.

Every function takes the ``parsed_scores`` frame (one row per evaluation of the cohort, with its
lineage; see ``scores.scores_frame``) and returns a DataFrame. Upstream's names and columns are kept
(``generation_template`` is upstream's name for the essay template; ``essay_template`` says the same
thing under its own name), with these fixes:

- one *generation* is one essay (``essay_gen_id``): its key includes the draft template, the essay
  template, the model and the replicates, so essays of different draft templates are never merged
  (upstream grouped by ``combo_id, generation_template, generation_model``, see spec §7.2);
- rows that could not be scored stay in ``parsed_scores`` with their ``error``; the summaries count
  them per group in ``unscored``.

Every grouped mean also has ``n_essays`` (independent essays, not evaluations) and its 95 % interval
``ci_low``/``ci_high`` (a t-interval whose standard error counts essays, see ``stats``). Ranked tables have ``rank``
(ties share the best rank) and ``rank_label`` (``1=`` marks a tie); within a tie, rows keep the
table's order, which each function's docstring states.

Score classes follow each rubric's scale (``scale``): perfect is the top of the scale (upstream's
``== 10``); upstream's ``high_scores_8plus`` (``>= 8``) and ``low_scores_3minus`` (``<= 3``) keep their
literal meaning, and ``high_scores_on_scale``/``low_scores_on_scale`` are the scale-aware ones (the
success threshold, or 80 % / 30 % of the scale), equal to upstream's on 0-10. Agreement is judged
from the range of one essay's scores relative to the scale: on 0-10, ``<= 1`` high, ``<= 2``
moderate, ``<= 3`` low, else poor. ``evaluator_agreement_analysis`` is upstream's view and pools an
essay's scores across rubrics (``scope`` says so), as do two of ``comprehensive_variance_analysis``'s
three views (its ``scope`` says which); agreement between graders on one rubric is in ``agreement``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from daydreaming_dagster.results import scale, stats

ESSAY_KEY = "essay_gen_id"
# What identifies and describes one essay (the generation being scored).
ESSAY_COLUMNS = [
    "essay_gen_id", "draft_gen_id", "combo_id", "concept_names", "draft_template", "essay_template",
    "generation_template", "generation_model", "draft_replicate", "essay_replicate",
]
UPSTREAM_STAT_COLUMNS = [
    "count", "average", "std_dev", "min_score", "max_score", "perfect_scores", "perfect_score_pct",
    "high_scores_8plus", "high_score_pct", "low_scores_3minus",
]
STAT_COLUMNS = [
    *UPSTREAM_STAT_COLUMNS, "low_score_pct", "unscored", "n_essays", "ci_low", "ci_high", "scale",
    "high_scores_on_scale", "high_on_scale_pct", "low_scores_on_scale", "low_on_scale_pct",
]
HIGH, LOW = 8.0, 3.0  # upstream's literal cuts (high_scores_8plus, low_scores_3minus)
POOLED_SCOPE = "pooled across evaluation templates"
# comprehensive_variance_analysis: what each analysis_type's spread is taken over.
VARIANCE_SCOPES = {
    "overall_variance": POOLED_SCOPE,
    "template_variance": "pooled across evaluation templates, one evaluation model",
    "model_variance": "within one evaluation template",
}
TIE_ORDER = {
    "top_essays": "ranked by mean score (by mean_fraction, the mean as a fraction of each rubric's scale, when the "
                  "rubrics' scales differ); equal means share a rank; within a tie: more scores first, then the "
                  "higher lowest score, then essay id",
    "scores_by_combination": "equal averages (2 decimals) share a rank; within a tie: combo_id",
    "scores_by_concept": "equal averages (2 decimals) share a rank; within a tie: concept_id",
}

# (analysis_type, group columns). Upstream's six groupings keep upstream's names.
FINAL_RESULTS_GROUPS: list[tuple[str, list[str]]] = [
    ("by_generation_template", ["generation_template"]),
    ("by_draft_template", ["draft_template"]),
    ("by_generation_model", ["generation_model"]),
    ("by_evaluation_template", ["evaluation_template"]),
    ("by_evaluation_model", ["evaluation_model"]),
    ("by_evaluator", ["evaluation_template", "evaluation_model"]),
    ("by_combo_id", ["combo_id"]),
    ("by_draft_and_essay_template", ["draft_template", "generation_template"]),
    ("by_template_and_generation_model", ["generation_template", "generation_model"]),
    ("by_generation_vs_evaluation_model", ["generation_model", "evaluation_model"]),
    ("by_generation", ["draft_template", "generation_template", "generation_model"]),
]
FINAL_RESULTS_COLUMNS = [
    "analysis_type", "draft_template", "generation_template", "essay_template", "generation_model",
    "evaluation_template", "evaluation_model", "combo_id", "concept_names", *STAT_COLUMNS,
]


def valid_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows with a score (``error`` empty), with ``essay_gen_id``, a numeric ``score`` and the scale."""
    frame = with_essay_key(scores)
    score = pd.to_numeric(frame["score"], errors="coerce")
    frame = frame.assign(score=score)
    return frame[(frame["error"].fillna("") == "") & score.notna()]


def with_essay_key(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores with ``essay_gen_id``, ``evaluator``, every essay column and numeric scale columns
    (a copy; as is if done)."""
    if "evaluator" in scores.columns and ESSAY_KEY in scores.columns:
        return scale.with_scale(scores)
    frame = scale.with_scale(scores).copy()
    frame[ESSAY_KEY] = frame["parent_gen_id"]
    if "generation_template" not in frame.columns:
        frame["generation_template"] = frame["essay_template"]
    for column in ESSAY_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    frame["evaluator"] = frame["evaluation_template"] + "__" + frame["evaluation_model"]
    return frame


def summarize(scores: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Score statistics per group; a group whose evaluations all failed has count 0."""
    frame = with_essay_key(scores)
    score = pd.to_numeric(frame["score"], errors="coerce").where(frame["error"].fillna("") == "")
    work = pd.DataFrame({
        "_s": score, "_perfect": scale.is_perfect(frame, score), "_high": score >= HIGH, "_low": score <= LOW,
        "_high_scaled": scale.is_high(frame, score) & score.notna(),
        "_low_scaled": scale.is_low(frame, score) & score.notna(), "_unscored": score.isna(),
        "_scale": scale.scale_labels(frame), ESSAY_KEY: frame[ESSAY_KEY],
    })
    group_keys = list(keys) or ["_all"]
    for key in keys:
        work[key] = frame[key].fillna("")
    if not keys:
        work["_all"] = ""
    grouped = work.groupby(group_keys, sort=True, dropna=False)
    table = grouped.agg(
        count=("_s", "count"), average=("_s", "mean"), std_dev=("_s", "std"), min_score=("_s", "min"),
        max_score=("_s", "max"), perfect_scores=("_perfect", "sum"), high_scores_8plus=("_high", "sum"),
        low_scores_3minus=("_low", "sum"), unscored=("_unscored", "sum"),
        high_scores_on_scale=("_high_scaled", "sum"), low_scores_on_scale=("_low_scaled", "sum"),
    ).reset_index()
    scales = grouped["_scale"].agg(lambda v: "; ".join(sorted(set(v)))).reset_index(drop=True)
    table["scale"] = scales.to_numpy()
    count = table["count"].where(table["count"] > 0)
    for name, source in (("perfect_score_pct", "perfect_scores"), ("high_score_pct", "high_scores_8plus"),
                         ("low_score_pct", "low_scores_3minus"), ("high_on_scale_pct", "high_scores_on_scale"),
                         ("low_on_scale_pct", "low_scores_on_scale")):
        table[name] = (table[source] / count * 100).round(1)
    table["average"] = table["average"].round(2)
    table["std_dev"] = table["std_dev"].round(2)
    for name in ("count", "perfect_scores", "high_scores_8plus", "low_scores_3minus", "unscored",
                 "high_scores_on_scale", "low_scores_on_scale"):
        table[name] = table[name].astype(int)
    intervals = stats.cluster_mean_intervals(work, group_keys, value="_s")
    if keys:
        table = table.merge(intervals, on=group_keys, how="left")
    else:
        for column in ("n_essays", "ci_low", "ci_high"):
            table[column] = intervals[column].iloc[0] if len(intervals) else np.nan
    table["n_essays"] = table["n_essays"].fillna(0).astype(int)
    table["ci_low"] = table["ci_low"].round(2)
    table["ci_high"] = table["ci_high"].round(2)
    return table.reindex(columns=[*keys, *STAT_COLUMNS])


def final_results(scores: pd.DataFrame) -> pd.DataFrame:
    """Upstream's ``final_results``: statistics per template, model, evaluator, combination, pair."""
    if scores.empty:
        return pd.DataFrame(columns=FINAL_RESULTS_COLUMNS)
    frame = with_essay_key(scores)
    parts = []
    for analysis_type, keys in FINAL_RESULTS_GROUPS:
        part = summarize(frame, keys)
        part.insert(0, "analysis_type", analysis_type)
        parts.append(part)
    overall = summarize(frame, [])
    overall.insert(0, "analysis_type", "overall_statistics")
    parts.append(overall)
    result = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    if "generation_template" in result.columns:
        result["essay_template"] = result["generation_template"]
    names = dict(zip(frame["combo_id"], frame["concept_names"], strict=False))
    if "combo_id" in result.columns:
        result["concept_names"] = result["combo_id"].map(names)
    return result.reindex(columns=FINAL_RESULTS_COLUMNS)


def perfect_score_paths(scores: pd.DataFrame) -> pd.DataFrame:
    """Every evaluation that gave the top of its rubric's scale (10 on upstream's 0-10), with the
    essay's and the evaluation's files."""
    valid = valid_scores(scores)
    perfect = valid[scale.is_perfect(valid, valid["score"])].copy()
    perfect["scale"] = scale.scale_labels(perfect)
    perfect["notes"] = (
        "Perfect score from " + perfect["generation_model"] + " generation ("
        + perfect["draft_template"] + " -> " + perfect["essay_template"] + ") + "
        + perfect["evaluation_model"] + " evaluation (" + perfect["evaluation_template"] + ")"
    )
    perfect = perfect.rename(columns={"gen_id": "evaluation_gen_id"})
    columns = [
        "combo_id", "concept_names", "draft_template", "essay_template", "generation_template",
        "generation_model", "evaluation_template", "evaluation_model", "score", "essay_gen_id",
        "evaluation_gen_id", "generation_response_path", "evaluation_response_path", "notes", "scale",
    ]
    return perfect.reindex(columns=columns).sort_values(["combo_id", "essay_gen_id", "evaluation_gen_id"])


def _essay_index(valid: pd.DataFrame) -> pd.DataFrame:
    return valid[ESSAY_COLUMNS].drop_duplicates(ESSAY_KEY).set_index(ESSAY_KEY)


def _pivot(valid: pd.DataFrame, column: pd.Series, *, decimals: int | None) -> pd.DataFrame:
    pivot = valid.assign(_col=column).pivot_table(
        index=ESSAY_KEY, columns="_col", values="score", aggfunc="mean"
    )
    pivot.columns = [str(c) for c in pivot.columns]
    if decimals is not None:
        pivot = pivot.round(decimals)
    return _essay_index(valid).join(pivot, how="inner").reset_index()


def evaluation_model_template_pivot(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per essay; one column per ``<evaluation_model>_<evaluation_template>`` (mean)."""
    valid = valid_scores(scores)
    if valid.empty:
        return pd.DataFrame(columns=ESSAY_COLUMNS)
    return _pivot(valid, valid["evaluation_model"] + "_" + valid["evaluation_template"], decimals=None)


def generation_scores_pivot(scores: pd.DataFrame) -> pd.DataFrame:
    """Upstream's ``generation_scores_pivot``: essay rows, ``<template>_<model>`` columns, sum_scores."""
    valid = valid_scores(scores)
    if valid.empty:
        return pd.DataFrame(columns=[*ESSAY_COLUMNS, "stage", "sum_scores", "generation_response_path"])
    pivot = _pivot(valid, valid["evaluation_template"] + "_" + valid["evaluation_model"], decimals=2)
    evaluators = [c for c in pivot.columns if c not in ESSAY_COLUMNS]
    pivot.insert(len(ESSAY_COLUMNS), "stage", "essay")
    pivot["sum_scores"] = pivot[evaluators].sum(axis=1, skipna=True).round(2)
    paths = valid.drop_duplicates(ESSAY_KEY).set_index(ESSAY_KEY)["generation_response_path"]
    pivot["generation_response_path"] = pivot[ESSAY_KEY].map(paths)
    return pivot


def classify_spread(score_range: float, std_dev: float, scale_width: float = 10.0) -> str:
    """Upstream's thresholds on the range of one essay's scores (1, 2, 3 on a 0-10 scale), taken
    relative to the scale's width."""
    if pd.isna(std_dev) or pd.isna(score_range):
        return "insufficient_data"
    relative = score_range * 10.0 / scale_width
    if relative <= 1.0:
        return "high_agreement"
    if relative <= 2.0:
        return "moderate_agreement"
    if relative <= 3.0:
        return "low_agreement"
    return "poor_agreement"


def classify_spreads(frame: pd.DataFrame, range_column: str, std_column: str, width_column: str) -> list[str]:
    return [
        classify_spread(r, s, w)
        for r, s, w in zip(frame[range_column], frame[std_column], frame[width_column], strict=True)
    ]


# Upstream's two spread tables name the same statistics differently (spec §7.2 and upstream's code).
AGREEMENT_NAMES = ["mean", "std", "min", "max", "median"]
VARIANCE_NAMES = ["mean_score", "std_dev", "min_score", "max_score", "median_score"]


def _spread(valid: pd.DataFrame, keys: list[str], count_name: str, names: list[str]) -> pd.DataFrame:
    grouped = valid.groupby(keys, sort=True)
    out = grouped["score"].agg(["count", "mean", "std", "min", "max", "median"])
    mean_name, std_name, min_name, max_name, _ = names
    out.columns = [count_name, *names]
    out["num_templates"] = grouped["evaluation_template"].nunique()
    out["num_models"] = grouped["evaluation_model"].nunique()
    # The widest scale among the scores judged together (10 on upstream's 0-10).
    out["scale_width"] = grouped["_width"].max()
    out = out.reset_index()
    out["score_range"] = out[max_name] - out[min_name]
    mean = out[mean_name].replace(0, np.nan)
    out["coefficient_of_variation"] = out[std_name] / mean
    return out


def evaluator_agreement_analysis(scores: pd.DataFrame) -> pd.DataFrame:
    """Upstream's table: the spread of all the scores of each essay scored at least twice, pooled
    across evaluation templates (``scope``), classified. Spread between graders on one rubric:
    ``agreement.essay_agreement_by_rubric``."""
    valid = valid_scores(scores)
    columns = [
        *ESSAY_COLUMNS, "evaluator_count", "num_templates", "num_models", *AGREEMENT_NAMES, "score_range",
        "coefficient_of_variation", "agreement_classification", "relative_std_dev", "relative_range", "scope",
    ]
    if valid.empty:
        return pd.DataFrame(columns=columns)
    valid = valid.assign(_width=scale.width(valid))
    spread = _spread(valid, [ESSAY_KEY], "evaluator_count", AGREEMENT_NAMES)
    spread = spread[spread["evaluator_count"] >= 2].copy()
    spread["agreement_classification"] = classify_spreads(spread, "score_range", "std", "scale_width")
    spread["relative_std_dev"] = spread["std"] / spread["scale_width"]
    spread["relative_range"] = spread["score_range"] / spread["scale_width"]
    spread["scope"] = POOLED_SCOPE
    spread = spread.merge(_essay_index(valid).reset_index(), on=ESSAY_KEY, how="left")
    return spread.reindex(columns=columns)


def comprehensive_variance_analysis(scores: pd.DataFrame) -> pd.DataFrame:
    """Upstream's three views of grader spread, per essay: overall, across templates, across models.

    ``scope`` says what each row pools: ``overall_variance`` and ``template_variance`` pool scores of
    different rubrics (the spread between criteria, not between graders); only ``model_variance``
    compares graders on one rubric."""
    valid = valid_scores(scores).rename(columns={})
    columns = [
        "analysis_type", *ESSAY_COLUMNS, "eval_model", "eval_template", "total_evaluations",
        "template_evaluations", "model_evaluations", "mean_score", "std_dev", "min_score", "max_score",
        "num_templates", "num_models", "templates_used", "models_used", "score_range",
        "coefficient_of_variation", "stability_classification", "scope",
    ]
    if valid.empty:
        return pd.DataFrame(columns=columns)
    valid = valid.assign(eval_model=valid["evaluation_model"], eval_template=valid["evaluation_template"],
                         _width=scale.width(valid))
    overall = _spread(valid, [ESSAY_KEY], "total_evaluations", VARIANCE_NAMES).round(3)
    overall["analysis_type"] = "overall_variance"
    parts = [overall]
    for analysis_type, extra, count_name, used, used_from in (
        ("template_variance", "eval_model", "template_evaluations", "templates_used", "evaluation_template"),
        ("model_variance", "eval_template", "model_evaluations", "models_used", "evaluation_model"),
    ):
        part = _spread(valid, [ESSAY_KEY, extra], count_name, VARIANCE_NAMES)
        seen: dict[tuple[str, str], set[str]] = {}
        for essay, key, name in zip(valid[ESSAY_KEY], valid[extra], valid[used_from], strict=True):
            seen.setdefault((essay, key), set()).add(str(name))
        part[used] = [", ".join(sorted(seen[k])) for k in zip(part[ESSAY_KEY], part[extra], strict=True)]
        part = part[part[count_name] >= 2]
        part["analysis_type"] = analysis_type
        parts.append(part)
    combined = pd.concat([p for p in parts if not p.empty], ignore_index=True, sort=False)
    combined["stability_classification"] = classify_spreads(combined, "score_range", "std_dev", "scale_width")
    combined["scope"] = combined["analysis_type"].map(VARIANCE_SCOPES)
    combined = combined.merge(_essay_index(valid).reset_index(), on=ESSAY_KEY, how="left")
    return combined.reindex(columns=columns)


def _ranked(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """``rank`` and ``rank_label`` in front of a table already sorted best first (ties: equal ``by``)."""
    ranks, labels = stats.competition_ranks(table[by].to_numpy(dtype=float))
    table = table.reset_index(drop=True)
    table.insert(0, "rank_label", labels)
    table.insert(0, "rank", ranks)
    return table


def scores_by_combination(scores: pd.DataFrame) -> pd.DataFrame:
    """Statistics per concept combination, with the concepts' names and its best essay.

    Best average first; equal averages (2 decimals) share a rank, ordered by combo_id.
    """
    columns = ["rank", "rank_label", "combo_id", "concept_names", "concept_ids", *STAT_COLUMNS,
               "best_essay_gen_id", "best_essay_mean"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    frame = with_essay_key(scores)
    table = summarize(frame, ["combo_id"])
    first = frame.drop_duplicates("combo_id").set_index("combo_id")
    table["concept_names"] = table["combo_id"].map(first["concept_names"])
    table["concept_ids"] = table["combo_id"].map(first["concepts"]) if "concepts" in first else ""
    valid = valid_scores(frame)
    if not valid.empty:
        means = valid.groupby(["combo_id", ESSAY_KEY])["score"].mean().reset_index()
        best = means.sort_values(["score", ESSAY_KEY], ascending=[False, True]).drop_duplicates("combo_id")
        best = best.set_index("combo_id")
        table["best_essay_gen_id"] = table["combo_id"].map(best[ESSAY_KEY])
        table["best_essay_mean"] = table["combo_id"].map(best["score"]).round(2)
    else:
        table["best_essay_gen_id"], table["best_essay_mean"] = None, None
    table = table.sort_values(["average", "combo_id"], ascending=[False, True], na_position="last")
    return _ranked(table, "average").reindex(columns=columns)


def scores_by_concept(scores: pd.DataFrame, concept_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Statistics per single concept over every combination that includes it.

    Best average first; equal averages (2 decimals) share a rank, ordered by concept_id.
    """
    frame = with_essay_key(scores)
    concept_ids = frame["concepts"] if "concepts" in frame.columns else pd.Series("", index=frame.index)
    exploded = frame.assign(concept_id=concept_ids.fillna("").str.split(";")).explode("concept_id")
    exploded = exploded[exploded["concept_id"].fillna("") != ""]
    columns = ["rank", "rank_label", "concept_id", "concept_name", "n_combinations", *STAT_COLUMNS]
    if exploded.empty:
        return pd.DataFrame(columns=columns)
    table = summarize(exploded, ["concept_id"])
    names = dict(concept_names) if concept_names is not None else _names_from_rows(frame)
    table["concept_name"] = table["concept_id"].map(lambda c: names.get(c, c))
    table["n_combinations"] = table["concept_id"].map(exploded.groupby("concept_id")["combo_id"].nunique())
    table = table.sort_values(["average", "concept_id"], ascending=[False, True], na_position="last")
    return _ranked(table, "average").reindex(columns=columns)


def _names_from_rows(frame: pd.DataFrame) -> dict[str, str]:
    """concept_id -> name from the rows' ``concepts`` (ids, ``;``) and ``concept_names`` (``; ``)."""
    names: dict[str, str] = {}
    if "concept_names" not in frame.columns:
        return names
    for ids, labels in zip(frame["concepts"].fillna(""), frame["concept_names"].fillna(""), strict=False):
        id_list, label_list = str(ids).split(";"), str(labels).split("; ")
        if len(id_list) == len(label_list):
            names.update(zip(id_list, label_list, strict=False))
    return names


def _grader_spread_by_rubric(valid: pd.DataFrame) -> pd.DataFrame:
    """Per essay: the largest range between its graders' scores on one rubric (each grader's mean
    over replicates), relative to that rubric's scale, and its classification."""
    cells = valid.groupby([ESSAY_KEY, "evaluation_template", "evaluation_model"], sort=False).agg(
        score=("score", "mean"), width=("_width", "max"))
    per_rubric = cells.groupby(level=[0, 1]).agg(
        low=("score", "min"), high=("score", "max"), graders=("score", "count"), width=("width", "max"))
    per_rubric["range"] = (per_rubric["high"] - per_rubric["low"]).where(per_rubric["graders"] >= 2)
    per_rubric["relative"] = per_rubric["range"] / per_rubric["width"]
    worst = per_rubric.sort_values("relative", ascending=False, na_position="last").groupby(level=0).head(1)
    worst = worst.reset_index(level=1, drop=True)
    return pd.DataFrame({
        "grader_range": worst["range"],
        "agreement_classification": [
            classify_spread(r, r, w) for r, w in zip(worst["range"], worst["width"], strict=True)
        ],
    })


def top_essays(scores: pd.DataFrame) -> pd.DataFrame:
    """Every scored essay, best first: mean over its graders, each grader's score, agreement.

    Grader columns are named ``<evaluation_template>__<evaluation_model>`` (mean over replicates);
    when some grader scored an essay more than once, ``n:<grader>`` columns give the count per cell.
    ``n_graders`` counts grading models; ``grader_range`` is the largest range between the graders'
    scores on one rubric and ``agreement_classification`` judges it against that rubric's scale.
    ``mean_fraction`` is the mean of its scores each taken as a fraction of its rubric's scale (0
    bottom, 1 top). Ranked by mean score, or by ``mean_fraction`` when the rubrics' scales differ
    (``mean_score`` then pools points of different scales); equal values share a rank (``rank_label``
    ``1=``) and are ordered by number of scores, then lowest score (both descending), then id.
    """
    frame = with_essay_key(scores)
    valid = valid_scores(frame)
    base = [
        "rank", "rank_label", *ESSAY_COLUMNS, "mean_score", "mean_fraction", "n_scores", "n_graders", "n_unscored",
        "min_score",
        "max_score", "grader_range", "agreement_classification",
    ]
    if valid.empty:
        return pd.DataFrame(columns=[*base, "essay_path"])
    valid = valid.assign(_width=scale.width(valid))
    valid = valid.assign(_fraction=(valid["score"] - valid["score_min"]) / valid["_width"])
    grouped = valid.groupby(ESSAY_KEY)
    table = pd.DataFrame(grouped["score"].agg(["mean", "count", "min", "max"]))
    table.columns = ["mean_score", "n_scores", "min_score", "max_score"]
    table["mean_fraction"] = grouped["_fraction"].mean()
    table["n_graders"] = grouped["evaluation_model"].nunique()
    unscored = frame[frame["error"].fillna("") != ""].groupby(ESSAY_KEY).size()
    table["n_unscored"] = unscored.reindex(table.index).fillna(0).astype(int)
    table = table.join(_grader_spread_by_rubric(valid))
    per_grader = valid.pivot_table(index=ESSAY_KEY, columns="evaluator", values="score", aggfunc="mean")
    counts = valid.pivot_table(index=ESSAY_KEY, columns="evaluator", values="score", aggfunc="count")
    graders = sorted(str(c) for c in per_grader.columns)
    table = table.join(per_grader[graders])
    extra = list(graders)
    if counts.max().max() > 1:
        per_cell = counts[graders].add_prefix("n:")
        table = table.join(per_cell.fillna(0).astype(int))
        extra += [str(c) for c in per_cell.columns]
    table = _essay_index(valid).join(table, how="inner").reset_index()
    table["mean_score"] = table["mean_score"].round(3)
    table["mean_fraction"] = table["mean_fraction"].round(4)
    paths = valid.drop_duplicates(ESSAY_KEY).set_index(ESSAY_KEY)["generation_response_path"]
    table["essay_path"] = table[ESSAY_KEY].map(paths)
    # A 9 on 0-9 is a top score, a 9 on 0-10 is not: with rubrics on different scales the raw
    # mean would favour the essays graded on the wider scale, so the fraction of scale ranks them.
    by = "mean_fraction" if len(valid[["score_min", "score_max"]].drop_duplicates()) > 1 else "mean_score"
    table = table.sort_values([by, "n_scores", "min_score", ESSAY_KEY], ascending=[False, False, False, True])
    table = _ranked(table, by)
    return table[[*base, *extra, "essay_path"]]
