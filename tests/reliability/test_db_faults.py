"""Database faults: the database goes away in the middle of a run and comes back.

PostgreSQL: the indexer's backends are terminated (`pg_terminate_backend`) over and over,
and its role is refused new connections for a while (NOLOGIN), through the real CLI.
SQLite: another process holds an exclusive lock longer than the indexer waits. In every
case the daemon says "database lost" once per outage, retries, resumes, and its tables end
equal, row for row, to a fresh index of the same chain (no partial height, no duplicate,
no spend lost). A migration cut half way leaves nothing behind on either database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from adapters.base import Adapter
from indexer.chain.block import parse_block
from indexer.daemon import Daemon
from indexer.db import engine as engine_mod
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.sync import Syncer
from regtest.build import TxOutput
from regtest.harness import Harness
from regtest.node import TestNode
from tests.reliability.support import (
    activity_harness,
    diff,
    dump,
    indexed_to,
    pg_cut,
    pg_restore,
    pg_role_schema,
    pg_terminate,
    popen,
    stop,
    wait_for,
    write_params,
)
from tests.reliability.test_node_faults import params_address
from tests.reliability.test_reorgs import fresh_index
from tests.support.chain import FakeChain, deposit, withdraw
from tests.support.toy import ToyAdapter


@pytest.fixture
def active(tmp_path: Path) -> Iterator[tuple[TestNode, Harness, Path]]:
    with TestNode(port=0) as node:
        harness, params = activity_harness(node)
        yield node, harness, write_params(tmp_path / "params.json", params)


# ---------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_run_survives_terminated_backends_and_a_refused_login(
        active: tuple[TestNode, Harness, Path]) -> None:
    node, harness, params = active
    with pg_role_schema("Pg5ecretPassw0rd") as (url, role, admin), \
            pg_role_schema() as (ref, _, _):
        proc = popen(["run", "--poll-interval", "0.05", "--rpc", node.url, "--db", url,
                      "--params", str(params)], level="DEBUG")
        try:
            tip, tip_hash = harness.tip()
            wait_for(lambda: indexed_to(url, tip, tip_hash), "catching up", proc=proc)
            fed = params_address(params)
            terminated = 0
            for i in range(6):  # blocks arrive while its connections keep being cut
                harness.mine(1, [harness.wallet.send([TxOutput(1_000_000 + i, fed)])])
                terminated += pg_terminate(admin, role)
                time.sleep(0.05)
                terminated += pg_terminate(admin, role)
            assert terminated > 0
            tip, tip_hash = harness.tip()
            wait_for(lambda: indexed_to(url, tip, tip_hash), "the blocks mined meanwhile",
                     proc=proc)
            # An outage: no login at all for a while, and new blocks (one with a peg-in, one
            # reorganising it into another block) arrive in the meantime.
            pg_cut(admin, role)
            harness.mine(1, [pegin := harness.wallet.send([TxOutput(4_000_000, fed)])])
            time.sleep(1.5)
            harness.reorg(1, [pegin], blocks=3)
            time.sleep(1.0)
            pg_restore(admin, role)
            tip, tip_hash = harness.tip()
            wait_for(lambda: indexed_to(url, tip, tip_hash), "the outage to end", proc=proc)
        finally:
            pg_restore(admin, role)
            _out, err = stop(proc)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert "Pg5ecretPassw0rd" not in err  # DEBUG logs included
        assert sum("database lost" in ln for ln in err.splitlines()) >= 1, err
        assert (sum("database lost" in ln for ln in err.splitlines())
                == sum("database back" in ln for ln in err.splitlines())), err
        fresh_index(node, params, ref)
        problems = diff(dump(url), dump(ref))
        assert not problems, problems


# ---------------------------------------------------------------------------- SQLite


def _daemon(url: str, source: Any, adapters: list[Adapter]) -> tuple[Daemon, threading.Thread]:
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    store.check_chain(source.chain)
    daemon = Daemon(Syncer(source, store, adapters, source.chain), source,
                    poll_interval=0.02, max_backoff=1.0)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    return daemon, thread


def _stop(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the daemon did not stop"
    daemon.syncer.store.engine.dispose()


def test_daemon_waits_out_an_sqlite_lock(active: tuple[TestNode, Harness, Path],
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    from indexer.chain.source import connect
    from indexer.config import build_adapters, load_params

    node, harness, params = active
    # The indexer gives up waiting for a lock after 0.2 s here instead of 30 s.
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.sqlite3"
    url, ref = f"sqlite:///{path}", f"sqlite:///{tmp_path}/ref.sqlite3"
    source = connect(node.url, retry_seconds=5)
    daemon, thread = _daemon(url, source, build_adapters("regtest", load_params(params)))
    try:
        tip, tip_hash = harness.tip()
        wait_for(lambda: indexed_to(url, tip, tip_hash), "catching up")
        locker = sqlite3.connect(path, timeout=5, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        fed = params_address(params)
        harness.mine(1, [harness.wallet.send([TxOutput(5_000_000, fed)])])
        harness.mine(2)
        wait_for(lambda: daemon.stats.db_errors >= 2, "the daemon to hit the lock")
        locker.execute("ROLLBACK")
        locker.close()
        tip, tip_hash = harness.tip()
        wait_for(lambda: indexed_to(url, tip, tip_hash), "the lock to be released")
    finally:
        _stop(daemon, thread)
        source.close()
    lost = [r for r in caplog.records if "database lost" in r.getMessage()]
    assert len(lost) == 1 and "locked" in lost[0].getMessage()
    fresh_index(node, params, ref)
    problems = diff(dump(url), dump(ref))
    assert not problems, problems


class _FlakyStore(Store):
    """A store whose database goes down for three calls, once: from the write of the
    first batch that spends a toy position (the write, the syncer's reload, the daemon's
    next reload attempt), and is back for the step after."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.down = 0
        self.tripped = False

    def _maybe_fail(self) -> None:
        if self.down > 0:
            self.down -= 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    def write(self, batch: Any) -> None:
        if not self.tripped and any(w.adapters.get("toy") and w.adapters["toy"].spends
                                    for w in batch):
            self.tripped = True
            self.down = 3
        self._maybe_fail()
        super().write(batch)

    def tracked_outpoints(self, protocol: str) -> Any:
        self._maybe_fail()
        return super().tracked_outpoints(protocol)


