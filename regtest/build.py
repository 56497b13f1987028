"""Building consensus-valid transactions and blocks, deterministically.

Serialisation primitives, the coinbase (BIP34 height, BIP141 witness commitment), merkle
root and proof-of-work grinding at the chain's target. Signing (ECDSA, Schnorr, taproot
script paths) lives beside it in `regtest/sign.py`. Nothing here depends on the test node:
the same bytes are accepted by a real `bitcoind -regtest`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from indexer.chain.block import hash256, merkle_root, parse_tx

# The script and serialisation primitives live in the indexer (one copy for the adapters and
# the harness); re-exported because much of regtest and the tests import them from here.
from indexer.chain.script import compact_size as compact_size
from indexer.chain.script import push_data as push_data
from indexer.chain.script import push_int as push_int
from indexer.chain.script import script_num as script_num
from indexer.chain.script import var_bytes as var_bytes

REGTEST_BITS = 0x207FFFFF
REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
REGTEST_GENESIS_TIME = 1296688602
COINBASE_MATURITY = 100
BLOCK_VERSION = 0x20000000
WITNESS_RESERVED = b"\x00" * 32


@dataclass
class TxInput:
    prev_txid: str  # display hex
    prev_vout: int
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: list[bytes] = field(default_factory=list)

    def outpoint(self) -> bytes:
        return bytes.fromhex(self.prev_txid)[::-1] + struct.pack("<I", self.prev_vout)


@dataclass
class TxOutput:
    value: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return struct.pack("<q", self.value) + var_bytes(self.script_pubkey)


@dataclass
class Transaction:
    """A mutable transaction under construction; `serialize()` gives the wire bytes."""

    inputs: list[TxInput] = field(default_factory=list)
    outputs: list[TxOutput] = field(default_factory=list)
    version: int = 2
    locktime: int = 0

    @property
    def has_witness(self) -> bool:
        return any(i.witness for i in self.inputs)

    def serialize(self, with_witness: bool = True) -> bytes:
        segwit = with_witness and self.has_witness
        out = bytearray(struct.pack("<i", self.version))
        if segwit:
            out += b"\x00\x01"
        out += compact_size(len(self.inputs))
        for i in self.inputs:
            out += i.outpoint() + var_bytes(i.script_sig) + struct.pack("<I", i.sequence)
        out += compact_size(len(self.outputs))
        for o in self.outputs:
            out += o.serialize()
        if segwit:
            for i in self.inputs:
                out += compact_size(len(i.witness))
                for item in i.witness:
                    out += var_bytes(item)
        out += struct.pack("<I", self.locktime)
        return bytes(out)

    def txid(self) -> str:
        return hash256(self.serialize(with_witness=False))[::-1].hex()

    def wtxid_bytes(self) -> bytes:
        return hash256(self.serialize())


def block_subsidy(height: int, halving_interval: int = 150) -> int:
    """Block subsidy; regtest halves every 150 blocks, mainnet every 210,000."""
    halvings = height // halving_interval
    return 0 if halvings >= 64 else (50 * 100_000_000) >> halvings


def coinbase_tx(height: int, script_pubkey: bytes, value: int,
                witness_commitment: bytes | None = None, extra: bytes = b"") -> Transaction:
    """A coinbase paying `value` to `script_pubkey`, height per BIP34.

    NOTE: heights 1..16 push as OP_1..OP_16 in Core's own miner, but that leaves a 1-byte
    scriptSig, below the 2-byte consensus minimum; Core's miner and test framework append
    OP_0 then, and so do we (`extra` defaults to it when the script would be too short).
    """
    script_sig = push_int(height) + extra
    if len(script_sig) < 2:
        script_sig += b"\x00"
    cb = Transaction(inputs=[TxInput("00" * 32, 0xFFFFFFFF, script_sig, 0xFFFFFFFF)],
                     outputs=[TxOutput(value, script_pubkey)])
    if witness_commitment is not None:
        cb.inputs[0].witness = [WITNESS_RESERVED]
        cb.outputs.append(TxOutput(0, b"\x6a\x24\xaa\x21\xa9\xed" + witness_commitment))
    return cb


def witness_commitment(txs: list[bytes]) -> bytes:
    """BIP141 commitment over the non-coinbase transactions `txs` (raw bytes)."""
    leaves = [b"\x00" * 32] + [hash256(t) for t in txs]
    return hash256(merkle_root(leaves) + WITNESS_RESERVED)


def header_bytes(version: int, prev_hash: str, merkle: bytes, time: int, bits: int,
                 nonce: int) -> bytes:
    return (struct.pack("<i", version) + bytes.fromhex(prev_hash)[::-1] + merkle
            + struct.pack("<III", time, bits, nonce))


def target_from_bits(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


def grind(header_without_nonce: bytes, bits: int) -> int:
    """The first nonce that meets the target (about two tries at regtest's target)."""
    target = target_from_bits(bits)
    for nonce in range(1 << 32):
        h = hash256(header_without_nonce + struct.pack("<I", nonce))
        if int.from_bytes(h, "little") <= target:
            return nonce
    raise RuntimeError("no nonce meets the target; change the time or coinbase")


def create_block(prev_hash: str, height: int, time: int, txs: list[bytes],
                 coinbase_script_pubkey: bytes, fees: int = 0, bits: int = REGTEST_BITS,
                 version: int = BLOCK_VERSION, halving_interval: int = 150,
                 coinbase_extra: bytes = b"") -> bytes:
    """A complete block over raw transactions `txs`: coinbase, merkle root, valid PoW.

    The witness commitment is always included (as Core's miner does once segwit is
    active), so blocks carrying segwit transactions are valid.
    """
    commitment = witness_commitment(txs)
    cb = coinbase_tx(height, coinbase_script_pubkey,
                     block_subsidy(height, halving_interval) + fees, commitment,
                     coinbase_extra)
    raw_txs = [cb.serialize(), *txs]
    merkle = merkle_root([hash256(parse_tx(t).stripped()) for t in raw_txs])
    partial = header_bytes(version, prev_hash, merkle, time, bits, 0)[:76]
    nonce = grind(partial, bits)
    return partial + struct.pack("<I", nonce) + compact_size(len(raw_txs)) + b"".join(raw_txs)
