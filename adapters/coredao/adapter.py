"""The Core DAO adapter: self-custodial BTC stakes found from Bitcoin blocks alone.

A stake is a transaction with a `SAT+` OP_RETURN (see `decode`) and an output paying to the
P2SH/P2WSH hash of a CLTV redeem script (see `scripts`). It becomes a position (`active`,
locked) plus a `stake` event; spending the output gives a `redeem` event. The coins stay
locked, and counted, until spent: an expired lock does not move coins, and expired but
unspent stakes are only reported apart (`expired_sat`). Version-2 (BTC LST) payloads
become `stake` events without an amount, since the receiving wallets are listed on Core.

What this counts is an upper bound on Core's registered stake: a transaction never relayed
to Core, a validator Core refuses or a lock too short for Core still locks BTC on Bitcoin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from adapters.base import (
    JSON,
    Adapter,
    Event,
    InOpReturn,
    Needle,
    NewPosition,
    Position,
    Record,
    Rejected,
    ScanView,
)
from adapters.coredao.decode import (
    MAGIC,
    TIMELOCK_LEN,
    DecodeError,
    LstStake,
    Stake,
    decode_payload,
    extract_payload,
    is_sat_plus,
)
from adapters.coredao.params import CoreDaoParams, load_params
from adapters.coredao.scripts import (
    LOCKTIME_THRESHOLD,
    CltvScript,
    match_outputs,
    parse_cltv_script,
    rebuild_candidates,
)
from indexer.chain.block import Block, Tx

__all__ = [
    "CoreDaoAdapter",
    "analyse_tx",
    "is_expired",
    "locked_by_delegator",
    "locked_by_validator",
]

PROTOCOL = "coredao"
STATUS_ACTIVE = "active"


def _addr(raw: bytes) -> str:
    """A Core (EVM) address as users write it, lowercase."""
    return "0x" + raw.hex()


# ---------------------------------------------------------------- one transaction, pure


def analyse_tx(tx: Tx, chain_id: int, block_time: int | None = None) -> list[Record]:
    """The records one transaction makes on its own (stakes and rejections, no spends).

    `block_time`, when known, is kept in the position as `created_time`.
    """
    sat_vouts = [i for i, o in enumerate(tx.outputs) if is_sat_plus(o.script_pubkey)]
    if not sat_vouts:
        return []
    # NOTE: Core's verifier (BitcoinStake.parseVout) reads every OP_RETURN in order and
    # keeps the last one's fields, so the last SAT+ output is the one that speaks.
    op_vout = sat_vouts[-1]
    base: JSON = {"op_return_vout": op_vout}
    try:
        decoded = decode_payload(extract_payload(tx.outputs[op_vout].script_pubkey))
    except DecodeError as e:
        return [Rejected(tx.index, tx.txid, e.reason, base)]
    base.update(version=decoded.version, chain_id=decoded.chain_id)
    if decoded.chain_id != chain_id:
        # NOTE: still say everything the payload tells (read as a stake on its own chain
        # id), so a user sees why it does not count here and what it would be there.
        return [Rejected(tx.index, tx.txid,
                         f"wrong chain id {decoded.chain_id} (expected {chain_id})",
                         {**_as_own_chain(tx, decoded.chain_id, block_time), **base})]
    if isinstance(decoded, LstStake):
        data = {**base, "lst": True, "delegator": _addr(decoded.delegator),
                "fee": decoded.fee, "payload": decoded.payload.hex()}
        return [Event(tx.index, tx.txid, "stake", None, data)]
    return _stake_records(tx, decoded, base, block_time)


def _as_own_chain(tx: Tx, chain_id: int, block_time: int | None) -> JSON:
    """The fields a payload decodes to when read with its own chain id."""
    for rec in analyse_tx(tx, chain_id, block_time):
        if isinstance(rec, NewPosition):
            return {**rec.data, "vout": rec.vout, "amount_sat": rec.value_sat}
        if isinstance(rec, Event | Rejected):
            return dict(rec.data)
    return {}


def _candidates(tx: Tx, stake: Stake) -> list[tuple[bytes, str]]:
    """Redeem scripts to try, in order, each with where it came from."""
    if stake.redeem_script is not None:
        found = [(stake.redeem_script, "payload")]
        if len(stake.redeem_script) > TIMELOCK_LEN:
            # design.md: "RedeemScript" then an optional 4-byte timelock.
            found.append((stake.redeem_script[:-TIMELOCK_LEN], "payload_with_timelock"))
        return found
    assert stake.timelock is not None
    return [(s, "rebuilt") for s in rebuild_candidates(stake.timelock, tx)]


def _stake_records(tx: Tx, stake: Stake, base: JSON, block_time: int | None) -> list[Record]:
    tried = 0
    cltv_seen = False
    for script, source in _candidates(tx, stake):
        parsed = parse_cltv_script(script)
        if parsed is None:
            continue
        if source == "payload_with_timelock":
            assert stake.redeem_script is not None
            tail = int.from_bytes(stake.redeem_script[-TIMELOCK_LEN:], "little")
            if tail != parsed.locktime:
                continue
        cltv_seen = True
        tried += 1
        matches = match_outputs(script, tx.outputs)
        if matches:
            # Core's parseVout keeps the last matching output as the staked one.
            vout, output_type = matches[-1]
            return _stake_found(tx, stake, base, parsed, source, vout, output_type,
                                block_time)
    if stake.redeem_script is not None:
        if not cltv_seen:
            reason = "redeem script in the payload does not start with <locktime> OP_CLTV OP_DROP"
        else:
            reason = "no output pays to the P2SH/P2WSH hash of the payload's redeem script"
        return [Rejected(tx.index, tx.txid, reason,
                         {**base, "redeem_script": stake.redeem_script.hex()})]
    if tried == 0:
        reason = (f"timelock {stake.timelock} given without a script, and no input reveals "
                  "a public key or script to rebuild it from")
    else:
        reason = (f"no output matches any of {tried} redeem scripts rebuilt from timelock "
                  f"{stake.timelock} and the inputs' keys")
    return [Rejected(tx.index, tx.txid, reason, {**base, "timelock": stake.timelock})]


def _stake_found(tx: Tx, stake: Stake, base: JSON, script: CltvScript, source: str, vout: int,
                 output_type: str, block_time: int | None) -> list[Record]:
    value = tx.outputs[vout].value
    data: JSON = {
        **base,
        "delegator": _addr(stake.delegator),
        "validator": _addr(stake.validator),
        "fee": stake.fee,
        "unlock_time": script.locktime,
        "locktime_type": script.locktime_type,
        "redeem_script": script.script.hex(),
        "script_kind": script.kind,
        "script_source": source,
        "output_type": output_type,
        # False for locks Core's verifier refuses (it wants a 4-byte time lock push).
        "core_format": script.core_format,
    }
    pos_data = dict(data)
    if block_time is not None:
        pos_data["created_time"] = block_time
    return [
        NewPosition(tx.index, tx.txid, vout, value, STATUS_ACTIVE, True, pos_data),
        Event(tx.index, tx.txid, "stake", value, {**data, "vout": vout}),
    ]


# ---------------------------------------------------------------- expiry and totals


def is_expired(data: Mapping[str, Any], height: int | None, time: int | None) -> bool:
    """Whether a stake's CLTV lock has passed at chain height `height` / time `time`.

    A height lock L lets the output be spent in block L+1 (BIP65 compares with nLockTime,
    which must be below the spending block's height), so it has passed once `height >= L`.
    A time lock is compared with `time` (the caller's best "now": a block time; consensus
    really uses the median time past, up to about an hour behind). Unknown "now" -> False.
    """
    unlock = data.get("unlock_time")
    if not isinstance(unlock, int):
        return False
    if unlock < LOCKTIME_THRESHOLD:
        return height is not None and height >= unlock
    return time is not None and time >= unlock


def _totals(positions: Sequence[Position], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in positions:
        if p.locked:
            k = str(p.data.get(key, ""))
            out[k] = out.get(k, 0) + p.value_sat
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def locked_by_validator(positions: Sequence[Position]) -> dict[str, int]:
    """Locked sats per Core validator address, largest first."""
    return _totals(positions, "validator")


def locked_by_delegator(positions: Sequence[Position]) -> dict[str, int]:
    """Locked sats per Core reward (delegator) address, largest first."""
    return _totals(positions, "delegator")


# ---------------------------------------------------------------- the adapter


class CoreDaoAdapter(Adapter):
    """Core DAO self-custodial BTC staking (`SAT+` OP_RETURN + CLTV P2SH/P2WSH output)."""

    name: ClassVar[str] = PROTOCOL

    def __init__(self, chain: str, params: CoreDaoParams) -> None:
        self.chain = chain
        self.params = params

    @classmethod
    def from_params(cls, chain: str, section: Mapping[str, Any] | None) -> CoreDaoAdapter:
        return cls(chain, load_params(chain, section))

    def start_height(self) -> int:
        return self.params.start_height

    def needles(self, state: Mapping[str, Any]) -> Sequence[Needle]:
        return (InOpReturn(MAGIC),)

    def scan(self, block: Block, view: ScanView) -> None:
        for tx in block.txs:
            if not tx.is_coinbase:
                self._redeems(tx, view)
            for record in analyse_tx(tx, self.params.chain_id, block.time):
                view.emit(record)

    @staticmethod
    def _redeems(tx: Tx, view: ScanView) -> None:
        for i, txin in enumerate(tx.inputs):
            pos = view.spent_position(txin)
            if pos is None:
                continue
            view.emit(Event(tx.index, tx.txid, "redeem", pos.value_sat, {
                "staking_txid": pos.txid,
                "vout": pos.vout,
                "input": i,
                "delegator": pos.data.get("delegator"),
                "validator": pos.data.get("validator"),
                "unlock_time": pos.data.get("unlock_time"),
                "staked_height": pos.height,
            }))
            view.mark_spent(txin)

    def inspect(self, tx: Tx, chain: str) -> list[JSON]:
        chain_id = (self.params.chain_id if chain == self.chain
                    else load_params(chain, None).chain_id)
        out: list[JSON] = []
        for r in analyse_tx(tx, chain_id):
            if isinstance(r, Event):
                out.append({"protocol": PROTOCOL, "kind": r.kind, "txid": r.txid,
                            "amount_sat": r.amount_sat, **r.data})
            elif isinstance(r, Rejected):
                out.append({"protocol": PROTOCOL, "kind": "rejected", "txid": r.txid,
                            "reason": r.reason, **r.data})
        return out

    def locked_detail_at(self, positions: Sequence[Position], *, height: int,
                         median_time: int | None) -> JSON:
        # NOTE: a CLTV time lock is judged against the median time past (BIP113).
        return self.locked_detail(positions, now_height=height, now_time=median_time)

    def locked_detail(self, positions: Sequence[Position], *, now_height: int | None = None,
                      now_time: int | None = None) -> JSON:
        """`expired_sat` and per-validator totals for the `locked` line.

        The interface hands over positions only, not the height the line is for. Unless the
        caller passes `now_height`/`now_time`, "now" is the newest point the positions
        themselves show (highest creation height, latest `created_time`): never later than
        the real query point, so `expired_sat` is then a lower bound.
        """
        live = [p for p in positions if p.locked]
        if now_height is None and live:
            now_height = max(p.height for p in live)
        if now_time is None:
            times = [t for p in live if isinstance(t := p.data.get("created_time"), int)]
            now_time = max(times) if times else None
        expired = sum(p.value_sat for p in live if is_expired(p.data, now_height, now_time))
        return {
            "expired_sat": expired,
            "expiry_as_of": {"height": now_height, "time": now_time},
            "validators": locked_by_validator(live),
        }
