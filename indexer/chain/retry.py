"""Capped exponential backoff within a bounded total time, for node access.

The sleep function and the clock are injectable so tests can check the exact delays
without waiting for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Attempts", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Policy: delays `initial`, `initial*factor`, ... capped at `cap`, until `budget`
    seconds have passed since the first failure (the last delay is cut to fit)."""

    budget: float = 30.0
    initial: float = 0.25
    factor: float = 2.0
    cap: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def start(self) -> Attempts:
        """A fresh run of attempts for one operation."""
        return Attempts(self)


class Attempts:
    """One operation's retry state. After each transient failure call `next_delay()`:
    the seconds to sleep before the next attempt, or None once the budget is spent."""

    def __init__(self, policy: Backoff) -> None:
        self._policy = policy
        self._deadline: float | None = None
        self._next = policy.initial
        self.failures = 0

    def next_delay(self) -> float | None:
        p = self._policy
        now = p.clock()
        if self._deadline is None:
            # The budget counts from the first failure, not from when the policy was made.
            self._deadline = now + p.budget
        self.failures += 1
        remaining = self._deadline - now
        if remaining <= 1e-9:
            return None
        delay = min(self._next, p.cap, remaining)
        self._next = min(self._next * p.factor, p.cap)
        return delay

    def pause(self, delay: float) -> None:
        self._policy.sleep(delay)
