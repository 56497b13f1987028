"""Pure parsing of the phase-1 staking OP_RETURN (spec babylon.md §1.1-1.2 steps 1-2).

The output script is exactly 73 bytes: OP_RETURN, a single 71-byte push, then
tag(4) ‖ version(1) = 0 ‖ staker x-only(32) ‖ FP x-only(32) ‖ staking time (uint16 BE).
The cheap filter looks only at bytes; EC validation of the keys comes after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.babylon.scripts import is_valid_xonly
from indexer.chain.block import TxOut

__all__ = [
    "OP_RETURN_SCRIPT_LEN",
    "PAYLOAD_LEN",
    "Candidate",
    "StakingPayload",
    "find_candidate",
    "parse_v0_payload",
    "tag_prefix",
]

OP_RETURN_SCRIPT_LEN = 73
PAYLOAD_LEN = 71
_HEAD = b"\x6a\x47"  # OP_RETURN, push 71


@dataclass(frozen=True, slots=True)
class StakingPayload:
    tag: bytes
    version: int
    staker_pk: bytes
    finality_provider_pk: bytes
    staking_time: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """Outcome of steps 1-2 for one tx: a payload at `vout`, or a rejection `reason`."""

    vout: int
    payload: StakingPayload | None
    reason: str | None = None


def tag_prefix(tag: bytes) -> bytes:
    """The first 7 bytes of a tagged V0 OP_RETURN script: the block needle and quick filter."""
    return _HEAD + tag + b"\x00"


def parse_v0_payload(script: bytes) -> StakingPayload | None:
    """A V0 payload with any tag, or None when `script` is not one.

    As babylon's ParseV0StakingTx: null-data, exactly 73 bytes, one 71-byte push,
    version byte 0, both keys valid x-only points.
    """
    if len(script) != OP_RETURN_SCRIPT_LEN or script[:2] != _HEAD or script[6] != 0:
        return None
    staker, fp = script[7:39], script[39:71]
    if not (is_valid_xonly(staker) and is_valid_xonly(fp)):
        return None
    return StakingPayload(script[2:6], 0, staker, fp, int.from_bytes(script[71:73], "big"))


def find_candidate(outputs: Sequence[TxOut], tag: bytes) -> Candidate | None:
    """Steps 1-2 of the official recognition for a tx with these outputs.

    None: the tx does not look like a staking tx at all (no tagged V0 OP_RETURN, or fewer
    than 2 outputs): nothing is reported. A Candidate with `reason`: it carries the tag but
    breaks a rule of the format, so it is reported as rejected.
    """
    if len(outputs) < 2:
        return None
    prefix = tag_prefix(tag)
    hits = [i for i, o in enumerate(outputs)
            if len(o.script_pubkey) == OP_RETURN_SCRIPT_LEN and o.script_pubkey[:7] == prefix]
    if not hits:
        return None
    if len(hits) > 1:
        return Candidate(hits[0], None, f"{len(hits)} outputs carry the tagged OP_RETURN "
                                        f"(outputs {hits}); exactly one is allowed")
    parsed = [(i, p) for i, o in enumerate(outputs)
              if (p := parse_v0_payload(o.script_pubkey)) is not None]
    if len(parsed) > 1:
        return Candidate(hits[0], None, "multiple op return outputs: "
                                        f"{len(parsed)} outputs parse as V0 staking data")
    if not parsed:
        # The tagged output failed the full parse: a key is not a valid x-only point.
        return Candidate(hits[0], None, "the OP_RETURN's staker or finality-provider key is "
                                        "not a valid x-only public key")
    vout, payload = parsed[0]
    if payload.tag != tag:
        # The tagged output failed to parse and another, differently tagged one did.
        return Candidate(hits[0], None, "the tagged OP_RETURN does not parse (invalid key) "
                                        f"and output {vout} carries tag {payload.tag.hex()}")
    return Candidate(vout, payload)
