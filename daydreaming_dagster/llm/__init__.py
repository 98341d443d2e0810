"""The LLM layer: one client (routing, retries, limits) over thin provider adapters.

Public API; the ``_``-prefixed modules are private.
"""

from ._client import MODELS_TABLE, LLMClient
from ._limiter import ProviderLimits
from ._llama_cpp import BUNDLED_SMOLLM2, LlamaCppProvider, bundled_smollm2_path, resolve_local_model
from ._openai_compatible import OPENROUTER_BASE_URL, OpenAICompatibleProvider, parse_retry_after
from ._retry import RetryPolicy
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

__all__ = [
    "BUNDLED_SMOLLM2",
    "LOCAL_LIMITS",
    "LOCAL_PROVIDER",
    "MODELS_TABLE",
    "OPENROUTER_BASE_URL",
    "LLMClient",
    "LLMConfigurationError",
    "LLMError",
    "LLMRequest",
    "LLMResponse",
    "LLMSettings",
    "LlamaCppProvider",
    "ModelProvider",
    "ModelRoute",
    "OpenAICompatibleProvider",
    "PermanentLLMError",
    "ProviderLimits",
    "RetryPolicy",
    "TransientLLMError",
    "Usage",
    "build_llm_client",
    "bundled_smollm2_path",
    "parse_retry_after",
    "resolve_local_model",
]
