"""The LLM layer: one client (routing, retries, limits) over thin provider adapters.

Public API; the ``_``-prefixed modules are private. Importing this package imports neither the
``openai`` SDK nor ``llama_cpp``: providers import them when they are built or used.
"""

from ._breaker import BreakerPolicy, CircuitBreaker, reset_circuit_breakers
from ._client import MODELS_TABLE, LLMClient, RequestGate, local_endpoint, openai_compatible_endpoint
from ._limiter import ProviderLimits
from ._llama_cpp import BUNDLED_SMOLLM2, LlamaCppProvider, bundled_smollm2_path, resolve_local_model
from ._openai_compatible import OPENROUTER_BASE_URL, OpenAICompatibleProvider, parse_retry_after
from ._retry import RetryBudget, RetryBudgetExceeded, RetryPolicy
from ._settings import LOCAL_LIMITS, LLMSettings, build_llm_client
from ._types import (
    LOCAL_PROVIDER,
    LLMConfigurationError,
    LLMError,
    LLMRequest,
    LLMResponse,
    ModelProvider,
    ModelRoute,
    PermanentLLMError,
    TransientLLMError,
    Usage,
)
from .catalog import ModelInfo, PriceBook, check_model_strings, parse_models_payload

__all__ = [
    "BUNDLED_SMOLLM2",
    "LOCAL_LIMITS",
    "LOCAL_PROVIDER",
    "MODELS_TABLE",
    "OPENROUTER_BASE_URL",
    "BreakerPolicy",
    "CircuitBreaker",
    "LLMClient",
    "LLMConfigurationError",
    "LLMError",
    "LLMRequest",
    "LLMResponse",
    "LLMSettings",
    "LlamaCppProvider",
    "ModelInfo",
    "ModelProvider",
    "ModelRoute",
    "OpenAICompatibleProvider",
    "PermanentLLMError",
    "PriceBook",
    "ProviderLimits",
    "RequestGate",
    "RetryBudget",
    "RetryBudgetExceeded",
    "RetryPolicy",
    "TransientLLMError",
    "Usage",
    "build_llm_client",
    "bundled_smollm2_path",
    "check_model_strings",
    "local_endpoint",
    "openai_compatible_endpoint",
    "parse_models_payload",
    "parse_retry_after",
    "reset_circuit_breakers",
    "resolve_local_model",
]
