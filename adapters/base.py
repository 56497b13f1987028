"""The adapter interface: what a protocol plugs into the indexer.

An adapter is pure. For each block the core hands it a `Block` and a `ScanView`:
a read-only window on the adapter's own committed state (its unspent positions, its
key/value state) that also reflects the records the adapter emitted earlier in the same
block. The adapter emits frozen records through the view and touches neither the database
nor the node. The core then writes the records, marks spends of the adapter's positions
(every input of the block that spends one, found by outpoint) and moves the cursor, all in
one transaction per batch. Rollback is generic: every row carries the height that made it.

What the adapter is handed is cut to what it asked for (`Adapter.needles`): the block's
`txs` are only its candidate transactions, in block order with their real `index`: those
whose bytes overlap one of its needles, those spending one of its positions, and (found
after a first pass) those spending a position the block itself created or containing a
needle the block taught it (see `indexer.sync`). `block.raw` is still the whole block and
`block.partial` is true. An adapter that must see every transaction of every block sets
`scans_every_block`.

NOTE: records are emitted through the view rather than returned in one list so that a
transaction later in the block sees what an earlier one created (a stake unbonded in the
block it was made in), without every adapter rebuilding that overlay by hand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from indexer.chain.block import Block, InOpReturn, Needle, OutPoint, Tx, TxIn, txid_from_hex

__all__ = ["JSON", "Adapter", "AdapterError", "Event", "InOpReturn", "Needle", "NewPosition",
           "ParamsError", "Position", "PositionLoader", "Record", "Rejected", "ScanView",
           "StateUpdate"]

JSON = dict[str, Any]


class AdapterError(Exception):
    """A broken invariant inside an adapter: stops the step before anything is committed."""


class ParamsError(ValueError):
    """An adapter's params section is malformed; the message says which key and why."""


# ---------------------------------------------------------------- records an adapter emits


