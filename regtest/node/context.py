"""State shared by the RPC and REST front ends of one test node."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from regtest.node.chainstate import Chainstate

#: Core's warm-up status while it loads the block index (init.cpp's InitMessage).
DEFAULT_WARMUP_STATUS = "Loading block index…"


@dataclass
class NodeContext:
    """The chain plus the node-wide switches tests flip (warm-up, stop)."""

    chainstate: Chainstate
    rest_enabled: bool = True
    started_at: float = field(default_factory=time.time)
    on_stop: Callable[[], None] = lambda: None
    _warmup_status: str | None = None
    _warmup_until: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_warmup(self, active: bool, seconds: float | None = None,
                   status: str = DEFAULT_WARMUP_STATUS) -> None:
        """Start (for `seconds`, or until cleared) or end Core's RPC warm-up phase."""
        with self._lock:
            self._warmup_status = status if active else None
            self._warmup_until = (time.monotonic() + seconds) if active and seconds else None

    def warmup_status(self) -> str | None:
        """The warm-up message while warming up, else None."""
        with self._lock:
            if self._warmup_until is not None and time.monotonic() >= self._warmup_until:
                self._warmup_status = self._warmup_until = None
            return self._warmup_status
