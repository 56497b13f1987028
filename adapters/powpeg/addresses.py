"""Bitcoin address codec for the Powpeg adapter: hashes, base58check, script <-> address.

Powpeg only ever needs legacy base58 forms for its own scripts (federations are P2SH or
P2SH-P2WSH; Bridge peg-out outputs are P2PKH), so base58check comes from the indexer's
own `indexer.chain.script` instead of pulling a wallet library onto the scan path. Segwit
outputs (a peg-in sender's change, a third party's output) are rendered with embit's
bech32, imported lazily.
"""

from __future__ import annotations

from indexer.chain.script import Base58Error
from indexer.chain.script import b58check_decode as _b58check_decode

# Re-exported: the rest of the adapter (and its tests) takes its hashes and base58 from here.
from indexer.chain.script import b58check_encode as b58check_encode
from indexer.chain.script import hash160 as hash160
from indexer.chain.script import sha256 as sha256

#: chain -> (P2PKH version byte, P2SH version byte, bech32 hrp)
_VERSIONS: dict[str, tuple[int, int, str]] = {
    "main": (0x00, 0x05, "bc"),
    "test": (0x6F, 0xC4, "tb"),
    "testnet4": (0x6F, 0xC4, "tb"),
    "signet": (0x6F, 0xC4, "tb"),
    "regtest": (0x6F, 0xC4, "bcrt"),
}


class AddressError(ValueError):
    """A string that is not a base58check address this chain uses."""


def versions(chain: str) -> tuple[int, int, str]:
    return _VERSIONS.get(chain, _VERSIONS["test"])


def b58check_decode(text: str) -> bytes:
    """The payload of a Base58Check string; AddressError when it is not one."""
    try:
        return _b58check_decode(text)
    except Base58Error as e:
        # Callers catch AddressError (a config value, a CLI argument): keep that contract.
        raise AddressError(str(e)) from e


def p2sh_script(h160: bytes) -> bytes:
    return b"\xa9\x14" + h160 + b"\x87"


def p2pkh_script(h160: bytes) -> bytes:
    return b"\x76\xa9\x14" + h160 + b"\x88\xac"


def is_p2sh(spk: bytes) -> bool:
    return len(spk) == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87


def p2pkh_address(h160: bytes, chain: str) -> str:
    return b58check_encode(bytes([versions(chain)[0]]) + h160)


def p2sh_address(h160: bytes, chain: str) -> str:
    return b58check_encode(bytes([versions(chain)[1]]) + h160)


def script_for_address(address: str, chain: str) -> bytes:
    """The scriptPubKey of a base58 P2PKH or P2SH address of `chain`."""
    raw = b58check_decode(address)
    if len(raw) != 21:
        raise AddressError(f"{address!r} does not carry a 20-byte hash")
    pkh, sh, _ = versions(chain)
    if raw[0] == sh:
        return p2sh_script(raw[1:])
    if raw[0] == pkh:
        return p2pkh_script(raw[1:])
    raise AddressError(f"{address!r} is not an address of chain {chain!r} "
                       f"(version byte {raw[0]:#04x})")


def address_of(spk: bytes, chain: str) -> str | None:
    """The address a scriptPubKey pays, or None for OP_RETURN and non-standard scripts."""
    if is_p2sh(spk):
        return p2sh_address(spk[2:22], chain)
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return p2pkh_address(spk[3:23], chain)
    if 4 <= len(spk) <= 42 and (spk[0] == 0 or 0x51 <= spk[0] <= 0x60) and spk[1] == len(spk) - 2:
        from embit import bech32  # cold path: only non-Powpeg outputs reach here

        version = 0 if spk[0] == 0 else spk[0] - 0x50
        enc = bech32.encode(versions(chain)[2], version, spk[2:])
        return str(enc) if enc else None
    return None
