"""Framing of Stacks burnchain operations and the decoders of every op but block-commit.

stacks.md §1.1: output 0 is `OP_RETURN <one push>` whose data is magic(2) ‖ opcode(1) ‖
payload; every later output must be a standard address (legacy only before epoch 2.1);
before 2.1 every input had to be a recognisable legacy spend. §1.3-§1.8 give the payloads.
Decoders are pure and raise `OpRejected` with a reason a user can act on; state-dependent
rules (the pre-stx sender link) live in the adapter. Block-commits are in `commit.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coincurve

from adapters.stacks.addresses import (
    LEGACY,
    ScriptInfo,
    bitcoin_address,
    classify_script,
    stacks_address_for,
)
from adapters.stacks.sbtc import read_push
from indexer.chain.block import Tx

__all__ = [
    "LOOKALIKES",
    "OPCODES",
    "Frame",
    "OpRejected",
    "check_inputs",
    "check_outputs",
    "decode_delegate_stx",
    "decode_key_register",
    "decode_pre_stx",
    "decode_stack_stx",
    "decode_transfer_stx",
    "decode_vote",
    "output_json",
    "read_frame",
    "valid_ed25519_point",
]

JSON = dict[str, Any]

OPCODES: dict[int, str] = {
    0x5B: "block_commit", 0x5E: "leader_key_register", 0x70: "pre_stx", 0x78: "stack_stx",
    0x24: "transfer_stx", 0x23: "delegate_stx", 0x76: "vote_for_aggregate_key",
}

#: Opcodes that look like Stacks ops but are not (stacks.md §1.9), with the reason.
LOOKALIKES: dict[int, str] = {
    ord("+"): "'+' (delegate-stack-stx) is described in SIP-021 but not implemented",
    ord("*"): "'*' (stack-aggregation-commit) is described in SIP-021 but not implemented",
    ord("_"): "'_' (user burn support) was disabled in 2020",
    ord("<"): "'<' belongs to the abandoned 2023 sBTC design",
    ord(">"): "'>' belongs to the abandoned 2023 sBTC design",
    ord("!"): "'!' belongs to the abandoned 2023 sBTC design",
    ord("H"): "'H' belongs to the abandoned 2023 sBTC design",
}


class OpRejected(Exception):
    """A transaction with our magic that is not a valid op; `reason` says why."""

    def __init__(self, op: str, reason: str) -> None:
        super().__init__(f"{op}: {reason}")
        self.op = op
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    magic: bytes
    opcode: int
    payload: bytes

    @property
    def op(self) -> str:
        return OPCODES.get(self.opcode, "unknown")


def read_frame(tx: Tx, magics: tuple[bytes, ...]) -> Frame | None:
    """The op framing of output 0, None when the tx carries none of `magics` there.

    Raises OpRejected for data that carries our magic but breaks the framing rules.
    """
    if not tx.outputs:
        return None
    s = tx.outputs[0].script_pubkey
    if len(s) < 5 or s[0] != 0x6A:
        return None
    op = s[1]
    if 3 <= op <= 75:
        start, n = 2, op
    elif op in (0x4C, 0x4D):
        width = 1 if op == 0x4C else 2
        start, n = 2 + width, int.from_bytes(s[2:2 + width], "little")
    else:
        return None
    data = s[start:start + n]
    if data[:2] not in magics or len(data) < 3:
        return None
    if len(data) != n:
        raise OpRejected("framing", "OP_RETURN push is truncated")
    if op == 0x4D:
        raise OpRejected("framing", "OP_PUSHDATA2 is not accepted for op data")
    if start + n != len(s):
        raise OpRejected("framing", "output 0 holds more than OP_RETURN and one push")
    return Frame(data[:2], data[2], data[3:])


def check_outputs(tx: Tx, segwit_ok: bool) -> list[ScriptInfo]:
    """The decoded outputs after the OP_RETURN; one undecodable output rejects the tx."""
    infos = []
    for vout, out in enumerate(tx.outputs[1:], start=1):
        info = classify_script(out.script_pubkey)
        if info is None:
            raise OpRejected("outputs", f"vout {vout} is not a standard address")
        if not segwit_ok and info.type not in LEGACY:
            raise OpRejected("outputs", f"vout {vout} is {info.type}, not allowed before "
                             "epoch 2.1")
        infos.append(info)
    return infos


def _pushes(script: bytes) -> list[bytes] | None:
    """Every push of a push-only scriptSig (OP_0 as b""), None for anything else."""
    out, pos = [], 0
    while pos < len(script):
        if script[pos] == 0:
            out.append(b"")
            pos += 1
            continue
        got = read_push(script, pos)
        if got is None:
            return None
        out.append(got[0])
        pos = got[1]
    return out


def _legacy_input_kind(script_sig: bytes) -> str | None:
    items = _pushes(script_sig)
    if not items:
        return None
    if len(items) == 2 and len(items[1]) in (33, 65) and items[1][0] in (2, 3, 4):
        return "p2pkh"
    if len(items) == 1 and len(items[0]) == 22 and items[0][:2] == b"\x00\x14":
        return "p2sh-p2wpkh"
    if len(items) == 1 and len(items[0]) == 34 and items[0][:2] == b"\x00\x20":
        return "p2sh-p2wsh"
    redeem = items[-1]
    if items[0] == b"" and len(items) >= 3 and redeem[-1:] == b"\xae" \
            and 0x51 <= redeem[0] <= 0x60:
        return "p2sh-multisig"
    return None


def check_inputs(tx: Tx, pre_21: bool) -> None:
    """At least one input; before 2.1 each must be a recognisable legacy spend."""
    if not tx.inputs:
        raise OpRejected("inputs", "no inputs")
    if not pre_21:
        return
    for i, txin in enumerate(tx.inputs):
        if _legacy_input_kind(txin.script_sig) is None:
            raise OpRejected("inputs", f"input {i} is not a p2pkh, p2sh-multisig or "
                             "p2sh-wrapped segwit spend (required before epoch 2.1)")


def output_json(tx: Tx, vout: int, info: ScriptInfo, chain: str) -> JSON:
    return {"vout": vout, "value_sat": tx.outputs[vout].value, "script_type": info.type,
            "address": bitcoin_address(info, chain),
            "script_pubkey": tx.outputs[vout].script_pubkey.hex()}


# ---------------------------------------------------------------- key checks

_ED_P = 2**255 - 19
_ED_D = (-121665 * pow(121666, _ED_P - 2, _ED_P)) % _ED_P


def valid_ed25519_point(key: bytes) -> bool:
    """Whether 32 bytes decompress to an Ed25519 point (what the VRF key check needs).

    As curve25519-dalek: y is read mod p with the sign bit masked; valid iff
    (y² - 1)/(d·y² + 1) is a square.
    """
    if len(key) != 32:
        return False
    y = (int.from_bytes(key, "little") & ((1 << 255) - 1)) % _ED_P
    u = (y * y - 1) % _ED_P
    v = (_ED_D * y * y + 1) % _ED_P
    x2 = u * pow(v, _ED_P - 2, _ED_P) % _ED_P
    return x2 == 0 or pow(x2, (_ED_P - 1) // 2, _ED_P) == 1


def _valid_secp_key(key: bytes) -> bool:
    if len(key) != 33 or key[0] not in (2, 3):
        return False
    try:
        coincurve.PublicKey(key)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- decoders


def decode_key_register(frame: Frame, outs: list[ScriptInfo], nakamoto: bool) -> JSON:
    """§1.3: consensus hash(20) ‖ VRF key(32) ‖ memo; from Nakamoto memo[0:20] is the
    hash160 of the miner's block-signing key."""
    p = frame.payload
    op = "leader_key_register"
    if len(p) < 52:
        raise OpRejected(op, f"payload is {len(p)} bytes, at least 52 needed")
    if not outs:
        raise OpRejected(op, "needs an output besides the OP_RETURN")
    vrf = p[20:52]
    if not valid_ed25519_point(vrf):
        raise OpRejected(op, "VRF public key is not a valid Ed25519 point")
    memo = p[52:]
    out: JSON = {"consensus_hash": p[:20].hex(), "vrf_public_key": vrf.hex(),
                 "memo": memo.hex()}
    if nakamoto and len(memo) >= 20:
        out["miner_pubkey_hash160"] = memo[:20].hex()
    return out