def test_daemon_does_not_index_on_from_stale_state(tmp_path: Path) -> None:
    """The write of a batch that spends a position fails, and so do the reloads that
    follow it; the database is back by the next step. The spend must still be recorded."""
    chain = FakeChain()
    for n in range(3):
        chain.mine([deposit(n)])
    url, ref = f"sqlite:///{tmp_path}/flaky.sqlite3", f"sqlite:///{tmp_path}/ref.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    store = _FlakyStore(engine)
    store.check_chain("regtest")
    daemon = Daemon(Syncer(chain, store, [ToyAdapter()], "regtest"), chain,
                    poll_interval=0.02, max_backoff=0.2)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: indexed_to(url, 3), "the deposits")
        chain.mine([withdraw(parse_block(chain.raw[chain.active[1]]).txs[1].txid)])
        chain.mine()
        wait_for(lambda: indexed_to(url, 5), "the withdrawal")
    finally:
        _stop(daemon, thread)
    assert daemon.stats.db_errors >= 1
    ref_engine = make_engine(ref)
    migrate(ref_engine)
    ref_store = Store(ref_engine)
    ref_store.check_chain("regtest")
    Syncer(chain, ref_store, [ToyAdapter()], "regtest").sync(1, 5)
    ref_engine.dispose()
    problems = diff(dump(url), dump(ref))
    assert not problems, problems


# ---------------------------------------------------------------------------- migrations


def test_a_failed_migration_leaves_nothing_behind(db_url: str, tmp_path: Path) -> None:
    """A migration file runs in one transaction with its schema_migrations row, DDL
    included: cut half way (here by a bad statement; a kill is the same), it is redone
    whole on the next start instead of failing on "already exists" forever."""
    sql = tmp_path / "sql"
    sql.mkdir()
    mig = sql / "001_test.sql"
    mig.write_text("CREATE TABLE t1 (x INTEGER);\nCREATE VIEW v1 AS SELECT x FROM t1;\n"
                   "CREATE TABLE broken (;\n")
    engine = make_engine(db_url)
    try:
        with pytest.raises(Exception, match=r"broken|syntax"):
            migrate(engine, sql)
        mig.write_text("CREATE TABLE t1 (x INTEGER);\nCREATE VIEW v1 AS SELECT x FROM t1;\n")
        assert migrate(engine, sql) == [1]
        assert migrate(engine, sql) == []
    finally:
        engine.dispose()
