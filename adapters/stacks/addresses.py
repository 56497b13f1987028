"""Output scripts and the addresses Stacks ops and sBTC show for them.

Classifies the five standard output types stacks-core accepts (stacks.md §1.1), encodes
Bitcoin addresses (base58check, bech32/bech32m) for the chain being indexed, and Stacks
c32check addresses and Clarity principals (stacks.md §1.4, §3.1). Pure, dependency-free:
this runs on every Stacks op output, so it stays off bitcoinlib.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.chain.block import hash256
from indexer.chain.script import b58check_encode

__all__ = [
    "ScriptInfo",
    "b58check",
    "bitcoin_address",
    "c32_address",
    "c32_decode_address",
    "classify_script",
    "hrp_for",
    "is_burn",
]

LEGACY = frozenset({"p2pkh", "p2sh"})
SEGWIT = frozenset({"p2wpkh", "p2wsh", "p2tr"})


@dataclass(frozen=True, slots=True)
class ScriptInfo:
    """A standard output script: its type and the hash (or key) bytes it commits to."""

    type: str
    hash: bytes


def classify_script(spk: bytes) -> ScriptInfo | None:
    """p2pkh/p2sh/p2wpkh/p2wsh/p2tr with their program, or None for anything else."""
    n = len(spk)
    if n == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return ScriptInfo("p2pkh", spk[3:23])
    if n == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87:
        return ScriptInfo("p2sh", spk[2:22])
    if n == 22 and spk[:2] == b"\x00\x14":
        return ScriptInfo("p2wpkh", spk[2:])
    if n == 34 and spk[:2] == b"\x00\x20":
        return ScriptInfo("p2wsh", spk[2:])
    if n == 34 and spk[:2] == b"\x51\x20":
        return ScriptInfo("p2tr", spk[2:])
    return None


def is_burn(info: ScriptInfo) -> bool:
    """stacks-core's burn test: a legacy output whose hash160 is all zeros.

    NOTE: a p2wpkh with a zero program is not a burn (PoxAddress::is_burn only looks at
    the legacy forms).
    """
    return info.type in LEGACY and info.hash == b"\x00" * 20


# ---------------------------------------------------------------- base58 / bech32

# Base58Check is the indexer's shared encoder; it keeps its historical name here.
b58check = b58check_encode


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for b in data:
        acc = (acc << frombits) | b
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (tobits - bits)) & maxv)
    return out


def segwit_address(hrp: str, version: int, program: bytes) -> str:
    data = [version, *_convertbits(program, 8, 5)]
    const = 1 if version == 0 else _BECH32M_CONST
    expand = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(expand + data + [0] * 6) ^ const
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def hrp_for(chain: str) -> str:
    return {"main": "bc", "regtest": "bcrt"}.get(chain, "tb")


def bitcoin_address(info: ScriptInfo, chain: str) -> str:
    """The address of a standard output on `chain` (main/test/testnet4/signet/regtest)."""
    main = chain == "main"
    if info.type == "p2pkh":
        return b58check(bytes([0x00 if main else 0x6F]) + info.hash)
    if info.type == "p2sh":
        return b58check(bytes([0x05 if main else 0xC4]) + info.hash)
    version = 1 if info.type == "p2tr" else 0
    return segwit_address(hrp_for(chain), version, info.hash)


# ---------------------------------------------------------------- Stacks c32check

_C32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Stacks address versions for a legacy Bitcoin output (stacks.md §1.4).
STACKS_VERSION = {("p2pkh", True): 22, ("p2pkh", False): 26,
                  ("p2sh", True): 20, ("p2sh", False): 21}


def _c32encode(data: bytes) -> str:
    num = int.from_bytes(data, "big")
    out = ""
    while num:
        num, rem = divmod(num, 32)
        out = _C32[rem] + out
    # NOTE: c32 keeps one '0' per leading zero byte (not per 5 zero bits), as c32check does.
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "0" * pad + out


def c32_address(version: int, hash160: bytes) -> str:
    """`S` + version char + c32(hash160 + checksum): `SP…`, `SM…`, `ST…`, `SN…`."""
    check = hash256(bytes([version]) + hash160)[:4]
    return "S" + _C32[version] + _c32encode(hash160 + check)


def c32_decode_address(addr: str) -> tuple[int, bytes]:
    """(version, hash160) of a c32check Stacks address; ValueError when malformed."""
    if len(addr) < 5 or addr[0] != "S":
        raise ValueError(f"not a Stacks address: {addr!r}")
    version = _C32.index(addr[1].upper())
    body = addr[2:].upper().replace("O", "0").replace("L", "1").replace("I", "1")
    num = 0
    for ch in body:
        num = num * 32 + _C32.index(ch)
    zeros = len(body) - len(body.lstrip("0"))
    raw = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    data = b"\x00" * zeros + raw
    if len(data) != 24:
        raise ValueError(f"Stacks address {addr!r} does not hold 20 bytes and a checksum")
    h, check = data[:20], data[20:]
    if hash256(bytes([version]) + h)[:4] != check:
        raise ValueError(f"bad checksum in Stacks address {addr!r}")
    return version, h


def stacks_address_for(info: ScriptInfo, mainnet: bool) -> str | None:
    """The Stacks address a legacy output maps to (pre-stx sender, transfer recipient)."""
    version = STACKS_VERSION.get((info.type, mainnet))
    return None if version is None else c32_address(version, info.hash)
