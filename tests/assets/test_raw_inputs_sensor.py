"""The sensor that rebuilds the task tables when 1_raw/ or experiment.toml changes."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance, build_sensor_context

from daydreaming_dagster.assets.group_task_definitions import raw_inputs_sensor
from daydreaming_dagster.definitions import build_definitions
from daydreaming_dagster.resources.settings import DataRootResource
from daydreaming_dagster.testing.sample_data import write_minimal_data_root


def _evaluate(root: Path, cursor: str | None):  # type: ignore[no-untyped-def]
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(
            instance=instance, cursor=cursor, resources={"data_root": DataRootResource(path=str(root))}
        )
        return raw_inputs_sensor(context)


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))  # a visibly newer mtime


def test_any_input_change_requests_one_rebuild(root: Path) -> None:
    first = _evaluate(root, None)
    assert len(first.run_requests) == 1 and first.cursor
    unchanged = _evaluate(root, first.cursor)
    assert unchanged.run_requests == [] and unchanged.skip_reason is not None
    for path in (
        root / "1_raw" / "concepts" / "descriptions-paragraph" / "alpha.txt",  # a description counts
        root / "1_raw" / "evaluation_templates" / "test-eval.txt",  # a template counts
        root / "experiment.toml",  # the settings count
    ):
        before = _evaluate(root, None).cursor
        _touch(path, (path.read_text() if path.exists() else "") + "\n")
        changed = _evaluate(root, before)
        assert len(changed.run_requests) == 1 and changed.cursor != before, path


def test_the_sensor_is_in_the_code_location(tmp_path: Path) -> None:
    defs = build_definitions(str(write_minimal_data_root(tmp_path / "data")))
    assert defs.get_sensor_def("raw_inputs_sensor").job_name == "build_tasks_job"
