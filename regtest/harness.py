"""The regtest harness: builds deterministic blocks and submits them to a node.

Works the same against a real `bitcoind -regtest` and the project's test node because it
only uses `submitblock`, `getbestblockhash`, `getblockchaininfo`, `getblockheader` and (when
asked) `invalidateblock`. Blocks are built here (coinbase to the wallet, fees claimed,
timestamps `genesis time + 600 * height`), so the same calls give the same block hashes on
any fresh node. Reorgs are competing branches, the portable way:

    fork ── a1 ── a2            rewind(2) then mine(3) submits b1, b2 ("inconclusive": a
        └── b1 ── b2 ── b3      side branch) and b3, which has more work: the node switches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from indexer.chain.block import parse_block
from regtest.build import (
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    Transaction,
    TxOutput,
    create_block,
    push_int,
)
from regtest.rpc import RpcClient
from regtest.txs import tx_from_bytes
from regtest.verify import UnsupportedScript, verify_tx
from regtest.wallet import Wallet

_logger = logging.getLogger(__name__)

BLOCK_INTERVAL = 600
#: submitblock answers that still mean "stored": a side-branch block is "inconclusive".
_ACCEPTED = (None, "inconclusive", "duplicate")


class BlockRejected(RuntimeError):
    """The node refused a block; `reason` is its answer (e.g. "bad-txns-inputs-missingorspent")."""

    def __init__(self, reason: str, height: int, block_hash: str) -> None:
        super().__init__(f"block {block_hash} at height {height} rejected: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class BuiltBlock:
    height: int
    hash: str
    prev_hash: str
    time: int
    raw: bytes


class Harness:
    """Drives one regtest node; `wallet` holds the coins the harness mines and spends."""

    def __init__(self, node_url: str, wallet: Wallet | None = None,
                 check_signatures: bool = True) -> None:
        self.rpc = RpcClient(node_url)
        self.check_signatures = check_signatures
        self.wallet = wallet if wallet is not None else Wallet()
        info = self.rpc.call("getblockchaininfo")
        if info["chain"] != "regtest":
            raise RuntimeError(f"the harness only drives regtest nodes, not {info['chain']}")
        base_hash = str(info["bestblockhash"])
        header = self.rpc.call("getblockheader", base_hash)
        self.base_height = int(info["blocks"])
        self.base = BuiltBlock(self.base_height, base_hash, "", int(header["time"]), b"")
        if base_hash != REGTEST_GENESIS_HASH:
            _logger.warning("node is not fresh (tip %d); block hashes will not be "
                            "reproducible", self.base_height)
        self.wallet.tip_height = self.base_height
        self._known: dict[str, BuiltBlock] = {}
        self._chain: list[BuiltBlock] = []  # active blocks above the base, in order
        self._outputs: dict[tuple[str, int], TxOutput] = {}
        self._branch = 0

    # --- views ------------------------------------------------------------------------
    def tip(self) -> tuple[int, str]:
        """(height, hash) of the harness's active tip (the node's, after each call)."""
        top = self._chain[-1] if self._chain else self.base
        return top.height, top.hash

    def block_hash(self, height: int) -> str:
        if height == self.base_height:
            return self.base.hash
        return self._chain[height - self.base_height - 1].hash

    def block_hashes(self) -> dict[int, str]:
        """Height to hash for every active block the harness built."""
        return {b.height: b.hash for b in self._chain}

    def node_tip(self) -> str:
        return str(self.rpc.call("getbestblockhash"))

    # --- building ---------------------------------------------------------------------
    def _block_time(self, height: int, prev: BuiltBlock) -> int:
        # NOTE: on a fresh node this is always genesis + 600*h (deterministic, above the
        # median time past); after someone else's wall-clock blocks it steps by one second.
        return max(REGTEST_GENESIS_TIME + BLOCK_INTERVAL * height, prev.time + 1)

    def _fees(self, txs: Sequence[Transaction]) -> int:
        """Fees of `txs` whose prevouts we know; others are left unclaimed (still valid).

        Also checks their signatures (see `regtest.verify`) unless told not to: a bad one
        fails here, with the input named, rather than as a terse reject from bitcoind.
        """
        fees = 0
        for tx in txs:
            ins = [self._outputs.get((i.prev_txid, i.prev_vout)) for i in tx.inputs]
            known = [o for o in ins if o is not None]
            if len(known) == len(ins):
                fees += sum(o.value for o in known) - sum(o.value for o in tx.outputs)
                if self.check_signatures:
                    self._check(tx, known)
            txid = tx.txid()
            for n, out in enumerate(tx.outputs):
                self._outputs[(txid, n)] = out
        return fees

    @staticmethod
    def _check(tx: Transaction, spent: list[TxOutput]) -> None:
        try:
            verify_tx(tx, spent)
        except UnsupportedScript as e:
            _logger.debug("signatures of %s not checked: %s", tx.txid(), e)

    def _build(self, txs: Sequence[Transaction]) -> BuiltBlock:
        prev = self._chain[-1] if self._chain else self.base
        height = prev.height + 1
        time = self._block_time(height, prev)
        extra = push_int(self._branch) if self._branch else b""
        raw = create_block(prev.hash, height, time, [t.serialize() for t in txs],
                           self.wallet.funding_script, fees=self._fees(txs),
                           coinbase_extra=extra)
        block = parse_block(raw)
        cb = block.txs[0]
        for n, out in enumerate(cb.outputs):
            self._outputs[(cb.txid, n)] = TxOutput(out.value, out.script_pubkey)
        return BuiltBlock(height, block.hash, prev.hash, time, raw)

    def _connect(self, built: BuiltBlock) -> None:
        self._known[built.hash] = built
        self._chain.append(built)
        self.wallet.connect_block(built.height, parse_block(built.raw))

    def _submit(self, built: BuiltBlock) -> None:
        result = self.rpc.call("submitblock", built.raw.hex())
        if result not in _ACCEPTED:
            raise BlockRejected(str(result), built.height, built.hash)

    def mine(self, n: int = 1, txs: Sequence[Transaction | bytes] = ()) -> list[str]:
        """Build and submit `n` blocks on the local tip, `txs` (in order) in the first one.

        Returns the new block hashes. Raises `BlockRejected` with the node's reason, or
        RuntimeError if the node's best block is not ours afterwards (a branch too short).
        """
        if n < 1:
            raise ValueError("mine at least one block")
        body = [t if isinstance(t, Transaction) else tx_from_bytes(t) for t in txs]
        hashes = []
        for i in range(n):
            built = self._build(body if i == 0 else [])
            self._submit(built)
            self._connect(built)
            hashes.append(built.hash)
        best = self.node_tip()
        if best != hashes[-1]:
            raise RuntimeError(f"node's best block is {best}, not our new tip {hashes[-1]} "
                               "(a competing branch needs more work than the active one)")
        _logger.debug("mined %d blocks to height %d", n, self.tip()[0])
        return hashes

    def rewind(self, depth: int) -> tuple[int, str]:
        """Drop `depth` blocks from the local view only; the next `mine` forks from there.

        The node keeps its tip until the new branch outweighs it. Returns the fork point.
        """
        if not 0 < depth <= len(self._chain):
            raise ValueError(f"can rewind 1..{len(self._chain)} blocks, not {depth}")
        self.wallet.drop_pending()
        for _ in range(depth):
            self.wallet.disconnect_block(self._chain.pop().height)
        # NOTE: a fresh branch number keeps replacement blocks distinct from the ones they
        # replace even when they carry the same transactions (same heights, same times).
        self._branch += 1
        return self.tip()

    def reorg(self, depth: int, replacement_txs: Sequence[Transaction | bytes] = (),
              blocks: int | None = None) -> list[str]:
        """Replace the top `depth` blocks by a heavier branch (`depth + 1` blocks by default)
        whose first block carries `replacement_txs`; returns the new branch's hashes."""
        self.rewind(depth)
        return self.mine(blocks if blocks is not None else depth + 1, replacement_txs)

    def invalidate(self, block_hash: str) -> None:
        """`invalidateblock` on the node, then follow whatever tip the node picks."""
        self.rpc.call("invalidateblock", block_hash)
        self.sync_to_node()

    def reconsider(self, block_hash: str) -> None:
        self.rpc.call("reconsiderblock", block_hash)
        self.sync_to_node()

    def sync_to_node(self) -> None:
        """Make the local active chain the node's, from blocks this harness built."""
        best = self.node_tip()
        path: list[BuiltBlock] = []
        active = {b.hash for b in self._chain} | {self.base.hash}
        h = best
        while h not in active:
            block = self._known.get(h)
            if block is None:
                raise RuntimeError(f"the node's tip {best} is on a branch the harness did "
                                   "not build")
            path.append(block)
            h = block.prev_hash
        self.wallet.drop_pending()
        while (self._chain[-1].hash if self._chain else self.base.hash) != h:
            self.wallet.disconnect_block(self._chain.pop().height)
        for block in reversed(path):
            self._connect(block)
        self._branch += 1

    def output(self, txid: str, vout: int) -> TxOutput | None:
        """An output of any block or transaction the harness has handled."""
        return self._outputs.get((txid, vout))

    def spent_outputs(self, tx: Transaction) -> list[TxOutput]:
        """The outputs `tx` spends, from blocks and txs the harness has seen (for checks)."""
        out = []
        for i in tx.inputs:
            prev = self._outputs.get((i.prev_txid, i.prev_vout))
            if prev is None:
                raise KeyError(f"unknown prevout {i.prev_txid}:{i.prev_vout}")
            out.append(prev)
        return out
