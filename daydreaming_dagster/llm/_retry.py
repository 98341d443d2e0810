"""The single retry layer: policy, wait computation and the tenacity loop around one attempt."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ._types import LLMConfigurationError, TransientLLMError

logger = logging.getLogger("daydreaming_dagster.llm")

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (429, 5xx, timeouts, connection errors, empty bodies...) are retried.

    max_attempts: total attempts per generation, the first included (1 = no retry).
    initial_wait_s / max_wait_s: exponential backoff ``initial * 2**(n-1)`` capped at ``max_wait_s``.
    max_retry_after_s: a server's ``Retry-After`` is honoured but never waited longer than this.
    jitter: when True the backoff is drawn uniformly from ``[wait/2, wait]`` (Retry-After is not jittered)
      so threads that failed together do not retry together.
    """

    max_attempts: int = 6
    initial_wait_s: float = 1.0
    max_wait_s: float = 60.0
    max_retry_after_s: float = 120.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise LLMConfigurationError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_wait_s < 0 or self.max_wait_s < 0 or self.max_retry_after_s < 0:
            raise LLMConfigurationError("RetryPolicy waits must be >= 0")

    def backoff_s(self, failed_attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Backoff after the ``failed_attempt``-th attempt (1-based) when the server gave no Retry-After."""
        base = min(self.max_wait_s, self.initial_wait_s * (2.0 ** max(0, failed_attempt - 1)))
        if self.jitter and base > 0:
            return rng(base / 2.0, base)
        return base

    def wait_s(self, failed_attempt: int, retry_after: float | None) -> float:
        """The wait before the next attempt: Retry-After when given (capped), else backoff."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after_s)
        return self.backoff_s(failed_attempt)


def run_with_retries(
    attempt_fn: Callable[[int], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    describe: str,
) -> tuple[T, int]:
    """Call ``attempt_fn(attempt_number)`` until it returns, retrying TransientLLMError only.

    Returns the value and the number of attempts made. After ``policy.max_attempts`` transient
    failures, raises a TransientLLMError whose message says how many attempts were made (chained to
    the last error). Anything else (PermanentLLMError, configuration errors, bugs) propagates at once.
    Never raises tenacity.RetryError.
    """

    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, TransientLLMError) else None
        return policy.wait_s(state.attempt_number, retry_after)

    def _before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "LLM %s: attempt %d/%d failed (%s); retrying in %.2fs",
            describe,
            state.attempt_number,
            policy.max_attempts,
            exc,
            wait,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_wait,
        retry=retry_if_exception_type(TransientLLMError),
        sleep=sleep,
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
        message = f"{exc.reason} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
        logger.error("LLM %s: %s", describe, message)
        raise TransientLLMError(message, retry_after=exc.retry_after, status=exc.status) from exc
    raise AssertionError("unreachable: tenacity loop ended without outcome")  # pragma: no cover
