"""Per-provider request limits shared by every thread of the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ._types import LLMConfigurationError


@dataclass(frozen=True)
class ProviderLimits:
    """Limits applied to every attempt sent to one provider account (one ``limit_key()``).

    max_in_flight: requests running at the same time (8 by default: safe for OpenRouter paid models,
      whose limits are enforced upstream; the embedded llama.cpp model is always limited to 1).
    requests_per_minute: optional cap on attempts started per minute, enforced by spacing starts
      ``60 / rpm`` seconds apart. None (default) = no cap, fine for paid models. For OpenRouter
      ``:free`` models use 20 (their documented limit; failed attempts count too).

    A retry's backoff never holds an in-flight slot: a slot is taken for one attempt only.
    """

    max_in_flight: int = 8
    requests_per_minute: float | None = None

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise LLMConfigurationError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        if self.requests_per_minute is not None and self.requests_per_minute <= 0:
            raise LLMConfigurationError(
                f"requests_per_minute must be > 0 or None, got {self.requests_per_minute}"
            )


class Limiter:
    """A counting semaphore for in-flight attempts plus start-time spacing for the rpm cap."""

    def __init__(self, limits: ProviderLimits) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_in_flight)
        self._rate_lock = threading.Lock()
        self._next_start: float | None = None
        self._in_flight = 0
        self._count_lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _reserve_start(self, clock: Callable[[], float]) -> float:
        """Reserve the next start time allowed by the rpm cap; return how long to wait for it."""
        rpm = self.limits.requests_per_minute
        if rpm is None:
            return 0.0
        interval = 60.0 / rpm
        with self._rate_lock:
            now = clock()
            start = now if self._next_start is None else max(now, self._next_start)
            self._next_start = start + interval
            return start - now

    @contextmanager
    def slot(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Iterator[None]:
        """Hold one in-flight slot for the duration of one attempt (waiting for rpm spacing first)."""
        self._slots.acquire()
        try:
            wait = self._reserve_start(clock)
            if wait > 0:
                sleep(wait)
            with self._count_lock:
                self._in_flight += 1
            try:
                yield
            finally:
                with self._count_lock:
                    self._in_flight -= 1
        finally:
            self._slots.release()


_REGISTRY: dict[tuple[str, ProviderLimits], Limiter] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_limiter(key: str, limits: ProviderLimits) -> Limiter:
    """The process-wide limiter for ``key`` (a provider's ``limit_key()``) and these limits.

    Every client of the process configured with the same limits for the same provider account
    shares one limiter, whichever thread or Dagster step built it.
    """
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get((key, limits))
        if limiter is None:
            limiter = Limiter(limits)
            _REGISTRY[(key, limits)] = limiter
        return limiter
