"""Recognising a phase-1 staking transaction and judging it against params (§1.2, §3).

Steps 1-5 of the official indexer for one tx and one params version: tagged OP_RETURN,
full parse, rebuilt taproot output matched exactly once, amount and time in range.
Step 6 (active or overflow) needs the running TVL and lives in the adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.babylon.decode import StakingPayload, find_candidate
from adapters.babylon.params import ParamsVersion
from adapters.babylon.scripts import DuplicateKeyError, StakingScripts, build_staking
from indexer.chain.block import TxOut

__all__ = ["StakeCheck", "check_staking_tx", "is_active"]


@dataclass(frozen=True, slots=True)
class StakeCheck:
    """A tagged candidate: `reason` is None for a valid stake, else why it is rejected.

    `staking_vout`/`value` are set once the taproot output is matched (even when the
    amount or time then fails), so the rejection can say what was locked where.
    """

    op_return_vout: int
    payload: StakingPayload | None
    staking_vout: int | None
    value: int | None
    scripts: StakingScripts | None
    reason: str | None

    @property
    def valid(self) -> bool:
        return self.reason is None

    def fields(self, params_version: int | None) -> dict[str, object]:
        """The contract's stake fields (keys hex), for records and `inspect`."""
        p = self.payload
        return {
            "staker_pk": p.staker_pk.hex() if p else None,
            "finality_provider_pk": p.finality_provider_pk.hex() if p else None,
            "staking_time": p.staking_time if p else None,
            "params_version": params_version,
            "staking_vout": self.staking_vout,
            "op_return_vout": self.op_return_vout,
        }


def check_staking_tx(outputs: Sequence[TxOut], pv: ParamsVersion) -> StakeCheck | None:
    """None when the tx is not a staking candidate for `pv`'s tag; else the verdict."""
    cand = find_candidate(outputs, pv.tag)
    if cand is None:
        return None
    if cand.payload is None:
        return StakeCheck(cand.vout, None, None, None, None, cand.reason)
    p = cand.payload
    try:
        scripts = build_staking(p.staker_pk, (p.finality_provider_pk,), p.staking_time,
                                pv.covenant_pks, pv.covenant_quorum)
    except DuplicateKeyError as e:
        return StakeCheck(cand.vout, p, None, None, None, f"staking script cannot be built: {e}")
    spk = scripts.script_pubkey
    matches = [i for i, o in enumerate(outputs) if o.script_pubkey == spk]
    if len(matches) != 1:
        what = "no output" if not matches else f"{len(matches)} outputs {matches}"
        return StakeCheck(cand.vout, p, None, None, scripts,
                          f"{what} pay the staking script rebuilt from the OP_RETURN with "
                          f"params version {pv.version}; exactly one must")
    vout = matches[0]
    value = outputs[vout].value
    reason = None
    if not pv.min_staking_amount <= value <= pv.max_staking_amount:
        reason = (f"staking amount {value} sat outside [{pv.min_staking_amount}, "
                  f"{pv.max_staking_amount}] of params version {pv.version}")
    elif not pv.min_staking_time <= p.staking_time <= pv.max_staking_time:
        reason = (f"staking time {p.staking_time} blocks outside [{pv.min_staking_time}, "
                  f"{pv.max_staking_time}] of params version {pv.version}")
    return StakeCheck(cand.vout, p, vout, value, scripts, reason)


def is_active(pv: ParamsVersion, height: int, tvl_before: int) -> bool:
    """Step 6: first come, first served against `cap_height` or `staking_cap`."""
    if pv.cap_height is not None:
        return pv.activation_height <= height <= pv.cap_height
    assert pv.staking_cap is not None
    return tvl_before < pv.staking_cap
