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

Score classes are upstream's: perfect ``== 10``, high ``>= 8``, low ``<= 3``; agreement from the
range of one essay's scores: ``<= 1`` high, ``<= 2`` moderate, ``<= 3`` low, else poor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ESSAY_KEY = "essay_gen_id"
# What identifies and describes one essay (the generation being scored).
ESSAY_COLUMNS = [
    "essay_gen_id", "draft_gen_id", "combo_id", "concept_names", "draft_template", "essay_template",
    "generation_template", "generation_model", "draft_replicate", "essay_replicate",
]
STAT_COLUMNS = [
    "count", "average", "std_dev", "min_score", "max_score", "perfect_scores", "perfect_score_pct",
    "high_scores_8plus", "high_score_pct", "low_scores_3minus", "low_score_pct", "unscored",
]
PERFECT, HIGH, LOW = 10.0, 8.0, 3.0

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
    """Rows with a score (``error`` empty), with ``essay_gen_id`` and a numeric ``score``."""
    frame = with_essay_key(scores)
    score = pd.to_numeric(frame["score"], errors="coerce")
    frame = frame.assign(score=score)
    return frame[(frame["error"].fillna("") == "") & score.notna()]


def with_essay_key(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores with ``essay_gen_id``, ``evaluator`` and every essay column (a copy; as is if done)."""
    if "evaluator" in scores.columns and ESSAY_KEY in scores.columns:
        return scores
    frame = scores.copy()
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
        "_s": score, "_perfect": score == PERFECT, "_high": score >= HIGH, "_low": score <= LOW,
        "_unscored": score.isna(),
    })
    group_keys = list(keys) or ["_all"]
    for key in keys:
        work[key] = frame[key].fillna("")
    if not keys:
        work["_all"] = ""
    table = work.groupby(group_keys, sort=True, dropna=False).agg(
        count=("_s", "count"), average=("_s", "mean"), std_dev=("_s", "std"), min_score=("_s", "min"),
        max_score=("_s", "max"), perfect_scores=("_perfect", "sum"), high_scores_8plus=("_high", "sum"),
        low_scores_3minus=("_low", "sum"), unscored=("_unscored", "sum"),
    ).reset_index()
    count = table["count"].where(table["count"] > 0)
    for name, source in (("perfect_score_pct", "perfect_scores"), ("high_score_pct", "high_scores_8plus"),
                         ("low_score_pct", "low_scores_3minus")):
        table[name] = (table[source] / count * 100).round(1)
    table["average"] = table["average"].round(2)
    table["std_dev"] = table["std_dev"].round(2)
    for name in ("count", "perfect_scores", "high_scores_8plus", "low_scores_3minus", "unscored"):
        table[name] = table[name].astype(int)
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
    """Every evaluation that gave 10, with the essay's and the evaluation's files."""
    valid = valid_scores(scores)
    perfect = valid[valid["score"] == PERFECT].copy()
    perfect["notes"] = (
        "Perfect score from " + perfect["generation_model"] + " generation ("
        + perfect["draft_template"] + " -> " + perfect["essay_template"] + ") + "
        + perfect["evaluation_model"] + " evaluation (" + perfect["evaluation_template"] + ")"
    )
    perfect = perfect.rename(columns={"gen_id": "evaluation_gen_id"})
    columns = [
        "combo_id", "concept_names", "draft_template", "essay_template", "generation_template",
        "generation_model", "evaluation_template", "evaluation_model", "score", "essay_gen_id",
        "evaluation_gen_id", "generation_response_path", "evaluation_response_path", "notes",
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


def classify_spread(score_range: float, std_dev: float) -> str:
    """Upstream's thresholds on the range of one essay's scores."""
    if pd.isna(std_dev) or pd.isna(score_range):
        return "insufficient_data"
    if score_range <= 1.0:
        return "high_agreement"
    if score_range <= 2.0:
        return "moderate_agreement"
    if score_range <= 3.0:
        return "low_agreement"
    return "poor_agreement"


def _spread(valid: pd.DataFrame, keys: list[str], count_name: str) -> pd.DataFrame:
    grouped = valid.groupby(keys, sort=True)
    out = grouped["score"].agg(["count", "mean", "std", "min", "max", "median"])
    out.columns = [count_name, "mean_score", "std_dev", "min_score", "max_score", "median_score"]
    out["num_templates"] = grouped["evaluation_template"].nunique()
    out["num_models"] = grouped["evaluation_model"].nunique()
    out = out.reset_index()
    out["score_range"] = out["max_score"] - out["min_score"]
    mean = out["mean_score"].replace(0, np.nan)
    out["coefficient_of_variation"] = out["std_dev"] / mean
    return out


def evaluator_agreement_analysis(scores: pd.DataFrame) -> pd.DataFrame:
    """Spread of the graders' scores on each essay scored at least twice, classified."""
    valid = valid_scores(scores)
    columns = [
        *ESSAY_COLUMNS, "evaluator_count", "num_templates", "num_models", "mean_score", "std_dev",
        "min_score", "max_score", "median_score", "score_range", "coefficient_of_variation",
        "agreement_classification", "relative_std_dev", "relative_range",
    ]
    if valid.empty:
        return pd.DataFrame(columns=columns)
    spread = _spread(valid, [ESSAY_KEY], "evaluator_count")
    spread = spread[spread["evaluator_count"] >= 2].copy()
    spread["agreement_classification"] = [
        classify_spread(r, s) for r, s in zip(spread["score_range"], spread["std_dev"], strict=False)
    ]
    spread["relative_std_dev"] = spread["std_dev"] / 10.0
    spread["relative_range"] = spread["score_range"] / 10.0
    spread = spread.merge(_essay_index(valid).reset_index(), on=ESSAY_KEY, how="left")
    return spread.reindex(columns=columns)


def comprehensive_variance_analysis(scores: pd.DataFrame) -> pd.DataFrame:
    """Upstream's three views of grader spread, per essay: overall, across templates, across models."""
    valid = valid_scores(scores).rename(columns={})
    columns = [
        "analysis_type", *ESSAY_COLUMNS, "eval_model", "eval_template", "total_evaluations",
        "template_evaluations", "model_evaluations", "mean_score", "std_dev", "min_score", "max_score",
        "num_templates", "num_models", "templates_used", "models_used", "score_range",
        "coefficient_of_variation", "stability_classification",
    ]
    if valid.empty:
        return pd.DataFrame(columns=columns)
    valid = valid.assign(eval_model=valid["evaluation_model"], eval_template=valid["evaluation_template"])
    overall = _spread(valid, [ESSAY_KEY], "total_evaluations").round(3)
    overall["analysis_type"] = "overall_variance"
    parts = [overall]
    for analysis_type, extra, count_name, used, used_from in (
        ("template_variance", "eval_model", "template_evaluations", "templates_used", "evaluation_template"),
        ("model_variance", "eval_template", "model_evaluations", "models_used", "evaluation_model"),
    ):
        part = _spread(valid, [ESSAY_KEY, extra], count_name)
        seen: dict[tuple[str, str], set[str]] = {}
        for essay, key, name in zip(valid[ESSAY_KEY], valid[extra], valid[used_from], strict=True):
            seen.setdefault((essay, key), set()).add(str(name))
        part[used] = [", ".join(sorted(seen[k])) for k in zip(part[ESSAY_KEY], part[extra], strict=True)]
        part = part[part[count_name] >= 2]
        part["analysis_type"] = analysis_type
        parts.append(part)
    combined = pd.concat([p for p in parts if not p.empty], ignore_index=True, sort=False)
    combined["stability_classification"] = [
        classify_spread(r, s) for r, s in zip(combined["score_range"], combined["std_dev"], strict=False)
    ]
    combined = combined.merge(_essay_index(valid).reset_index(), on=ESSAY_KEY, how="left")
    return combined.reindex(columns=columns)


def scores_by_combination(scores: pd.DataFrame) -> pd.DataFrame:
    """Statistics per concept combination, with the concepts' names and its best essay."""
    columns = ["combo_id", "concept_names", "concept_ids", "n_essays", *STAT_COLUMNS, "best_essay_gen_id",
               "best_essay_mean"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    frame = with_essay_key(scores)
    table = summarize(frame, ["combo_id"])
    first = frame.drop_duplicates("combo_id").set_index("combo_id")
    table.insert(1, "concept_names", table["combo_id"].map(first["concept_names"]))
    table.insert(2, "concept_ids", table["combo_id"].map(first["concepts"]) if "concepts" in first else "")
    table.insert(3, "n_essays", table["combo_id"].map(frame.groupby("combo_id")[ESSAY_KEY].nunique()))
    valid = valid_scores(frame)
    if not valid.empty:
        means = valid.groupby(["combo_id", ESSAY_KEY])["score"].mean().reset_index()
        best = means.sort_values(["score", ESSAY_KEY], ascending=[False, True]).drop_duplicates("combo_id")
        best = best.set_index("combo_id")
        table["best_essay_gen_id"] = table["combo_id"].map(best[ESSAY_KEY])
        table["best_essay_mean"] = table["combo_id"].map(best["score"]).round(2)
    else:
        table["best_essay_gen_id"], table["best_essay_mean"] = None, None
    return table.sort_values(["average", "combo_id"], ascending=[False, True], na_position="last")


def scores_by_concept(scores: pd.DataFrame, concept_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Statistics per single concept over every combination that includes it."""
    frame = with_essay_key(scores)
    concept_ids = frame["concepts"] if "concepts" in frame.columns else pd.Series("", index=frame.index)
    exploded = frame.assign(concept_id=concept_ids.fillna("").str.split(";")).explode("concept_id")
    exploded = exploded[exploded["concept_id"].fillna("") != ""]
    columns = ["concept_id", "concept_name", "n_combinations", "n_essays", *STAT_COLUMNS]
    if exploded.empty:
        return pd.DataFrame(columns=columns)
    table = summarize(exploded, ["concept_id"])
    names = dict(concept_names) if concept_names is not None else _names_from_rows(frame)
    table.insert(1, "concept_name", table["concept_id"].map(lambda c: names.get(c, c)))
    table.insert(2, "n_combinations", table["concept_id"].map(exploded.groupby("concept_id")["combo_id"].nunique()))
    table.insert(3, "n_essays", table["concept_id"].map(exploded.groupby("concept_id")[ESSAY_KEY].nunique()))
    return table.sort_values(["average", "concept_id"], ascending=[False, True], na_position="last")[columns]


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


def top_essays(scores: pd.DataFrame) -> pd.DataFrame:
    """Every scored essay, best first: mean over its graders, each grader's score, agreement.

    Grader columns are named ``<evaluation_template>__<evaluation_model>`` (mean over replicates);
    when some grader scored an essay more than once, ``n:<grader>`` columns give the count per cell.
    Ranked by mean score, then number of scores, then lowest score (all descending), then id.
    """
    frame = with_essay_key(scores)
    valid = valid_scores(frame)
    base = [
        "rank", *ESSAY_COLUMNS, "mean_score", "n_scores", "n_graders", "n_unscored", "min_score",
        "max_score", "score_range", "std_dev", "agreement_classification",
    ]
    if valid.empty:
        return pd.DataFrame(columns=[*base, "essay_path"])
    grouped = valid.groupby(ESSAY_KEY)
    table = pd.DataFrame(grouped["score"].agg(["mean", "count", "min", "max", "std"]))
    table.columns = ["mean_score", "n_scores", "min_score", "max_score", "std_dev"]
    table["n_graders"] = grouped["evaluator"].nunique()
    unscored = frame[frame["error"].fillna("") != ""].groupby(ESSAY_KEY).size()
    table["n_unscored"] = unscored.reindex(table.index).fillna(0).astype(int)
    table["score_range"] = table["max_score"] - table["min_score"]
    table["agreement_classification"] = [
        classify_spread(r, s) for r, s in zip(table["score_range"], table["std_dev"], strict=False)
    ]
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
    table["std_dev"] = table["std_dev"].round(3)
    paths = valid.drop_duplicates(ESSAY_KEY).set_index(ESSAY_KEY)["generation_response_path"]
    table["essay_path"] = table[ESSAY_KEY].map(paths)
    table = table.sort_values(
        ["mean_score", "n_scores", "min_score", ESSAY_KEY], ascending=[False, False, False, True]
    ).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table[[*base, *extra, "essay_path"]]
