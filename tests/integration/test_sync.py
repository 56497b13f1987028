"""The sync core on SQLite and PostgreSQL: backfill, no-op re-runs, resume, reorgs of depth
1 and 6 (tables equal a fresh index of the final chain), bad blocks, failed batches.

    reorg of depth 6 used below (heights 6..11 replaced):

        1 - ... - 5 - 6  - 7  - ... - 11            (old branch, dropped)
                    \\
                      6' - 7' - ... - 11' - 12'     (new branch, one longer)
"""

from __future__ import annotations

import pytest

from adapters.base import AdapterError, ScanView
from indexer.chain.block import Block
from indexer.db import queries
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.errors import BadBlockError
from indexer.sync import Syncer
from tests.support.chain import FakeChain, deposit, withdraw
from tests.support.dump import dump
from tests.support.toy import ToyAdapter


def _store(url: str) -> Store:
    engine = make_engine(url)
    migrate(engine)
    return Store(engine)


def _index_all(chain: FakeChain, store: Store, batch: int = 4) -> Syncer:
    syncer = Syncer(chain, store, [ToyAdapter()], "regtest", batch_blocks=batch)
    syncer.check_reorg()
    syncer.sync(syncer.next_height(), chain.tip()[0])
    return syncer


def _build(chain: FakeChain) -> dict[str, str]:
    """Ten blocks: deposits, a withdrawal in a later block and one in the same block."""
    txs: dict[str, str] = {}
    d1, d2, d3 = deposit(1, 50_000), deposit(2, 70_000), deposit(3, 11_000)
    chain.mine([d1])
    chain.mine([d2])
    for _ in range(3):
        chain.mine()
    chain.mine([withdraw(d1.txid())])
    same = withdraw(d3.txid())
    chain.mine([d3, same])  # created and spent in one block
    for _ in range(3):
        chain.mine()
    txs.update(d1=d1.txid(), d2=d2.txid(), d3=d3.txid(), same=same.txid())
    return txs


def _locked(store: Store, height: int) -> int:
    with store.engine.connect() as conn:
        return int(queries.locked_summary(conn, "toy", height)["locked_sat"])


def test_backfill_positions_spends_events_and_state(db_url: str) -> None:
    chain = FakeChain()
    txs = _build(chain)
    store = _store(db_url)
    _index_all(chain, store)
    assert store.cursors()["toy"] == (10, chain.active[10])
    assert _locked(store, 10) == 70_000
    assert _locked(store, 2) == 120_000
    assert _locked(store, 1) == 50_000
    pos = queries.positions(store.engine, "toy", 10, include_spent=True)
    by = {p["txid"]: p for p in pos}
    assert by[txs["d1"]]["spent_height"] == 6
    assert by[txs["d3"]]["spent_txid"] == txs["same"] and by[txs["d3"]]["spent_height"] == 7
    kinds = [(e["height"], e["kind"]) for e in queries.events(store.engine, "toy")]
    assert kinds == [(1, "deposit"), (2, "deposit"), (6, "withdraw"), (7, "deposit"),
                     (7, "withdraw")]
    assert store.load_state("toy") == {"deposits": 3}


def test_rerunning_a_done_range_changes_nothing(db_url: str) -> None:
    chain = FakeChain()
    _build(chain)
    store = _store(db_url)
    syncer = _index_all(chain, store)
    before = dump(store.engine)
    chain.calls = 0
    assert syncer.next_height() == 11
    assert syncer.sync(11, 10) == 10  # empty range
    assert dump(store.engine) == before
    assert chain.calls == 0


