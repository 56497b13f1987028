"""The test node's `-txindex`: `getindexinfo` and `getrawtransaction` answer as Bitcoin Core
v28's do, with and without the index (error codes and messages word for word)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import pytest

from indexer.chain.block import parse_block
from regtest.build import (
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    Transaction,
    TxInput,
    TxOutput,
    create_block,
)
from regtest.node import TestNode
from tests.integration.test_testnode import SPK, Client, Miner, _serve

NO_TXINDEX = ("No such mempool transaction. Use -txindex or provide a block hash to enable "
              "blockchain transaction queries. Use gettransaction for wallet transactions.")
NOT_INDEXED = ("No such mempool or blockchain transaction. Use gettransaction for wallet "
               "transactions.")
NOT_IN_BLOCK = ("No such transaction found in the provided block. Use gettransaction for "
                "wallet transactions.")
P2TR = bytes([0x51, 0x20]) + bytes(range(32))
# The largest amount Core's money range allows in one output is 21M BTC; this one is the
# kind of odd-satoshi value a float would round.
BIG_SAT = 2_099_999_997_690_000


def _spend() -> Transaction:
    """A transaction paying 1 sat and 20999999.9769 BTC (scripts are not validated)."""
    return Transaction([TxInput("11" * 32, 3, witness=[b"\x01" * 64])],
                       [TxOutput(1, SPK), TxOutput(BIG_SAT, P2TR)])


def _mine_tx(client: Client, tx: Transaction) -> tuple[str, str]:
    """Mine `tx` in block 1 (then two empty blocks); (block 1 hash, tip hash)."""
    raw = create_block(REGTEST_GENESIS_HASH, 1, REGTEST_GENESIS_TIME + 600,
                       [tx.serialize()], SPK)
    assert client.call("submitblock", raw.hex()) is None
    block1 = parse_block(raw).hash
    tip = Miner(client).extend(block1, 2, 2)[-1]
    return block1, tip


@pytest.fixture
def indexed() -> Iterator[TestNode]:
    with TestNode(port=0, txindex=True) as n:
        yield n


@pytest.fixture
def plain() -> Iterator[TestNode]:
    with TestNode(port=0) as n:
        yield n


# -- getindexinfo ------------------------------------------------------------------------------


def test_getindexinfo_is_empty_without_txindex(plain: TestNode) -> None:
    c = Client(plain.url)
    assert c.call("getindexinfo") == {}
    assert c.call("getindexinfo", "txindex") == {}


def test_getindexinfo_reports_a_synced_txindex_at_the_tip(indexed: TestNode) -> None:
    c = Client(indexed.url)
    assert c.call("getindexinfo") == {"txindex": {"synced": True, "best_block_height": 0}}
    Miner(c).extend(REGTEST_GENESIS_HASH, 1, 3)
    assert c.call("getindexinfo") == {"txindex": {"synced": True, "best_block_height": 3}}
    assert c.call("getindexinfo", "txindex") == c.call("getindexinfo")
    assert c.call("getindexinfo", "coinstatsindex") == {}


# -- getrawtransaction without txindex ---------------------------------------------------------


def test_without_txindex_a_mined_tx_needs_its_block_hash(plain: TestNode) -> None:
    c = Client(plain.url)
    tx = _spend()
    block1, _ = _mine_tx(c, tx)
    assert c.error("getrawtransaction", tx.txid()) == (500, -5, NO_TXINDEX)
    assert c.error("getrawtransaction", tx.txid(), True) == (500, -5, NO_TXINDEX)
    assert c.call("getrawtransaction", tx.txid(), False, block1) == tx.serialize().hex()
    got = c.call("getrawtransaction", tx.txid(), 1, block1)
    assert got["in_active_chain"] is True
    assert got["blockhash"] == block1 and got["confirmations"] == 3


def test_a_block_hash_that_does_not_hold_the_tx(plain: TestNode) -> None:
    c = Client(plain.url)
    tx = _spend()
    _, tip = _mine_tx(c, tx)
    assert c.error("getrawtransaction", tx.txid(), 1, tip) == (500, -5, NOT_IN_BLOCK)
    assert c.error("getrawtransaction", tx.txid(), 1, "ab" * 32) == (
        500, -5, "Block hash not found")


def test_argument_errors_are_cores(plain: TestNode) -> None:
    c = Client(plain.url)
    assert c.error("getrawtransaction", "abc") == (
        500, -8, "parameter 1 must be of length 64 (not 3, for 'abc')")
    assert c.error("getrawtransaction", "zz" * 32) == (
        500, -8, f"parameter 1 must be hexadecimal string (not '{'zz' * 32}')")
    assert c.error("getrawtransaction",
                   "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b") == (
        500, -5, "The genesis block coinbase is not considered an ordinary transaction and "
        "cannot be retrieved")


# -- getrawtransaction with txindex ------------------------------------------------------------


def test_txindex_serves_a_mined_tx_by_txid(indexed: TestNode) -> None:
    c = Client(indexed.url)
    tx = _spend()
    block1, _ = _mine_tx(c, tx)
    assert c.call("getrawtransaction", tx.txid()) == tx.serialize().hex()
    assert c.call("getrawtransaction", tx.txid(), 0) == tx.serialize().hex()
    got = c.call("getrawtransaction", tx.txid(), True)
    assert got == c.call("getrawtransaction", tx.txid(), 1)
    assert "in_active_chain" not in got  # only with an explicit block hash
    assert got["txid"] == tx.txid()
    assert got["hash"] == tx.wtxid_bytes()[::-1].hex() != tx.txid()
    assert got["hex"] == tx.serialize().hex()
    assert got["vin"][0]["txid"] == "11" * 32 and got["vin"][0]["vout"] == 3
    assert got["vin"][0]["txinwitness"] == ["01" * 64]
    assert [(o["n"], o["scriptPubKey"]["hex"], o["scriptPubKey"]["type"])
            for o in got["vout"]] == [(0, SPK.hex(), "nonstandard"),
                                      (1, P2TR.hex(), "witness_v1_taproot")]
    assert got["blockhash"] == block1
    assert got["confirmations"] == 3
    assert got["time"] == got["blocktime"] == REGTEST_GENESIS_TIME + 600


def test_amounts_are_written_as_core_writes_them(indexed: TestNode) -> None:
    c = Client(indexed.url)
    tx = _spend()
    _mine_tx(c, tx)
    status, _, body = c.post({"method": "getrawtransaction", "params": [tx.txid(), 1],
                              "id": 1})
    assert status == 200
    # ValueFromAmount: always 8 decimals, never a float's exponent or rounding.
    assert b'"value":0.00000001,' in body
    assert b'"value":20999999.97690000,' in body


def test_txindex_does_not_know_an_unmined_txid(indexed: TestNode) -> None:
    c = Client(indexed.url)
    Miner(c).extend(REGTEST_GENESIS_HASH, 1, 2)
    assert c.error("getrawtransaction", "22" * 32) == (500, -5, NOT_INDEXED)
    assert c.error("getrawtransaction", "22" * 32, 1) == (500, -5, NOT_INDEXED)


def test_a_reorged_out_tx_keeps_its_stale_index_entry(indexed: TestNode) -> None:
    c = Client(indexed.url)
    tx = _spend()
    block1, _ = _mine_tx(c, tx)
    c.call("invalidateblock", block1)
    got = c.call("getrawtransaction", tx.txid(), 1)
    # Core's TxIndex does not rewind: the entry still names the disconnected block.
    assert got["blockhash"] == block1
    assert got["confirmations"] == 0
    assert "time" not in got and "blocktime" not in got
    assert c.call("getrawtransaction", tx.txid(), 1, block1)["in_active_chain"] is False


def test_txindex_cannot_run_on_a_pruned_node() -> None:
    with pytest.raises(ValueError, match=re.escape("Prune mode is incompatible with -txindex.")):
        TestNode(port=0, txindex=True, prune_below=1)


def test_serve_flag_turns_the_index_on() -> None:
    proc, url = _serve("--chain", "regtest", "--port", "0", "--txindex")
    try:
        assert Client(url).call("getindexinfo") == {
            "txindex": {"synced": True, "best_block_height": 0}}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
