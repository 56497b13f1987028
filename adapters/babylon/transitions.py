"""What a spend of a Babylon output means, and the records it produces (§2.3-2.4).

Given the output spent (a tracked position, or one just proven Babylon by its witness)
and the leaf the witness reveals:
  timelock leaf  -> `withdraw` (from a stake, an unbonding output or a slashing change);
  slashing leaf  -> `slash`, and the slashing change output becomes a position;
  unbonding leaf -> 1-in/1-out: an unbonding, checked as the official indexer does
                    (sequence, nLockTime, output script, value = stake - fee); the output
                    becomes an `unbonding` position. Input 0 of a larger tx: a stake
                    expansion (`expand`: moved, not released). Anything else: rejected.
The position a spend consumes is marked spent by the core from the block's inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.babylon.params import ParamsVersion
from adapters.babylon.scripts import (
    DuplicateKeyError,
    build_staking,
    slashing_change_script_pubkey,
    unbonding_script_pubkey,
)
from adapters.babylon.spends import Leaf, SpentOutput, parse_leaf, script_path
from adapters.base import JSON, Event, NewPosition, Position, Record, Rejected
from indexer.chain.block import Tx

if TYPE_CHECKING:
    from adapters.babylon.adapter import BabylonAdapter

__all__ = ["STAKE_FIELDS", "Outcome", "discovered_data", "follow_spend", "stake_fields"]

STAKE_FIELDS = ("staker_pk", "finality_provider_pk", "staking_time", "params_version")
FINAL_SEQUENCE = 0xFFFFFFFF
#: Widest [min, max] staking-time range searched for an expansion's new output.
MAX_EXPANSION_TIMES = 4096


@dataclass
class Outcome:
    records: list[Record] = field(default_factory=list)
    tvl_release: int = 0  # lowered from the official confirmed TVL


def stake_fields(data: JSON) -> JSON:
    return {k: data.get(k) for k in STAKE_FIELDS}


def discovered_data(found: SpentOutput) -> JSON:
    """Position data for an output first seen when a spend proved it Babylon (§4)."""
    status = "active" if found.output == "staking" else found.output
    spk = found.spend.spent_script_pubkey
    data: JSON = {
        "kind": found.output,
        "staker_pk": found.leaf.staker.hex(),
        "finality_provider_pk": found.fp.hex() if found.fp else None,
        "staking_time": found.staking_time,
        "params_version": None,
        "status": status,
        "discovered_on_spend": True,
        # NOTE: a spend does not state the amount it spends (sighashes commit to it, but
        # it cannot be read back); the core or a node lookup may fill it in later.
        "amount_known": False,
        "covenant_pks": [k.hex() for k in found.covenants],
        "covenant_quorum": found.quorum,
        "script_pubkey": spk.hex() if spk else None,
    }
    if found.unbonding_time is not None:
        data["unbonding_time"] = found.unbonding_time
    if found.slashing_hash is not None:
        data["slashing_leaf_hash"] = found.slashing_hash.hex()
    return data


def _version(a: BabylonAdapter, data: JSON) -> ParamsVersion | None:
    v = data.get("params_version")
    return a.params.by_version(v) if isinstance(v, int) else None


def _unbonding_times(a: BabylonAdapter, pos: Position) -> tuple[int, ...]:
    """Unbonding times the output's follow-ups may use (the staking version's, if known)."""
    pv = _version(a, pos.data)
    if pv is not None:
        return (pv.unbonding_time,)
    ut = pos.data.get("unbonding_time")
    if isinstance(ut, int):
        return (ut,)
    covs = pos.data.get("covenant_pks")
    if isinstance(covs, list):
        key = (tuple(bytes.fromhex(k) for k in covs), int(pos.data.get("covenant_quorum", 0)))
        if key in a.known_sets:
            return a.known_sets[key]
    return tuple(dict.fromkeys(t for ts in a.known_sets.values() for t in ts))


def _key(data: JSON, name: str) -> bytes | None:
    v = data.get(name)
    return bytes.fromhex(v) if isinstance(v, str) else None


def follow_spend(a: BabylonAdapter, tx: Tx, i: int, pos: Position,
                 found: SpentOutput | None, height: int) -> Outcome:
    kind = str(pos.data.get("kind", "staking"))
    sp = found.spend if found is not None else script_path(tx.witness(i))
    leaf = found.leaf if found is not None else (parse_leaf(sp.leaf) if sp else None)
    base: JSON = {"spent_txid": pos.txid, "spent_vout": pos.vout, "from": kind,
                  **stake_fields(pos.data)}
    amount = pos.value_sat if pos.data.get("amount_known", True) else None
    if sp is None or leaf is None or leaf.staker.hex() != pos.data.get("staker_pk"):
        return Outcome([Rejected(tx.index, tx.txid,
                                 f"spend of babylon {kind} output {pos.txid}:{pos.vout} "
                                 f"(input {i}) reveals no babylon leaf of its staker", base)])
    if leaf.kind == "timelock":
        return Outcome([Event(tx.index, tx.txid, "withdraw", amount,
                              {**base, "timelock_blocks": leaf.blocks})])
    if leaf.kind == "slashing":
        return _slash(a, tx, pos, leaf, base, amount)
    if kind != "staking":
        return Outcome([Rejected(tx.index, tx.txid, f"unbonding leaf revealed while spending "
                                 f"a babylon {kind} output", base)])
    if len(tx.inputs) == 1 and len(tx.outputs) == 1:
        return _unbond(a, tx, pos, found, sp.path, base, amount)
    if i == 0 and len(tx.inputs) >= 2:
        return _expand(a, tx, pos, base, amount, height)
    return Outcome([Rejected(tx.index, tx.txid,
                             f"unbonding-leaf spend of {pos.txid}:{pos.vout} at input {i} of a "
                             f"{len(tx.inputs)}-in/{len(tx.outputs)}-out tx is neither an "
                             "unbonding (1-in/1-out) nor a stake expansion (input 0 plus "
                             "funding)", base)])


def _unbond(a: BabylonAdapter, tx: Tx, pos: Position, found: SpentOutput | None,
            path: Sequence[bytes], base: JSON, amount: int | None) -> Outcome:
    data = pos.data
    staker = _key(data, "staker_pk")
    fp = _key(data, "finality_provider_pk")
    pv = _version(a, data)
    assert staker is not None
    slashing_hash: bytes | None = None
    if pv is not None and fp is not None and isinstance(data.get("staking_time"), int):
        slashing_hash = build_staking(staker, (fp,), int(data["staking_time"]),
                                      pv.covenant_pks, pv.covenant_quorum).slashing_hash
    elif found is not None:
        slashing_hash = found.slashing_hash
    elif len(path) == 2:
        slashing_hash = path[1]
    out = tx.outputs[0]
    reasons: list[str] = []
    unbonding_time: int | None = None
    if slashing_hash is not None:
        for ut in _unbonding_times(a, pos):
            if out.script_pubkey == unbonding_script_pubkey(staker, ut, slashing_hash):
                unbonding_time = ut
    if unbonding_time is None:
        reasons.append("its output is not the unbonding output built with the staking "
                       "version's unbonding time")
    if tx.inputs[0].sequence != FINAL_SEQUENCE:
        reasons.append(f"input sequence {tx.inputs[0].sequence:#x} is not 0xffffffff")
    if tx.locktime != 0:
        reasons.append(f"nLockTime {tx.locktime} is not 0")
    info: JSON = {**base, "unbonding_value_sat": out.value, "unbonding_time": unbonding_time,
                  "tx_version": tx.version}
    if pv is not None and amount is not None:
        if out.value != amount - pv.unbonding_fee:
            reasons.append(f"output value {out.value} sat is not the stake {amount} minus "
                           f"the unbonding fee {pv.unbonding_fee} of params version "
                           f"{pv.version}")
    elif pv is None:
        fees = sorted({v.unbonding_fee for v in a.params.versions})
        info["implied_stake_sat_by_fee"] = {str(f): out.value + f for f in fees}
    records: list[Record] = []
    pos_data: JSON = {"kind": "unbonding", **stake_fields(data), "status": "unbonding",
                      "unbonding_time": unbonding_time, "stake_txid": pos.txid,
                      "stake_vout": pos.vout, "amount_known": True}
    if slashing_hash is not None:
        pos_data["slashing_leaf_hash"] = slashing_hash.hex()
    release = 0
    if reasons:
        records.append(Rejected(tx.index, tx.txid, "invalid unbonding: " + "; ".join(reasons),
                                info))
        if unbonding_time is not None:
            # Covenants co-signed it, so the BTC sits in the unbonding output regardless.
            records.append(NewPosition(tx.index, tx.txid, 0, out.value, "unbonding", True,
                                       {**pos_data, "valid": False}))
        return Outcome(records)
    records.append(Event(tx.index, tx.txid, "unbond", amount, info))
    records.append(NewPosition(tx.index, tx.txid, 0, out.value, "unbonding", True,
                               {**pos_data, "valid": True}))
    if pos.status == "active" and data.get("counts_toward_cap"):
        release = pos.value_sat
    return Outcome(records, release)


def _allowed_times(pv: ParamsVersion) -> range:
    """Staking times the new stake of an expansion may use under `pv`.

    An expansion is a new delegation with its own staking time, anywhere in the version's
    [min, max]; trying only the old time and the bounds missed e.g. T = 6 in [5, 20]. Each
    try costs one EC tweak, so a very wide range falls back to those hints (mainnet's
    range is the single value 64000).
    """
    if pv.max_staking_time - pv.min_staking_time >= MAX_EXPANSION_TIMES:
        return range(0)
    return range(pv.min_staking_time, pv.max_staking_time + 1)


def _expand(a: BabylonAdapter, tx: Tx, pos: Position, base: JSON, amount: int | None,
            height: int) -> Outcome:
    data = pos.data
    staker, fp = _key(data, "staker_pk"), _key(data, "finality_provider_pk")
    info: JSON = {**base, "new_vout": None, "new_value_sat": None}
    records: list[Record] = []
    pv_now = a.params.at(height)
    if staker is not None and fp is not None and pv_now is not None:
        times = [t for t in (data.get("staking_time"), *_allowed_times(pv_now), *a.time_hints)
                 if isinstance(t, int)]
        by_spk: dict[bytes, int] = {}
        for t in dict.fromkeys(times):
            try:
                s = build_staking(staker, (fp,), t, pv_now.covenant_pks, pv_now.covenant_quorum)
            except DuplicateKeyError:
                break
            by_spk[s.script_pubkey] = t
        for j, o in enumerate(tx.outputs):
            t_new = by_spk.get(o.script_pubkey)
            if t_new is None:
                continue
            info.update(new_vout=j, new_value_sat=o.value)
            new = {"kind": "staking", "staker_pk": staker.hex(), "finality_provider_pk":
                   fp.hex(), "staking_time": t_new, "params_version": pv_now.version,
                   "status": "active", "expanded_from": f"{pos.txid}:{pos.vout}",
                   "counts_toward_cap": False, "amount_known": True}
            records.append(NewPosition(tx.index, tx.txid, j, o.value, "active", True, new))
            break
    records.insert(0, Event(tx.index, tx.txid, "expand", amount, info))
    return Outcome(records)


def _slash(a: BabylonAdapter, tx: Tx, pos: Position, leaf: Leaf, base: JSON,
           amount: int | None) -> Outcome:
    uts = _unbonding_times(a, pos)
    by_spk = {slashing_change_script_pubkey(leaf.staker, ut): ut for ut in uts}
    records: list[Record] = []
    info: JSON = {**base, "change_vout": None, "change_value_sat": None}
    for j, o in enumerate(tx.outputs):
        ut = by_spk.get(o.script_pubkey)
        if ut is None:
            continue
        info.update(change_vout=j, change_value_sat=o.value)
        records.append(NewPosition(tx.index, tx.txid, j, o.value, "slashing_change", True,
                                   {"kind": "slashing_change", **stake_fields(pos.data),
                                    "status": "slashing_change", "unbonding_time": ut,
                                    "amount_known": True}))
        break
    if tx.outputs and info["change_vout"] != 0:
        info["slashed_sat"] = tx.outputs[0].value
    records.insert(0, Event(tx.index, tx.txid, "slash", amount, info))
    return Outcome(records)
