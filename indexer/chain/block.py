"""Lean parser for raw Bitcoin blocks and transactions.

Owns the one conversion from wire bytes to typed views. It walks each transaction once to
find inputs, outputs and where the witness starts; txids, wtxids and witness items are only
computed when someone asks (most transactions of most blocks are never looked at).
Malformed bytes raise `ParseError` naming the offset, never anything else.
"""

from __future__ import annotations

import hashlib
import os
import struct
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

__all__ = [
    "Block",
    "BlockHeader",
    "BlockOutline",
    "InOpReturn",
    "Needle",
    "OutPoint",
    "OutpointKeys",
    "ParseError",
    "Tx",
    "TxIn",
    "TxOut",
    "compiled_walk",
    "hash256",
    "merkle_root",
    "native_walk",
    "outline_block",
    "outpoint_key",
    "parse_block",
    "parse_header",
    "parse_tx",
    "txid_from_hex",
    "txid_to_hex",
]

#: (txid in internal byte order, output index): the key the hot path uses for outpoints.
OutPoint = tuple[bytes, int]

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<i32s32sIII")

# Smallest possible serialisations, used to bound counts before allocating anything.
_MIN_TXIN = 41  # 32 prev hash + 4 index + 1 script length + 4 sequence
_MIN_TXOUT = 9  # 8 value + 1 script length
_MIN_TX = 10  # version, 1 input count, 1 output count, locktime (degenerate but bounded)
MAX_MONEY = 21_000_000 * 100_000_000


class ParseError(ValueError):
    """Bytes that are not a valid serialisation; `offset` is where parsing failed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.reason = message
        self.offset = offset


def _load_native() -> ModuleType | None:
    """The compiled walk (`_outline.c`), built at install time where a C compiler is;
    None without it, or when `LOCKEDBTC_PURE_PYTHON` is set (tests and benchmarks)."""
    if os.environ.get("LOCKEDBTC_PURE_PYTHON"):
        return None
    try:
        from indexer.chain import _outline
    except ImportError:
        return None
    return _outline


_native = _load_native()


def compiled_walk() -> bool:
    """Whether the compiled walk runs here (else the pure-Python one)."""
    return _native is not None


def native_walk() -> str:
    """Which block walk runs here, for logs and reports."""
    if _native is None:
        return "pure Python"
    return f"compiled (SHA-256: {_native.sha256_impl()})"


def hash256(data: bytes) -> bytes:
    """Double SHA-256, as Bitcoin hashes headers and transactions."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def txid_to_hex(internal: bytes) -> str:
    """Internal byte order to the display (RPC) hex form."""
    return internal[::-1].hex()


def txid_from_hex(display: str) -> bytes:
    """Display (RPC) hex to internal byte order; raises ValueError on bad hex."""
    raw = bytes.fromhex(display)
    if len(raw) != 32:
        raise ValueError(f"a txid or block hash is 32 bytes, got {len(raw)}")
    return raw[::-1]


