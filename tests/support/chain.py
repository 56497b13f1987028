"""An in-memory block source (the syncer's view of a node) over blocks built with the
regtest builder, with reorgs; and transactions for the toy adapter."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from indexer.chain.block import parse_block
from regtest.build import (
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    Transaction,
    TxInput,
    TxOutput,
    create_block,
)

MINER = bytes.fromhex("0014") + b"\x11" * 20
#: The toy protocol's deposit script (a P2WSH of a fixed hash).
TOY_SCRIPT = bytes.fromhex("0020") + hashlib.sha256(b"toy protocol").digest()


class FakeChain:
    """Blocks by hash plus the active chain; heights start at 1 above regtest genesis."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}
        self.active: list[str] = [REGTEST_GENESIS_HASH]
        self.chain = "regtest"
        self.calls = 0

    # -- building
    def mine(self, txs: Sequence[Transaction] = (), tag: bytes = b"") -> str:
        height = len(self.active)
        raw = create_block(self.active[-1], height, REGTEST_GENESIS_TIME + 600 * height,
                           [t.serialize() for t in txs], MINER, coinbase_extra=tag)
        h = parse_block(raw).hash
        self.raw[h] = raw
        self.active.append(h)
        return h

    def reorg(self, depth: int, replacement: Sequence[Sequence[Transaction]]) -> None:
        """Drop the top `depth` blocks and mine `replacement` (one list of txs a block)."""
        del self.active[len(self.active) - depth:]
        for i, txs in enumerate(replacement):
            self.mine(txs, tag=b"fork%d" % i)

    # -- the BlockSource protocol
    def tip(self) -> tuple[int, str]:
        self.calls += 1
        return len(self.active) - 1, self.active[-1]

    def best_block_hash(self) -> str:
        return self.active[-1]

    def block_hashes(self, heights: Sequence[int]) -> list[str]:
        self.calls += 1
        return [self.active[h] for h in heights]

    def raw_blocks(self, hashes: Sequence[str]) -> list[bytes]:
        self.calls += 1
        return [self.raw[h] for h in hashes]


def deposit(n: int, value: int = 10_000) -> Transaction:
    """A tx paying `value` to the toy script (input is a made-up outpoint)."""
    prev = hashlib.sha256(b"funding %d" % n).hexdigest()
    return Transaction(inputs=[TxInput(prev, 0)],
                       outputs=[TxOutput(value, TOY_SCRIPT), TxOutput(1000, MINER)])


def withdraw(txid: str, vout: int = 0) -> Transaction:
    return Transaction(inputs=[TxInput(txid, vout)], outputs=[TxOutput(5_000, MINER)])
