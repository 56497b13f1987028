"""Babylon phase-2 stakes found only when spent get their amount and creation height from a
node run with `-txindex`, and `locked --at-height` then counts them between creation and
spend; without the index the result is what it always was (amount unknown).

Replays `babylon_spends`: q1 (slashed) and q2 (withdrawn) are stakes with no OP_RETURN,
invisible until spent. Expected amounts come from the scenario file's args, heights from
the replay (when the harness mined each transaction), never from the indexer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from indexer.app import locked_report
from indexer.chain.source import NodeSource, connect
from indexer.config import Settings
from indexer.db import queries
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.history import locked_steps
from regtest.harness import Harness
from regtest.node import TestNode
from regtest.scenario import ReplayResult, Scenario, load_scenario
from tests.integration.test_testnode import Client
from tests.integration.test_testnode_txindex import BIG_SAT, _mine_tx, _spend
from tests.support.scenarios import IndexingReplayer

SCENARIO = "babylon_spends"
#: The hidden stakes and the transactions that spend them, as the scenario names them.
HIDDEN = {"q1": "sq1", "q2": "wq2"}


@dataclass
class Run:
    result: ReplayResult
    store: Store
    settings: Settings

    def locked(self, height: int) -> dict[str, Any]:
        """The babylon line of `locked --at-height <height>`."""
        report = locked_report(self.store, self.settings, height, "babylon")
        line: dict[str, Any] = report["protocols"][0]
        return line

    def position(self, name: str) -> dict[str, Any]:
        staking = self.result.outputs[f"{name}.staking"]
        rows = [p for p in queries.positions(self.store.engine, "babylon",
                                              self.result.tip_height, include_spent=True)
                if (p["txid"], p["vout"]) == (staking.txid, staking.vout)]
        assert len(rows) == 1, rows
        return rows[0]


def _staked(scenario: Scenario, name: str) -> int:
    """The amount the scenario's `tx` step named `name` stakes (its design value)."""
    for step in scenario.steps:
        tx = step.get("tx")
        if tx is not None and tx.get("as") == name:
            return int(tx["args"]["amount"])
    raise AssertionError(f"no tx step {name!r} in {scenario.name}")


def _replay(db_url: str, tmp_path: Path, *, txindex: bool) -> Run:
    scenario = load_scenario(SCENARIO)
    engine = make_engine(db_url)
    migrate(engine)
    store = Store(engine)
    store.check_chain("regtest")  # as `backfill` does first
    with TestNode(port=0, txindex=txindex) as node:
        source: NodeSource = connect(node.url, retry_seconds=5)
        try:
            replayer = IndexingReplayer(Harness(node.url), scenario, source, store)
            result = replayer.run()
            replayer.catch_up()
            assert source.has_txindex() is txindex
        finally:
            source.close()
    failures = [m for c in replayer.checked for m in c.mismatches]
    assert not failures, failures
    params = scenario.write_params(tmp_path / f"params-{txindex}.json")
    return Run(result, store, Settings(db=db_url, params=params))


def _height(result: ReplayResult, name: str) -> int:
    h = result.tx_heights[name]
    assert h is not None, f"{name} was not mined"
    return h


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(SCENARIO)


@pytest.fixture
def with_index(db_url: str, tmp_path: Path) -> Run:
    return _replay(db_url, tmp_path, txindex=True)


@pytest.fixture
def without_index(tmp_path: Path) -> Run:
    """The same replay on a node without -txindex (SQLite: the baseline does not depend
    on the database, which the indexed run covers on both)."""
    return _replay(f"sqlite:///{tmp_path / 'plain.sqlite3'}", tmp_path, txindex=False)


def test_stakes_found_on_spend_get_amount_and_creation_height(with_index: Run,
                                                              scenario: Scenario) -> None:
    res = with_index.result
    for stake, spend in HIDDEN.items():
        p = with_index.position(stake)
        assert p["value_sat"] == _staked(scenario, stake)
        assert p["amount_known"] is True and p["amount_source"] == "txindex"
        assert p["discovered_on_spend"] is True
        assert p["height"] == _height(res, stake)
        assert p["discovered_height"] == p["spent_height"] == _height(res, spend)
        assert p["spent_txid"] == res.txids[spend]


def test_without_txindex_the_amount_stays_unknown(without_index: Run) -> None:
    res = without_index.result
    for stake, spend in HIDDEN.items():
        p = without_index.position(stake)
        assert p["value_sat"] == 0 and p["amount_known"] is False
        assert "amount_source" not in p
        # Created, as far as anyone can tell, where it was spent: it never counts.
        assert p["height"] == p["spent_height"] == _height(res, spend)


def test_locked_at_height_counts_them_between_creation_and_spend(
        with_index: Run, without_index: Run, scenario: Scenario) -> None:
    res = with_index.result
    made = {s: _height(res, s) for s in HIDDEN}
    spent = {s: _height(res, t) for s, t in HIDDEN.items()}
    assert made["q1"] < spent["q1"] < spent["q2"]
    for h in range(min(made.values()) - 1, res.tip_height + 1):
        line = with_index.locked(h)
        hidden = sum(_staked(scenario, s) for s in HIDDEN if made[s] <= h < spent[s])
        assert line["locked_sat"] - without_index.locked(h)["locked_sat"] == hidden, h
        # Every amount counted now comes from the chain: none is of unknown size.
        assert line["chain_proven_sat"] == line["locked_sat"], h
        assert line["unknown_amount"] == 0, h
    # The stake tx's block and the one before the spend both count q1's 600,000.
    q1 = _staked(scenario, "q1")
    for h in (made["q1"], spent["q1"] - 1):
        assert (with_index.locked(h)["locked_sat"]
                - without_index.locked(h)["locked_sat"]) >= q1


def test_history_agrees_with_locked_at_height(with_index: Run) -> None:
    steps = locked_steps(with_index.store.engine, ["babylon"])["babylon"]
    res = with_index.result
    for h in range(_height(res, "q1") - 1, res.tip_height + 1):
        total = sum(s for at, s in steps if at <= h)
        assert total == with_index.locked(h)["locked_sat"], h


def test_node_source_looks_outpoints_up_in_one_batch() -> None:
    with TestNode(port=0, txindex=True) as node:
        c = Client(node.url)
        tx = _spend()
        block1, _ = _mine_tx(c, tx)
        with connect(node.url, retry_seconds=5) as source:
            assert source.has_txindex()
            got = source.outputs_and_heights([(tx.txid(), 1), ("22" * 32, 0), (tx.txid(), 0),
                                              (tx.txid(), 2)])
            # Exact sats from Core's BTC numbers; an unknown txid or a missing output
            # does not spoil the rest of the batch.
            assert got == [(BIG_SAT, 1), None, (1, 1), None]
            assert source.output_and_height(tx.txid(), 0) == (1, 1)
            c.call("invalidateblock", block1)
            # The index still names the block, but it left the active chain: unknown.
            assert source.output_and_height(tx.txid(), 0) is None


def test_node_source_without_txindex_tells_nothing() -> None:
    with TestNode(port=0) as node:
        c = Client(node.url)
        tx = _spend()
        _mine_tx(c, tx)
        with connect(node.url, retry_seconds=5) as source:
            assert not source.has_txindex()
            assert source.output_and_height(tx.txid(), 0) is None
