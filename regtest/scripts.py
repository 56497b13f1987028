"""Output script templates and a small script tokenizer.

The standard locking scripts the harness pays to (P2PKH, P2WPKH, P2SH, P2SH-P2WPKH, P2WSH,
bare multisig redeem scripts, P2TR, OP_RETURN), plus `tokenize` to read pushes back out of a
script when checking signatures. Scripts are plain `bytes`; no script object model.
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer.chain.script import hash160, push_data, push_int, sha256

# Re-exported: regtest.verify and the tests read scripts back with it (raises ScriptError, a
# ValueError, on a truncated push).
from indexer.chain.script import tokenize as tokenize

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1 = 0x51
OP_16 = 0x60
OP_RETURN = 0x6A
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKSIGADD = 0xBA


def p2pkh(pubkey: bytes) -> bytes:
    return bytes([OP_DUP, OP_HASH160, 20]) + hash160(pubkey) + bytes([OP_EQUALVERIFY,
                                                                       OP_CHECKSIG])


def p2wpkh(pubkey: bytes) -> bytes:
    return b"\x00\x14" + hash160(pubkey)


def p2sh(redeem_script: bytes) -> bytes:
    return bytes([OP_HASH160, 20]) + hash160(redeem_script) + bytes([OP_EQUAL])


def p2wsh(witness_script: bytes) -> bytes:
    return b"\x00\x20" + sha256(witness_script)


def p2sh_p2wpkh(pubkey: bytes) -> bytes:
    return p2sh(p2wpkh(pubkey))


def p2tr(output_key: bytes) -> bytes:
    if len(output_key) != 32:
        raise ValueError("a taproot output key is 32 bytes (x-only)")
    return b"\x51\x20" + output_key


def op_return(data: bytes) -> bytes:
    return bytes([OP_RETURN]) + push_data(data)


def multisig(m: int, pubkeys: Sequence[bytes]) -> bytes:
    """`m <pk1> ... <pkn> n OP_CHECKMULTISIG`, keys in the order given."""
    if not 1 <= m <= len(pubkeys) <= 20:
        raise ValueError(f"bad multisig {m}-of-{len(pubkeys)}")
    body = b"".join(push_data(pk) for pk in pubkeys)
    return push_int(m) + body + push_int(len(pubkeys)) + bytes([OP_CHECKMULTISIG])


def pubkey_hash_script_code(pubkey: bytes) -> bytes:
    """The BIP143 scriptCode of a P2WPKH spend (the P2PKH script of the same key)."""
    return p2pkh(pubkey)


def pushed_data(script: bytes) -> list[bytes]:
    """Every data push of a script, in order (keys, hashes, numbers as bytes)."""
    return [d for _, d in tokenize(script) if d is not None]
