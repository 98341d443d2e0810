"""The IO manager of the task and result tables: CSV files under a folder.

The generation assets have none: the engine writes every file under ``gens/`` itself.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

from daydreaming_dagster.cohort.tasks import csv_text
from daydreaming_dagster.engine.store import atomic_write_text


class CSVIOManager(ConfigurableIOManager):
    """``<base_path>/<asset name>.csv``, written atomically (empty tables too), read as strings."""

    base_path: str

    def _path(self, name: str) -> Path:
        return Path(self.base_path) / f"{name}.csv"

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"CSVIOManager expects a DataFrame, got {type(obj).__name__}")
        path = self._path(context.asset_key.path[-1])
        atomic_write_text(path, csv_text(obj))
        context.add_output_metadata({"path": str(path), "rows": len(obj)})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        path = self._path(context.asset_key.path[-1])
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: materialize {context.asset_key.to_user_string()} first")
        return pd.read_csv(path, dtype=str, keep_default_na=False)
