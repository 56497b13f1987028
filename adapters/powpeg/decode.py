"""Pure peg-in decoding: the RSKT v1 OP_RETURN and the sender of input 0.

RSKT (RSKIP170, rskj `PeginInstructionsProvider`, `PeginInstructionsVersion1`): only the
first data push after OP_RETURN is looked at; it must start with `52534b54`, byte 4 is the
version (only 1), bytes 5-24 the RSK destination, optional byte 25 the refund type (1 P2PKH,
2 P2SH) and bytes 26-45 its hash160; exactly 25 or 46 bytes; at most one RSKT output.

Sender (rskj `BtcLockSenderProvider`, input 0 only, first match wins): P2PKH, P2SH-P2WPKH,
P2SH multisig, P2SH-P2WSH multisig, else UNKNOWN. The RSK address of a key is the last 20
bytes of keccak-256 over the uncompressed key without its 0x04 prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PublicKey
from Crypto.Hash import keccak

from adapters.powpeg.addresses import (
    hash160,
    p2pkh_address,
    p2sh_address,
    sha256,
)
from adapters.powpeg.federation import parse_redeem
from indexer.chain.block import Tx
from indexer.chain.script import ScriptError, tokenize

RSKT_PREFIX = b"RSKT"
OP_RETURN = 0x6A


class RsktError(ValueError):
    """A malformed RSKT payload (the Bridge's PEGIN_V1_INVALID_PAYLOAD)."""


@dataclass(frozen=True, slots=True)
class Rskt:
    vout: int
    payload: bytes
    destination: str  # 0x-prefixed lowercase hex
    refund_type: str | None  # "P2PKH" | "P2SH"
    refund_hash: bytes | None

    def refund_address(self, chain: str) -> str | None:
        if self.refund_hash is None:
            return None
        if self.refund_type == "P2PKH":
            return p2pkh_address(self.refund_hash, chain)
        return p2sh_address(self.refund_hash, chain)


def rskt_data(script_pubkey: bytes) -> bytes | None:
    """The first push after OP_RETURN if it starts with RSKT, else None."""
    if not script_pubkey or script_pubkey[0] != OP_RETURN:
        return None
    try:
        cs = tokenize(script_pubkey[1:])
    except ScriptError:
        return None
    if not cs or cs[0][1] is None:
        return None
    data = cs[0][1]
    return data if len(data) >= 4 and data[:4] == RSKT_PREFIX else None


def parse_rskt_payload(data: bytes, vout: int = 0) -> Rskt:
    """Decode one RSKT payload; raises RsktError with the Bridge's reason."""
    if len(data) < 5:
        raise RsktError("RSKT payload has no version byte")
    if data[4] != 1:
        raise RsktError(f"RSKT version {data[4]} is not 1")
    if len(data) not in (25, 46):
        raise RsktError(f"RSKT v1 payload is {len(data)} bytes, not 25 or 46")
    refund_type: str | None = None
    refund_hash: bytes | None = None
    if len(data) == 46:
        kind = data[25]
        if kind not in (1, 2):
            raise RsktError(f"RSKT refund address type {kind} is neither 1 nor 2")
        refund_type = "P2PKH" if kind == 1 else "P2SH"
        refund_hash = data[26:46]
    return Rskt(vout, data, "0x" + data[5:25].hex(), refund_type, refund_hash)


def find_rskt(tx: Tx) -> Rskt | None:
    """The tx's RSKT instruction; None without one; RsktError when malformed or repeated."""
    found = [(i, d) for i, o in enumerate(tx.outputs) if (d := rskt_data(o.script_pubkey))]
    if not found:
        return None
    if len(found) > 1:
        raise RsktError(f"{len(found)} outputs carry an RSKT payload, at most one may")
    return parse_rskt_payload(found[0][1], found[0][0])


def rsk_address(pubkey: bytes) -> str:
    """0x-address on Rootstock of a secp256k1 public key (compressed or not)."""
    full = PublicKey(pubkey).format(compressed=False)
    return "0x" + keccak.new(digest_bits=256, data=full[1:]).digest()[-20:].hex()


def _is_pubkey(data: bytes) -> bool:
    if not ((len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] == 4)):
        return False
    try:
        PublicKey(data)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Sender:
    type: str  # "P2PKH" | "P2SH-P2WPKH" | "P2SH-MULTISIG" | "P2SH-P2WSH" | "UNKNOWN"
    btc_address: str | None = None
    pubkey: bytes | None = None

    @property
    def rsk_address(self) -> str | None:
        return rsk_address(self.pubkey) if self.pubkey is not None else None

    def as_json(self) -> dict[str, str | None]:
        return {"type": self.type, "btc_address": self.btc_address,
                "pubkey": self.pubkey.hex() if self.pubkey else None,
                "derived_rsk_address": self.rsk_address}


def sender(tx: Tx, chain: str) -> Sender:
    """Who sent the peg-in, from input 0 alone (as the Bridge decides)."""
    txin = tx.inputs[0]
    try:
        cs = tokenize(txin.script_sig)
    except ScriptError:
        return Sender("UNKNOWN")
    witness = tx.witness(0) if tx.has_witness else []
    if len(cs) == 2 and cs[1][1] is not None and _is_pubkey(cs[1][1]):
        key = cs[1][1]
        return Sender("P2PKH", p2pkh_address(hash160(key), chain), key)
    if len(cs) == 1 and len(witness) == 2 and len(witness[1]) == 33 and _is_pubkey(witness[1]):
        key = witness[1]
        program = b"\x00\x14" + hash160(key)
        return Sender("P2SH-P2WPKH", p2sh_address(hash160(program), chain), key)
    if len(cs) >= 3 and cs[-1][1] is not None:
        red = parse_redeem(cs[-1][1])
        if red is not None and red.template == "multisig" and red.flyover_hash is None:
            return Sender("P2SH-MULTISIG", p2sh_address(hash160(cs[-1][1]), chain))
    if len(cs) == 1 and len(witness) >= 3:
        red = parse_redeem(witness[-1])
        if red is not None and red.template == "multisig" and red.flyover_hash is None:
            program = b"\x00\x20" + sha256(witness[-1])
            return Sender("P2SH-P2WSH", p2sh_address(hash160(program), chain))
    return Sender("UNKNOWN")
