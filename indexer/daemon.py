"""The `run` loop: catch up, then follow the tip; survive reorgs, node and database outages.

State changes are logged once each (caught up, reorg from→to, node lost/back, database
lost/back); per-block detail is DEBUG. A stop request (SIGINT/SIGTERM set `stop`) is
honoured between batches, so data and cursor always commit together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from indexer.errors import NodeError, StorageError, redact
from indexer.sync import Progress, Syncer

_logger = logging.getLogger(__name__)

#: Below this many heights behind the target, commit one height per transaction.
TIP_DISTANCE = 6


class Waker(Protocol):
    def wait(self, timeout: float) -> bool: ...


class TipSource(Protocol):
    def tip(self) -> tuple[int, str]: ...

    def best_block_hash(self) -> str: ...


def _retryable_node_error(exc: NodeError) -> bool:
    """Outages, warm-up and races with a moving tip are retried; wrong credentials, a
    forbidden method or a pruned block will not fix themselves: stop with the message."""
    from indexer.chain.node_errors import (
        BlockUnavailable,
        NodeAuthError,
        NodeForbidden,
        RPCError,
    )

    if isinstance(exc, NodeAuthError | NodeForbidden | BlockUnavailable):
        return False
    if isinstance(exc, RPCError):
        # -5 block not found, -8 height out of range: the tip moved between two calls.
        return exc.code in (-5, -8, -28)
    return bool(getattr(exc, "retryable", True))


def _database_outage(exc: DBAPIError) -> bool:
    """A lost or refused connection, a server shutting down, a lock held too long: worth
    retrying. Constraint violations and SQL errors are bugs and stop the daemon."""
    return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated


def _first_line(exc: BaseException) -> str:
    # NOTE: SQLAlchemy appends the statement and its parameters on later lines; the first
    # line is the driver's reason. redact() in case a driver quotes a URL.
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
    else:
        text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


@dataclass
class DaemonStats:
    """Counters the metrics endpoint exposes."""

    indexed_height: int | None = None
    tip_height: int | None = None
    rollbacks: int = 0
    node_errors: int = 0
    db_errors: int = 0
    blocks: int = 0
    seconds: float = 0.0
    caught_up: bool = False


class Daemon:
    def __init__(self, syncer: Syncer, source: TipSource, *, confirmations: int = 0,
                 poll_interval: float = 2.0, waker: Waker | None = None,
                 stop: threading.Event | None = None, max_backoff: float = 60.0,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.syncer = syncer
        self.source = source
        self.confirmations = confirmations
        self.poll_interval = poll_interval
        self.waker = waker
        self.stop = stop or threading.Event()
        self.max_backoff = max_backoff
        self.stats = DaemonStats()
        self._on_progress = on_progress
        self._node_lost = False
        self._db_lost = False
        self._blocks_before = 0
        self._seconds_before = 0.0

    def run(self) -> None:
        backoff = 1.0
        stale = False
        while not self.stop.is_set():
            try:
                if stale:
                    # NOTE: a failed step can leave the syncer's in-memory adapter state
                    # ahead of the database (a batch scanned, its write failed, and the
                    # syncer's own reload failed too while the database was down). Indexing
                    # on from that state would skip spends of outputs it already dropped,
                    # so rebuild it from committed rows first; if the database is still
                    # down this raises and is retried like any other step.
                    self.syncer.reload()
                    stale = False
                self._step()
                self._recovered()
                backoff = 1.0
            except NodeError as exc:
                if not _retryable_node_error(exc):
                    raise
                stale = True
                self.stats.node_errors += 1
                if not self._node_lost:
                    _logger.warning("node lost: %s; retrying with backoff", exc)
                    self._node_lost = True
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except (StorageError, DBAPIError) as exc:
                if isinstance(exc, DBAPIError) and not _database_outage(exc):
                    raise
                stale = True
                self.stats.db_errors += 1
                if not self._db_lost:
                    _logger.warning("database lost: %s; retrying with backoff",
                                    _first_line(exc))
                    self._db_lost = True
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        _logger.info("stopped at height %s", self.stats.indexed_height)

    def _recovered(self) -> None:
        """After a successful step, say once that what was lost is back."""
        if self._node_lost:
            _logger.info("node back; resuming")
            self._node_lost = False
        if self._db_lost:
            _logger.info("database back; resuming")
            self._db_lost = False

    def _progress(self, p: Progress) -> None:
        self.stats.indexed_height = p.height
        self.stats.blocks = self._blocks_before + p.blocks
        self.stats.seconds = self._seconds_before + p.seconds
        if self._on_progress is not None:
            self._on_progress(p)

    def _step(self) -> None:
        # NOTE: check_reorg logs the reorg (from our top to the fork) itself, once.
        if self.syncer.check_reorg() is not None:
            self.stats.rollbacks += 1
            self.stats.caught_up = False
        tip_height, tip_hash = self.source.tip()
        self.stats.tip_height = tip_height
        target = tip_height - self.confirmations
        nxt = self.syncer.next_height()
        if nxt <= target:
            batch = 1 if target - nxt < TIP_DISTANCE else self.syncer.batch_blocks
            self._blocks_before, self._seconds_before = self.stats.blocks, self.stats.seconds
            done = self.syncer.sync(nxt, target, batch_blocks=batch,
                                    should_stop=self.stop.is_set, on_progress=self._progress)
            if done >= nxt:
                self.stats.indexed_height = done
            return
        self.stats.indexed_height = nxt - 1
        if not self.stats.caught_up:
            _logger.info("caught up at height %d (node tip %d, %d confirmations held back)",
                         nxt - 1, tip_height, self.confirmations)
            self.stats.caught_up = True
        self._wait_for_change(tip_hash)

    def _wait_for_change(self, tip_hash: str) -> None:
        while not self.stop.is_set():
            if self.waker is not None:
                self.waker.wait(self.poll_interval)
            else:
                self.stop.wait(self.poll_interval)
            if self.stop.is_set() or self.source.best_block_hash() != tip_hash:
                return
