"""Whole-client back-off: a circuit breaker per provider account, shared by every thread of the process.

When ``failure_threshold`` attempts in a row fail transiently (no success in between), the breaker
opens: new attempts wait instead of hammering a provider that is down. After the open interval one
probe attempt goes through (half-open); a success closes the breaker, a transient failure opens it
again for twice as long (capped at ``max_open_s``). Waits count against each generation's retry
budget. One warning is logged when the breaker opens and one when it closes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._retry import RetryBudget, RetryBudgetExceeded
from ._types import LLMConfigurationError

logger = logging.getLogger("daydreaming_dagster.llm")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """failure_threshold: consecutive transient failures that open the breaker (0 = never open).
    initial_open_s / max_open_s: the open interval, doubled after each failed probe, capped."""

    failure_threshold: int = 5
    initial_open_s: float = 2.0
    max_open_s: float = 60.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 0:
            raise LLMConfigurationError(
                f"BreakerPolicy.failure_threshold must be >= 0, got {self.failure_threshold}"
            )
        if self.initial_open_s < 0 or self.max_open_s < 0:
            raise LLMConfigurationError("BreakerPolicy intervals must be >= 0")

    @property
    def enabled(self) -> bool:
        return self.failure_threshold > 0


class CircuitBreaker:
    """The breaker of one provider account (a ``limit_key()``); thread-safe.

    ``admit`` is called before each attempt and returns whether that attempt is the half-open probe;
    the attempt's outcome is then reported with ``record_success`` (the server answered, even with
    a permanent error), ``record_failure`` (transient: 429, 5xx, timeout, connection error...) or
    ``record_neutral`` (nothing learnt, e.g. a bug before the request).
    """

    def __init__(self, key: str, policy: BreakerPolicy = BreakerPolicy()) -> None:
        self.key = key
        self.label = key.split("#", 1)[0]  # the account fingerprint stays out of logs
        self.policy = policy
        self._cond = threading.Condition()
        self._state = CLOSED
        self._failures = 0
        self._interval = policy.initial_open_s
        self._open_until = 0.0
        self._opened_at = 0.0
        self._epoch = 0  # incremented each time the breaker (re)opens
        self.last_failure: str | None = None
        self.times_opened = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.label!r}, state={self._state}, failures={self._failures})"

    @property
    def state(self) -> str:
        with self._cond:
            return self._state

    def admit(
        self,
        budget: RetryBudget,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        no_time_left: Callable[[float, str], str] | None = None,
    ) -> bool:
        """Wait until an attempt may be sent; True when it is the half-open probe.

        Raises RetryBudgetExceeded (message from ``no_time_left(wait, why)`` when given) instead of
        waiting longer than what is left of ``budget``.
        """
        if not self.policy.enabled:
            return False
        waited_epoch: int | None = None
        while True:
            with self._cond:
                if self._state == CLOSED:
                    return False
                now = clock()
                if self._state == OPEN:
                    if now >= self._open_until or waited_epoch == self._epoch:
                        self._state = HALF_OPEN
                        return True
                    wait = self._open_until - now
                    epoch = self._epoch
                    why = f"the circuit breaker for {self.label} is open for {wait:.1f}s more"
                else:  # HALF_OPEN: a probe is in flight; wait for its outcome
                    remaining = budget.remaining()
                    if remaining <= 0:
                        raise self._exceeded(0.0, f"a probe of {self.label} is in flight", no_time_left)
                    self._cond.wait(timeout=min(remaining, 1.0))
                    continue
            if wait > budget.remaining():
                raise self._exceeded(wait, why, no_time_left)
            budget.sleep(wait, sleep)
            waited_epoch = epoch

    def _exceeded(
        self, wait: float, why: str, no_time_left: Callable[[float, str], str] | None
    ) -> RetryBudgetExceeded:
        if no_time_left is not None:
            return RetryBudgetExceeded(no_time_left(wait, why))
        last = f" (last error: {self.last_failure})" if self.last_failure else ""
        return RetryBudgetExceeded(f"{why}, longer than the retry budget left{last}")

    def record_success(self, probe: bool = False, *, clock: Callable[[], float] = time.monotonic) -> None:
        with self._cond:
            self._failures = 0
            if self._state == CLOSED:
                return
            down_for = clock() - self._opened_at
            self._state = CLOSED
            self._interval = self.policy.initial_open_s
            self._cond.notify_all()
        logger.warning(
            "LLM provider %s answers again after %.1fs: circuit breaker closed, requests resume",
            self.label,
            down_for,
        )

    def record_failure(
        self, probe: bool = False, reason: str | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not self.policy.enabled:
            return
        with self._cond:
            if reason:
                self.last_failure = reason
            now = clock()
            if self._state == CLOSED:
                self._failures += 1
                if self._failures < self.policy.failure_threshold:
                    return
                self._state = OPEN
                self._interval = self.policy.initial_open_s
                self._open_until = now + self._interval
                self._opened_at = now
                self._epoch += 1
                self.times_opened += 1
                interval = self._interval
                failures = self._failures
            elif self._state == HALF_OPEN and probe:
                self._state = OPEN
                self._interval = min(self.policy.max_open_s, self._interval * 2.0)
                self._open_until = now + self._interval
                self._epoch += 1
                self._cond.notify_all()
                logger.info(
                    "LLM provider %s still failing (%s); next probe in %.1fs",
                    self.label,
                    reason,
                    self._interval,
                )
                return
            else:  # attempts sent before the breaker opened: nothing new to learn
                return
        logger.warning(
            "LLM provider %s: %d transient failures in a row (last: %s); circuit breaker open, "
            "new requests wait (first probe in %.1fs)",
            self.label,
            failures,
            reason,
            interval,
        )

    def record_neutral(self, probe: bool = False, *, clock: Callable[[], float] = time.monotonic) -> None:
        """The attempt taught nothing about the provider: a probe hands its turn to the next attempt."""
        with self._cond:
            if probe and self._state == HALF_OPEN:
                self._state = OPEN
                self._open_until = clock()
                self._epoch += 1
                self._cond.notify_all()


_REGISTRY: dict[tuple[str, BreakerPolicy], CircuitBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_breaker(key: str, policy: BreakerPolicy) -> CircuitBreaker:
    """The process-wide breaker for ``key`` (a provider's ``limit_key()``) and this policy."""
    with _REGISTRY_LOCK:
        breaker = _REGISTRY.get((key, policy))
        if breaker is None:
            breaker = CircuitBreaker(key, policy)
            _REGISTRY[(key, policy)] = breaker
        return breaker


def reset_circuit_breakers() -> None:
    """Forget every breaker of the process (tests: state must not leak from one test to the next)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
