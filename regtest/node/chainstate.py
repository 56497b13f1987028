"""The test node's block index and active chain, behind one lock.

Keeps every block it accepted (side chains too), activates the most-work valid chain (ties:
the block seen first keeps the tip, as Core's sequence ids do), reorganises when a heavier
side chain arrives, and supports `invalidateblock`/`reconsiderblock` with Core's flag
semantics (invalidating marks descendants failed; reconsidering clears the block, its
descendants and its ancestors).

Validation is Core's structure and header rules only (see `validation`): scripts and UTXOs
are not checked, because the harness only submits consensus-valid blocks it built itself.

With `txindex`, every block connected to the active chain has its transactions recorded by
txid (Core's `-txindex`). As in Core, a block disconnected by a reorg leaves its entries in
place (TxIndex has no rewind): they point at the stale block until a later connected block
holding the same txid overwrites them.

Blocks loaded with `--blocks` are trusted as given: they are served at consecutive heights
whether or not they link to each other or meet their target (that is how single mainnet
blocks from the shared vectors are indexed).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from indexer.chain.block import Block, BlockHeader, parse_block, parse_header
from regtest.node.params import ChainParams
from regtest.node.validation import (
    ParentInfo,
    check_block,
    check_block_contextual,
    check_header_contextual,
    stripped_size,
)

MAX_TIP_AGE = 24 * 60 * 60  # Core's DEFAULT_MAX_TIP_AGE: older tips mean "still in IBD"


@dataclass(frozen=True)
class BlockStats:
    """Per-block figures getblock reports; computed once, on first request."""

    txids: list[str]
    stripped_size: int
    size: int
    weight: int


@dataclass(eq=False)
class BlockEntry:
    """One block index entry (Core's CBlockIndex)."""

    hash: str
    header: BlockHeader
    height: int
    parent: BlockEntry | None
    chainwork: int
    sequence: int
    raw: bytes | None  # None: header known, block data never stored
    n_tx: int
    median_time_past: int
    failed_valid: bool = False
    failed_child: bool = False
    children: list[BlockEntry] = field(default_factory=list)
    _stats: BlockStats | None = None

    @property
    def failed(self) -> bool:
        return self.failed_valid or self.failed_child

    def stats(self) -> BlockStats:
        if self._stats is None:
            assert self.raw is not None
            block = parse_block(self.raw)
            stripped = stripped_size(block)
            self._stats = BlockStats([tx.txid for tx in block.txs], stripped, len(block.raw),
                                     stripped * 3 + len(block.raw))
        return self._stats

    def descendants(self) -> list[BlockEntry]:
        out: list[BlockEntry] = []
        stack = list(self.children)
        while stack:
            e = stack.pop()
            out.append(e)
            stack.extend(e.children)
        return out

    def ancestors(self) -> list[BlockEntry]:
        out: list[BlockEntry] = []
        e = self.parent
        while e is not None:
            out.append(e)
            e = e.parent
        return out


def _median_time_past(header_time: int, parent: BlockEntry | None) -> int:
    """Median of this block's time and its 10 predecessors' (Core's GetMedianTimePast)."""
    times = [header_time]
    e = parent
    while e is not None and len(times) < 11:
        times.append(e.header.time)
        e = e.parent
    # NOTE: Core sorts and takes element [n/2]: for fewer than 11 blocks (even n) that is
    # the upper middle, not the mean of the two middles.
    return sorted(times)[len(times) // 2]


class Chainstate:
    """Block index plus active chain; every public method takes the one lock."""

    def __init__(self, params: ChainParams, blocks: list[bytes] | None = None,
                 start_height: int = 0, prune_below: int | None = None,
                 txindex: bool = False) -> None:
        if txindex and prune_below is not None:
            # init.cpp refuses the same combination at startup.
            raise ValueError("Prune mode is incompatible with -txindex.")
        self.params = params
        self.lock = threading.RLock()
        self.prune_below = prune_below
        #: txid -> the block that last connected it; None when the node runs without one.
        self.txindex: dict[str, BlockEntry] | None = {} if txindex else None
        self._index: dict[str, BlockEntry] = {}
        self._active: list[BlockEntry] = []
        self._sequence = 0
        self._finished_ibd = False
        if blocks is None:
            if start_height != 0:
                raise ValueError("--start-height needs --blocks (without them the chain "
                                 "starts at the genesis block, height 0)")
            self._load([params.genesis()], 0)
        else:
            if not blocks:
                raise ValueError("--blocks needs at least one block")
            raws = list(blocks)
            first = parse_header(raws[0])
            if start_height == 1 and first.prev_hash == params.genesis_hash:
                # The served blocks extend the real genesis: serve it too, as height 0.
                raws.insert(0, params.genesis())
                start_height = 0
            self._load(raws, start_height)

    # -- loading -----------------------------------------------------------------------------

    def _load(self, raws: list[bytes], start_height: int) -> None:
        parent: BlockEntry | None = None
        for i, raw in enumerate(raws):
            block = parse_block(raw)
            work = block.header.work()
            # NOTE: the real chainwork below a --blocks start is unknown; assume every earlier
            # block had this block's work, which keeps the order of magnitude right.
            chainwork = parent.chainwork + work if parent else work * (start_height + 1)
            entry = self._new_entry(block, start_height + i, parent, chainwork)
            entry.raw = block.raw
            if parent is not None:
                parent.children.append(entry)
            self._active.append(entry)
            self._index_txs(entry)
            parent = entry

    def _new_entry(self, block: Block, height: int, parent: BlockEntry | None,
                   chainwork: int) -> BlockEntry:
        self._sequence += 1
        entry = BlockEntry(block.hash, block.header, height, parent, chainwork, self._sequence,
                           None, len(block.txs), _median_time_past(block.time, parent))
        self._index[entry.hash] = entry
        return entry

    # -- queries -----------------------------------------------------------------------------

    @property
    def base_height(self) -> int:
        return self._active[0].height

    @property
    def tip(self) -> BlockEntry:
        return self._active[-1]

    @property
    def height(self) -> int:
        return self.tip.height

    def lookup(self, block_hash: str) -> BlockEntry | None:
        return self._index.get(block_hash.lower())

    def at_height(self, height: int) -> BlockEntry | None:
        i = height - self.base_height
        return self._active[i] if 0 <= i < len(self._active) else None

    def contains(self, entry: BlockEntry) -> bool:
        return self.at_height(entry.height) is entry

    def next_of(self, entry: BlockEntry) -> BlockEntry | None:
        return self.at_height(entry.height + 1) if self.contains(entry) else None

    def confirmations(self, entry: BlockEntry) -> int:
        return self.height - entry.height + 1 if self.contains(entry) else -1

    def is_pruned(self, entry: BlockEntry) -> bool:
        return self.prune_below is not None and entry.height < self.prune_below

    def size_on_disk(self) -> int:
        # Each block sits in blk*.dat behind 8 bytes of magic and length.
        return sum(len(e.raw) + 8 for e in self._index.values()
                   if e.raw is not None and not self.is_pruned(e))

    def initial_block_download(self) -> bool:
        """Core's IsInitialBlockDownload: latches to False once the tip is recent."""
        if not self._finished_ibd and self.tip.header.time >= time.time() - MAX_TIP_AGE:
            self._finished_ibd = True
        return not self._finished_ibd

    # -- submitblock -------------------------------------------------------------------------

    def submit(self, block: Block, now: int | None = None) -> str | None:
        """ProcessNewBlock as submitblock sees it: None when the block got connected,
        else Core's BIP22 string ("duplicate", "inconclusive" or the reject reason)."""
        now = int(time.time()) if now is None else now
        with self.lock:
            known = self._index.get(block.hash)
            if known is not None:
                if known.failed:
                    return "duplicate-invalid"
                if known.raw is not None:
                    return "duplicate"
            reason = check_block(block, self.params)
            if reason is not None:
                return reason
            parent = self._index.get(block.prev_hash)
            if parent is None:
                return "prev-blk-not-found"
            if parent.failed:
                return "bad-prevblk"
            info = ParentInfo(parent.height, parent.header.bits, parent.median_time_past)
            reason = check_header_contextual(block, info, self.params, now)
            if reason is not None:
                return reason
            entry = known or self._add_header(block, parent)
            failure = check_block_contextual(block, info, self.params)
            if failure is not None:
                reason, mutated = failure
                if not mutated:
                    entry.failed_valid = True
                return reason
            entry.raw = block.raw
            self._activate_best(self._candidates_from(entry))
            return None if self.contains(entry) else "inconclusive"

    def _add_header(self, block: Block, parent: BlockEntry) -> BlockEntry:
        entry = self._new_entry(block, parent.height + 1, parent,
                                parent.chainwork + block.header.work())
        parent.children.append(entry)
        return entry

    def _has_valid_chain(self, entry: BlockEntry) -> bool:
        """Data for it and every ancestor, none of them failed (Core's candidate rule)."""
        e: BlockEntry | None = entry
        while e is not None:
            if self.contains(e):
                return True
            if e.raw is None or e.failed:
                return False
            e = e.parent
        return True

    def _candidates_from(self, entry: BlockEntry) -> list[BlockEntry]:
        """`entry` and its descendants: the only blocks a new block can make activatable."""
        return [e for e in [entry, *entry.descendants()] if self._has_valid_chain(e)]

    def _activate_best(self, candidates: list[BlockEntry]) -> None:
        best = self.tip
        for c in candidates:
            if (c.chainwork, -c.sequence) > (best.chainwork, -best.sequence):
                best = c
        if best is not self.tip:
            self._set_tip(best)

    def _set_tip(self, new_tip: BlockEntry) -> None:
        path: list[BlockEntry] = []
        e: BlockEntry | None = new_tip
        while e is not None and not self.contains(e):
            path.append(e)
            e = e.parent
        if e is None:
            raise AssertionError(f"block {new_tip.hash} does not connect to the active chain")
        del self._active[e.height - self.base_height + 1:]
        self._active.extend(reversed(path))
        for connected in reversed(path):
            self._index_txs(connected)

    def _index_txs(self, entry: BlockEntry) -> None:
        """Record a newly connected block's txids in the txindex (when there is one)."""
        # NOTE: Core's TxIndex skips the genesis block: its coinbase output is unspendable.
        if self.txindex is None or entry.height == 0 or entry.raw is None:
            return
        for txid in entry.stats().txids:
            self.txindex[txid] = entry

    # -- invalidateblock / reconsiderblock ---------------------------------------------------

    def invalidate(self, block_hash: str) -> bool:
        """Core's InvalidateBlock; False when the hash is unknown."""
        with self.lock:
            entry = self.lookup(block_hash)
            if entry is None:
                return False
            if entry is self._active[0]:
                # NOTE: the first served block has nothing to fall back to; Core cannot
                # disconnect genesis either, so the tip stays (the flag is still recorded).
                entry.failed_valid = True
                return True
            entry.failed_valid = True
            for d in entry.descendants():
                d.failed_child = True
            if self.contains(entry):
                assert entry.parent is not None
                del self._active[entry.height - self.base_height:]
            self._activate_best(self._all_candidates())
            return True

    def reconsider(self, block_hash: str) -> bool:
        """Core's ResetBlockFailureFlags then ActivateBestChain; False when unknown."""
        with self.lock:
            entry = self.lookup(block_hash)
            if entry is None:
                return False
            for e in [entry, *entry.descendants(), *entry.ancestors()]:
                e.failed_valid = e.failed_child = False
            self._activate_best(self._all_candidates())
            return True

    def _all_candidates(self) -> list[BlockEntry]:
        return [e for e in self._index.values()
                if e.raw is not None and not e.failed and self._has_valid_chain(e)]
