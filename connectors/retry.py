"""Retrying transient failures: the policy is a value, the loop applies it (STYLE habit 9).

Transient errors (network, timeouts) are retried with backoff up to a limit; final
errors (a refused host key, a refused login, bad input) never are
(docs/architecture.md#data-safety).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all (the first included); waits double from ``backoff_seconds``."""

    attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be at least 1, not {self.attempts}")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("retry backoff cannot be negative")

    def delay(self, failures: int) -> float | None:
        """Seconds to wait after the ``failures``-th failed try, or None: give up."""
        if failures >= self.attempts:
            return None
        return min(self.backoff_seconds * 2 ** (failures - 1), self.max_backoff_seconds)


def with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    retryable: type[Exception] | tuple[type[Exception], ...],
    logger: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Return ``call()``, trying again after each ``retryable`` failure while the policy allows.

    Each failure is logged on one line (the exception's message says what failed);
    other exceptions pass through at once.
    """
    failures = 0
    while True:
        try:
            return call()
        except retryable as exc:
            failures += 1
            delay = policy.delay(failures)
            if delay is None:
                logger.error("%s (try %d of %d, giving up)", exc, failures, policy.attempts)
                raise
            logger.warning(
                "%s (try %d of %d, trying again in %.1f s)",
                exc,
                failures,
                policy.attempts,
                delay,
            )
            sleep(delay)