@dataclass(frozen=True, slots=True)
class NewPosition:
    """An output the protocol controls, created (or discovered) in this block.

    `locked` says whether it counts in `locked_sat`; `status` is the protocol's label
    (babylon `active`/`overflow`/`unbonding`, powpeg `credited`/`uncredited`, ...).
    `created_height` is set only for outputs discovered after the block that made them
    (Babylon phase-2 stakes seen when spent); `spent_by` marks such an output as spent in
    this very block by that txid. Such an output emitted with `data["amount_known"]` False
    gets its `value_sat` and `created_height` from the core when the node has a txindex
    (`indexer.sync`); the adapter itself never asks the node.
    """

    tx_index: int
    txid: str
    vout: int
    value_sat: int
    status: str
    locked: bool = True
    data: JSON = field(default_factory=dict)
    created_height: int | None = None
    spent_by: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a transaction (`kind` from the contract's list)."""

    tx_index: int
    txid: str
    kind: str
    amount_sat: int | None = None
    data: JSON = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A transaction that looked like the protocol but failed its rules, with the reason."""

    tx_index: int
    txid: str
    reason: str
    data: JSON = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """Sets the adapter's key/value state from this height on (rolled back with it)."""

    key: str
    value: Any  # JSON-serialisable


Record = NewPosition | Event | Rejected | StateUpdate


@dataclass(frozen=True, slots=True)
class Position:
    """A committed, still unspent position as the view shows it."""

    txid: str
    vout: int
    value_sat: int
    height: int
    status: str
    locked: bool
    data: JSON


# ---------------------------------------------------------------- the view


PositionLoader = Callable[[str, int], "Position | None"]


class ScanView:
    """Read-only committed state plus the records emitted so far in this block."""

    def __init__(self, *, chain: str, height: int, block_hash: str, block_time: int,
                 tracked: Iterable[OutPoint] | None = None,
                 load_position: PositionLoader | None = None,
                 state: Mapping[str, Any] | None = None) -> None:
        self.chain = chain
        self.height = height
        self.block_hash = block_hash
        self.block_time = block_time
        self._tracked = tracked if tracked is not None else frozenset()
        self._load = load_position
        self._state = dict(state or {})
        self._new: dict[OutPoint, NewPosition] = {}
        self._spent_here: set[OutPoint] = set()
        self.records: list[Record] = []

    # -- reads
    def position(self, txid: str, vout: int) -> Position | None:
        """The unspent position at this outpoint, committed or made earlier in this block."""
        return self._lookup((txid_from_hex(txid), vout), txid)

    def spent_position(self, txin: TxIn) -> Position | None:
        """The position this input spends, if it spends one of this adapter's."""
        return self._lookup(txin.prevout, None)

    def state(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    @property
    def current_state(self) -> dict[str, Any]:
        """The key/value state with this block's updates applied (read by the core)."""
        return self._state

    def _lookup(self, op: OutPoint, txid_hex: str | None) -> Position | None:
        if op in self._spent_here:
            return None
        new = self._new.get(op)
        if new is not None:
            return Position(new.txid, new.vout, new.value_sat, self.height, new.status,
                            new.locked, new.data)
        if op not in self._tracked or self._load is None:
            return None
        return self._load(txid_hex or op[0][::-1].hex(), op[1])

    # -- writes
    def emit(self, record: Record) -> None:
        self.records.append(record)
        if isinstance(record, NewPosition) and record.spent_by is None:
            self._new[(txid_from_hex(record.txid), record.vout)] = record
        elif isinstance(record, StateUpdate):
            self._state[record.key] = record.value

    def mark_spent(self, txin: TxIn) -> None:
        """Note that this block spends the outpoint; later lookups in the block miss it.

        Only for the adapter's own bookkeeping within a block: the core records the spend
        itself from the block's inputs.
        """
        self._spent_here.add(txin.prevout)


# ---------------------------------------------------------------- the adapter


class Adapter(ABC):
    """One protocol. Subclasses set `name`, build from params and implement `scan`."""

    name: ClassVar[str]

    #: Opt-in for a protocol that cannot say what its transactions contain: the adapter
    #: then gets every block, fully parsed (every transaction in `block.txs`). Costs a full
    #: parse of every block in every backfill; no built-in adapter needs it.
    scans_every_block: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_params(cls, chain: str, section: Mapping[str, Any] | None) -> Adapter:
        """Build for `chain` (main/test/testnet4/signet/regtest) from built-in defaults
        overridden by the params-file `section`; raise ParamsError on bad input."""

    @abstractmethod
    def start_height(self) -> int:
        """The first height worth scanning on this chain."""

    def needles(self, state: Mapping[str, Any]) -> Sequence[Needle]:
        """Byte strings, one of which every transaction the adapter must see contains.

        A transaction whose bytes hold none of them and that spends none of the adapter's
        positions is not handed to `scan`; a block with no such transaction is skipped.
        So the needles must cover every kind of transaction the protocol reacts to (tags,
        tracked scriptPubKeys, keys a spend reveals), in the adapter's current `state`.
        A tag that only ever sits in an OP_RETURN output is given as `InOpReturn(tag)`:
        it is then searched in the block's OP_RETURN scripts only (cheaper, and a short
        tag stops matching random bytes of signatures and hashes elsewhere).
        `()` means nothing to look for: the adapter only wakes for spends of its positions
        (an idle adapter). To see every block, set `scans_every_block` instead.
        """
        return ()

    @abstractmethod
    def scan(self, block: Block, view: ScanView) -> None:
        """Emit this block's records through `view`. Deterministic; no I/O."""

    def inspect(self, tx: Tx, chain: str) -> list[JSON]:
        """What this one transaction alone tells (for `inspect tx`): dicts with at least
        `protocol` and `kind`. Empty when nothing matches."""
        return []

    def locked_detail(self, positions: Sequence[Position]) -> JSON:
        """Extra fields for this protocol's `locked` line, from its locked positions."""
        return {}

    def locked_detail_at(self, positions: Sequence[Position], *, height: int,
                         median_time: int | None) -> JSON:
        """`locked_detail` for the line at `height`, whose median time past (what
        consensus compares time locks with) is `median_time`. Override it when the
        figures depend on "now" (expired time locks); the core calls this one."""
        return self.locked_detail(positions)
