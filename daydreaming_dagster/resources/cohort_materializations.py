"""What a cohort's task tables and result tables say when they are materialized, in either front door.

A Dagster run of the ``results`` assets (partition = cohort) and ``daydream run --cohort X`` (the
runless reporting of ``resources/reporter.py``) both build these materializations from the files
``results/writer.py::write_all_results`` wrote, so the two give the same metadata, key for key.
Reading the files back (not the frames in memory) is what makes them equal: the reporting process
never sees the run's frames.

One results asset per file the writer makes, named after the file (``evaluation_score_pivot`` for
the writer's ``score_pivot``), plus ``generation_reports`` (the three 7_reporting tables together,
one view) and ``cohort_report`` (report.html). A table added to ``SCORE_TABLES`` becomes an asset.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daydreaming_dagster.core.layout import CohortLayout
from daydreaming_dagster.results.writer import SCORE_TABLES, VIEW_TABLES

if TYPE_CHECKING:
    from dagster import AssetMaterialization

PREVIEW_ROWS = 10
PARSED_SCORES = "parsed_scores"
GENERATION_REPORTS = "generation_reports"
COHORT_REPORT = "cohort_report"
REPORT = "report"  # write_all_results's name for report.html
COHORT_TASKS = "cohort_tasks"


def _asset_of_score_table(name: str) -> str:
    return SCORE_TABLES[name][1].removesuffix(".csv")  # the file's name: upstream's asset names


# Asset name -> the write_all_results names it covers, in the writer's order.
RESULT_ASSETS: Mapping[str, tuple[str, ...]] = {
    PARSED_SCORES: (PARSED_SCORES,),
    **{_asset_of_score_table(name): (name,) for name in SCORE_TABLES},
    GENERATION_REPORTS: tuple(VIEW_TABLES),
    COHORT_REPORT: (REPORT,),
}


def read_table(path: Path) -> pd.DataFrame:
    """A written table as pandas reads it back (an empty file is an empty frame)."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _column_type(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"i": "int", "u": "int", "f": "float", "b": "bool"}.get(kind, "string")


def table_metadata(path: Path, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Dagster's table conventions for one CSV: path, ``dagster/row_count``, ``dagster/column_schema``
    and a markdown preview of the top rows."""
    from dagster import MetadataValue, TableColumn, TableSchema

    frame = read_table(path) if frame is None else frame
    preview = frame.head(PREVIEW_ROWS)
    preview = preview.astype(object).where(preview.notna(), "")  # blank cells, not "nan"
    schema = TableSchema(columns=[TableColumn(str(c), _column_type(frame[c].dtype)) for c in frame.columns])
    return {
        "path": MetadataValue.path(str(path)),
        "dagster/row_count": MetadataValue.int(len(frame)),
        "dagster/column_schema": MetadataValue.table_schema(schema),
        "preview": MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(empty)"),
    }


def result_asset_metadata(asset: str, paths: Mapping[str, Path], cohort: str) -> dict[str, Any]:
    """The metadata of results asset ``asset`` of ``cohort``, from the files in ``paths`` (what
    ``write_all_results`` returned). Raises KeyError when a file the asset covers is not in ``paths``."""
    from dagster import MetadataValue

    names = RESULT_ASSETS[asset]
    base: dict[str, Any] = {"cohort": MetadataValue.text(cohort)}
    if asset == COHORT_REPORT:
        path = Path(paths[REPORT])
        return {
            **base,
            "path": MetadataValue.path(str(path)),
            "url": MetadataValue.url(path.resolve().as_uri()),
            "size_mb": MetadataValue.float(round(path.stat().st_size / 1e6, 2)),
        }
    if asset == GENERATION_REPORTS:
        metadata = dict(base)
        for name in names:
            frame = read_table(Path(paths[name]))
            metadata[f"{name}_path"] = MetadataValue.path(str(paths[name]))
            metadata[f"{name}_rows"] = MetadataValue.int(len(frame))
            if name == "generation_summary":
                metadata["preview"] = MetadataValue.md(frame.to_markdown(index=False))
                overall = frame[frame["stage"] == "all"]
                generations = int(overall["generations"].iloc[0]) if len(overall) else 0
                metadata["dagster/row_count"] = MetadataValue.int(generations)
            if name == "documents_consistency_report":
                issues = frame["issue"].fillna("").astype(str) if "issue" in frame.columns else pd.Series(dtype=str)
                metadata["issues"] = MetadataValue.int(int((issues != "").sum()))
        return metadata
    (name,) = names
    path = Path(paths[name])
    frame = read_table(path)
    metadata = {**base, **table_metadata(path, frame)}
    if asset == PARSED_SCORES:
        errors = frame["error"].fillna("").astype(str) if "error" in frame.columns else pd.Series(dtype=str)
        metadata["errors"] = MetadataValue.int(int((errors != "").sum()))
    return metadata


def result_materializations(cohort: str, paths: Mapping[str, Path]) -> list[AssetMaterialization]:
    """Partition ``cohort`` of every results asset whose files are all in ``paths`` (a results
    phase that skipped the report, ``report=False``, reports no ``cohort_report``)."""
    from dagster import AssetKey, AssetMaterialization

    return [
        AssetMaterialization(
            asset_key=AssetKey(asset), partition=cohort, metadata=result_asset_metadata(asset, paths, cohort)
        )
        for asset, names in RESULT_ASSETS.items()
        if all(name in paths for name in names)
    ]


def cohort_tasks_metadata(
    data_root: Path, cohort: str, counts: Mapping[str, int], partitions: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """What ``cohort_tasks`` says for one cohort: where its tables are (and, for a named cohort, its
    spec and membership.csv), rows per table (``selection`` and each stage), and per stage the
    partitions added, removed and in total (every cohort's gen_ids) and the cohort's own."""
    from dagster import MetadataValue

    layout = CohortLayout(Path(data_root), cohort)
    metadata: dict[str, Any] = {
        "cohort": MetadataValue.text(cohort),
        "tasks_dir": MetadataValue.path(str(layout.tasks_dir)),
        **{f"{table}_rows": MetadataValue.int(int(n)) for table, n in counts.items()},
        "dagster/row_count": MetadataValue.int(sum(int(n) for table, n in counts.items() if table != "selection")),
    }
    if not layout.is_default:
        metadata["membership"] = MetadataValue.path(str(layout.membership))
        metadata["spec"] = MetadataValue.path(str(layout.spec_file or layout.spec_dir))
    for stage, stats in partitions.items():
        for key, value in stats.items():
            metadata[f"{stage}_{key}"] = MetadataValue.int(int(value))
    return metadata


def cohort_tasks_materialization(
    data_root: Path, cohort: str, counts: Mapping[str, int], partitions: Mapping[str, Mapping[str, int]]
) -> AssetMaterialization:
    from dagster import AssetKey, AssetMaterialization

    return AssetMaterialization(
        asset_key=AssetKey(COHORT_TASKS),
        partition=cohort,
        metadata=cohort_tasks_metadata(data_root, cohort, counts, partitions),
    )
