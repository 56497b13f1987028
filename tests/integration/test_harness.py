"""The harness and scenario engine against a live node (the test node unless told otherwise).

`basic.json` is replayed on two fresh nodes: the block hashes must be identical (the
determinism every scenario relies on), the node must agree with the harness about every
height, and the reorg must really have replaced the block. Backend selection is checked
without starting anything it cannot start here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from regtest import backend
from regtest.backend import RunningNode, start_node
from regtest.harness import Harness
from regtest.rpc import RpcClient
from regtest.scenario import ReplayResult, ScenarioError, load_scenario, replay
from regtest.wallet import InsufficientFunds

REGTEST_DIR = Path(__file__).resolve().parents[2] / "regtest"


def _node_kind() -> str:
    kind = backend.choose_kind()
    if kind == "testnode" and not (REGTEST_DIR / "__main__.py").exists():
        pytest.skip("no node to run: regtest/__main__.py (the test node) is not there yet "
                    "and neither bitcoind nor a Docker engine is available")
    return kind


@pytest.fixture(scope="module")
def node_kind() -> str:
    return _node_kind()


@pytest.fixture(scope="module")
def two_replays(node_kind: str) -> Iterator[tuple[ReplayResult, ReplayResult, RunningNode]]:
    first = start_node(kind=node_kind)
    try:
        a = replay("basic", first.url)
        with start_node(kind=node_kind) as second:
            b = replay("basic", second.url)
        yield a, b, first
    finally:
        first.stop()


def test_same_scenario_gives_identical_block_hashes_on_fresh_nodes(
        two_replays: tuple[ReplayResult, ReplayResult, RunningNode]) -> None:
    a, b, _ = two_replays
    assert a.block_hashes == b.block_hashes
    assert a.txids == b.txids
    assert len(a.block_hashes) == 114
    assert a.tip_height == 114


def test_node_agrees_with_the_harness_at_every_height(
        two_replays: tuple[ReplayResult, ReplayResult, RunningNode]) -> None:
    a, _, node = two_replays
    rpc = RpcClient(node.url)
    try:
        assert rpc.call("getbestblockhash") == a.tip_hash
        for height in (1, 100, 110, 111, 112, 113, 114):
            assert rpc.call("getblockhash", height) == a.block_hashes[height]
    finally:
        rpc.close()


def test_reorg_replaces_the_block_and_moves_replayed_transactions(
        two_replays: tuple[ReplayResult, ReplayResult, RunningNode]) -> None:
    a, _, _ = two_replays
    (reorg,) = a.reorgs
    assert reorg.fork_height == 111
    assert reorg.replaced[112] != reorg.new[112] == a.block_hashes[112]
    after_reorg = next(e for e in a.expectations if e.data["tip_height"] == 113)
    assert after_reorg.height == 113 and after_reorg.block_hash == a.block_hashes[113]
    for name in after_reorg.data["confirmed"]:
        assert a.tx_heights[name] == 112, name
    for name in after_reorg.data["unconfirmed"]:
        assert a.tx_heights[name] is None, name


def test_expectations_name_the_tip_they_were_written_for(
        two_replays: tuple[ReplayResult, ReplayResult, RunningNode]) -> None:
    a, _, _ = two_replays
    for exp in a.expectations:
        assert exp.height == exp.data["tip_height"]


def test_immature_coinbase_is_not_spendable(node_kind: str) -> None:
    with start_node(kind=node_kind) as node:
        h = Harness(node.url)
        h.mine(100)
        # Block 1's reward matures in block 101: the wallet has nothing for block 101 - 1.
        assert h.wallet.balance() == 50 * 100_000_000
        h.rewind(1)
        assert h.wallet.balance() == 0
        with pytest.raises(InsufficientFunds):
            h.wallet.send([], fee=1000)
        h.rpc.close()


def test_invalidate_follows_the_node_back(node_kind: str) -> None:
    with start_node(kind=node_kind) as node:
        h = Harness(node.url)
        hashes = h.mine(3)
        h.invalidate(hashes[1])
        assert h.tip() == (1, hashes[0])
        assert h.wallet.tip_height == 1
        h.mine(1)  # builds on block 1 again, with a block distinct from the invalid one
        assert h.block_hash(2) != hashes[1]
        h.rpc.close()


# --- no node needed ---------------------------------------------------------------------
def test_bitcoind_argv_is_isolated_and_regtest() -> None:
    args = backend.bitcoind_args("/tmp/d", 18001, 18002, "pw")
    for flag in ("-chain=regtest", "-rest=1", "-server=1", "-txindex=0", "-listen=0",
                 "-rpcport=18001", "-port=18002", "-rpcbind=127.0.0.1", "-datadir=/tmp/d",
                 f"-rpcuser={backend.RPC_USER}", "-rpcpassword=pw"):
        assert flag in args
    assert any(a.startswith("-fallbackfee=") for a in args)


def test_docker_command_listens_in_the_container_only() -> None:
    args = backend.docker_command("pw")
    assert "-rpcbind=0.0.0.0" in args and "-rpcport=18443" in args
    assert not any(a.startswith("-datadir") for a in args)


def test_forced_node_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKEDBTC_NODE", "testnode")
    assert backend.choose_kind() == "testnode"
    monkeypatch.setenv("LOCKEDBTC_NODE", "btcd")
    with pytest.raises(ValueError, match="LOCKEDBTC_NODE"):
        backend.choose_kind()


def test_bitcoind_env_path_must_be_executable(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("BITCOIND", str(tmp_path / "missing"))
    assert backend.find_bitcoind() is None
    with pytest.raises(backend.NodeUnavailable):
        backend.start_bitcoind()


def test_docker_branch_is_unavailable_without_an_engine() -> None:
    if backend.docker_client() is not None:
        pytest.skip("a Docker engine answers here")
    with pytest.raises(backend.NodeUnavailable, match="Docker"):
        backend.start_docker()


def test_scenario_steps_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": [{"mine": 1, "pay": {}}]}')
    with pytest.raises(ScenarioError, match="step 0"):
        load_scenario(bad)
    basic = load_scenario("basic")
    assert basic.steps[0] == {"mine": 110}
    assert os.fspath(basic.write_params(tmp_path / "p.json")).endswith("p.json")
