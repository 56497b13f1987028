"""Capped exponential backoff within a bounded total time, for node access.

The sleep function and the clock are injectable so tests can check the exact delays
without waiting for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Attempts", "Backoff"]


#: Seconds of failure after which a retrying operation is announced at WARNING.
ANNOUNCE_AFTER = 2.0


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
        self._first: float | None = None
        self._announced = False
        self.failures = 0

    def report(self, logger: logging.Logger, msg: str, *args: object) -> None:
        """Log a retry: at DEBUG, except once per operation at WARNING when it has been
        failing for ANNOUNCE_AFTER seconds (a blip stays quiet, an outage is said once,
        and a quick final failure is only the error line)."""
        now = self._policy.clock()
        if self._first is None:
            self._first = now
        if not self._announced and now - self._first >= ANNOUNCE_AFTER:
            self._announced = True
            logger.warning(msg + " (still retrying; said once)", *args)
        else:
            logger.debug(msg, *args)

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
