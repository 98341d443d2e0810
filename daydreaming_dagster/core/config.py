"""Experiment settings: combination size, token budgets, temperatures, replicates.

Defaults are upstream's ``ExperimentConfig``. A data root may carry ``experiment.toml`` with any of
these fields; the CLI's flags override the file. A plain pydantic model: the Dagster resource that
reads it at run start is ``ExperimentResource`` in ``resources/settings.py``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daydreaming_dagster.core.errors import SettingError

EXPERIMENT_FILE = "experiment.toml"


class ExperimentConfig(BaseModel):
    """Settings of one cohort (immutable; ``model_copy(update=...)`` to derive one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k_max: int = Field(default=6, ge=1, description="Concepts per combination (every k-combination).")
    description_level: Literal["sentence", "paragraph", "article"] = Field(
        default="paragraph", description="Which concept description file templates show."
    )
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
    max_cost: float | None = Field(
        default=None,
        ge=0.0,
        description="Spending cap in USD on the cohort's total spend (every paid call of its runs, "
        "as the payment journal records it); None: no cap. `daydream run --max-cost` overrides it.",
    )
    study_max_cost: float | None = Field(
        default=None,
        ge=0.0,
        description="Spending cap in USD on the data root's total spend (every cohort's paid calls); "
        "None: no cap. `daydream run --max-study-cost` overrides it.",
    )

    def setting(self, name: str) -> Any:
        """A field by name (the stage table names each stage's fields)."""
        return getattr(self, name)


def load_experiment_config(data_root: Path | str, **overrides: Any) -> ExperimentConfig:
    """``<data_root>/experiment.toml`` (optional) with non-None ``overrides`` applied on top.

    Raises SettingError (a ValueError) naming the file, the setting and the fix.
    """
    values: dict[str, Any] = {}
    path = Path(data_root) / EXPERIMENT_FILE
    if path.is_file():
        with path.open("rb") as fh:
            data = fh.read()
        try:
            values = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise SettingError(
                f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
                "Fix: save the file as UTF-8."
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingError(f"{path}: {exc}. Fix: correct the TOML syntax.") from exc
        unknown = sorted(set(values) - set(ExperimentConfig.model_fields))
        if unknown:
            raise SettingError(
                f"{path}: unknown setting(s) {', '.join(unknown)}. "
                f"Fix: use only {', '.join(sorted(ExperimentConfig.model_fields))}."
            )
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ExperimentConfig(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"])
            source = "flag or override" if name in overrides and overrides[name] is not None else str(path)
            problems.append(f"{source}: setting '{name}' = {error.get('input')!r}: {error['msg']}.")
        raise SettingError("\n".join(problems) + " Fix: correct the value(s) above.") from None
