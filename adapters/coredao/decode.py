"""Decoding Core DAO's `SAT+` OP_RETURN, byte for byte (pure: bytes in, values out).

Layout (coredao-org/CoreDAO-Docs, docs/stake-and-delegate/btc-staking/design.md; checked
against Core's verifier, core-genesis-contract BitcoinStake.sol / BitcoinLSTStake.sol):

    version 1 (self-custodial stake), at least 48 bytes
      0  magic   `SAT+` 5341542b              (4)
      4  version 01                            (1)
      5  chain id, big endian (1116 mainnet)   (2)
      7  delegator: Core reward address        (20)
     27  validator: Core validator address     (20)
     47  relayer fee in CORE, 0..255           (1)
     48  redeem script, or a 4-byte little-endian timelock

    version 2 (BTC LST), at least 28 bytes: magic | 02 | chain id | delegator(20) | fee(1)

Carrier rules follow Core's BitcoinHelper.opReturnPayload: the output is `OP_RETURN` plus
exactly one push holding the whole payload, pushed minimally (a direct push below 76 bytes,
`OP_PUSHDATA1` for 76..80 bytes) and at most 80 bytes. A `SAT+` push that breaks them is
reported as a rejection, not silently dropped, so look-alikes are visible but never staked.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAGIC",
    "MAX_PAYLOAD",
    "V1_MIN_LEN",
    "V2_MIN_LEN",
    "DecodeError",
    "LstStake",
    "Stake",
    "decode_payload",
    "extract_payload",
    "is_sat_plus",
]

MAGIC = b"SAT+"  # 0x5341542b
VERSION_STAKE = 1
VERSION_LST = 2
V1_MIN_LEN = 48
V2_MIN_LEN = 28
MAX_PAYLOAD = 80  # Core's helper: script body <= 83 bytes = 6a 4c <len> + 80
_OP_RETURN = 0x6A
_OP_PUSHDATA1 = 0x4C
_OP_PUSHDATA2 = 0x4D
_OP_PUSHDATA4 = 0x4E
TIMELOCK_LEN = 4


class DecodeError(ValueError):
    """A `SAT+` payload that breaks the format; `reason` is one line for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Stake:
    """A version-1 payload. Exactly one of `redeem_script` / `timelock` is set."""

    chain_id: int
    delegator: bytes  # 20 bytes
    validator: bytes  # 20 bytes
    fee: int  # CORE, 0..255
    redeem_script: bytes | None
    timelock: int | None
    payload: bytes

    version: int = VERSION_STAKE


@dataclass(frozen=True, slots=True)
class LstStake:
    """A version-2 (BTC LST) payload: the BTC goes to a Core-whitelisted wallet whose
    scripts live on Core, so Bitcoin alone cannot say which output carries the amount."""

    chain_id: int
    delegator: bytes  # 20 bytes
    fee: int
    payload: bytes

    version: int = VERSION_LST


def _first_push(script: bytes) -> tuple[bytes, int, int] | None:
    """(data, push opcode, end offset) of the push right after OP_RETURN, if any."""
    if len(script) < 2 or script[0] != _OP_RETURN:
        return None
    op, i = script[1], 2
    if 0 < op < _OP_PUSHDATA1:
        size = op
    elif op == _OP_PUSHDATA1 and len(script) >= 3:
        size, i = script[2], 3
    elif op == _OP_PUSHDATA2 and len(script) >= 4:
        size, i = int.from_bytes(script[2:4], "little"), 4
    elif op == _OP_PUSHDATA4 and len(script) >= 6:
        size, i = int.from_bytes(script[2:6], "little"), 6
    else:
        return None
    data = script[i:i + size]
    return data, op, i + size


def is_sat_plus(script_pubkey: bytes) -> bool:
    """Whether this output is an OP_RETURN whose first push starts with `SAT+`."""
    first = _first_push(script_pubkey)
    return first is not None and first[0][:4] == MAGIC


def extract_payload(script_pubkey: bytes) -> bytes:
    """The payload of a `SAT+` OP_RETURN, checked against Core's carrier rules."""
    first = _first_push(script_pubkey)
    if first is None or first[0][:4] != MAGIC:
        raise DecodeError("not a SAT+ OP_RETURN")
    data, op, end = first
    if end > len(script_pubkey):
        raise DecodeError("OP_RETURN push runs past the end of the script")
    if end != len(script_pubkey):
        raise DecodeError("OP_RETURN carries more than the one SAT+ push")
    if len(data) > MAX_PAYLOAD:
        raise DecodeError(f"OP_RETURN payload of {len(data)} bytes exceeds {MAX_PAYLOAD}")
    minimal = _OP_PUSHDATA1 if len(data) >= _OP_PUSHDATA1 else len(data)
    if op != minimal:
        raise DecodeError(f"payload of {len(data)} bytes is not pushed minimally "
                          f"(opcode {op:#04x})")
    return data


def decode_payload(payload: bytes) -> Stake | LstStake:
    """Decode a `SAT+` payload (without the OP_RETURN and push opcode)."""
    if payload[:4] != MAGIC:
        raise DecodeError("payload does not start with SAT+")
    if len(payload) < 7:
        raise DecodeError(f"payload too short: {len(payload)} bytes")
    version = payload[4]
    chain_id = int.from_bytes(payload[5:7], "big")
    if version == VERSION_STAKE:
        if len(payload) < V1_MIN_LEN:
            raise DecodeError(f"payload too short: {len(payload)} bytes, version 1 needs "
                              f"at least {V1_MIN_LEN}")
        rest = payload[V1_MIN_LEN:]
        if not rest:
            raise DecodeError("payload carries neither a redeem script nor a timelock")
        # NOTE: the doc allows a trailing timelock after the script too; a 4-byte remainder
        # is read as the timelock (no usable redeem script is 4 bytes long), anything
        # longer as the script (the caller retries without a 4-byte tail when it matches
        # no output).
        if len(rest) == TIMELOCK_LEN:
            script, timelock = None, int.from_bytes(rest, "little")
        else:
            script, timelock = rest, None
        return Stake(chain_id, payload[7:27], payload[27:47], payload[47], script, timelock,
                     payload)
    if version == VERSION_LST:
        if len(payload) < V2_MIN_LEN:
            raise DecodeError(f"payload too short: {len(payload)} bytes, version 2 needs "
                              f"at least {V2_MIN_LEN}")
        return LstStake(chain_id, payload[7:27], payload[27], payload)
    raise DecodeError(f"unsupported SAT+ version {version}")
