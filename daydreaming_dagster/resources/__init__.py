"""Dagster resources: the ports through which assets reach the data root, the experiment settings
and the LLM layer (``LLMResource``; its test adapter is ``testing.mock_llm.MockLLMResource``)."""
