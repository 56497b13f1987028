"""sBTC peg tracking inside one block: sweeps, deposits they consume, withdrawals, reclaims.

The peg wallet is followed as a chain (stacks.md §3.4): a tx whose input 0 spends the
current peg UTXO (or a loose payment to a peg address, which is how the signers
bootstrap) is a sweep; its output 0 is the new peg UTXO, wherever it pays (a key
rotation moves it to a new key's address, learned into state). A sweep we could not
link (peg address unknown) is still recognised by its fingerprint: `T3` marker at
output 1, key-path input 0 and deposit-leaf script-path inputs under the NUMS key.

Deposit amounts are prevout values, which a block alone does not carry: deposit events
have no `amount_sat`; the sweep reports `deposits_minus_fee_sat` (exact, from the peg
values and payouts) instead.
"""

from __future__ import annotations

from typing import Any

from adapters.base import Event, NewPosition, Position, Rejected, ScanView
from adapters.stacks.addresses import bitcoin_address, classify_script
from adapters.stacks.sbtc import (
    NUMS_KEY,
    DepositLeaf,
    ScriptPath,
    is_key_path,
    leaf_under,
    parse_deposit_script,
    parse_reclaim_script,
    parse_sweep_marker,
    peg_script_for_key,
    script_path,
)
from indexer.chain.block import Tx

__all__ = ["PEG_STATUSES", "deposit_inputs", "reclaim_inputs", "sweep_records"]

JSON = dict[str, Any]
PEG_STATUSES = ("peg", "loose")


def _address(spk: bytes, chain: str) -> str | None:
    info = classify_script(spk)
    return bitcoin_address(info, chain) if info else None


def _nums_script(tx: Tx, i: int) -> bytes | None:
    """The leaf script input `i` spends under the NUMS key (sBTC deposits), if any."""
    if not tx.has_witness:
        return None
    return leaf_under(tx.witness(i), NUMS_KEY)


def _script_path(tx: Tx, i: int) -> ScriptPath:
    sp = script_path(tx.witness(i))
    assert sp is not None, "leaf_under accepted a witness script_path refuses"
    return sp


def deposit_inputs(tx: Tx) -> list[tuple[int, DepositLeaf, ScriptPath]]:
    out = []
    for i in range(1, len(tx.inputs)):
        script = _nums_script(tx, i)
        leaf = parse_deposit_script(script) if script is not None else None
        if leaf is not None:
            out.append((i, leaf, _script_path(tx, i)))
    return out


def reclaim_inputs(tx: Tx, chain: str) -> list[JSON]:
    """Inputs that spend an sBTC deposit through its reclaim leaf."""
    out = []
    for i, txin in enumerate(tx.inputs):
        script = _nums_script(tx, i)
        if script is None or parse_deposit_script(script) is not None:
            continue
        leaf = parse_reclaim_script(script)
        if leaf is None:
            continue
        sp = _script_path(tx, i)
        out.append({"vin": i, "deposit_txid": txin.prev_txid_hex,
                    "deposit_vout": txin.prev_vout,
                    "deposit_address": _address(sp.spent_script_pubkey, chain),
                    "lock_time": leaf.lock_time, "reclaim_script": sp.script.hex(),
                    "sequence": txin.sequence})
    return out


def is_unlinked_sweep(tx: Tx, magic: bytes) -> bool:
    """The sweep fingerprint, for sweeps whose peg input we do not track."""
    if len(tx.outputs) < 2 or not tx.has_witness:
        return False
    if parse_sweep_marker(tx.outputs[1].script_pubkey, magic) is None:
        return False
    return is_key_path(tx.witness(0)) and bool(deposit_inputs(tx))


def sweep_records(tx: Tx, view: ScanView, spent0: Position | None, known: set[bytes],
                  magic: bytes) -> tuple[list[Any], set[bytes]]:
    """Records of one sweep and the peg scripts it teaches (new output 0, deposit keys)."""
    chain = view.chain
    recs: list[Any] = []
    txid = tx.txid
    peg_in: list[JSON] = []
    for i, txin in enumerate(tx.inputs):
        pos = spent0 if i == 0 else view.spent_position(txin)
        if pos is not None and pos.status in PEG_STATUSES:
            peg_in.append({"vin": i, "txid": pos.txid, "vout": pos.vout,
                           "value_sat": pos.value_sat, "status": pos.status})
            view.mark_spent(txin)
    learned: set[bytes] = set()
    deposits = deposit_inputs(tx)
    for i, leaf, sp in deposits:
        key_script = peg_script_for_key(leaf.signers_xonly)
        if key_script not in known:
            learned.add(key_script)
        txin = tx.inputs[i]
        recs.append(Event(tx.index, txid, "sbtc_deposit", None, {
            "sweep_txid": txid, "vin": i, "deposit_txid": txin.prev_txid_hex,
            "deposit_vout": txin.prev_vout,
            "deposit_address": _address(sp.spent_script_pubkey, chain),
            **leaf.to_json()}))
    marker = None
    if len(tx.outputs) > 1:
        marker = parse_sweep_marker(tx.outputs[1].script_pubkey, magic)
    peg_out: JSON | None = None
    out0 = tx.outputs[0]
    if classify_script(out0.script_pubkey) is not None and out0.script_pubkey[0] == 0x51:
        addr = _address(out0.script_pubkey, chain)
        peg_out = {"vout": 0, "value_sat": out0.value, "address": addr}
        rotation = out0.script_pubkey not in known and bool(peg_in)
        if out0.script_pubkey not in known:
            learned.add(out0.script_pubkey)
        recs.append(NewPosition(tx.index, txid, 0, out0.value, "peg", True,
                                {"address": addr, "sweep_txid": txid}))
    else:
        rotation = False
        recs.append(Rejected(tx.index, txid, "sBTC peg UTXO spent without a P2TR output 0; "
                             "the peg chain ends here", {"peg_in": peg_in}))
    withdrawals = 0
    first_payout = 2 if marker is not None else 1
    for vout in range(first_payout, len(tx.outputs)):
        out = tx.outputs[vout]
        if out.script_pubkey in known or out.script_pubkey in learned:
            continue  # a payment back to a peg address: left to the loose-payment rule
        withdrawals += out.value
        recs.append(Event(tx.index, txid, "sbtc_withdrawal", out.value, {
            "sweep_txid": txid, "vout": vout, "value_sat": out.value,
            "address": _address(out.script_pubkey, chain),
            "script_pubkey": out.script_pubkey.hex()}))
    peg_in_sat = sum(p["value_sat"] for p in peg_in)
    peg_out_sat = peg_out["value_sat"] if peg_out else 0
    recs.insert(0, Event(tx.index, txid, "sbtc_sweep", peg_out_sat, {
        "peg_in": peg_in, "peg_in_sat": peg_in_sat, "peg_out": peg_out,
        "deposits": len(deposits), "withdrawals": sum(
            1 for r in recs if isinstance(r, Event) and r.kind == "sbtc_withdrawal"),
        "withdrawals_sat": withdrawals,
        # new peg = old peg + deposits - withdrawals - fee  (stacks.md §3.2)
        "deposits_minus_fee_sat": (peg_out_sat - peg_in_sat + withdrawals) if peg_in else None,
        "marker": marker.to_json() if marker else None,
        "key_rotation": rotation, "linked": bool(peg_in)}))
    return recs, learned
