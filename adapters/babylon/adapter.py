"""The Babylon adapter: phase-1 stakes by OP_RETURN, their spends, phase-2 stakes on spend.

Per block, in tx order (the cap is first come, first served): a tx is first tried as a
staking tx (§1.2), then each input is looked at as a spend (§2.3-2.5): of one of our
positions (stake, unbonding output, slashing change), or, when the witness proves a
Babylon output over a known covenant set, of a stake never seen before (phase 2, §4).

State (`StateUpdate`, rolled back by height with everything else):
  `tvl_sat`   the official "confirmed TVL": raised by each active phase-1 stake, lowered
              only when such a stake is validly unbonded (§1.2 step 6).
  `fps_seen`  sorted hex FP keys seen in OP_RETURNs: candidates for FP recovery (§2.5).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from adapters.babylon.decode import tag_prefix
from adapters.babylon.params import (
    GlobalParams,
    ParamsVersion,
    builtin_params,
    load_fp_registry,
    parse_params,
)
from adapters.babylon.scripts import NUMS_X
from adapters.babylon.spends import (
    CovenantSet,
    Leaf,
    ScriptPathSpend,
    SpentOutput,
    identify_spent_output,
    parse_leaf,
    script_path,
)
from adapters.babylon.stakes import check_staking_tx, is_active
from adapters.babylon.transitions import Outcome, discovered_data, follow_spend
from adapters.base import (
    JSON,
    Adapter,
    Event,
    InOpReturn,
    Needle,
    NewPosition,
    Position,
    Rejected,
    ScanView,
    StateUpdate,
)
from indexer.chain.block import Block, Tx

log = logging.getLogger(__name__)

__all__ = ["NEVER", "BabylonAdapter"]

#: start_height() when the chain has no params versions: nothing is ever scanned.
NEVER = 2**31 - 1
TVL_KEY = "tvl_sat"
#: A script-path control block under the NUMS internal key starts with one of these
#: (leaf version 0xc0, output key parity in bit 0; BIP341).
NUMS_CONTROL_PREFIXES = (b"\xc0" + NUMS_X, b"\xc1" + NUMS_X)
FPS_KEY = "fps_seen"



@cache
def _registry_keys() -> tuple[tuple[bytes, ...], frozenset[bytes]]:
    """The registry's finality-provider keys in its order, and as a set (built once: the
    phase-2 discovery asks for them for every NUMS script-path spend of every block)."""
    keys = tuple(load_fp_registry())
    return keys, frozenset(keys)

class BabylonAdapter(Adapter):
    name = "babylon"

    def __init__(self, chain: str, params: GlobalParams) -> None:
        self.chain = chain
        self.params = params
        self._known_sets: dict[CovenantSet, tuple[int, ...]] = {}
        for v in params.versions:
            uts = self._known_sets.get(v.covenant_set, ())
            if v.unbonding_time not in uts:
                self._known_sets[v.covenant_set] = (*uts, v.unbonding_time)
        self.time_hints = tuple(dict.fromkeys(
            t for v in params.versions for t in (v.min_staking_time, v.max_staking_time)))

    # ------------------------------------------------------------ construction

    @classmethod
    def from_params(cls, chain: str, section: Mapping[str, Any] | None) -> BabylonAdapter:
        params = parse_params(section) if section else builtin_params(chain)
        if not params.versions:
            log.info("babylon: no params versions for chain %s; the adapter stays idle "
                     "(give a 'babylon' section with 'versions' to enable it)", chain)
        return cls(chain, params)

    @property
    def enabled(self) -> bool:
        return bool(self.params.versions)

    def start_height(self) -> int:
        first = self.params.first_height
        return NEVER if first is None else first

    def needles(self, state: Mapping[str, Any]) -> Sequence[Needle]:
        if not self.enabled:
            return ()
        # What a tx must hold for `scan` to do anything with it (spends of tracked
        # positions reach it through the outline, whatever they hold):
        # - a staking tx: its tagged OP_RETURN (`find_candidate` needs the 7-byte prefix);
        # - an unbonding or slashing spend: every such leaf carries all covenant keys;
        # - a phase-2 stake found by its spend (`_discover`): `script_path` accepts only a
        #   control block `c0|c1 || NUMS`, so that 33-byte prefix, not the bare key. The
        #   bare NUMS key also sits in ordinary mainnet taproot spends, which would make
        #   most blocks candidates for nothing.
        out: list[Needle] = [InOpReturn(tag_prefix(t)) for t in self.params.tags]
        out += [covs[0] for covs, _ in self._known_sets]
        out += NUMS_CONTROL_PREFIXES
        return tuple(dict.fromkeys(out))

    # ------------------------------------------------------------ scanning

    def scan(self, block: Block, view: ScanView) -> None:
        if not self.enabled:
            return
        pv = self.params.at(view.height)
        tvl0: int = view.state(TVL_KEY, 0)
        fps0: list[str] = view.state(FPS_KEY, [])
        run = _BlockRun(self, view, pv, tvl0, {bytes.fromhex(h) for h in fps0})
        # NOTE: discovery needs every input's witness; skip it unless the NUMS key is in
        # the transaction. A whole block is searched once first; a partial one holds a
        # handful of transactions, cheaper to search one by one than the whole 1.6 MB.
        nums_here = block.partial or NUMS_X in block.raw
        for tx in block.txs:
            if tx.is_coinbase:
                continue
            if pv is not None:
                run.stake(tx, pv)
            run.spends(tx, nums_here and tx.holds(NUMS_X))
        if run.tvl != tvl0:
            view.emit(StateUpdate(TVL_KEY, run.tvl))
        fps = sorted(fp.hex() for fp in run.fps)
        if fps != sorted(fps0):
            view.emit(StateUpdate(FPS_KEY, fps))

    def fp_candidates(self, seen: set[bytes]) -> list[bytes]:
        known, known_set = _registry_keys()
        extra = seen - known_set
        return [*known, *sorted(extra)] if extra else list(known)

    def identify(self, sp: ScriptPathSpend, leaf: Leaf, seen: set[bytes]
                 ) -> SpentOutput | None:
        return identify_spent_output(sp, leaf, self._known_sets, self.fp_candidates(seen),
                                     self.time_hints)

    @property
    def known_sets(self) -> dict[CovenantSet, tuple[int, ...]]:
        return self._known_sets

    # ------------------------------------------------------------ inspect / locked

    def inspect(self, tx: Tx, chain: str) -> list[JSON]:
        return self.inspect_at(tx, chain, None)

    def inspect_at(self, tx: Tx, chain: str, height: int | None) -> list[JSON]:
        """`inspect`, judging a staking tx by the params at `height` when it is known."""
        from adapters.babylon.inspect import inspect_tx

        return inspect_tx(self, tx, chain, height)

    def locked_detail(self, positions: Sequence[Position]) -> JSON:
        by_status: dict[str, int] = {}
        proven = unknown = 0
        for p in positions:
            by_status[p.status] = by_status.get(p.status, 0) + p.value_sat
            if p.data.get("amount_known", True):
                proven += p.value_sat
            else:
                unknown += 1
        return {
            "active_sat": by_status.get("active", 0),
            "overflow_sat": by_status.get("overflow", 0),
            "unbonding_sat": by_status.get("unbonding", 0),
            "slashing_change_sat": by_status.get("slashing_change", 0),
            "chain_proven_sat": proven,
            "unknown_amount": unknown,
        }


class _BlockRun:
    """One block's pass: the running TVL and FP set, and the records it emits."""

    def __init__(self, adapter: BabylonAdapter, view: ScanView, pv: ParamsVersion | None,
                 tvl: int, fps: set[bytes]) -> None:
        self.a = adapter
        self.view = view
        self.pv = pv
        self.tvl = tvl
        self.fps = fps

    def stake(self, tx: Tx, pv: ParamsVersion) -> None:
        check = check_staking_tx(tx.outputs, pv)
        if check is None:
            return
        fields = check.fields(pv.version)
        if check.payload is not None:
            self.fps.add(check.payload.finality_provider_pk)
        if not check.valid:
            assert check.reason is not None
            self.view.emit(Rejected(tx.index, tx.txid, check.reason,
                                    {**fields, "value_sat": check.value}))
            return
        assert check.staking_vout is not None and check.value is not None
        active = is_active(pv, self.view.height, self.tvl)
        if active:
            self.tvl += check.value
        status = "active" if active else "overflow"
        data = {"kind": "staking", **fields, "status": status, "counts_toward_cap": active}
        self.view.emit(NewPosition(tx.index, tx.txid, check.staking_vout, check.value, status,
                                   True, data))
        self.view.emit(Event(tx.index, tx.txid, "stake", check.value, dict(data)))

    def spends(self, tx: Tx, discover: bool) -> None:
        for i, txin in enumerate(tx.inputs):
            pos = self.view.spent_position(txin)
            if pos is not None:
                self.view.mark_spent(txin)
                self._follow(tx, i, pos, None)
            elif discover:
                self._discover(tx, i)

    def _discover(self, tx: Tx, i: int) -> None:
        sp = script_path(tx.witness(i))
        if sp is None:
            return
        leaf = parse_leaf(sp.leaf)
        if leaf is None:
            return
        found = self.a.identify(sp, leaf, self.fps)
        if found is None:
            return
        txin = tx.inputs[i]
        data = discovered_data(found)
        status = str(data["status"])
        self.view.emit(NewPosition(tx.index, txin.prev_txid_hex, txin.prev_vout, 0, status,
                                   True, data, None, tx.txid))
        pos = Position(txin.prev_txid_hex, txin.prev_vout, 0, self.view.height, status, True,
                       data)
        self._follow(tx, i, pos, found)

    def _follow(self, tx: Tx, i: int, pos: Position, found: SpentOutput | None) -> None:
        outcome = follow_spend(self.a, tx, i, pos, found, self.view.height)
        self._apply(tx, outcome)

    def _apply(self, tx: Tx, out: Outcome) -> None:
        for rec in out.records:
            self.view.emit(rec)
        self.tvl -= out.tvl_release