def _legacy_stacks(op: str, outs: list[ScriptInfo], role: str, mainnet: bool) -> str:
    if not outs:
        raise OpRejected(op, f"needs vout 1 (the {role})")
    addr = stacks_address_for(outs[0], mainnet)
    if addr is None:
        raise OpRejected(op, f"vout 1 (the {role}) is {outs[0].type}; only p2pkh or p2sh "
                         "map to a Stacks address")
    return addr


def decode_pre_stx(frame: Frame, outs: list[ScriptInfo], mainnet: bool) -> JSON:
    """§1.4: no payload; vout 1 names the sender of a later op."""
    return {"sender": _legacy_stacks("pre_stx", outs, "sender", mainnet)}


def decode_stack_stx(frame: Frame, tx: Tx, outs: list[ScriptInfo], chain: str) -> JSON:
    """§1.5: uSTX(16) ‖ cycles(1) [‖ signer key(33) [‖ max amount(16) [‖ auth id(4)]]]."""
    p, op = frame.payload, "stack_stx"
    if len(p) < 17:
        raise OpRejected(op, f"payload is {len(p)} bytes, at least 17 needed")
    amount = int.from_bytes(p[:16], "big")
    if amount == 0:
        raise OpRejected(op, "amount of uSTX is zero")
    if not outs:
        raise OpRejected(op, "needs vout 1 (the PoX reward address)")
    out: JSON = {"ustx": amount, "num_cycles": p[16],
                 "reward_address": output_json(tx, 1, outs[0], chain),
                 "signer_key": None, "max_amount": None, "auth_id": None}
    if len(p) >= 50:
        key = p[17:50]
        if not _valid_secp_key(key):
            raise OpRejected(op, "signer key is not a valid compressed secp256k1 key")
        out["signer_key"] = key.hex()
    if len(p) >= 66:
        out["max_amount"] = int.from_bytes(p[50:66], "big")
    if len(p) >= 70:
        out["auth_id"] = int.from_bytes(p[66:70], "big")
    return out