class _Reader:
    """A cursor over a buffer; every read checks bounds and reports the offset."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.end:
            raise ParseError(f"truncated {what}: need {n} bytes, {self.end - self.pos} left",
                             self.pos)

    def u8(self, what: str) -> int:
        self.need(1, what)
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def compact_size(self, what: str) -> int:
        start = self.pos
        first = self.u8(what)
        if first < 0xFD:
            return first
        if first == 0xFD:
            self.need(2, what)
            v = int.from_bytes(self.buf[self.pos:self.pos + 2], "little")
            self.pos += 2
            minimum = 0xFD
        elif first == 0xFE:
            self.need(4, what)
            v = int.from_bytes(self.buf[self.pos:self.pos + 4], "little")
            self.pos += 4
            minimum = 0x10000
        else:
            self.need(8, what)
            v = int.from_bytes(self.buf[self.pos:self.pos + 8], "little")
            self.pos += 8
            minimum = 0x100000000
        # NOTE: Bitcoin Core rejects non-minimal sizes ("non-canonical ReadCompactSize()").
        if v < minimum:
            raise ParseError(f"non-canonical compact size for {what}", start)
        return v

    def count(self, what: str, min_item_size: int) -> int:
        """A compact-size item count, bounded by what the rest of the buffer could hold."""
        start = self.pos
        n = self.compact_size(what)
        if n * min_item_size > self.end - self.pos:
            raise ParseError(f"{what} {n} exceeds the remaining {self.end - self.pos} bytes",
                             start)
        return n

    def var_bytes(self, what: str) -> bytes:
        n = self.compact_size(what)
        self.need(n, what)
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)

    def skip_var(self, what: str) -> None:
        n = self.compact_size(what)
        self.need(n, what)
        self.pos += n


@dataclass(frozen=True, slots=True)
class TxIn:
    """One input: the outpoint it spends, its scriptSig and sequence."""

    prev_txid: bytes  # internal byte order
    prev_vout: int
    script_sig: bytes
    sequence: int

    @property
    def prevout(self) -> OutPoint:
        return (self.prev_txid, self.prev_vout)

    @property
    def prev_txid_hex(self) -> str:
        return txid_to_hex(self.prev_txid)


@dataclass(frozen=True, slots=True)
class TxOut:
    """One output: value in satoshis and the locking script."""

    value: int
    script_pubkey: bytes


class Tx:
    """A transaction view over its serialisation; hashes and witness are computed on demand."""

    __slots__ = (
        "_buf",
        "_end",
        "_start",
        "_txid",
        "_wit_end",
        "_wit_start",
        "_witness",
        "_wtxid",
        "index",
        "inputs",
        "locktime",
        "outputs",
        "version",
    )

    def __init__(self, buf: bytes, start: int, end: int, wit_start: int, wit_end: int,
                 version: int, locktime: int, inputs: list[TxIn], outputs: list[TxOut],
                 index: int) -> None:
        self._buf = buf
        self._start = start
        self._end = end
        self._wit_start = wit_start  # == wit_end when the tx has no witness
        self._wit_end = wit_end
        self._txid: bytes | None = None
        self._wtxid: bytes | None = None
        self._witness: list[list[bytes]] | None = None
        self.index = index
        self.version = version
        self.locktime = locktime
        self.inputs = inputs
        self.outputs = outputs

    @property
    def has_witness(self) -> bool:
        return self._wit_end > self._wit_start

    @property
    def start(self) -> int:
        """Offset of the first byte of this transaction in its block's (or own) buffer."""
        return self._start

    @property
    def end(self) -> int:
        """Offset just past this transaction's last byte in the same buffer."""
        return self._end

    @property
    def raw(self) -> bytes:
        """The full serialisation (with witness when there is one)."""
        return bytes(self._buf[self._start:self._end])

    def stripped(self) -> bytes:
        """The serialisation without marker, flag and witness: what the txid hashes."""
        if not self.has_witness:
            return self.raw
        b, s = self._buf, self._start
        return b[s:s + 4] + b[s + 6:self._wit_start] + b[self._wit_end:self._end]

    @property
    def txid_bytes(self) -> bytes:
        if self._txid is None:
            self._txid = hash256(self.stripped())
        return self._txid

    @property
    def txid(self) -> str:
        """Display-order hex, as RPC and explorers show it."""
        return txid_to_hex(self.txid_bytes)

    @property
    def wtxid(self) -> str:
        if self._wtxid is None:
            self._wtxid = hash256(self.raw) if self.has_witness else self.txid_bytes
        return txid_to_hex(self._wtxid)

    @property
    def wtxid_bytes(self) -> bytes:
        self.wtxid  # noqa: B018  (fills the cache)
        assert self._wtxid is not None
        return self._wtxid

    @property
    def witnesses(self) -> list[list[bytes]]:
        """Witness stacks, one per input (empty lists when the tx has no witness)."""
        if self._witness is None:
            if not self.has_witness:
                self._witness = [[] for _ in self.inputs]
            else:
                r = _Reader(self._buf, self._wit_start, self._wit_end)
                stacks = []
                for _ in self.inputs:
                    n = r.count("witness item count", 1)
                    stacks.append([r.var_bytes("witness item") for _ in range(n)])
                self._witness = stacks
        return self._witness

    def witness(self, i: int) -> list[bytes]:
        return self.witnesses[i]

    def holds(self, needle: bytes) -> bool:
        """Whether this transaction's bytes contain `needle`, searched in place (no copy
        of the transaction, unlike `needle in tx.raw`)."""
        return self._buf.find(needle, self._start, self._end) >= 0

    @property
    def is_coinbase(self) -> bool:
        return (len(self.inputs) == 1 and self.inputs[0].prev_vout == 0xFFFFFFFF
                and self.inputs[0].prev_txid == b"\x00" * 32)

    @property
    def size(self) -> int:
        return self._end - self._start

    @property
    def vsize(self) -> int:
        base = len(self.stripped())
        return (base * 3 + self.size + 3) // 4

    def __repr__(self) -> str:
        return f"Tx({self.txid}, in={len(self.inputs)}, out={len(self.outputs)})"


