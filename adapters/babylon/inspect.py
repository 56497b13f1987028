"""`inspect tx`: what one Babylon transaction tells on its own, with no chain state.

A staking tx is judged against the params version in force at its height. The height is
rarely known here, so it is taken, in order, from the caller, from nLockTime (btc-staking-ts
sets nLockTime = activation - 1, so the tx cannot confirm before `nLockTime + 1`), or left
open (every version whose covenant set builds the output is listed). Spends are
recognised from their witnesses alone, with the spent stake's staking time and FP
recovered from the control block (§2.5); amounts that the tx does not state stay unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.babylon.params import GlobalParams, ParamsVersion, load_fp_registry
from adapters.babylon.spends import parse_leaf, script_path
from adapters.babylon.stakes import check_staking_tx
from adapters.babylon.transitions import discovered_data, follow_spend
from adapters.base import JSON, Event, NewPosition, Position, Rejected
from indexer.chain.block import Tx

if TYPE_CHECKING:
    from adapters.babylon.adapter import BabylonAdapter

__all__ = ["inspect_tx"]

LOCKTIME_THRESHOLD = 500_000_000  # below: a block height; above: a unix time


def inspect_tx(a: BabylonAdapter, tx: Tx, chain: str, height: int | None) -> list[JSON]:
    if chain != a.chain:
        from adapters.babylon.adapter import BabylonAdapter

        a = BabylonAdapter.from_params(chain, None)
    if not a.enabled:
        return []
    out = _stakes(a.params, tx, height)
    out += _spends(a, tx, height)
    return out


def _moniker(fp_hex: object) -> str | None:
    if not isinstance(fp_hex, str):
        return None
    return load_fp_registry().get(bytes.fromhex(fp_hex))


def _pick_version(params: GlobalParams, tx: Tx, height: int | None
                  ) -> tuple[ParamsVersion | None, str]:
    if height is not None:
        return params.at(height), "height"
    if 0 < tx.locktime < LOCKTIME_THRESHOLD and params.at(tx.locktime + 1) is not None:
        return params.at(tx.locktime + 1), "locktime"
    return None, "none"


def _stakes(params: GlobalParams, tx: Tx, height: int | None) -> list[JSON]:
    pv, basis = _pick_version(params, tx, height)
    out: list[JSON] = []
    for tag in params.tags:
        tagged = [v for v in params.versions if v.tag == tag]
        checks = {v.version: check_staking_tx(tx.outputs, v) for v in tagged}
        if all(c is None for c in checks.values()):
            continue
        possible = [n for n, c in checks.items() if c is not None and c.staking_vout is not None]
        if pv is not None and pv.tag == tag:
            v, used = pv, basis
        elif possible:
            # The covenant set narrows the version down; the newest match is reported.
            v, used = tagged[max(possible) - tagged[0].version], "covenant_set"
        else:
            v, used = tagged[-1], "none"
        c = checks[v.version]
        assert c is not None
        fields = c.fields(v.version)
        entry: JSON = {
            "protocol": "babylon", "kind": "stake", "txid": tx.txid,
            **fields,
            "finality_provider_moniker": _moniker(fields["finality_provider_pk"]),
            "tag": tag.hex(),
            "value_sat": c.value,
            "staking_script_pubkey": c.scripts.script_pubkey.hex() if c.scripts else None,
            "valid": c.valid,
            "reason": c.reason,
            "params_version_basis": used,
            "params_versions_possible": possible,
            "has_op_return": True,
        }
        # Overflow is knowable alone only under a cap height; a staking cap needs the TVL.
        entry["is_overflow"] = entry["status"] = None
        if c.valid and v.cap_height is not None and height is not None:
            entry["is_overflow"] = not v.activation_height <= height <= v.cap_height
            entry["status"] = "overflow" if entry["is_overflow"] else "active"
        out.append(entry)
    return out


def _spends(a: BabylonAdapter, tx: Tx, height: int | None) -> list[JSON]:
    out: list[JSON] = []
    for i, txin in enumerate(tx.inputs):
        sp = script_path(tx.witness(i))
        leaf = parse_leaf(sp.leaf) if sp else None
        if sp is None or leaf is None:
            continue
        found = a.identify(sp, leaf, set())
        if found is None:
            continue
        data = discovered_data(found)
        pos = Position(txin.prev_txid_hex, txin.prev_vout, 0, height or 0,
                       str(data["status"]), True, data)
        outcome = follow_spend(a, tx, i, pos, found, height or 0)
        entry: JSON = {
            "protocol": "babylon", "kind": None, "txid": tx.txid, "input": i,
            "spent_txid": txin.prev_txid_hex, "spent_vout": txin.prev_vout,
            "spent_output": found.output,
            "spent_script_pubkey": data["script_pubkey"],
            "staker_pk": data["staker_pk"],
            "finality_provider_pk": data["finality_provider_pk"],
            "finality_provider_moniker": _moniker(data["finality_provider_pk"]),
            "staking_time": data["staking_time"],
            "covenant_signatures": sum(1 for x in sp.args[:len(found.covenants)] if x)
            if leaf.kind != "timelock" else 0,
            "witness_items": len(tx.witness(i)),
            "amount_known": False,
            "valid": True,
            "reason": None,
            "creates": [],
        }
        for rec in outcome.records:
            if isinstance(rec, Event):
                entry.update({k: v for k, v in rec.data.items() if k not in entry
                              or entry[k] is None})
                entry["kind"] = rec.kind
            elif isinstance(rec, Rejected):
                entry.update({k: v for k, v in rec.data.items() if k not in entry
                              or entry[k] is None})
                entry["kind"] = entry["kind"] or leaf.kind.replace("unbonding", "unbond")
                entry["valid"] = False
                entry["reason"] = rec.reason
            elif isinstance(rec, NewPosition):
                entry["creates"].append({"vout": rec.vout, "value_sat": rec.value_sat,
                                         "status": rec.status, "kind": rec.data.get("kind")})
        out.append(entry)
    return out
