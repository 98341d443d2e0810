"""Dagster port of the LLM layer: a resource that builds an LLMClient for a run's models.

The API key is read from the environment only (DD_LLM_API_KEY or OPENROUTER_API_KEY); it is never a
config field, so it cannot end up in run config, the UI or the event log.

Inside a Dagster run, the assets pass a request gate (``resources/pool_gate.py``): every request
also holds a slot of the instance's concurrency pool ``llm/<provider>``, so concurrent runs share
the provider's limit (``cross_run_pools``; docs/dagster.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import ConfigurableResource
from pydantic import Field

from daydreaming_dagster.llm import LLMClient, LLMSettings, ModelRoute, RequestGate, build_llm_client


class LLMResource(ConfigurableResource):
    """Settings overriding the environment (None = use DD_LLM_* or the defaults of LLMSettings)."""

    base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (default DD_LLM_BASE_URL, else OpenRouter)."
    )
    max_in_flight: int | None = Field(
        default=None,
        description="Concurrent requests per provider account in one run's process (default DD_LLM_MAX_IN_FLIGHT, "
        "else the experiment's concurrency, else 8). Across runs: the instance's pool llm/<provider>.",
    )
    requests_per_minute: float | None = Field(
        default=None, description="Request start cap per minute (default DD_LLM_RPM; 20 suits :free models)."
    )
    timeout_s: float | None = Field(default=None, description="Per-attempt timeout (default DD_LLM_TIMEOUT_S or 300).")
    max_attempts: int | None = Field(
        default=None,
        description="Optional cap on attempts per generation, the first included (default DD_LLM_MAX_ATTEMPTS, "
        "else unlimited within retry_budget_s).",
    )
    retry_budget_s: float | None = Field(
        default=None,
        description="Time allowed to one generation, retries, back-off and waits included "
        "(default DD_LLM_RETRY_BUDGET_S or 900).",
    )
    cross_run_pools: bool = Field(
        default=True,
        description="Inside Dagster, hold a slot of the instance's concurrency pool llm/<provider> for every "
        "request (pools without a limit do not gate).",
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
            retry_budget_s=self.retry_budget_s,
        )

    def build_client(
        self,
        routes: Mapping[str, ModelRoute],
        *,
        default_max_in_flight: int | None = None,
        request_gate: RequestGate | None = None,
    ) -> LLMClient:
        """A client for ``routes`` (llm_models.csv rows by id) configured from env + these fields;
        ``request_gate`` wraps every attempt (cross-run pools; ignored when ``cross_run_pools`` is off)."""
        gate = request_gate if self.cross_run_pools else None
        return build_llm_client(
            routes, self.settings(default_max_in_flight=default_max_in_flight), request_gate=gate
        )
