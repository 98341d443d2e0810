"""Experiment settings: combination size, token budgets, temperatures, replicates.

Defaults are upstream's ``ExperimentConfig``. A data root may carry ``experiment.toml`` with any of
these fields; the CLI's flags override the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib
from dagster import ConfigurableResource
from pydantic import Field

EXPERIMENT_FILE = "experiment.toml"


class ExperimentConfig(ConfigurableResource):
    """Settings of one cohort; a Dagster resource, also usable as a plain object."""

    k_max: int = Field(default=6, ge=1, description="Concepts per combination (every k-combination).")
    description_level: str = Field(default="paragraph", description="sentence | paragraph | article")
    draft_generation_max_tokens: int = Field(default=20480, ge=1)
    essay_generation_max_tokens: int = Field(default=20480, ge=1)
    evaluation_max_tokens: int = Field(default=20480, ge=1)
    generation_temperature: float = Field(default=0.7, ge=0.0)
    # Upstream declared 0.1 but never passed it (every call ran at 0.7); we honour it.
    evaluation_temperature: float = Field(default=0.1, ge=0.0)
    min_draft_lines: int = Field(default=3, ge=0)
    draft_replicates: int = Field(default=1, ge=1)
    essay_replicates: int = Field(default=1, ge=1)
    evaluation_replicates: int = Field(default=1, ge=1)
    concurrency: int = Field(default=8, ge=1, description="Generations in flight within one process.")
    response_cache: bool = Field(default=True, description="Reuse stored responses for identical calls.")

    def replicates(self, stage: str) -> int:
        return int(getattr(self, f"{stage}_replicates"))


def load_experiment_config(data_root: Path, **overrides: Any) -> ExperimentConfig:
    """``<data_root>/experiment.toml`` (optional) with non-None ``overrides`` applied on top."""
    values: dict[str, Any] = {}
    path = Path(data_root) / EXPERIMENT_FILE
    if path.is_file():
        with path.open("rb") as fh:
            try:
                values = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: {exc}. Fix: correct the TOML syntax.") from exc
        unknown = sorted(set(values) - set(ExperimentConfig.model_fields))
        if unknown:
            raise ValueError(
                f"{path}: unknown setting(s) {', '.join(unknown)}. "
                f"Fix: use only {', '.join(sorted(ExperimentConfig.model_fields))}."
            )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ExperimentConfig(**values)
