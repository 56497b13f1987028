"""Signature hashes: legacy, BIP143 (segwit v0) and BIP341 (taproot).

Each function takes the transaction being signed, the input index and what that input
commits to (scriptCode and amount, or every spent output for taproot) and returns the
32-byte digest the signature covers. They follow Bitcoin Core's `SignatureHash` and
`SignatureHashSchnorr` and are checked against the BIPs' published examples.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from indexer.chain.block import hash256
from regtest.build import Transaction, TxOutput, compact_size, var_bytes
from regtest.keys import sha256, tagged_hash

SIGHASH_DEFAULT = 0x00  # taproot only: ALL, without the hashtype byte on the signature
SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80

_ONE = b"\x01" + b"\x00" * 31
_ZERO = b"\x00" * 32


def legacy_sighash(tx: Transaction, index: int, script_code: bytes,
                   hash_type: int = SIGHASH_ALL) -> bytes:
    """Pre-segwit signature hash (Core's `SignatureHash` with SIGVERSION_BASE).

    `script_code` is the script being executed (the scriptPubKey, or the redeem script for
    P2SH); it must not contain OP_CODESEPARATOR, which this does not strip.
    """
    base = hash_type & 0x1F
    if base == SIGHASH_SINGLE and index >= len(tx.outputs):
        # NOTE: the historical SIGHASH_SINGLE bug: Core signs the number 1 here.
        return _ONE
    anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
    out = bytearray(struct.pack("<i", tx.version))
    inputs = [tx.inputs[index]] if anyone else tx.inputs
    out += compact_size(len(inputs))
    for i, txin in enumerate(inputs):
        signing = anyone or i == index
        out += txin.outpoint() + var_bytes(script_code if signing else b"")
        seq = txin.sequence
        if not signing and base in (SIGHASH_NONE, SIGHASH_SINGLE):
            seq = 0
        out += struct.pack("<I", seq)
    if base == SIGHASH_NONE:
        outputs: list[TxOutput] = []
    elif base == SIGHASH_SINGLE:
        outputs = [TxOutput(-1, b"") for _ in range(index)] + [tx.outputs[index]]
    else:
        outputs = tx.outputs
    out += compact_size(len(outputs))
    for o in outputs:
        out += o.serialize()
    out += struct.pack("<I", tx.locktime) + struct.pack("<I", hash_type)
    return hash256(bytes(out))


def segwit_v0_sighash(tx: Transaction, index: int, script_code: bytes, amount: int,
                      hash_type: int = SIGHASH_ALL) -> bytes:
    """BIP143 signature hash for P2WPKH, P2WSH and their P2SH-wrapped forms.

    `script_code` is the P2PKH script of the key for P2WPKH, the witness script for P2WSH
    (without a length prefix: this adds it).
    """
    base = hash_type & 0x1F
    anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
    hash_prevouts = _ZERO if anyone else hash256(b"".join(i.outpoint() for i in tx.inputs))
    hash_sequence = _ZERO
    if not anyone and base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_sequence = hash256(b"".join(struct.pack("<I", i.sequence) for i in tx.inputs))
    hash_outputs = _ZERO
    if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_outputs = hash256(b"".join(o.serialize() for o in tx.outputs))
    elif base == SIGHASH_SINGLE and index < len(tx.outputs):
        hash_outputs = hash256(tx.outputs[index].serialize())
    txin = tx.inputs[index]
    preimage = (struct.pack("<i", tx.version) + hash_prevouts + hash_sequence
                + txin.outpoint() + var_bytes(script_code) + struct.pack("<q", amount)
                + struct.pack("<I", txin.sequence) + hash_outputs
                + struct.pack("<I", tx.locktime) + struct.pack("<I", hash_type))
    return hash256(preimage)


def taproot_sigmsg(tx: Transaction, index: int, spent: Sequence[TxOutput],
                   hash_type: int = SIGHASH_DEFAULT, leaf_hash: bytes | None = None,
                   annex: bytes | None = None, codesep_pos: int = 0xFFFFFFFF) -> bytes:
    """BIP341 SigMsg, prefixed with the epoch byte 0x00 (what `TapSighash` hashes).

    `spent` lists the outputs every input spends (amounts and scriptPubKeys are committed
    to for all inputs). `leaf_hash` selects a script-path spend (BIP342 extension).
    """
    if hash_type not in (0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83):
        raise ValueError(f"invalid taproot hash type {hash_type:#x}")
    if len(spent) != len(tx.inputs):
        raise ValueError("taproot signatures commit to every spent output: pass one per input")
    base = hash_type & 0x03
    anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
    msg = bytearray(b"\x00" + bytes([hash_type]))
    msg += struct.pack("<i", tx.version) + struct.pack("<I", tx.locktime)
    if not anyone:
        msg += sha256(b"".join(i.outpoint() for i in tx.inputs))
        msg += sha256(b"".join(struct.pack("<q", s.value) for s in spent))
        msg += sha256(b"".join(var_bytes(s.script_pubkey) for s in spent))
        msg += sha256(b"".join(struct.pack("<I", i.sequence) for i in tx.inputs))
    if base not in (SIGHASH_NONE, SIGHASH_SINGLE):
        msg += sha256(b"".join(o.serialize() for o in tx.outputs))
    ext_flag = 0 if leaf_hash is None else 1
    msg.append(ext_flag * 2 + (annex is not None))
    txin = tx.inputs[index]
    if anyone:
        msg += txin.outpoint() + struct.pack("<q", spent[index].value)
        msg += var_bytes(spent[index].script_pubkey) + struct.pack("<I", txin.sequence)
    else:
        msg += struct.pack("<I", index)
    if annex is not None:
        msg += sha256(var_bytes(annex))
    if base == SIGHASH_SINGLE:
        if index >= len(tx.outputs):
            raise ValueError("SIGHASH_SINGLE without a matching output is invalid in taproot")
        msg += sha256(tx.outputs[index].serialize())
    if leaf_hash is not None:
        msg += leaf_hash + b"\x00" + struct.pack("<I", codesep_pos)
    return bytes(msg)


def taproot_sighash(tx: Transaction, index: int, spent: Sequence[TxOutput],
                    hash_type: int = SIGHASH_DEFAULT, leaf_hash: bytes | None = None,
                    annex: bytes | None = None) -> bytes:
    """BIP341/342 signature hash: hashTapSighash(0x00 || SigMsg)."""
    return tagged_hash("TapSighash", taproot_sigmsg(tx, index, spent, hash_type, leaf_hash,
                                                    annex))
