"""Bitcoin script and address encoding shared by the adapters and the regtest builders.

One copy of the byte-level primitives every protocol needs: hashes (SHA256, HASH160, BIP340
tagged hashes), CompactSize, minimal CScriptNum numbers, minimal data pushes and small-int
pushes (Bitcoin Core's `CScript << ...`), a script tokenizer, and Base58Check. Everything is
pure and dependency-free (pycryptodome only where OpenSSL lacks RIPEMD160).

The encoders follow Bitcoin Core; the builders the protocols use (bitcoinjs' `script.compile`
for Core DAO, bitcoinj's `ScriptBuilder` for Rootstock, btcd's `ScriptBuilder` for Babylon,
rust-bitcoin's `Builder` for Stacks) emit the same bytes for every value those protocols
push. Where a protocol's own rules narrow this (Babylon refuses negative numbers, Stacks
reads pushes without OP_PUSHDATA4), the adapter keeps that rule and calls into here.
"""

from __future__ import annotations

import hashlib

from indexer.chain.block import hash256

__all__ = [
    "B58_ALPHABET",
    "OP_0",
    "OP_1",
    "OP_1NEGATE",
    "OP_16",
    "OP_PUSHDATA1",
    "OP_PUSHDATA2",
    "OP_PUSHDATA4",
    "Base58Error",
    "ScriptError",
    "Token",
    "b58check_decode",
    "b58check_encode",
    "compact_size",
    "decode_script_num",
    "hash160",
    "push_data",
    "push_int",
    "script_num",
    "sha256",
    "tagged_hash",
    "tokenize",
    "var_bytes",
]

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_16 = 0x60

#: A script element: (opcode, pushed data) for pushes, (opcode, None) for other opcodes.
Token = tuple[int, bytes | None]

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}


class ScriptError(ValueError):
    """Bytes that do not tokenise as a script (a push runs past the end)."""


class Base58Error(ValueError):
    """A string that is not valid Base58Check (bad character or checksum)."""


# ---------------------------------------------------------------- hashes


def sha256(data: bytes) -> bytes:
    """SHA256(data)."""
    return hashlib.sha256(data).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)), the hash P2PKH, P2WPKH and P2SH commit to.

    Falls back to pycryptodome because OpenSSL 3 builds may ship without RIPEMD160.
    """
    digest = hashlib.sha256(data).digest()
    try:
        return hashlib.new("ripemd160", digest).digest()
    except ValueError:  # pragma: no cover - depends on the OpenSSL build
        from Crypto.Hash import RIPEMD160

        return bytes(RIPEMD160.new(digest).digest())


def tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP340 tagged hash: SHA256(SHA256(tag) || SHA256(tag) || data)."""
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


# ---------------------------------------------------------------- serialisation


def compact_size(n: int) -> bytes:
    """Bitcoin's CompactSize (var_int) encoding of a non-negative length or count."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def var_bytes(b: bytes) -> bytes:
    """`b` prefixed with its CompactSize length (scripts in transactions, tapleaf hashing)."""
    return compact_size(len(b)) + b


# ---------------------------------------------------------------- numbers and pushes


def script_num(n: int) -> bytes:
    """Minimal CScriptNum encoding (little endian, sign bit in the last byte; 0 is empty)."""
    if n == 0:
        return b""
    neg, a = n < 0, abs(n)
    out = bytearray()
    while a:
        out.append(a & 0xFF)
        a >>= 8
    if out[-1] & 0x80:
        # The magnitude uses the top bit: one more byte carries the sign.
        out.append(0x80 if neg else 0x00)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def decode_script_num(data: bytes) -> int:
    """The value of a CScriptNum (any length, minimal or not; empty is 0)."""
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def push_data(data: bytes) -> bytes:
    """The minimal push of `data` (what Core's CScript << vector does)."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes([n]) + data
    if n <= 0xFF:
        return bytes([OP_PUSHDATA1, n]) + data
    if n <= 0xFFFF:
        return bytes([OP_PUSHDATA2]) + n.to_bytes(2, "little") + data
    return bytes([OP_PUSHDATA4]) + n.to_bytes(4, "little") + data


def push_int(n: int) -> bytes:
    """A number pushed as Core's CScript << int64 does (OP_0, OP_1NEGATE, OP_1..OP_16,
    else the minimal push of its CScriptNum)."""
    if n == 0:
        return bytes([OP_0])
    if n == -1 or 1 <= n <= 16:
        return bytes([OP_1 - 1 + n])
    return push_data(script_num(n))


# ---------------------------------------------------------------- reading scripts


def tokenize(script: bytes) -> list[Token]:
    """The script's opcodes with their pushed data (OP_0 gives (0, b"")).

    Raises ScriptError when a push, or the length of an OP_PUSHDATA, runs past the end.
    """
    out: list[Token] = []
    i, n = 0, len(script)
    while i < n:
        op = script[i]
        i += 1
        if op > OP_PUSHDATA4:
            out.append((op, None))
            continue
        if op < OP_PUSHDATA1:
            size = op
        else:
            width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[op]
            if i + width > n:
                raise ScriptError(f"truncated push length at {i} of the script")
            size = int.from_bytes(script[i:i + width], "little")
            i += width
        if i + size > n:
            raise ScriptError(f"push of {size} bytes runs past the end of the script at {i}")
        out.append((op, script[i:i + size]))
        i += size
    return out


# ---------------------------------------------------------------- Base58Check


def b58check_encode(payload: bytes) -> str:
    """Base58Check of `payload` (version byte included): payload || sha256d(payload)[:4]."""
    data = payload + hash256(payload)[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58_ALPHABET[r] + out
    # Each leading zero byte is written as a leading '1' (the base58 digit zero).
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + out


def b58check_decode(text: str) -> bytes:
    """The payload of a Base58Check string; Base58Error on a bad character or checksum."""
    n = 0
    for c in text:
        if c not in _B58_INDEX:
            raise Base58Error(f"{text!r} is not base58 (bad character {c!r})")
        n = n * 58 + _B58_INDEX[c]
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    data = b"\x00" * pad + body
    if len(data) < 5 or hash256(data[:-4])[:4] != data[-4:]:
        raise Base58Error(f"{text!r} has a bad base58check checksum")
    return data[:-4]