def test_resume_after_interrupted_backfill_equals_one_run(db_url: str, tmp_path: object) -> None:
    chain = FakeChain()
    _build(chain)
    store = _store(db_url)
    syncer = Syncer(chain, store, [ToyAdapter()], "regtest", batch_blocks=3)
    batches = []
    syncer.sync(1, 10, should_stop=lambda: len(batches) >= 2,
                on_progress=batches.append)
    assert store.cursors()["toy"][0] == 6
    fresh = Syncer(chain, store, [ToyAdapter()], "regtest", batch_blocks=3)
    fresh.sync(fresh.next_height(), 10)
    ref = _store(f"sqlite:///{tmp_path}/ref.sqlite3")
    _index_all(chain, ref, batch=100)
    assert dump(store.engine) == dump(ref.engine)


@pytest.mark.parametrize("depth", [1, 6])
def test_reorg_rolls_back_and_matches_a_fresh_index(db_url: str, depth: int,
                                                    tmp_path: object) -> None:
    chain = FakeChain()
    txs = _build(chain)
    store = _store(db_url)
    syncer = _index_all(chain, store)
    # the new branch drops the d3/same block (when deep enough), re-adds d2's withdrawal
    # elsewhere and moves a fresh deposit into a different height
    d4 = deposit(4, 33_000)
    replacement = [[] for _ in range(depth + 1)]
    replacement[0] = [d4]
    replacement[-1] = [withdraw(txs["d2"])]
    chain.reorg(depth, replacement)
    fork = syncer.check_reorg()
    assert fork == 10 - depth
    syncer.sync(syncer.next_height(), chain.tip()[0])
    ref = _store(f"sqlite:///{tmp_path}/ref.sqlite3")
    _index_all(chain, ref, batch=100)
    assert dump(store.engine) == dump(ref.engine)
    assert _locked(store, chain.tip()[0]) == _locked(ref, chain.tip()[0])
    assert store.cursors()["toy"] == (11, chain.active[11])


def test_malformed_block_stops_without_writing(db_url: str) -> None:
    chain = FakeChain()
    _build(chain)
    store = _store(db_url)
    syncer = Syncer(chain, store, [ToyAdapter()], "regtest", batch_blocks=4)
    syncer.sync(1, 4)
    before = dump(store.engine)
    bad = chain.active[6]
    chain.raw[bad] = chain.raw[bad][:-7]
    with pytest.raises(BadBlockError, match="malformed block at height 6"):
        syncer.sync(5, 10)
    assert dump(store.engine) == before


class _Exploding(ToyAdapter):
    def scan(self, block: Block, view: ScanView) -> None:
        super().scan(block, view)
        if view.height == 7:
            raise AdapterError("invariant broken at 7")


def test_adapter_failure_aborts_the_whole_batch(db_url: str, tmp_path: object) -> None:
    chain = FakeChain()
    _build(chain)
    store = _store(db_url)
    syncer = Syncer(chain, store, [_Exploding()], "regtest", batch_blocks=4)
    with pytest.raises(AdapterError):
        syncer.sync(1, 10)
    assert store.cursors()["toy"][0] == 4  # batch 5..8 rolled back as a whole
    good = Syncer(chain, store, [ToyAdapter()], "regtest", batch_blocks=4)
    good.sync(good.next_height(), 10)
    ref = _store(f"sqlite:///{tmp_path}/ref.sqlite3")
    _index_all(chain, ref)
    assert dump(store.engine) == dump(ref.engine)


def test_blocks_without_needles_are_not_scanned(sqlite_url: str) -> None:
    chain = FakeChain()
    _build(chain)
    store = _store(sqlite_url)
    scanned: list[int] = []

    class Counting(ToyAdapter):
        def scan(self, block: Block, view: ScanView) -> None:
            scanned.append(view.height)
            super().scan(block, view)

    syncer = Syncer(chain, store, [Counting()], "regtest")
    syncer.sync(1, 10)
    # deposits (1, 2), the withdrawal (6); block 7 twice: its deposit's needle picks only
    # the depositing tx, the scan shows the new position is spent in the same block, so the
    # block is scanned again with the spender added. Blocks 3-5 and 8-10 are never scanned.
    assert scanned == [1, 2, 6, 7, 7]
    assert store.cursors()["toy"][0] == 10
