"""The data root and the experiment settings as Dagster resources.

Settings are read from ``<data root>/experiment.toml`` when a run starts (not when the code
location loads), so an edited file applies to the next run and a bad one fails that run with the
file, the setting and the fix.
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, Failure
from pydantic import Field

from daydreaming_dagster.core.config import ExperimentConfig, load_experiment_config
from daydreaming_dagster.core.paths import default_data_root


class DataRootResource(ConfigurableResource):
    path: str = Field(default_factory=default_data_root, description="The data root (1_raw, 2_tasks, gens...).")

    @property
    def root(self) -> Path:
        return Path(self.path)


class ExperimentResource(ConfigurableResource):
    """Run-config overrides on top of experiment.toml (None: the file's value, else the default)."""

    concurrency: int | None = Field(default=None, description="Generations in flight within one run.")
    k_max: int | None = Field(default=None, description="Concepts per combination.")
    max_cost: float | None = Field(
        default=None, description="Spending cap in USD on the cohort's total spend (overrides experiment.toml)."
    )

    def load(self, data_root: Path) -> ExperimentConfig:
        try:
            return load_experiment_config(
                data_root, concurrency=self.concurrency, k_max=self.k_max, max_cost=self.max_cost
            )
        except ValueError as exc:
            raise Failure(description=str(exc)) from exc


__all__ = ["DataRootResource", "ExperimentConfig", "ExperimentResource"]
