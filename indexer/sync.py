"""One sync step, shared by `backfill` and the daemon: reorg check → fetch → scan → commit.

The syncer keeps, per adapter, the set of its unspent outpoints (`OutpointKeys`), its
key/value state and the needles that state implies in memory (loaded from the database,
updated as blocks are scanned, reloaded after a rollback or a failed write), so that a
block with nothing for an adapter costs one search per needle and one set probe per input.

Blocks reach the scan as `Candidate`s: the raw bytes (or, from the parallel pipeline, what
its workers already found in them) and the block's outline. A block with nothing of
interest costs one outline walk and merkle check (no `Tx` views) and the needle searches.

An adapter that is woken gets a *partial* block: `Tx` views of its candidate transactions
only (those overlapping one of its needles, those spending one of its positions), cut
from the raw bytes at the outline's offsets; a mainnet block holds ~5,000 transactions and
an adapter typically wants a handful. Two things can make a transaction matter that the
needles and tracked outpoints at the start of the block do not show: it spends a position
created earlier in the same block, or it holds a needle the adapter learned in this block
(a federation or peg script taught by a migration or sweep). After each scan the syncer
checks both against the outline and, when a transaction was left out, scans the block
again with it added (adapters are pure, so a scan can be thrown away; both cases are rare
in real blocks, so one precise check beats handing over every same-block spender of every
candidate up front). The result equals a scan of the whole block (`full_blocks=True`,
which the equivalence tests compare with).

An adapter may emit an output it only learned about when it was spent (a `NewPosition`
with `spent_by` set and `data["amount_known"] is False`: a spend does not state the amount
it spends). When the source can look outpoints up (`TxIndexSource`, a node with
`-txindex`), the syncer fills in the amount and creation height before writing, so
`locked --at-height` counts the output between its creation and its spend. Adapters stay
pure: this is the core's, for any adapter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from adapters.base import Adapter, NewPosition, Position, Record, ScanView, StateUpdate
from indexer.chain.block import (
    Block,
    BlockOutline,
    Needle,
    OutPoint,
    OutpointKeys,
    ParseError,
    Tx,
    outline_block,
    outpoint_key,
    parse_block,
    txid_from_hex,
)
from indexer.db.store import AdapterBlock, BlockWork, Spend, Store
from indexer.errors import BadBlockError, InvariantError

_logger = logging.getLogger(__name__)


class BlockSource(Protocol):
    """What the syncer needs from the node (see `indexer.chain.source.NodeSource`)."""

    def tip(self) -> tuple[int, str]: ...

    def block_hashes(self, heights: Sequence[int]) -> list[str]: ...

    def raw_blocks(self, hashes: Sequence[str]) -> list[bytes]: ...


@runtime_checkable
class TxIndexSource(Protocol):
    """An optional capability of a `BlockSource`: outpoint lookups by txid (`-txindex`)."""

    def has_txindex(self) -> bool: ...

    def outputs_and_heights(self, outpoints: Sequence[tuple[str, int]]
                            ) -> list[tuple[int, int] | None]:
        """(value_sat, height mined at) per outpoint; None where the node cannot tell."""
        ...


def needs_amount(rec: NewPosition) -> bool:
    """Whether an output was discovered on its spend with its amount unknown."""
    return rec.spent_by is not None and rec.data.get("amount_known") is False


class Candidate(Protocol):
    """A fetched block at a height, parsed only as far as the pre-filter needs."""

    @property
    def height(self) -> int: ...

    @property
    def hash(self) -> str: ...

    @property
    def prev_hash(self) -> str: ...

    @property
    def time(self) -> int: ...

    def txs_containing(self, needle: Needle) -> set[int]:
        """Indexes of the transactions holding `needle` where it counts."""
        ...

    def block(self) -> Block:
        """The fully parsed block (built once, on first use)."""
        ...

    def partial(self, indexes: Iterable[int]) -> Block:
        """A partial block of the transactions at `indexes` (views shared between calls)."""
        ...

    def raw_block(self) -> bytes:
        """The block's bytes (fetched again if the candidate did not keep them)."""
        ...

    def outline(self) -> BlockOutline:
        """The outline of exactly the bytes `raw_block` returns."""
        ...