def _parse_tx_at(buf: bytes, r: _Reader, index: int) -> Tx:
    start = r.pos
    r.need(4, "tx version")
    (version,) = _I32.unpack_from(buf, r.pos)
    r.pos += 4
    segwit = False
    if r.pos + 1 < r.end and buf[r.pos] == 0 and buf[r.pos + 1] != 0:
        if buf[r.pos + 1] != 1:
            raise ParseError("unknown transaction optional data (segwit flag must be 1)",
                             r.pos + 1)
        segwit = True
        r.pos += 2
    n_in = r.count("input count", _MIN_TXIN)
    if n_in == 0 and not segwit:
        # NOTE: an empty vin without the marker is how the extended format is detected;
        # for a block member it means garbage, Core rejects such a tx too.
        raise ParseError("transaction has no inputs", r.pos - 1)
    inputs: list[TxIn] = []
    for _ in range(n_in):
        r.need(36, "outpoint")
        prev = buf[r.pos:r.pos + 32]
        (vout,) = _U32.unpack_from(buf, r.pos + 32)
        r.pos += 36
        script_sig = r.var_bytes("scriptSig")
        seq = r.u32("sequence")
        inputs.append(TxIn(bytes(prev), int(vout), script_sig, seq))
    n_out = r.count("output count", _MIN_TXOUT)
    outputs: list[TxOut] = []
    for _ in range(n_out):
        r.need(8, "output value")
        (value,) = _U64.unpack_from(buf, r.pos)
        if value > MAX_MONEY:
            raise ParseError(f"output value {value} exceeds the 21M BTC supply", r.pos)
        r.pos += 8
        outputs.append(TxOut(int(value), r.var_bytes("scriptPubKey")))
    wit_start = wit_end = r.pos
    if segwit:
        any_item = False
        for _ in range(n_in):
            n = r.count("witness item count", 1)
            any_item = any_item or n > 0
            for _ in range(n):
                r.skip_var("witness item")
        wit_end = r.pos
        if not any_item:
            raise ParseError("superfluous witness record (all witness stacks are empty)",
                             wit_start)
    locktime = r.u32("locktime")
    return Tx(buf, start, r.pos, wit_start, wit_end, version, locktime, inputs, outputs, index)


