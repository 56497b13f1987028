"""The `run` loop on an in-memory chain: catch up, follow new blocks, roll back a reorg,
ride out a node outage, stop cleanly on request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from indexer.daemon import Daemon
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.errors import NodeError
from indexer.sync import Syncer
from tests.support.chain import FakeChain, deposit
from tests.support.dump import dump
from tests.support.toy import ToyAdapter


class NodeUnreachable(NodeError):
    retryable = True


class FlakyChain(FakeChain):
    """Raises NodeUnreachable while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()

    def _check(self) -> None:
        if self.down.is_set():
            raise NodeUnreachable("cannot reach the Bitcoin node (connection refused)")

    def tip(self) -> tuple[int, str]:
        self._check()
        return super().tip()

    def best_block_hash(self) -> str:
        self._check()
        return super().best_block_hash()


def _wait(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def _store(url: str) -> Store:
    engine = make_engine(url)
    migrate(engine)
    return Store(engine)


@pytest.fixture
def running(db_url: str):  # type: ignore[no-untyped-def]
    chain = FlakyChain()
    for i in range(5):
        chain.mine([deposit(i)])
    store = _store(db_url)
    syncer = Syncer(chain, store, [ToyAdapter()], "regtest", batch_blocks=2)
    daemon = Daemon(syncer, chain, poll_interval=0.02, max_backoff=0.05)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    yield chain, store, daemon
    daemon.stop.set()
    thread.join(10)
    assert not thread.is_alive(), "the daemon did not stop on request"


def _cursor(store: Store) -> int:
    return store.cursors().get("toy", (0, ""))[0]


def test_follows_the_tip_and_reorgs(running, tmp_path) -> None:  # type: ignore[no-untyped-def]
    chain, store, daemon = running
    _wait(lambda: _cursor(store) == 5)
    _wait(lambda: daemon.stats.caught_up)
    chain.mine([deposit(10)])
    _wait(lambda: _cursor(store) == 6)
    chain.reorg(3, [[deposit(20)], [], [], [deposit(21)]])
    _wait(lambda: store.cursors()["toy"] == (7, chain.active[7]))
    assert daemon.stats.rollbacks == 1
    ref = _store(f"sqlite:///{tmp_path}/ref.sqlite3")
    Syncer(chain, ref, [ToyAdapter()], "regtest").sync(1, 7)
    assert dump(store.engine) == dump(ref.engine)


def test_node_outage_is_retried_and_resumed(running, caplog) -> None:  # type: ignore[no-untyped-def]
    chain, store, daemon = running
    _wait(lambda: daemon.stats.caught_up)
    caplog.set_level("INFO")
    chain.down.set()
    _wait(lambda: daemon.stats.node_errors >= 3)
    chain.mine([deposit(30)])
    chain.down.clear()
    _wait(lambda: _cursor(store) == 6)
    lost = [r for r in caplog.records if "node lost" in r.getMessage()]
    assert len(lost) == 1, "an outage is logged once, not once per retry"
    assert any("back" in r.getMessage() for r in caplog.records)


def test_confirmations_hold_back_blocks(db_url: str) -> None:
    chain = FakeChain()
    for i in range(8):
        chain.mine([deposit(i)])
    store = _store(db_url)
    syncer = Syncer(chain, store, [ToyAdapter()], "regtest")
    daemon = Daemon(syncer, chain, confirmations=3, poll_interval=0.02)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        _wait(lambda: daemon.stats.caught_up)
        assert _cursor(store) == 5
    finally:
        daemon.stop.set()
        thread.join(10)