#: Yields candidates for heights start..end in order; the caller may stop early (close).
BlockFeed = Callable[[int, int], Iterator[Candidate]]


def bad_block(height: int, want: str, exc: ParseError) -> BadBlockError:
    return BadBlockError(f"the node served a malformed block at height {height} ({want}): "
                         f"{exc}")


class OutlineHeader:
    """What every candidate answers from its outline: linkage and time."""

    __slots__ = ()
    _outline: BlockOutline

    @property
    def prev_hash(self) -> str:
        return self._outline.header.prev_hash

    @property
    def time(self) -> int:
        return self._outline.header.time


class RawCandidate(OutlineHeader):
    """A candidate over raw bytes: outline walk first, full parse only when asked."""

    __slots__ = ("_block", "_outline", "_txs", "height", "raw", "want")

    def __init__(self, height: int, want: str, raw: bytes) -> None:
        self.height = height
        self.want = want
        self.raw = raw
        self._block: Block | None = None
        self._txs: dict[int, Tx] = {}
        try:
            self._outline: BlockOutline = outline_block(raw)
        except ParseError as exc:
            raise bad_block(height, want, exc) from None
        got = self._outline.header.hash
        if got != want:
            raise BadBlockError(f"the node served block {got} for {want} at height {height}")
        check_merkle(height, want, self._outline, raw)

    @property
    def hash(self) -> str:
        return self.want

    def txs_containing(self, needle: Needle) -> set[int]:
        return self._outline.txs_containing(self.raw, needle)

    def block(self) -> Block:
        if self._block is None:
            try:
                self._block = parse_block(self.raw)
            except ParseError as exc:
                raise bad_block(self.height, self.want, exc) from None
        return self._block

    def partial(self, indexes: Iterable[int]) -> Block:
        return partial_block(self, self._outline, self.raw, indexes, self._txs)

    def raw_block(self) -> bytes:
        return self.raw

    def outline(self) -> BlockOutline:
        return self._outline


def check_merkle(height: int, want: str, outline: BlockOutline, raw: bytes) -> None:
    """Refuse a block whose transactions do not hash to its header's merkle root.

    NOTE: the block hash covers only the header; without this, transaction bytes damaged
    on the node's disk or in transit (same length, still parseable) would be indexed.
    """
    root = outline.merkle_root(raw)
    if root != outline.header.merkle_root:
        raise BadBlockError(f"the node served block {want} at height {height} whose "
                            f"transactions do not match its merkle root ({root} != "
                            f"{outline.header.merkle_root})")


