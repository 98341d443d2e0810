"""The inputs of one Dagster run, loaded once per run and shared by its assets.

A run that materializes several assets (the task tables, a stage's prompt and response) validates
``1_raw`` and reads experiment.toml once, not once per asset.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from dagster import AssetExecutionContext, Failure

from daydreaming_dagster.core.config import ExperimentConfig
from daydreaming_dagster.inputs import InputError, RawData, load_raw_data
from daydreaming_dagster.resources.settings import DataRootResource, ExperimentResource
from daydreaming_dagster.stages import check_active_templates


@dataclass(frozen=True)
class RunInputs:
    raw: RawData
    config: ExperimentConfig


_CACHE: OrderedDict[tuple[str, str], RunInputs] = OrderedDict()
_LOCK = threading.Lock()
_KEEP = 8  # runs remembered by one process (a process usually serves one run)


def run_inputs(context: AssetExecutionContext, data_root: DataRootResource, experiment: ExperimentResource) -> RunInputs:
    key = (context.run_id, str(data_root.root))
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    config = experiment.load(data_root.root)
    try:
        raw = load_raw_data(data_root.root)
        check_active_templates(raw)
    except InputError as exc:
        raise Failure(description=str(exc)) from exc
    inputs = RunInputs(raw, config)
    with _LOCK:
        _CACHE[key] = inputs
        while len(_CACHE) > _KEEP:
            _CACHE.popitem(last=False)
    return inputs
