"""Where ``cli/run.py`` imports the reporter from: only until it imports ``resources/reporter.py``.

This module was split by job: ``materialization_metadata.py`` (what a materialization says),
``partition_sync.py`` (partitions follow the task tables), ``reporter.py`` (``daydream run`` reports
to the instance) and ``dagster_internals.py`` (every use of Dagster's private API).
"""

from __future__ import annotations

from daydreaming_dagster.resources.reporter import reporter_from_env

__all__ = ["reporter_from_env"]
