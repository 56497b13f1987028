"""Leader block-commit (opcode `[`): payload fields, commit outputs and the money.

stacks.md §1.2. Two kinds of failure are kept apart on purpose:
- *parse* failures (short payload, unequal reward-phase outputs, a non-burn prepare
  output, zero burn fee) mean "not a block-commit": the adapter emits `Rejected`;
- *check* failures (epoch marker below the epoch minimum, pointer sanity, too-small sunset
  burn) need no Stacks state but do not stop the node from counting the commit's BTC in
  its reward figures (`calculate_paid_rewards` runs on every parsed commit), so the commit
  is still emitted, with `valid: false` and the reasons.
"""

from __future__ import annotations

from typing import Any

from adapters.stacks import pox
from adapters.stacks.addresses import ScriptInfo, is_burn
from adapters.stacks.ops import Frame, OpRejected, output_json
from adapters.stacks.params import StacksParams
from indexer.chain.block import Tx

__all__ = ["BURN_MODULUS", "decode_commit"]

JSON = dict[str, Any]
BURN_MODULUS = 5  # BURN_BLOCK_MINED_AT_MODULUS
_OP = "block_commit"


def _fields(p: bytes) -> JSON:
    if len(p) < 77:
        raise OpRejected(_OP, f"payload is {len(p)} bytes, at least 77 needed")
    memo = p[76]
    return {
        "block_header_hash": p[0:32].hex(),
        "new_seed": p[32:64].hex(),
        "parent_block_ptr": int.from_bytes(p[64:68], "big"),
        "parent_vtxindex": int.from_bytes(p[68:70], "big"),
        "key_block_ptr": int.from_bytes(p[70:74], "big"),
        "key_vtxindex": int.from_bytes(p[74:76], "big"),
        "memo_byte": memo,
        "burn_parent_modulus": (memo & 0x07) % BURN_MODULUS,
        "epoch_marker": memo >> 3,
    }


def _form(tx: Tx, outs: list[ScriptInfo], form: str) -> tuple[list[int], int | None]:
    """(commit output vouts, change vout) for `form`; raises OpRejected when it fails."""
    if form == "reward":
        if len(outs) < 2:
            raise OpRejected(_OP, "reward phase needs two commit outputs (vout 1 and 2)")
        a, b = tx.outputs[1].value, tx.outputs[2].value
        if a != b:
            raise OpRejected(_OP, f"reward-phase commit outputs differ ({a} vs {b} sat)")
        if a == 0:
            raise OpRejected(_OP, "burn fee is zero")
        return [1, 2], 3 if len(outs) >= 3 else None
    if not outs:
        raise OpRejected(_OP, "needs a commit output at vout 1")
    if tx.outputs[1].value == 0:
        raise OpRejected(_OP, "burn fee is zero")
    if form == "prepare" and not is_burn(outs[0]):
        raise OpRejected(_OP, "prepare-phase commit output (vout 1) is not a burn address")
    if form == "waterfall" and not (is_burn(outs[0]) or outs[0].type == "p2tr"):
        raise OpRejected(_OP, "PoX-5 commit output (vout 1) is neither a burn nor a P2TR")
    return [1], 2 if len(outs) >= 2 else None


def _choose_form(p: StacksParams, tx: Tx, outs: list[ScriptInfo],
                 height: int | None) -> tuple[str, list[int], int | None]:
    if height is None:
        # `inspect`: no height, so no phase. A reward-phase reading first (two equal
        # outputs), else a prepare-phase one; only if both fail is it not a commit.
        try:
            return ("reward", *_form(tx, outs, "reward"))
        except OpRejected as first:
            try:
                return ("prepare", *_form(tx, outs, "prepare"))
            except OpRejected as second:
                raise OpRejected(_OP, f"{first.reason}; as a prepare-phase commit: "
                                 f"{second.reason}") from None
    ph = pox.phase(p, height)
    wf = pox.waterfall_start(p)
    if wf is not None and height >= wf:
        # NOTE: PoX-5 activation is unconfirmed (stacks.md §0.9): a tx that still fits the
        # two-equal-outputs form is read the 2.x way; a single output otherwise.
        if ph == "reward" and len(outs) >= 2 and tx.outputs[1].value == tx.outputs[2].value:
            return ("reward", *_form(tx, outs, "reward"))
        return ("waterfall", *_form(tx, outs, "waterfall"))
    return (ph, *_form(tx, outs, ph))


def decode_commit(p: StacksParams, tx: Tx, frame: Frame, outs: list[ScriptInfo],
                  height: int | None, chain: str) -> JSON:
    """All fields of a block-commit; `height` None when the block is unknown (inspect)."""
    out = _fields(frame.payload)
    form, commit_vouts, change_vout = _choose_form(p, tx, outs, height)
    burn_fee = sum(tx.outputs[v].value for v in commit_vouts)
    share = burn_fee // len(commit_vouts)  # equal by construction; the node splits evenly
    commit_outputs = []
    paid = burned = 0
    for v in commit_vouts:
        o = output_json(tx, v, outs[v - 1], chain)
        o["burn"] = is_burn(outs[v - 1])
        o["value_sat"] = share
        commit_outputs.append(o)
        if o["burn"]:
            burned += share
        else:
            paid += share
    change = output_json(tx, change_vout, outs[change_vout - 1], chain) if change_vout else None
    op_return_sat = tx.outputs[0].value
    out.update({
        "form": form,
        "commit_outputs": commit_outputs,
        "burn_fee_sat": burn_fee,
        "paid_sat": paid,
        "burned_sat": burned,
        "op_return_sat": op_return_sat,
        "change_output": change,
        "sender": change["address"] if change else None,
        "chained_input": {"txid": tx.inputs[0].prev_txid_hex, "vout": tx.inputs[0].prev_vout},
    })
    if height is not None:
        out.update(_checks(p, height, out, op_return_sat))
    return out


def _checks(p: StacksParams, height: int, c: JSON, op_return_sat: int) -> JSON:
    """The chain-only validity rules that do not stop the node from counting the BTC."""
    reasons = []
    epoch = p.epoch_at(height)
    if epoch.marker is not None and c["epoch_marker"] < epoch.marker:
        reasons.append(f"epoch marker {c['epoch_marker']} below {epoch.marker} "
                       f"required in epoch {epoch.name}")
    if c["parent_block_ptr"] == 0 and c["parent_vtxindex"] != 0:
        reasons.append("parent pointer 0 with a non-zero parent vtxindex")
    if c["parent_block_ptr"] >= height:
        reasons.append("parent pointer is not below the commit's height")
    if c["key_block_ptr"] == 0 or c["key_block_ptr"] >= height:
        reasons.append("key pointer is zero or not below the commit's height")
    sunset_required = pox.expected_sunset_burn(p, height, c["burn_fee_sat"])
    if op_return_sat < sunset_required:
        reasons.append(f"sunset burn {op_return_sat} below the required {sunset_required}")
    late = (height - 1 - c["burn_parent_modulus"]) % BURN_MODULUS
    return {
        "reward_cycle": pox.reward_cycle(p, height),
        "cycle_offset": pox.cycle_offset(p, height),
        "phase": pox.phase(p, height),
        "epoch": epoch.name,
        "sunset_burn_sat": op_return_sat if not p.epoch_at_least(height, "2.1") else 0,
        "sunset_burn_required_sat": sunset_required,
        "on_time": late == 0,
        "blocks_late": late,
        "valid": not reasons,
        "invalid_reasons": reasons,
    }
