"""Dagster port of the LLM layer: a resource that builds an LLMClient for a run's models.

The API key is read from the environment only (DD_LLM_API_KEY or OPENROUTER_API_KEY); it is never a
config field, so it cannot end up in run config, the UI or the event log.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import ConfigurableResource
from pydantic import Field

from daydreaming_dagster.llm import LLMClient, LLMSettings, ModelRoute, build_llm_client


class LLMResource(ConfigurableResource):
    """Settings overriding the environment (None = use DD_LLM_* or the defaults of LLMSettings)."""

    base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (default DD_LLM_BASE_URL, else OpenRouter)."
    )
    max_in_flight: int | None = Field(
        default=None, description="Concurrent requests per provider account (default DD_LLM_MAX_IN_FLIGHT or 8)."
    )
    requests_per_minute: float | None = Field(
        default=None, description="Request start cap per minute (default DD_LLM_RPM; 20 suits :free models)."
    )
    timeout_s: float | None = Field(default=None, description="Per-attempt timeout (default DD_LLM_TIMEOUT_S or 300).")
    max_attempts: int | None = Field(
        default=None, description="Attempts per generation, first included (default DD_LLM_MAX_ATTEMPTS or 6)."
    )

    def settings(self, *, default_max_in_flight: int | None = None) -> LLMSettings:
        """Fields > DD_LLM_* environment > ``default_max_in_flight`` (the run's concurrency) > defaults."""
        return LLMSettings.from_env(
            defaults={"max_in_flight": default_max_in_flight},
            base_url=self.base_url,
            max_in_flight=self.max_in_flight,
            requests_per_minute=self.requests_per_minute,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
        )

    def build_client(self, routes: Mapping[str, ModelRoute], *, default_max_in_flight: int | None = None) -> LLMClient:
        """A client for ``routes`` (llm_models.csv rows by id) configured from env + these fields."""
        return build_llm_client(routes, self.settings(default_max_in_flight=default_max_in_flight))
