"""Where a cohort's files live (``DD_DATA_ROOT``, default ``./data``)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

DEFAULT_DATA_ROOT = "data"


def default_data_root() -> str:
    return os.environ.get("DD_DATA_ROOT") or DEFAULT_DATA_ROOT


class DataRootResource(ConfigurableResource):
    path: str = Field(default_factory=default_data_root, description="The data root (1_raw, 2_tasks, gens...).")

    @property
    def root(self) -> Path:
        return Path(self.path)