def partial_block(cand: Candidate, outline: BlockOutline, raw: bytes, indexes: Iterable[int],
                  cache: dict[int, Tx]) -> Block:
    """`outline.partial_block`, reporting bytes the outline accepted but a transaction's
    parse does not (cannot happen for bytes `outline_block` accepted) as a bad block."""
    try:
        return outline.partial_block(raw, indexes, cache)
    except ParseError as exc:
        raise bad_block(cand.height, cand.hash, exc) from None


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
                 chain: str, *, batch_blocks: int = 100, full_blocks: bool = False) -> None:
        """`full_blocks` hands every adapter every block, fully parsed, as if each set
        `scans_every_block`: the slow reference the candidate-only scan must equal (tests
        compare the two)."""
        if not adapters:
            raise InvariantError("a syncer needs at least one adapter")
        self.source = source
        self.store = store
        self.adapters = list(adapters)
        self.chain = chain
        self.batch_blocks = batch_blocks
        self.full_blocks = full_blocks
        self._tracked: dict[str, set[OutPoint]] = {}
        # The same outpoints in wire form, for the outline's one-lookup-per-input check.
        self._keys: dict[str, OutpointKeys] = {}
        self._pending: dict[str, dict[OutPoint, Position]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        # Each adapter's needles in its current state: asked again only when a block
        # changed that state (some build them from it, e.g. Powpeg's federation book).
        self._needles: dict[str, tuple[Needle, ...]] = {}
        self.reload()

    # ------------------------------------------------------------------ state
    def reload(self) -> None:
        """Reload in-memory adapter state from the database (after rollback or failure)."""
        for a in self.adapters:
            self._tracked[a.name] = self.store.tracked_outpoints(a.name)
            self._keys[a.name] = OutpointKeys(outpoint_key(op) for op in self._tracked[a.name])
            self._pending[a.name] = {}
            self._state[a.name] = self.store.load_state(a.name)
        self._needles.clear()

    def _adapter_needles(self, adapter: Adapter) -> tuple[Needle, ...]:
        got = self._needles.get(adapter.name)
        if got is None:
            got = self._needles[adapter.name] = tuple(
                adapter.needles(self._state[adapter.name]))
        return got

    def needles(self) -> tuple[frozenset[Needle], bool]:
        """Every adapter's needles in its current state, and whether every block must be
        scanned whole (an adapter sets `scans_every_block`, or `full_blocks`): what the
        pipeline's workers look for. An adapter with no needles adds nothing: it only
        wakes for spends of its positions, which the outline shows."""
        out: set[Needle] = set()
        every = self.full_blocks
        for a in self.adapters:
            every = every or a.scans_every_block
            out.update(self._adapter_needles(a))
        return frozenset(out), every

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
             on_progress: Callable[[Progress], None] | None = None,
             feed: BlockFeed | None = None) -> int:
        """Index heights start..end (inclusive) in batches; returns the last committed.

        Each adapter is only fed heights above its cursor, so re-running a done range is a
        no-op. Stops between batches when `should_stop()` turns true. `feed` supplies the
        blocks (the parallel pipeline); without it each batch is fetched here, in one
        batched request.
        """
        size = batch_blocks or self.batch_blocks
        height = start
        done = start - 1
        t0 = time.monotonic()
        count = 0
        stream = feed(start, end) if feed is not None and start <= end else None
        try:
            while height <= end and not should_stop():
                upto = min(end, height + size - 1)
                if stream is None:
                    committed = self._sync_batch(height, upto)
                else:
                    committed = self._commit_batch(height, _take(stream, upto - height + 1))
                if committed < height:
                    break  # the chain moved under us; the caller re-checks for a reorg
                count += committed - height + 1
                done = committed
                if on_progress is not None:
                    on_progress(Progress(committed, end, count, time.monotonic() - t0))
                if committed < upto:
                    break
                height = committed + 1
        finally:
            if stream is not None:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        return done

    def _sync_batch(self, low: int, high: int) -> int:
        heights = list(range(low, high + 1))
        hashes = self.source.block_hashes(heights)
        raws = self.source.raw_blocks(hashes)
        return self._commit_batch(low, (RawCandidate(h, want, raw) for h, want, raw
                                        in zip(heights, hashes, raws, strict=True)))

    def _commit_batch(self, low: int, candidates: Iterable[Candidate]) -> int:
        """Scan consecutive candidates from `low` and commit them; stops at the first that
        does not extend the one before. Returns the last committed height."""
        cursors = {n: c[0] for n, c in self.store.cursors().items()}
        prev = self.store.block_hash(low - 1)
        batch: list[BlockWork] = []
        try:
            for cand in candidates:
                if prev is not None and cand.prev_hash != prev:
                    _logger.info("block %d does not extend %s: the chain moved",
                                 cand.height, prev)
                    break
                batch.append(self._scan_block(cand.height, cand, cursors))
                prev = cand.hash
            self.store.write(batch)
        except BaseException:
            self.reload()  # in-memory state may be ahead of what was committed
            raise
        for name in self._pending:
            self._pending[name].clear()
        return low - 1 + len(batch)

    def _scan_block(self, height: int, block: Candidate,
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

    def _scan_adapter(self, adapter: Adapter, height: int, cand: Candidate) -> AdapterBlock:
        name = adapter.name
        tracked = self._tracked[name]
        keys = self._keys[name]
        state = self._state[name]
        whole = self.full_blocks or adapter.scans_every_block
        needles = self._adapter_needles(adapter)
        picked: set[int] = set()
        if not whole:
            if keys:
                picked = cand.outline().txs_spending(keys)
            for n in needles:
                picked |= cand.txs_containing(n)
            if not picked:
                return AdapterBlock()
        pending = self._pending[name]

        def load(txid: str, vout: int) -> Position | None:
            hit = pending.get((txid_from_hex(txid), vout))
            return hit if hit is not None else self.store.load_position(name, txid, vout)

        while True:
            block = cand.block() if whole else cand.partial(picked)
            view = ScanView(chain=self.chain, height=height, block_hash=cand.hash,
                            block_time=cand.time, tracked=tracked, load_position=load,
                            state=state)
            adapter.scan(block, view)
            if whole:
                break
            missed = _missed(adapter, cand, view, needles) - picked
            if not missed:
                break
            # NOTE: rare (a same-block spend of a new position, a needle learned in this
            # block); scanning again from the start keeps tx order and the adapter pure.
            picked |= missed
        self._fill_amounts(view.records, height)
        out = AdapterBlock(records=view.records)
        created: dict[int, list[NewPosition]] = {}
        for rec in view.records:
            if isinstance(rec, NewPosition) and rec.spent_by is None:
                created.setdefault(rec.tx_index, []).append(rec)
        # Every tx spending a tracked outpoint, or a position created earlier in this
        # block, is in `block.txs` (picked from the outline, then by `_missed`), so walking
        # the candidates in block order sees every spend a walk of the whole block would.
        for tx in block.txs:
            for txin in tx.inputs:
                if txin.prevout in tracked:
                    tracked.discard(txin.prevout)
                    keys.discard(outpoint_key(txin.prevout))
                    pending.pop(txin.prevout, None)
                    out.spends.append(Spend(txin.prev_txid_hex, txin.prev_vout, tx.txid))
            for p in created.get(tx.index, ()):
                op = (txid_from_hex(p.txid), p.vout)
                tracked.add(op)
                keys.add(outpoint_key(op))
                pending[op] = Position(p.txid, p.vout, p.value_sat, height, p.status,
                                       p.locked, p.data)
        self._state[name] = view.current_state
        if _updates_state(view):
            self._needles.pop(name, None)
        return out

    def _fill_amounts(self, records: list[Record], height: int) -> None:
        """Give outputs discovered on their spend their amount and creation height from
        the node's txindex (in place); without one they stay as the adapter made them."""
        todo = [(i, r) for i, r in enumerate(records)
                if isinstance(r, NewPosition) and needs_amount(r)]
        source = self.source
        if not todo or not isinstance(source, TxIndexSource) or not source.has_txindex():
            return
        found = source.outputs_and_heights([(r.txid, r.vout) for _, r in todo])
        for (i, rec), hit in zip(todo, found, strict=True):
            if hit is None:
                continue
            value, created = hit
            if created > height:
                # The output is spent in this block, so it was made in this one or before;
                # an index saying otherwise is stale or wrong: keep the amount unknown.
                _logger.warning("txindex places %s:%d at height %d, above its spend at %d: "
                                "left unknown", rec.txid, rec.vout, created, height)
                continue
            records[i] = replace(rec, value_sat=value, created_height=created,
                                 data={**rec.data, "amount_known": True,
                                       "amount_source": "txindex"})


def _missed(adapter: Adapter, cand: Candidate, view: ScanView,
            needles: Sequence[Needle]) -> set[int]:
    """Transactions a scan of the whole block would have handed the adapter that the
    start-of-block needles and tracked outpoints did not pick: spends of positions created
    in this block, and holders of needles the block's own state updates added."""
    outline = cand.outline()
    created = {outpoint_key((txid_from_hex(r.txid), r.vout)) for r in view.records
               if isinstance(r, NewPosition) and r.spent_by is None}
    out = outline.txs_spending(created)
    if _updates_state(view):
        for n in set(adapter.needles(view.current_state)).difference(needles):
            out |= cand.txs_containing(n)
    return out


def _updates_state(view: ScanView) -> bool:
    return any(isinstance(r, StateUpdate) for r in view.records)


def _take(stream: Iterator[Candidate], n: int) -> Iterator[Candidate]:
    """Up to `n` candidates from `stream`, pulled one at a time (so a batch that stops
    early leaves the rest unread)."""
    for _ in range(n):
        try:
            yield next(stream)
        except StopIteration:
            return
