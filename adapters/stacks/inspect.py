"""`inspect tx`: what one transaction alone says about Stacks and sBTC.

No block, no state: commits are read without a phase (a two-equal-outputs reading
first, else a prepare-phase one), ops that need a pre-stx sender only report which
outpoint input 0 spends, sweeps are recognised by their fingerprint (`T3` marker at
output 1, key-path input 0) and reclaims by their revealed leaf. A deposit transaction
itself shows nothing (its P2TR hides both leaves, stacks.md §3.1): it matches nothing
here; `deposit_output_matches` checks one against the scripts a depositor holds.

On a non-mainnet chain the stacks-core defaults `id` and `T3` are accepted besides the
configured magic, so stacks-core's own fixtures can be read.
"""

from __future__ import annotations

from typing import Any

from adapters.stacks import sweeps
from adapters.stacks.addresses import bitcoin_address, classify_script
from adapters.stacks.decode import decode_op
from adapters.stacks.ops import OPCODES, OpRejected, read_frame
from adapters.stacks.params import StacksParams
from adapters.stacks.sbtc import (
    deposit_taproot,
    is_key_path,
    parse_deposit_script,
    parse_reclaim_script,
    parse_sweep_marker,
    peg_script_for_key,
)
from indexer.chain.block import Tx

__all__ = ["deposit_output_matches", "inspect_tx", "normalise_chain", "op_rejection"]

JSON = dict[str, Any]
_ALIASES = {"mainnet": "main", "bitcoin": "main", "testnet": "test", "testnet3": "test"}


def normalise_chain(chain: str) -> str:
    return _ALIASES.get(chain, chain)


def _addr(spk: bytes, chain: str) -> str | None:
    info = classify_script(spk)
    return bitcoin_address(info, chain) if info else None


def inspect_tx(own: StacksParams, tx: Tx, chain: str) -> list[JSON]:
    chain = normalise_chain(chain)
    p = own if chain == own.chain else StacksParams.builtin(chain)
    magics = (p.magic,) if chain == "main" else tuple(dict.fromkeys((p.magic, b"id", b"T3")))
    found: list[JSON] = []
    try:
        frame = read_frame(tx, magics)
        if frame is not None:
            data = decode_op(p, tx, frame, None, chain)
            kind = OPCODES[frame.opcode]
            if kind in ("stack_stx", "transfer_stx", "delegate_stx",
                        "vote_for_aggregate_key"):
                if tx.inputs[0].prev_vout != 1:
                    raise OpRejected(kind, "input 0 does not spend vout 1 of a pre-stx")
                data["sender_pre_stx"] = {"txid": tx.inputs[0].prev_txid_hex, "vout": 1}
            found.append({"protocol": "stacks", "kind": kind, **data})
    except OpRejected:
        pass
    found.extend(_sbtc(p, tx, chain))
    return found


def _sbtc(p: StacksParams, tx: Tx, chain: str) -> list[JSON]:
    out: list[JSON] = []
    if not tx.has_witness:
        return out
    marker = None
    if len(tx.outputs) > 1:
        marker = parse_sweep_marker(tx.outputs[1].script_pubkey, p.sbtc_op_return_magic)
    deposits = sweeps.deposit_inputs(tx)
    if marker is not None and is_key_path(tx.witness(0)):
        keys = sorted({leaf.signers_xonly for _, leaf, _ in deposits})
        out0 = tx.outputs[0]
        payouts = [{"vout": v, "value_sat": o.value, "address": _addr(o.script_pubkey, chain)}
                   for v, o in enumerate(tx.outputs[2:], start=2)]
        out.append({
            "protocol": "stacks", "kind": "sbtc_sweep",
            "peg_input": {"txid": tx.inputs[0].prev_txid_hex, "vout": tx.inputs[0].prev_vout},
            "peg_output": {"vout": 0, "value_sat": out0.value,
                           "address": _addr(out0.script_pubkey, chain)},
            "marker": marker.to_json(), "deposits": len(deposits),
            "withdrawals": len(payouts), "withdrawals_sat": sum(w["value_sat"] for w in payouts),
            "signers_peg_addresses": [_addr(peg_script_for_key(k), chain) for k in keys],
        })
        for i, leaf, sp in deposits:
            out.append({"protocol": "stacks", "kind": "sbtc_deposit", "vin": i,
                        "deposit_txid": tx.inputs[i].prev_txid_hex,
                        "deposit_vout": tx.inputs[i].prev_vout,
                        "deposit_address": _addr(sp.spent_script_pubkey, chain),
                        "deposit_script": sp.script.hex(), **leaf.to_json()})
        out.extend({"protocol": "stacks", "kind": "sbtc_withdrawal", **w} for w in payouts)
    for rc in sweeps.reclaim_inputs(tx, chain):
        out.append({"protocol": "stacks", "kind": "sbtc_reclaim", **rc})
    return out


def deposit_output_matches(tx: Tx, vout: int, deposit_script: bytes,
                           reclaim_script: bytes, chain: str = "main") -> JSON | None:
    """The pending deposit at `tx:vout` if it pays the address of these two leaves."""
    leaf = parse_deposit_script(deposit_script)
    reclaim = parse_reclaim_script(reclaim_script)
    if leaf is None or reclaim is None or vout >= len(tx.outputs):
        return None
    t = deposit_taproot(deposit_script, reclaim_script)
    if tx.outputs[vout].script_pubkey != t.script_pubkey:
        return None
    return {"protocol": "stacks", "kind": "sbtc_deposit", "deposit_txid": tx.txid,
            "deposit_vout": vout, "amount_sat": tx.outputs[vout].value,
            "deposit_address": _addr(t.script_pubkey, chain),
            "output_key": t.output_key.hex(), "reclaim_lock_time": reclaim.lock_time,
            "signers_peg_address": _addr(peg_script_for_key(leaf.signers_xonly), chain),
            **leaf.to_json()}


def op_rejection(own: StacksParams, tx: Tx, chain: str) -> str | None:
    """Why a tx carrying a Stacks magic is not a valid op (None when it is, or has none)."""
    chain = normalise_chain(chain)
    p = own if chain == own.chain else StacksParams.builtin(chain)
    magics = (p.magic,) if chain == "main" else tuple(dict.fromkeys((p.magic, b"id", b"T3")))
    try:
        frame = read_frame(tx, magics)
        if frame is not None:
            decode_op(p, tx, frame, None, chain)
    except OpRejected as exc:
        return exc.reason
    return None
