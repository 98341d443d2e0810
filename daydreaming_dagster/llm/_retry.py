"""The single retry layer: policy, time budget, wait computation and the tenacity loop.

Retries are bounded by time (``RetryPolicy.budget_s`` per generation, ``DD_LLM_RETRY_BUDGET_S``),
optionally also by a number of attempts (``max_attempts``, ``DD_LLM_MAX_ATTEMPTS``). See
docs/retries.md for the whole policy.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from daydreaming_dagster.core import settings
from daydreaming_dagster.core.errors import RetryBudgetExceeded

from ._types import LLMConfigurationError, TransientLLMError

logger = logging.getLogger("daydreaming_dagster.llm")

T = TypeVar("T")

#: Environment variables named in error messages (read by LLMSettings.from_env).
ENV_RETRY_BUDGET = settings.LLM_RETRY_BUDGET
ENV_MAX_ATTEMPTS = settings.LLM_MAX_ATTEMPTS


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (429, 5xx, timeouts, connection errors, empty bodies...) are retried.

    budget_s: time allowed for one generation from its first attempt: attempts, back-off, waits for
      Retry-After and for an open circuit breaker all count. No retry starts past it, and no wait
      is longer than what is left of it (900 s by default: a provider outage of a few minutes is
      ridden out).
    max_attempts: optional cap on attempts per generation, the first included (1 = no retry).
      None (default) = as many as the budget allows.
    initial_wait_s / max_wait_s: exponential back-off ``initial * 2**(n-1)`` capped at ``max_wait_s``.
    max_retry_after_s: optional cap on a server's ``Retry-After``. None (default): honoured in full;
      a Retry-After longer than the rest of the budget ends the retries at once with a clear error.
    jitter: when True the back-off is drawn uniformly from ``[wait/2, wait]`` (Retry-After is not
      jittered) so threads that failed together do not retry together.
    """

    max_attempts: int | None = None
    budget_s: float = 900.0
    initial_wait_s: float = 1.0
    max_wait_s: float = 60.0
    max_retry_after_s: float | None = None
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise LLMConfigurationError(
                f"RetryPolicy.max_attempts must be >= 1 or None, got {self.max_attempts}"
            )
        if self.budget_s < 0:
            raise LLMConfigurationError(f"RetryPolicy.budget_s must be >= 0, got {self.budget_s}")
        if self.initial_wait_s < 0 or self.max_wait_s < 0:
            raise LLMConfigurationError("RetryPolicy waits must be >= 0")
        if self.max_retry_after_s is not None and self.max_retry_after_s < 0:
            raise LLMConfigurationError("RetryPolicy.max_retry_after_s must be >= 0 or None")

    def backoff_s(self, failed_attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Back-off after the ``failed_attempt``-th attempt (1-based) when the server gave no Retry-After."""
        exponent = min(max(0, failed_attempt - 1), 64)  # no float overflow on very long outages
        base = min(self.max_wait_s, self.initial_wait_s * (2.0**exponent))
        if self.jitter and base > 0:
            return rng(base / 2.0, base)
        return base

    def retry_after_s(self, retry_after: float) -> float:
        """A server's Retry-After as it will be honoured (capped when ``max_retry_after_s`` is set)."""
        return retry_after if self.max_retry_after_s is None else min(retry_after, self.max_retry_after_s)


class RetryBudget:
    """The time left to one generation, shared by its back-offs and its waits for the breaker.

    Time spent is the larger of the clock's elapsed time and the sum of the waits requested
    through ``sleep``: with an injected sleep that returns at once (tests), the budget still
    runs out after the same waits as in real time, so retries always end.
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self._start = clock()
        self._slept = 0.0
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        with self._lock:
            return max(self._clock() - self._start, self._slept)

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def sleep(self, seconds: float, sleep: Callable[[float], None]) -> None:
        if seconds <= 0:
            return
        sleep(seconds)
        with self._lock:
            self._slept += seconds

    def describe(self) -> str:
        return f"the retry budget of {self.seconds:g}s ({ENV_RETRY_BUDGET})"


def run_with_retries(
    attempt_fn: Callable[[int], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    describe: str,
    budget: RetryBudget | None = None,
) -> tuple[T, int]:
    """Call ``attempt_fn(attempt_number)`` until it returns, retrying TransientLLMError only.

    Returns the value and the number of attempts made. Retries stop when the budget cannot fit the
    next wait (or a Retry-After longer than what is left of it), when ``policy.max_attempts`` is
    reached, or when ``attempt_fn`` raises RetryBudgetExceeded; then a TransientLLMError is raised
    whose message gives the last failure and why retrying stopped (chained to the last error).
    Anything else (PermanentLLMError, configuration errors, bugs) propagates at once.
    Never raises tenacity.RetryError.
    """
    budget = budget if budget is not None else RetryBudget(policy.budget_s)
    # attempt number -> (wait before the next attempt, or None to stop with this reason)
    decisions: dict[int, tuple[float | None, str]] = {}

    def _exception(state: RetryCallState) -> BaseException | None:
        return state.outcome.exception() if state.outcome is not None else None

    def _decide(state: RetryCallState) -> tuple[float | None, str]:
        """Once per failed attempt (tenacity asks ``wait`` and ``stop`` in either order)."""
        attempts = state.attempt_number
        if attempts in decisions:
            return decisions[attempts]
        exc = _exception(state)
        decision: tuple[float | None, str]
        remaining = budget.remaining()
        retry_after = exc.retry_after if isinstance(exc, TransientLLMError) else None
        if isinstance(exc, RetryBudgetExceeded):
            decision = (None, "")  # its own message says why
        elif policy.max_attempts is not None and attempts >= policy.max_attempts:
            decision = (None, f"gave up after {_attempts(attempts)}")
        elif remaining <= 0:
            elapsed = budget.elapsed()
            decision = (
                None,
                f"gave up after {_attempts(attempts)} in {elapsed:.1f}s: {budget.describe()} is used up",
            )
        elif retry_after is not None and retry_after >= 0 and policy.retry_after_s(retry_after) > remaining:
            decision = (
                None,
                f"gave up after {_attempts(attempts)}: the server asked to retry after "
                f"{policy.retry_after_s(retry_after):g}s (Retry-After), more than the {remaining:.1f}s left "
                f"of {budget.describe()}",
            )
        elif retry_after is not None and retry_after >= 0:
            decision = (policy.retry_after_s(retry_after), "")
        else:
            decision = (min(policy.backoff_s(attempts), remaining), "")
        decisions[attempts] = decision
        return decision

    def _stop(state: RetryCallState) -> bool:
        return _decide(state)[0] is None

    def _wait(state: RetryCallState) -> float:
        return _decide(state)[0] or 0.0

    def _before_sleep(state: RetryCallState) -> None:
        exc = _exception(state)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        of = f"/{policy.max_attempts}" if policy.max_attempts is not None else ""
        logger.warning(
            "LLM %s: attempt %d%s failed (%s); retrying in %.2fs (%.0fs of the retry budget left)",
            describe,
            state.attempt_number,
            of,
            exc,
            wait,
            max(0.0, budget.remaining() - wait),
        )

    retrying = Retrying(
        stop=_stop,
        wait=_wait,
        retry=retry_if_exception_type(TransientLLMError),
        sleep=lambda seconds: budget.sleep(seconds, sleep),
        before_sleep=_before_sleep,
        reraise=True,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                value = attempt_fn(attempts)
            if attempt.retry_state.outcome is not None and not attempt.retry_state.outcome.failed:
                return value, attempts
    except TransientLLMError as exc:
        _wait_s, why = decisions.get(attempts, (None, f"gave up after {_attempts(attempts)}"))
        message = f"{exc.reason} ({why})" if why else exc.reason
        logger.error("LLM %s: %s", describe, message)
        raise TransientLLMError(message, retry_after=exc.retry_after, status=exc.status) from exc
    raise AssertionError("unreachable: tenacity loop ended without outcome")  # pragma: no cover


def _attempts(n: int) -> str:
    return f"{n} attempt{'s' if n != 1 else ''}"
