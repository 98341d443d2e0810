"""IO managers: task tables as CSV under a folder, prompts into the gens store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

from daydreaming_dagster.cohort.tasks import csv_text
from daydreaming_dagster.core.stages import Stage
from daydreaming_dagster.engine.store import PROMPT, GensStore, atomic_write_text


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


class GensPromptIOManager(ConfigurableIOManager):
    """Writes ``gens/<stage>/<gen_id>/prompt.txt`` (atomically) for each partition of a prompt asset.

    A prompt asset returns ``str`` (one partition), ``None`` (copy mode: no prompt), or a mapping
    ``gen_id -> str | None`` when one run covers several partitions.
    """

    data_root: str
    stage: str

    def _store(self) -> GensStore:
        return GensStore(Path(self.data_root))

    def handle_output(self, context: OutputContext, obj: str | Mapping[str, str | None] | None) -> None:
        prompts: Mapping[str, str | None]
        if isinstance(obj, Mapping):
            prompts = obj
        else:
            prompts = {context.partition_key: obj}
        stage: Stage = self.stage  # type: ignore[assignment]
        for gen_id, prompt in prompts.items():
            if prompt is not None:
                self._store().write(stage, gen_id, PROMPT, prompt)

    def load_input(self, context: InputContext) -> Any:
        stage: Stage = self.stage  # type: ignore[assignment]
        keys = context.asset_partition_keys
        texts = {key: self._store().read(stage, key, PROMPT) for key in keys}
        return texts[keys[0]] if len(keys) == 1 else texts


class GensResponseIOManager(ConfigurableIOManager):
    """The engine already wrote every file of a response; downstream reads parsed.txt back."""

    data_root: str
    stage: str

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        return None

    def load_input(self, context: InputContext) -> Any:
        stage: Stage = self.stage  # type: ignore[assignment]
        store = GensStore(Path(self.data_root))
        keys = context.asset_partition_keys
        texts = {key: store.read(stage, key, "parsed.txt") for key in keys}
        return texts[keys[0]] if len(keys) == 1 else texts