def parse_tx(raw: bytes) -> Tx:
    """Parse one serialised transaction; the whole buffer must be consumed."""
    buf = bytes(raw)
    r = _Reader(buf)
    tx = _parse_tx_at(buf, r, 0)
    if r.pos != len(buf):
        raise ParseError(f"{len(buf) - r.pos} trailing bytes after the transaction", r.pos)
    return tx


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The 80-byte header, with hashes in display hex."""

    raw: bytes
    version: int
    prev_hash: str
    merkle_root: str
    time: int
    bits: int
    nonce: int

    @property
    def hash(self) -> str:
        return txid_to_hex(hash256(self.raw))

    def target(self) -> int:
        """The proof-of-work target the compact `bits` encode."""
        exponent = self.bits >> 24
        mantissa = self.bits & 0x007FFFFF
        if exponent <= 3:
            return mantissa >> (8 * (3 - exponent))
        return mantissa << (8 * (exponent - 3))

    def work(self) -> int:
        """Expected hashes to find a block at this target (Core's GetBlockProof)."""
        t = self.target()
        return (1 << 256) // (t + 1) if t > 0 else 0

    def check_pow(self) -> bool:
        t = self.target()
        return t > 0 and int.from_bytes(hash256(self.raw), "little") <= t


def parse_header(raw: bytes) -> BlockHeader:
    if len(raw) < 80:
        raise ParseError(f"truncated block header: {len(raw)} of 80 bytes", len(raw))
    version, prev, merkle, time_, bits, nonce = _HEADER.unpack_from(raw, 0)
    return BlockHeader(bytes(raw[:80]), version, txid_to_hex(prev), txid_to_hex(merkle),
                       time_, bits, nonce)


class Block:
    """A parsed block: header plus transaction views sharing the block's buffer.

    A `partial` block (what the syncer hands an adapter) holds only some of the block's
    transactions in `txs`, in block order, each with its real `index`; `raw` is still the
    whole block, so byte offsets (`Tx.start`, `Tx.end`) keep their meaning. Whole-block
    checks (merkle root, witness commitment, BIP34 height) need a full block.
    """

    __slots__ = ("_hash", "header", "partial", "raw", "txs")

    def __init__(self, header: BlockHeader, raw: bytes, txs: list[Tx], *,
                 partial: bool = False) -> None:
        self.header = header
        self.raw = raw
        self.txs = txs
        self.partial = partial
        self._hash: str | None = None

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = self.header.hash
        return self._hash

    @property
    def prev_hash(self) -> str:
        return self.header.prev_hash

    @property
    def time(self) -> int:
        return self.header.time

    def __iter__(self) -> Iterator[Tx]:
        return iter(self.txs)

    def __len__(self) -> int:
        return len(self.txs)

    def _need_full(self, what: str) -> None:
        # NOTE: a silent wrong answer from a partial block would look like a bad block.
        if self.partial:
            raise ValueError(f"{what} needs every transaction; this block is partial")

    def compute_merkle_root(self) -> str:
        self._need_full("the merkle root")
        return txid_to_hex(merkle_root([tx.txid_bytes for tx in self.txs]))

    def bip34_height(self) -> int | None:
        """The height the coinbase scriptSig starts with (BIP34), or None if it has none."""
        self._need_full("the BIP34 height")
        if not self.txs or not self.txs[0].is_coinbase:
            return None
        sig = self.txs[0].inputs[0].script_sig
        if not sig:
            return None
        op = sig[0]
        if op == 0x00:
            return 0
        if 0x51 <= op <= 0x60:
            return op - 0x50
        if 1 <= op <= 8 and len(sig) > op:
            return int.from_bytes(sig[1:1 + op], "little", signed=True)
        return None

    def witness_commitment(self) -> bytes | None:
        """The BIP141 commitment in the coinbase (last matching output), if any."""
        self._need_full("the witness commitment")
        if not self.txs:
            return None
        found: bytes | None = None
        for out in self.txs[0].outputs:
            s = out.script_pubkey
            if len(s) >= 38 and s[:6] == b"\x6a\x24\xaa\x21\xa9\xed":
                found = s[6:38]
        return found

    def compute_witness_commitment(self) -> bytes | None:
        """hash256(witness merkle root || reserved value) per BIP141, or None without one."""
        self._need_full("the witness commitment")
        if not self.txs or not self.txs[0].witnesses or not self.txs[0].witnesses[0]:
            return None
        reserved = self.txs[0].witnesses[0][0]
        leaves = [b"\x00" * 32] + [tx.wtxid_bytes for tx in self.txs[1:]]
        return hash256(merkle_root(leaves) + reserved)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Bitcoin's merkle root (odd levels duplicate their last hash), internal byte order."""
    if not leaves:
        return b"\x00" * 32
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hash256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def parse_block(raw: bytes) -> Block:
    """Parse a serialised block; the whole buffer must be consumed."""
    buf = bytes(raw)
    header = parse_header(buf)
    r = _Reader(buf, 80)
    n = r.count("transaction count", _MIN_TX)
    if n == 0:
        raise ParseError("block has no transactions", 80)
    txs = [_parse_tx_at(buf, r, i) for i in range(n)]
    if r.pos != len(buf):
        raise ParseError(f"{len(buf) - r.pos} trailing bytes after the last transaction", r.pos)
    return Block(header, buf, txs)


# ---------------------------------------------------------------------------- the cheap walk


@dataclass(frozen=True, slots=True)
class InOpReturn:
    """A needle that only counts inside an output script starting with OP_RETURN.

    Protocol tags live in OP_RETURN outputs; searched there, a short tag (a 2-byte Stacks
    magic) stops matching random signature bytes (about 25 times in every mainnet block,
    which would make every block a candidate), and the search covers a few kilobytes of
    OP_RETURN scripts instead of the whole block.
    """

    data: bytes


#: What an adapter looks for: bytes anywhere in the block, or bytes inside an OP_RETURN.
Needle = bytes | InOpReturn


@dataclass(frozen=True, slots=True)
class BlockOutline:
    """What the pre-filter needs from a block without building any `Tx`: the header, the
    transaction count, every input's outpoint, where each transaction starts and where
    the OP_RETURN outputs are.

    `spent` is the 36-byte serialised outpoints (txid in internal order, then the output
    index as 4 little-endian bytes) of every input, coinbase included, concatenated in
    block order: exactly the bytes `outpoint_key` makes, so a tracked-spend check is one
    slice and one set lookup per input.

    `tx_starts` holds `tx_count + 1` byte offsets into the block: transaction `i` is
    `raw[tx_starts[i]:tx_starts[i + 1]]`. `in_starts` holds `tx_count + 1` input counts:
    the inputs of transaction `i` are entries `in_starts[i]` up to `in_starts[i + 1]` of
    `spent`. Together they let the syncer build views of a few transactions only.
    `op_returns` holds (start, end) offset pairs, flattened, of every output script that
    starts with OP_RETURN. `root` is the transactions' merkle root (internal byte order)
    when the walk computed it (the compiled walk always does).
    """

    header: BlockHeader
    tx_count: int
    spent: bytes
    tx_starts: array[int]
    in_starts: array[int]
    #: per transaction, where its witness section starts (its locktime when it has none)
    wit_starts: array[int]
    op_returns: array[int]
    root: bytes | None = None

    def merkle_root(self, raw: bytes) -> str:
        """The merkle root of the transactions in `raw` (display hex), from the outline's
        offsets: one double SHA-256 per transaction, no views built."""
        if self.root is not None:
            return txid_to_hex(self.root)
        ts, ws = self.tx_starts, self.wit_starts
        ids = []
        for i in range(self.tx_count):
            s, e = ts[i], ts[i + 1]
            if raw[s + 4] == 0:  # segwit marker: hash without marker, flag and witness
                ids.append(hash256(raw[s:s + 4] + raw[s + 6:ws[i]] + raw[e - 4:e]))
            else:
                ids.append(hash256(raw[s:e]))
        return txid_to_hex(merkle_root(ids))

    def txs_spending(self, keys: Keys) -> set[int]:
        """Indexes of the transactions with an input spending one of `keys` (see
        `outpoint_key`)."""
        inputs = (keys.inputs_in(self.spent) if isinstance(keys, OutpointKeys)
                  else _inputs_in(self.spent, keys))
        starts = self.in_starts
        return {bisect_right(starts, i) - 1 for i in inputs}

    def txs_spending_from(self, txids: Iterable[bytes]) -> set[int]:
        """Indexes of the transactions with an input spending an output of one of `txids`
        (internal byte order): one C-speed search of `spent` per txid."""
        s = self.spent
        starts = self.in_starts
        out: set[int] = set()
        for t in txids:
            at = s.find(t)
            while at >= 0:
                if at % 36 == 0:
                    out.add(bisect_right(starts, at // 36) - 1)
                at = s.find(t, at + 1)
        return out

    def txs_containing(self, raw: bytes, needle: Needle) -> set[int]:
        """Indexes of the transactions whose bytes overlap an occurrence of `needle` in
        `raw` (this block's bytes) where it counts: in the transactions (not the header),
        and in an OP_RETURN script for `InOpReturn`. An empty needle matches nothing."""
        return self.find_needles(raw, (needle,))[needle]

    def find_needles(self, raw: bytes, needles: Iterable[Needle]) -> dict[Needle, set[int]]:
        """`txs_containing` of each needle, in one pass of the compiled search (which
        runs without the GIL) when it is there."""
        todo = list(needles)
        if _native is not None:
            got = _native.search(raw, self.tx_starts, self.op_returns,
                                 [(n.data, True) if isinstance(n, InOpReturn) else (n, False)
                                  for n in todo])
            return {n: set(txs) for n, txs in zip(todo, got, strict=True)}
        return {n: self._txs_containing(raw, n) for n in todo}

    def _txs_containing(self, raw: bytes, needle: Needle) -> set[int]:
        starts = self.tx_starts
        if isinstance(needle, InOpReturn):
            spans, data = self.op_returns, needle.data
            return {bisect_right(starts, spans[i]) - 1 for i in range(0, len(spans), 2)
                    if data and raw.find(data, spans[i], spans[i + 1]) >= 0}
        found: set[int] = set()
        if not needle:
            return found
        pos = raw.find(needle, starts[0])
        last = len(needle) - 1
        while pos >= 0:
            i = bisect_right(starts, pos) - 1
            found.add(i)
            # An occurrence straddling two transactions belongs to neither; keeping both
            # is the cheap, safe choice (the adapter looks again inside each).
            j = bisect_right(starts, pos + last) - 1
            if j != i:
                found.update(range(i + 1, min(j, self.tx_count - 1) + 1))
            pos = raw.find(needle, pos + 1)
        return found

    def tx(self, raw: bytes, index: int) -> Tx:
        """The view of transaction `index`, parsed from `raw` (this block's bytes)."""
        start, end = self.tx_starts[index], self.tx_starts[index + 1]
        r = _Reader(raw, start, end)
        tx = _parse_tx_at(raw, r, index)
        if r.pos != end:
            raise ParseError("transaction does not end where the block outline says", r.pos)
        return tx

    def partial_block(self, raw: bytes, indexes: Iterable[int],
                      cache: dict[int, Tx] | None = None) -> Block:
        """A `partial` block holding only the transactions at `indexes` (block order).

        `cache` keeps views already built for this block, so that adapters scanning the
        same block share them (and their lazily computed txids)."""
        memo = cache if cache is not None else {}
        txs = []
        for i in sorted(set(indexes)):
            tx = memo.get(i)
            if tx is None:
                tx = memo[i] = self.tx(raw, i)
            txs.append(tx)
        return Block(self.header, raw, txs, partial=True)


def _inputs_in(spent: bytes, keys: set[bytes] | frozenset[bytes]) -> list[int]:
    """Indexes of the 36-byte records of `spent` that are in `keys` (pure Python)."""
    if not keys:
        return []
    if len(keys) < 8:
        # NOTE: for a handful of keys, a C-speed search of the blob beats slicing every
        # input; a hit must sit on a 36-byte boundary to count.
        inputs = []
        for k in keys:
            at = spent.find(k)
            while at >= 0:
                if at % 36 == 0:
                    inputs.append(at // 36)
                at = spent.find(k, at + 1)
        return sorted(inputs)
    return [i for i, at in enumerate(range(0, len(spent), 36))
            if spent[at:at + 36] in keys]


class OutpointKeys:
    """The outpoints (in `outpoint_key` form) an adapter tracks, as the syncer asks of
    every block: does an input spend one? With the compiled walk this is a C hash table
    probed once per input, ~20 us a block (a mainnet block has ~7,000 inputs, a Python set
    would need a bytes object for each); without it, a Python set."""

    __slots__ = ("_c", "_py")

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._c = _native.OutpointSet() if _native is not None else None
        self._py: set[bytes] = set()
        for k in keys:
            self.add(k)

    def add(self, key: bytes) -> None:
        if self._c is not None:
            self._c.add(key)
        else:
            self._py.add(key)

    def discard(self, key: bytes) -> None:
        if self._c is not None:
            self._c.discard(key)
        else:
            self._py.discard(key)

    def __len__(self) -> int:
        return len(self._c) if self._c is not None else len(self._py)

    def __contains__(self, key: object) -> bool:
        return key in self._c if self._c is not None else key in self._py

    def inputs_in(self, spent: bytes) -> list[int]:
        """Indexes (in block order) of the 36-byte input records of `spent` (an outline's
        `spent`) that are tracked here."""
        if self._c is not None:
            found: list[int] = self._c.spending(spent)
            return found
        return _inputs_in(spent, self._py)


#: What the outline's spend checks accept.
Keys = OutpointKeys | set[bytes] | frozenset[bytes]


def outpoint_key(op: OutPoint) -> bytes:
    """The 36-byte wire form of an outpoint, as `BlockOutline.spent` holds them."""
    return op[0] + _U32.pack(op[1])


def outline_block(raw: bytes) -> BlockOutline:
    """Walk a serialised block's transactions without building views.

    Accepts exactly the blocks `parse_block` accepts: any inconsistency hands the buffer to
    `parse_block`, which raises the precise `ParseError`. The compiled walk (when it was
    built) also computes the merkle root, ~10x faster than the pure-Python walk without it;
    the pure-Python walk hashes nothing and is ~10x cheaper than `parse_block`. Either is
    what keeps blocks with nothing of interest cheap.
    """
    buf = bytes(raw)
    out: BlockOutline | None
    if _native is not None:
        out = _native_outline(buf)
    else:
        try:
            out = _walk(buf)
        except (IndexError, _Bad):
            out = None
    if out is None:
        parse_block(buf)  # raises the ParseError that says what is wrong and where
        raise ParseError("block outline disagrees with the full parser", 0)
    return out


def _native_outline(buf: bytes) -> BlockOutline | None:
    assert _native is not None
    got = _native.walk(buf, True)
    if got is None:
        return None
    ntx, spent, tx_starts, in_starts, wit_starts, op_returns, root = got
    return BlockOutline(parse_header(buf), ntx, spent, _u32s(tx_starts), _u32s(in_starts),
                        _u32s(wit_starts), _u32s(op_returns), root)


def _u32s(blob: bytes) -> array[int]:
    a = array("I")
    a.frombytes(blob)
    return a


class _Bad(Exception):
    """Internal: the fast walk met something the full parser must judge."""


def _compact(buf: bytes, p: int) -> tuple[int, int]:
    """A multi-byte compact size at `p` (first byte >= 0xFD): (value, next position)."""
    f = buf[p]
    if f == 0xFD:
        v, q, minimum = buf[p + 1] | buf[p + 2] << 8, p + 3, 0xFD
    elif f == 0xFE:
        v, q, minimum = int.from_bytes(buf[p + 1:p + 5], "little"), p + 5, 0x10000
    else:
        v, q, minimum = int.from_bytes(buf[p + 1:p + 9], "little"), p + 9, 0x100000000
    if v < minimum or q > len(buf):
        raise _Bad
    return v, q


def _walk(buf: bytes) -> BlockOutline | None:
    # NOTE: this is the hot loop of a backfill without the compiled walk (every input,
    # output and witness item of every block), so it trades the full parser's per-read
    # checks for local variables and one bounds check at the end; `buf[i]` past the end
    # raises IndexError, and a count too large for the buffer runs off the end within
    # len(buf)/41 iterations.
    n = len(buf)
    header = parse_header(buf)
    p = 80
    ntx = buf[p]
    if ntx < 0xFD:
        p += 1
    else:
        ntx, p = _compact(buf, p)
    if ntx == 0 or ntx * _MIN_TX > n - p:
        return None
    spent: list[bytes] = []
    add = spent.append
    tx_starts = array("I")
    in_starts = array("I")
    wit_starts = array("I")
    op_returns = array("I")
    add_tx = tx_starts.append
    add_in = in_starts.append
    add_wit = wit_starts.append
    add_op = op_returns.append
    for _ in range(ntx):
        add_tx(p)
        add_in(len(spent))
        p += 4
        seg = buf[p] == 0 and buf[p + 1] != 0
        if seg:
            if buf[p + 1] != 1:
                return None
            p += 2
        nin = buf[p]
        if nin < 0xFD:
            p += 1
        else:
            nin, p = _compact(buf, p)
        if nin == 0 and not seg:
            return None
        for _ in range(nin):
            add(buf[p:p + 36])
            p += 36
            f = buf[p]
            if f < 0xFD:
                p += f + 5
            else:
                f, p = _compact(buf, p)
                p += f + 4
        nout = buf[p]
        if nout < 0xFD:
            p += 1
        else:
            nout, p = _compact(buf, p)
        for _ in range(nout):
            # Values above MAX_MONEY (2^51 > MAX_MONEY > 2^50) have a high byte set.
            if buf[p + 7] or buf[p + 6] >= 0x08:
                (value,) = _U64.unpack_from(buf, p)
                if value > MAX_MONEY:
                    return None
            f = buf[p + 8]
            if f < 0xFD:
                p += 9
            else:
                f, p = _compact(buf, p + 8)
            if f and buf[p] == 0x6A:
                add_op(p)
                add_op(p + f)
            p += f
        add_wit(p)
        if seg:
            items = 0
            for _ in range(nin):
                k = buf[p]
                if k < 0xFD:
                    p += 1
                else:
                    k, p = _compact(buf, p)
                items += k
                for _ in range(k):
                    f = buf[p]
                    if f < 0xFD:
                        p += f + 1
                    else:
                        f, p = _compact(buf, p)
                        p += f
            if not items:
                return None
        p += 4
        if p > n:
            return None
    if p != n:
        return None
    blob = b"".join(spent)
    if len(blob) != 36 * len(spent):
        return None
    add_tx(p)
    add_in(len(spent))
    return BlockOutline(header, ntx, blob, tx_starts, in_starts, wit_starts, op_returns)
