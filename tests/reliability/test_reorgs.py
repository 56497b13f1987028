"""Reorgs while following: `lockedbtc run` follows the test node while the harness makes
random (seeded) reorgs of depth 1 to 20 at the tip. Peg-ins are mined, reorganised away,
and re-mined in other blocks of the new branch (or dropped for good). After every reorg,
once the daemon is at the node's tip, its tables equal a fresh index of the final chain,
row for row."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from indexer.chain.source import connect
from indexer.config import build_adapters, load_params
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.sync import Syncer
from regtest.build import Transaction, TxOutput
from regtest.harness import Harness
from regtest.node import TestNode
from tests.reliability.support import (
    activity_harness,
    diff,
    dump,
    engine_of,
    indexed_to,
    popen,
    stop,
    wait_for,
    write_params,
)
from tests.reliability.test_node_faults import params_address


def fresh_index(node: TestNode, params: Path, url: str) -> None:
    """Index the node's whole chain into an emptied database, in-process."""
    with engine_of(url) as engine:
        migrate(engine)
        with engine.begin() as conn:
            for name in ("positions", "events", "rejects", "adapter_state", "cursors",
                         "blocks", "meta"):
                conn.execute(text(f"DELETE FROM {name}"))  # constant table names
        store = Store(engine)
        with connect(node.url, retry_seconds=5) as source:
            store.check_chain(source.chain)
            syncer = Syncer(source, store, build_adapters(source.chain, load_params(params)),
                            source.chain, batch_blocks=500)
            syncer.sync(0, source.tip()[0])


@pytest.fixture
def active(tmp_path: Path) -> Iterator[tuple[TestNode, Harness, Path]]:
    with TestNode(port=0) as node:
        harness, params = activity_harness(node)
        yield node, harness, write_params(tmp_path / "params.json", params)


def reorg_storm(node: TestNode, harness: Harness, params: Path, db: str, ref: str,
                reorgs: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    fed = params_address(params)
    mined: list[tuple[int, Transaction]] = []  # peg-ins on the active chain, by height
    counts = {"reorgs": 0, "readded": 0, "dropped": 0, "max_depth": 0}
    proc = popen(["run", "--poll-interval", "0.05", "--rpc", node.url, "--db", db,
                  "--params", str(params)])
    try:
        for n in range(reorgs):
            # Some activity at the tip first: blocks with peg-ins, for the reorg to remove.
            for _ in range(rng.randint(1, 4)):
                pegin = harness.wallet.send([TxOutput(rng.randint(6, 40) * 100_000, fed)])
                harness.mine(1, [pegin])
                mined.append((harness.tip()[0], pegin))
            if (more := rng.randint(0, 3)):
                harness.mine(more)
            tip, tip_hash = harness.tip()
            wait_for(_at(db, tip, tip_hash), f"indexing up to {tip} before reorg {n}",
                     proc=proc)
            depth = rng.randint(1, 20)
            fork = tip - depth
            removed = [tx for h, tx in mined if h > fork]
            mined = [(h, tx) for h, tx in mined if h <= fork]
            # Re-add the removed peg-ins in order (children after parents) in one block of
            # the new branch, or drop them for good; the branch is 1-3 blocks longer.
            readd = removed if removed and rng.random() < 0.7 else []
            blocks = depth + rng.randint(1, 3)
            harness.rewind(depth)
            at = rng.randint(0, blocks - 1)
            _branch(harness, blocks, at, readd)
            mined += [(fork + 1 + at, tx) for tx in readd]
            counts["readded" if readd else "dropped"] += len(removed)
            counts["reorgs"] += 1
            counts["max_depth"] = max(counts["max_depth"], depth)
            tip, tip_hash = harness.tip()
            wait_for(_at(db, tip, tip_hash), f"following reorg {n} (depth {depth})",
                     proc=proc)
            fresh_index(node, params, ref)
            problems = diff(dump(db), dump(ref))
            assert not problems, f"after reorg {n} (depth {depth}, seed {seed}):\n{problems}"
    finally:
        _out, err = stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    print(f"reorg storm seed {seed}: {counts}")
    return counts


def _at(db: str, height: int, block_hash: str) -> Callable[[], bool]:
    return lambda: indexed_to(db, height, block_hash)


def _branch(harness: Harness, blocks: int, at: int, txs: list[Transaction]) -> list[str]:
    """Mine a replacement branch of `blocks` blocks after `rewind`, with `txs` in its
    block number `at` (0-based). The node switches once the branch outweighs the old one,
    so the blocks are built and submitted one by one without the harness's tip check."""
    hashes = []
    for i in range(blocks):
        built = harness._build(txs if i == at else [])
        harness._submit(built)
        harness._connect(built)
        hashes.append(built.hash)
    assert harness.node_tip() == hashes[-1], "the new branch did not win"
    return hashes


def test_random_reorgs_while_following(active: tuple[TestNode, Harness, Path],
                                       db_pair: tuple[str, str]) -> None:
    node, harness, params = active
    ref, db = db_pair
    counts = reorg_storm(node, harness, params, db, ref, reorgs=8, seed=3)
    assert counts["readded"] and counts["dropped"], counts


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22])
def test_reorg_storms_while_following(active: tuple[TestNode, Harness, Path],
                                      db_pair: tuple[str, str], seed: int) -> None:
    node, harness, params = active
    ref, db = db_pair
    counts = reorg_storm(node, harness, params, db, ref, reorgs=40, seed=seed)
    assert counts["max_depth"] >= 15, counts
