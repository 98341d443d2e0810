"""The Dagster code location (``dagster dev`` from the repository root loads it).

Nothing here reads the data root's files: experiment.toml and 1_raw are read when a run starts, and
the cohorts (their specs under cohorts/) when ``cohort_specs_sensor`` ticks, so a new spec needs no
restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import Definitions, define_asset_job, load_assets_from_modules

from daydreaming_dagster.assets import group_generation, group_results, group_task_definitions
from daydreaming_dagster.core.paths import default_data_root
from daydreaming_dagster.core.stages import TASKS_DIR
from daydreaming_dagster.resources.io_managers import CSVIOManager
from daydreaming_dagster.resources.llm import LLMResource
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource

ASSET_MODULES = [group_task_definitions, group_generation, group_results]

ASSETS = load_assets_from_modules(ASSET_MODULES)


def build_resources(data_root: str | None = None, llm: LLMResource | None = None) -> dict[str, Any]:
    """Resources for a data root; tests pass a mock ``llm`` (the port's test adapter)."""
    root = data_root or default_data_root()
    resources: dict[str, Any] = {
        "data_root": DataRootResource(path=root),
        "experiment_config": ExperimentResource(),
        "llm": llm or LLMResource(),
        # The default cohort's task tables (2_tasks); result tables are written by results/ per cohort.
        "tasks_io_manager": CSVIOManager(base_path=str(Path(root) / TASKS_DIR)),
    }
    return resources


def build_definitions(data_root: str | None = None, llm: LLMResource | None = None) -> Definitions:
    return Definitions(
        assets=ASSETS,
        asset_checks=group_results.RESULT_CHECKS,
        jobs=[define_asset_job("build_tasks_job", selection="group:task_definitions"), *group_results.RESULT_JOBS],
        sensors=[group_task_definitions.raw_inputs_sensor, group_task_definitions.cohort_specs_sensor],
        resources=build_resources(data_root, llm),
    )


defs = build_definitions()
