"""One sync step, shared by `backfill` and the daemon: reorg check → fetch → scan → commit.

The syncer keeps, per adapter, the set of its unspent outpoints and its key/value state in
memory (loaded from the database, updated as blocks are scanned, reloaded after a rollback
or a failed write), so that a block with nothing for an adapter costs one `bytes.find` per
needle and one set lookup per input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.base import Adapter, NewPosition, Position, ScanView
from indexer.chain.block import Block, OutPoint, ParseError, parse_block, txid_from_hex
from indexer.db.store import AdapterBlock, BlockWork, Spend, Store
from indexer.errors import BadBlockError, InvariantError

_logger = logging.getLogger(__name__)


class BlockSource(Protocol):
    """What the syncer needs from the node (see `indexer.chain.source.NodeSource`)."""

    def tip(self) -> tuple[int, str]: ...

    def block_hashes(self, heights: Sequence[int]) -> list[str]: ...

    def raw_blocks(self, hashes: Sequence[str]) -> list[bytes]: ...


@dataclass(frozen=True)
class Progress:
    """Reported after every committed batch."""

    height: int
    target: int
    blocks: int
    seconds: float


class Syncer:
    """Indexes heights for a set of adapters, each from its own cursor."""

    def __init__(self, source: BlockSource, store: Store, adapters: Sequence[Adapter],
                 chain: str, *, batch_blocks: int = 100) -> None:
        if not adapters:
            raise InvariantError("a syncer needs at least one adapter")
        self.source = source
        self.store = store
        self.adapters = list(adapters)
        self.chain = chain
        self.batch_blocks = batch_blocks
        self._tracked: dict[str, set[OutPoint]] = {}
        self._pending: dict[str, dict[OutPoint, Position]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self.reload()

    # ------------------------------------------------------------------ state
    def reload(self) -> None:
        """Reload in-memory adapter state from the database (after rollback or failure)."""
        for a in self.adapters:
            self._tracked[a.name] = self.store.tracked_outpoints(a.name)
            self._pending[a.name] = {}
            self._state[a.name] = self.store.load_state(a.name)

    def cursor(self, name: str) -> int | None:
        c = self.store.cursors().get(name)
        return None if c is None else c[0]

    def next_height(self, default_start: int | None = None) -> int:
        """The lowest height some adapter still needs."""
        cursors = self.store.cursors()
        nxt = []
        for a in self.adapters:
            c = cursors.get(a.name)
            if c is not None:
                nxt.append(c[0] + 1)
            else:
                nxt.append(a.start_height() if default_start is None else default_start)
        return min(nxt)

    # ------------------------------------------------------------------ reorgs
    def check_reorg(self) -> int | None:
        """Roll back to the fork if the node no longer has our indexed blocks.

        Returns the fork height (the last height both agree on) when a rollback happened.
        """
        top = self.store.highest_block()
        if top is None:
            return None
        tip_height, _ = self.source.tip()
        probe = min(top, tip_height)
        if probe == top and self._node_hash(top) == self.store.block_hash(top):
            return None
        fork = self._find_fork(probe)
        _logger.warning("reorg: the node's chain leaves ours above height %d (we had up to "
                        "%d); rolling back", fork, top)
        self.store.rollback_above(fork)
        self.reload()
        return fork

    def _node_hash(self, height: int) -> str:
        return self.source.block_hashes([height])[0]

    def _find_fork(self, start: int) -> int:
        """The highest height <= start where our block equals the node's (walks down)."""
        low_bound = self.store.lowest_block()
        high = start
        step = 16
        while low_bound is not None and high >= low_bound:
            low = max(low_bound, high - step + 1)
            ours = self.store.block_hashes(low, high)
            theirs = dict(zip(range(low, high + 1),
                              self.source.block_hashes(list(range(low, high + 1))),
                              strict=True))
            for h in range(high, low - 1, -1):
                if h in ours and ours[h] == theirs[h]:
                    return h
            high = low - 1
            step = min(step * 2, 1024)
        # NOTE: nothing we hold is on the node's chain: forget all of it.
        return (low_bound if low_bound is not None else 0) - 1

    # ------------------------------------------------------------------ indexing
    def sync(self, start: int, end: int, *, batch_blocks: int | None = None,
             should_stop: Callable[[], bool] = lambda: False,
             on_progress: Callable[[Progress], None] | None = None) -> int:
        """Index heights start..end (inclusive) in batches; returns the last committed.

        Each adapter is only fed heights above its cursor, so re-running a done range is a
        no-op. Stops between batches when `should_stop()` turns true.
        """
        size = batch_blocks or self.batch_blocks
        height = start
        done = start - 1
        t0 = time.monotonic()
        count = 0
        while height <= end and not should_stop():
            upto = min(end, height + size - 1)
            committed = self._sync_batch(height, upto)
            if committed < height:
                break  # the chain moved under us; the caller re-checks for a reorg
            count += committed - height + 1
            done = committed
            if on_progress is not None:
                on_progress(Progress(committed, end, count, time.monotonic() - t0))
            if committed < upto:
                break
            height = committed + 1
        return done

    def _sync_batch(self, low: int, high: int) -> int:
        cursors = {n: c[0] for n, c in self.store.cursors().items()}
        heights = list(range(low, high + 1))
        hashes = self.source.block_hashes(heights)
        raws = self.source.raw_blocks(hashes)
        prev = self.store.block_hash(low - 1)
        batch: list[BlockWork] = []
        try:
            for h, want, raw in zip(heights, hashes, raws, strict=True):
                block = self._parse(h, want, raw)
                if prev is not None and block.prev_hash != prev:
                    _logger.info("block %d does not extend %s: the chain moved", h, prev)
                    break
                batch.append(self._scan_block(h, block, cursors))
                prev = block.hash
            self.store.write(batch)
        except BaseException:
            self.reload()  # in-memory state may be ahead of what was committed
            raise
        for name in self._pending:
            self._pending[name].clear()
        return low - 1 + len(batch)

    def _parse(self, height: int, want: str, raw: bytes) -> Block:
        try:
            block = parse_block(raw)
        except ParseError as exc:
            raise BadBlockError(f"the node served a malformed block at height {height} "
                                f"({want}): {exc}") from None
        if block.hash != want:
            raise BadBlockError(f"the node served block {block.hash} for {want} at height "
                                f"{height}")
        return block

    def _scan_block(self, height: int, block: Block,
                    cursors: dict[str, int]) -> BlockWork:
        work = BlockWork(height, block.hash, block.prev_hash, block.time, {})
        for adapter in self.adapters:
            c = cursors.get(adapter.name)
            if c is not None and c >= height:
                continue
            if c is None and height < adapter.start_height():
                continue
            work.adapters[adapter.name] = self._scan_adapter(adapter, height, block)
        return work

    def _scan_adapter(self, adapter: Adapter, height: int, block: Block) -> AdapterBlock:
        name = adapter.name
        tracked = self._tracked[name]
        state = self._state[name]
        spends_tracked = bool(tracked) and any(
            i.prevout in tracked for tx in block.txs for i in tx.inputs)
        needles = adapter.needles(state)
        if needles and not spends_tracked and not any(n in block.raw for n in needles):
            return AdapterBlock()
        pending = self._pending[name]

        def load(txid: str, vout: int) -> Position | None:
            hit = pending.get((txid_from_hex(txid), vout))
            return hit if hit is not None else self.store.load_position(name, txid, vout)

        view = ScanView(chain=self.chain, height=height, block_hash=block.hash,
                        block_time=block.time, tracked=tracked, load_position=load,
                        state=state)
        adapter.scan(block, view)
        out = AdapterBlock(records=view.records)
        created: dict[int, list[NewPosition]] = {}
        for rec in view.records:
            if isinstance(rec, NewPosition) and rec.spent_by is None:
                created.setdefault(rec.tx_index, []).append(rec)
        for tx in block.txs:
            for txin in tx.inputs:
                if txin.prevout in tracked:
                    tracked.discard(txin.prevout)
                    pending.pop(txin.prevout, None)
                    out.spends.append(Spend(txin.prev_txid_hex, txin.prev_vout, tx.txid))
            for p in created.get(tx.index, ()):
                op = (txid_from_hex(p.txid), p.vout)
                tracked.add(op)
                pending[op] = Position(p.txid, p.vout, p.value_sat, height, p.status,
                                       p.locked, p.data)
        self._state[name] = view.current_state
        return out