def decode_transfer_stx(frame: Frame, outs: list[ScriptInfo], mainnet: bool) -> JSON:
    """§1.6: uSTX(16) ‖ memo(0..61); vout 1 is the (legacy) recipient."""
    p, op = frame.payload, "transfer_stx"
    if len(p) < 16:
        raise OpRejected(op, f"payload is {len(p)} bytes, at least 16 needed")
    amount = int.from_bytes(p[:16], "big")
    if amount == 0:
        raise OpRejected(op, "amount of uSTX is zero")
    return {"ustx": amount, "memo": p[16:].hex(),
            "recipient": _legacy_stacks(op, outs, "recipient", mainnet)}


def decode_delegate_stx(frame: Frame, tx: Tx, outs: list[ScriptInfo], chain: str) -> JSON:
    """§1.7: uSTX(16) ‖ flag(1) index(4) ‖ flag(1) [until height(8)]; vout 1 = delegate."""
    p, op = frame.payload, "delegate_stx"
    if len(p) < 22:
        raise OpRejected(op, f"payload is {len(p)} bytes, at least 22 needed")
    amount = int.from_bytes(p[:16], "big")
    idx_flag, until_flag = p[16], p[21]
    if idx_flag > 1 or until_flag > 1:
        raise OpRejected(op, f"option flags must be 0 or 1, got {idx_flag} and {until_flag}")
    if until_flag and len(p) < 30:
        raise OpRejected(op, f"payload is {len(p)} bytes, 30 needed with an until-height")
    if amount == 0:
        raise OpRejected(op, "amount of uSTX is zero")
    until = int.from_bytes(p[22:30], "big") if until_flag else None
    if until is not None and until > 2**63 - 1:
        raise OpRejected(op, "until-burn-height exceeds 2^63 - 1")
    delegate = _legacy_stacks(op, outs, "delegate", chain == "main")
    reward = None
    if idx_flag:
        index = int.from_bytes(p[17:21], "big")
        # NOTE: an index past the last output means "no reward address", not an error.
        if index < len(outs):
            reward = output_json(tx, index + 1, outs[index], chain)
    return {"ustx": amount, "delegate_to": delegate, "reward_address": reward,
            "until_burn_height": until}


def decode_vote(frame: Frame, tx: Tx) -> JSON:
    """§1.8: signer index(2) ‖ aggregate key(33) ‖ round(4) ‖ reward cycle(8)."""
    p, op = frame.payload, "vote_for_aggregate_key"
    if len(p) != 47:
        raise OpRejected(op, f"payload is {len(p)} bytes, exactly 47 needed")
    items = _pushes(tx.inputs[0].script_sig) if tx.inputs else None
    if not items or len(items) != 2:
        raise OpRejected(op, "input 0 is not a p2pkh spend (the signer key comes from it)")
    signer_key, agg = items[1], p[2:35]
    if not _valid_secp_key(signer_key):
        raise OpRejected(op, "signer key in input 0 is not a valid compressed secp256k1 key")
    if not _valid_secp_key(agg):
        raise OpRejected(op, "aggregate key is not a valid compressed secp256k1 key")
    return {"signer_index": int.from_bytes(p[:2], "big"), "aggregate_key": agg.hex(),
            "round": int.from_bytes(p[35:39], "big"),
            "reward_cycle": int.from_bytes(p[39:47], "big"), "signer_key": signer_key.hex()}
