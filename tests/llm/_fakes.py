"""Small test doubles shared by the LLM tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from daydreaming_dagster.llm import LLMRequest, TransientLLMError
from daydreaming_dagster.testing.mock_llm import ScriptedReply


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it (use ``sleep`` as the client's)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def always_503(request: LLMRequest) -> ScriptedReply | Exception:
    return TransientLLMError("HTTP 503 from fake: down", status=503)


class CountingGate:
    """A request gate counting entries per key and the peak number of holders."""

    def __init__(self, on_enter: Callable[[], None] | None = None) -> None:
        self.on_enter = on_enter
        self.entries: list[str] = []
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        with self._lock:
            self.entries.append(key)
            self.current += 1
            self.peak = max(self.peak, self.current)
        if self.on_enter is not None:
            self.on_enter()
        try:
            yield
        finally:
            with self._lock:
                self.current -= 1
