"""Asset group ``results``: parsed scores with lineage, the score pivot and the summary."""


import pandas as pd
from dagster import AssetExecutionContext, asset

from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.inputs.combinations import combinations_from_selection
from daydreaming_dagster.resources.settings import DataRootResource
from daydreaming_dagster.results.scores import parsed_scores as build_parsed_scores
from daydreaming_dagster.results.scores import score_pivot, score_summary

GROUP = "results"


@asset(group_name=GROUP, io_manager_key="parsing_io_manager")
def parsed_scores(
    context: AssetExecutionContext,
    evaluation_tasks: pd.DataFrame,
    essay_generation_tasks: pd.DataFrame,
    selected_combo_mappings: pd.DataFrame,
    data_root: DataRootResource,
) -> pd.DataFrame:
    """One row per evaluation of the cohort: lineage, score, or the reason there is none."""
    scores = build_parsed_scores(
        GensStore(data_root.root),
        evaluation_tasks,
        essay_generation_tasks,
        combinations_from_selection(selected_combo_mappings),
    )
    context.add_output_metadata({"rows": len(scores), "errors": int((scores["error"] != "").sum()) if len(scores) else 0})
    return scores


@asset(group_name=GROUP, io_manager_key="summary_io_manager")
def evaluation_score_pivot(parsed_scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per essay x evaluation template x evaluation model."""
    return score_pivot(_typed(parsed_scores))


@asset(group_name=GROUP, io_manager_key="summary_io_manager")
def score_summary_table(parsed_scores: pd.DataFrame) -> pd.DataFrame:
    """Count/mean/std/min/max per template and per model."""
    return score_summary(_typed(parsed_scores))


def _typed(scores: pd.DataFrame) -> pd.DataFrame:
    # Read back from CSV as strings: restore the numeric score column.
    return scores.assign(score=pd.to_numeric(scores["score"], errors="coerce"))
