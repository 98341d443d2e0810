"""The product's environment variables: every name in one list, each read in one place.

The ``DD_*`` variables (and Dagster's ``DAGSTER_HOME``) are read here; the ``DD_LLM_*`` ones and the
API keys are named here and read by ``LLMSettings.from_env`` (``llm/_settings.py``), which turns
them into the LLM client's settings. Each function reads its variable when called (a test or a
long-lived process sees changes) and raises SettingError naming the variable and the fix when its
value is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from daydreaming_dagster.core.errors import SettingError

COHORT = "DD_COHORT"  # explicit cohort id: salts every gen_id, as upstream
DATA_ROOT = "DD_DATA_ROOT"  # the CLI's and `dagster dev`'s default data root
INTERRUPT_GRACE = "DD_INTERRUPT_GRACE_S"  # how long Ctrl-C / SIGTERM waits for calls in flight
BACKFILL_MAX_PARTITIONS_PER_RUN = "DD_BACKFILL_MAX_PARTITIONS_PER_RUN"
DAGSTER_HOME = "DAGSTER_HOME"  # Dagster's own: a run reports to this instance when set
DAGSTER_REPORT = "DD_DAGSTER_REPORT"  # 0/false/no/off: do not report to DAGSTER_HOME's instance

# Read by LLMSettings.from_env (llm/_settings.py); its docstring says what each one does.
LLM_BASE_URL = "DD_LLM_BASE_URL"
LLM_API_KEY = "DD_LLM_API_KEY"
OPENROUTER_API_KEY = "OPENROUTER_API_KEY"
LLM_MAX_IN_FLIGHT = "DD_LLM_MAX_IN_FLIGHT"
LLM_RPM = "DD_LLM_RPM"
LLM_TIMEOUT = "DD_LLM_TIMEOUT_S"
LLM_RETRY_BUDGET = "DD_LLM_RETRY_BUDGET_S"
LLM_MAX_ATTEMPTS = "DD_LLM_MAX_ATTEMPTS"

#: Every variable the product reads (tests clear them before each test).
VARIABLES = (
    COHORT,
    DATA_ROOT,
    INTERRUPT_GRACE,
    BACKFILL_MAX_PARTITIONS_PER_RUN,
    DAGSTER_HOME,
    DAGSTER_REPORT,
    LLM_BASE_URL,
    LLM_API_KEY,
    OPENROUTER_API_KEY,
    LLM_MAX_IN_FLIGHT,
    LLM_RPM,
    LLM_TIMEOUT,
    LLM_RETRY_BUDGET,
    LLM_MAX_ATTEMPTS,
)


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value without surrounding whitespace; None when unset or blank."""
    value = _env(environ).get(name, "").strip()
    return value or None


def cohort_env(environ: Mapping[str, str] | None = None) -> str | None:
    return text(COHORT, environ)


def default_data_root(environ: Mapping[str, str] | None = None) -> str:
    return text(DATA_ROOT, environ) or "data"


def interrupt_grace_s(environ: Mapping[str, str] | None = None) -> float:
    value = text(INTERRUPT_GRACE, environ)
    if value is None:
        return 120.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise SettingError(f"{INTERRUPT_GRACE}={value!r} is not a number of seconds. Fix: e.g. {INTERRUPT_GRACE}=120")
    return seconds


def backfill_max_partitions_per_run(environ: Mapping[str, str] | None = None) -> int | None:
    value = text(BACKFILL_MAX_PARTITIONS_PER_RUN, environ)
    if value is None:
        return None
    try:
        per_run = int(value)
    except ValueError:
        per_run = 0
    if per_run < 1:
        raise SettingError(
            f"{BACKFILL_MAX_PARTITIONS_PER_RUN}={value!r}: expected a whole number >= 1 (or unset)"
        )
    return per_run


def dagster_home(environ: Mapping[str, str] | None = None) -> str | None:
    return text(DAGSTER_HOME, environ)


def dagster_reporting(environ: Mapping[str, str] | None = None) -> bool:
    """``daydream run`` reports to DAGSTER_HOME's instance: DAGSTER_HOME is set and DD_DAGSTER_REPORT
    is not 0/false/no/off."""
    if dagster_home(environ) is None:
        return False
    return (text(DAGSTER_REPORT, environ) or "1").lower() not in ("0", "false", "no", "off")
