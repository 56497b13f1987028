"""Scanning built blocks: caps in tx order, unbondings, rejects, spends, phase-2 discovery.

Blocks come from `regtest.build.create_block` under a regtest params section (own tag and
covenant keys), and a tiny stand-in for the core carries positions and state between
blocks the way the real one does (spends marked from the block's inputs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from coincurve import PrivateKey

from adapters.babylon import BabylonAdapter
from adapters.babylon.params import ParamsVersion
from adapters.babylon.scripts import (
    NUMS_X,
    StakingScripts,
    build_staking,
    output_key,
    slashing_change_script_pubkey,
    tapbranch,
    tapleaf_hash,
    timelock_leaf,
    unbonding_script_pubkey,
)
from adapters.base import (
    Event,
    InOpReturn,
    NewPosition,
    Position,
    Record,
    Rejected,
    ScanView,
    StateUpdate,
)
from indexer.chain.block import parse_block, parse_tx, txid_from_hex
from regtest.build import Transaction, TxInput, TxOutput, create_block
from tests.support.needles import tx_holds


def _key(n: int) -> bytes:
    return PrivateKey(n.to_bytes(32, "big")).public_key.format(compressed=True)


COVENANTS = [_key(1001 + i) for i in range(3)]
STAKER, STAKER2, FP, FP2 = (_key(n)[1:] for n in (11, 12, 21, 22))
TAG = b"rgt1"
T = 150  # not a "common" staking time: recovering it exercises the full search


def _version(n: int, activation: int, **kw: Any) -> dict[str, Any]:
    v = {"version": n, "activation_height": activation, "tag": TAG.hex(),
         "covenant_pks": [k.hex() for k in COVENANTS], "covenant_quorum": 2,
         "unbonding_time": 50, "unbonding_fee": 2000, "min_staking_amount": 10_000,
         "max_staking_amount": 2_000_000, "min_staking_time": 100, "max_staking_time": 1000,
         "confirmation_depth": 2}
    v.update(kw)
    return v


PARAMS = {"versions": [
    _version(0, 200, staking_cap=3_000_000),
    _version(1, 300, cap_height=305, unbonding_fee=1000, max_staking_amount=5_000_000),
]}


def _adapter() -> BabylonAdapter:
    return BabylonAdapter.from_params("regtest", PARAMS)


def _pv(height: int) -> ParamsVersion:
    pv = _adapter().params.at(height)
    assert pv is not None
    return pv


def _funding(n: int) -> TxInput:
    return TxInput(hashlib.sha256(b"fund%d" % n).hexdigest(), 0, witness=[b"\x01" * 64])


def _scripts(height: int, staker: bytes = STAKER, fp: bytes = FP, t: int = T
             ) -> StakingScripts:
    pv = _pv(height)
    return build_staking(staker, (fp,), t, pv.covenant_pks, pv.covenant_quorum)


def op_return(staker: bytes = STAKER, fp: bytes = FP, t: int = T, tag: bytes = TAG,
              version: int = 0) -> bytes:
    return b"\x6a\x47" + tag + bytes([version]) + staker + fp + t.to_bytes(2, "big")


def stake_tx(n: int, value: int, height: int, *, staker: bytes = STAKER, fp: bytes = FP,
             t: int = T, with_op_return: bool = True, op: bytes | None = None) -> Transaction:
    outs = [TxOutput(value, _scripts(height, staker, fp, t).script_pubkey)]
    if with_op_return:
        outs.append(TxOutput(0, op if op is not None else op_return(staker, fp, t)))
    outs.append(TxOutput(5000, b"\x00\x14" + bytes(20)))
    return Transaction(inputs=[_funding(n)], outputs=outs)


def _control(s: StakingScripts, leaf: str) -> bytes:
    path = {"timelock": s.unbonding_hash + s.slashing_hash,
            "unbonding": s.timelock_hash + s.slashing_hash,
            "slashing": tapbranch(s.timelock_hash, s.unbonding_hash)}[leaf]
    return bytes([0xC0 | s.parity]) + NUMS_X + path


SIG = b"\x22" * 64


def spend_input(stake: Transaction, s: StakingScripts, leaf: str, vout: int = 0,
                sequence: int = 0xFFFFFFFF) -> TxInput:
    script = {"timelock": s.timelock, "unbonding": s.unbonding, "slashing": s.slashing}[leaf]
    sigs = {"timelock": [SIG], "unbonding": [SIG, b"", SIG, SIG],
            "slashing": [SIG, b"", SIG, SIG, SIG]}[leaf]
    return TxInput(stake.txid(), vout, sequence=sequence,
                   witness=[*sigs, script, _control(s, leaf)])


def unbonding_tx(stake: Transaction, s: StakingScripts, value: int, *, sequence: int =
                 0xFFFFFFFF, unbonding_time: int = 50) -> Transaction:
    spk = unbonding_script_pubkey(STAKER, unbonding_time, s.slashing_hash)
    return Transaction(inputs=[spend_input(stake, s, "unbonding", sequence=sequence)],
                       outputs=[TxOutput(value, spk)])


@dataclass
class Core:
    """Carries positions and state from block to block like the indexer's core."""

    adapter: BabylonAdapter = field(default_factory=_adapter)
    positions: dict[tuple[str, int], Position] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    prev: str = "00" * 32

    def mine(self, height: int, txs: list[Transaction]) -> list[Record]:
        raw = create_block(self.prev, height, 1_700_000_000 + height,
                           [t.serialize() for t in txs], b"\x51")
        block = parse_block(raw)
        self.prev = block.hash
        view = ScanView(chain="regtest", height=height, block_hash=block.hash,
                        block_time=block.time,
                        tracked={(txid_from_hex(t), v) for t, v in self.positions},
                        load_position=lambda t, v: self.positions.get((t, v)),
                        state=self.state)
        self.adapter.scan(block, view)
        for rec in view.records:
            if isinstance(rec, NewPosition) and rec.spent_by is None:
                self.positions[(rec.txid, rec.vout)] = Position(
                    rec.txid, rec.vout, rec.value_sat, height, rec.status, rec.locked, rec.data)
            elif isinstance(rec, StateUpdate):
                self.state[rec.key] = rec.value
        for tx in block.txs:
            for i in tx.inputs:
                self.positions.pop((i.prev_txid_hex, i.prev_vout), None)
        return view.records


def _of(records: list[Record], kind: type) -> list[Any]:
    return [r for r in records if isinstance(r, kind)]


def _statuses(records: list[Record]) -> list[str]:
    return [r.status for r in _of(records, NewPosition)]


# ---------------------------------------------------------------- stakes and the cap


def test_staking_cap_is_first_come_first_served_in_tx_order() -> None:
    core = Core()
    recs = core.mine(200, [stake_tx(1, 2_000_000, 200), stake_tx(2, 1_500_000, 200),
                           stake_tx(3, 1_000_000, 200)])
    # 0 < cap, 2.0M < cap: both active (the second pushes TVL over); 3.5M >= cap: overflow.
    assert _statuses(recs) == ["active", "active", "overflow"]
    assert core.state["tvl_sat"] == 3_500_000
    events = _of(recs, Event)
    assert [(e.kind, e.amount_sat, e.data["status"]) for e in events] == [
        ("stake", 2_000_000, "active"), ("stake", 1_500_000, "active"),
        ("stake", 1_000_000, "overflow")]
    pos = _of(recs, NewPosition)[0]
    assert pos.locked and pos.vout == 0
    assert {k: pos.data[k] for k in ("staker_pk", "finality_provider_pk", "staking_time",
                                     "params_version", "status", "kind")} == {
        "staker_pk": STAKER.hex(), "finality_provider_pk": FP.hex(), "staking_time": T,
        "params_version": 0, "status": "active", "kind": "staking"}


def test_order_inside_the_block_decides_who_overflows() -> None:
    core = Core()
    recs = core.mine(200, [stake_tx(3, 1_000_000, 200), stake_tx(1, 2_000_000, 200),
                           stake_tx(2, 1_500_000, 200)])
    assert _statuses(recs) == ["active", "active", "overflow"]
    assert [p.value_sat for p in _of(recs, NewPosition)] == [1_000_000, 2_000_000, 1_500_000]


def test_cap_height_decides_by_height_not_tvl() -> None:
    core = Core()
    core.state["tvl_sat"] = 10**12  # far above any cap: irrelevant under cap_height
    assert _statuses(core.mine(305, [stake_tx(1, 4_000_000, 305)])) == ["active"]
    recs = core.mine(306, [stake_tx(2, 4_000_000, 306)])
    assert _statuses(recs) == ["overflow"]
    assert _of(recs, NewPosition)[0].data["params_version"] == 1


def test_unbonding_in_the_same_block_as_its_stake_frees_the_cap() -> None:
    core = Core()
    s = _scripts(200)
    first = stake_tx(1, 2_000_000, 200)
    unbond = unbonding_tx(first, s, 2_000_000 - 2000)
    recs = core.mine(200, [first, unbond, stake_tx(2, 1_500_000, 200),
                           stake_tx(3, 1_000_000, 200)])
    kinds = [(e.kind, e.txid) for e in _of(recs, Event)]
    assert kinds[:2] == [("stake", first.txid()), ("unbond", unbond.txid())]
    # After the unbonding TVL is 0 again, so both later stakes are active.
    assert _statuses(recs) == ["active", "unbonding", "active", "active"]
    assert core.state["tvl_sat"] == 2_500_000
    ub = _of(recs, NewPosition)[1]
    assert (ub.txid, ub.vout, ub.value_sat) == (unbond.txid(), 0, 1_998_000)
    assert ub.data["kind"] == "unbonding" and ub.data["staking_time"] == T
    assert (first.txid(), 0) not in core.positions
    assert (unbond.txid(), 0) in core.positions


def test_unbonding_an_overflow_stake_leaves_tvl_alone() -> None:
    core = Core()
    core.state["tvl_sat"] = 3_000_000
    stake = stake_tx(1, 1_000_000, 200)
    core.mine(200, [stake])
    recs = core.mine(201, [unbonding_tx(stake, _scripts(200), 998_000)])
    assert [e.kind for e in _of(recs, Event)] == ["unbond"]
    assert core.state["tvl_sat"] == 3_000_000


@pytest.mark.parametrize(("change", "reason"), [
    ({"value": 1_000_000 - 1000}, "unbonding fee 2000"),
    ({"sequence": 0xFFFFFFFE}, "sequence"),
    ({"unbonding_time": 51}, "not the unbonding output"),
])
def test_invalid_unbondings_are_rejected_with_the_reason(change: dict[str, int],
                                                         reason: str) -> None:
    core = Core()
    stake = stake_tx(1, 1_000_000, 200)
    core.mine(200, [stake])
    args = {"value": 998_000, **change}
    value = args.pop("value")
    recs = core.mine(201, [unbonding_tx(stake, _scripts(200), value, **args)])
    rejected = _of(recs, Rejected)
    assert len(rejected) == 1 and reason in rejected[0].reason
    assert rejected[0].reason.startswith("invalid unbonding")
    assert not _of(recs, Event)
    assert core.state["tvl_sat"] == 1_000_000  # the official counter is not lowered
    # The stake output is gone either way; what still sits in a Babylon output is tracked.
    assert (stake.txid(), 0) not in core.positions
    tracked = [p for p in core.positions.values() if p.status == "unbonding"]
    assert [p.data["valid"] for p in tracked] == ([] if "unbonding_time" in change else [False])


def test_candidates_failing_the_rules_are_rejected_never_locked() -> None:
    core = Core()
    too_small = stake_tx(1, 9_999, 200)
    too_big = stake_tx(2, 2_000_001, 200)
    too_long = stake_tx(3, 50_000, 200, t=1001)
    no_output = stake_tx(4, 50_000, 200, op=op_return(t=T + 1))
    same_key = stake_tx(5, 50_000, 200, op=op_return(fp=STAKER))
    two = stake_tx(6, 50_000, 200)
    two.outputs.append(TxOutput(0, op_return()))
    recs = core.mine(200, [too_small, too_big, too_long, no_output, same_key, two])
    assert not _of(recs, NewPosition) and not _of(recs, Event)
    reasons = {r.txid: r.reason for r in _of(recs, Rejected)}
    assert "staking amount 9999 sat outside [10000, 2000000]" in reasons[too_small.txid()]
    assert "staking amount 2000001" in reasons[too_big.txid()]
    assert "staking time 1001 blocks outside [100, 1000]" in reasons[too_long.txid()]
    assert "no output pay" in reasons[no_output.txid()]
    assert "appears twice" in reasons[same_key.txid()]
    assert "exactly one" in reasons[two.txid()]
    assert core.state.get("tvl_sat", 0) == 0


@pytest.mark.parametrize("op", [
    op_return(tag=b"bbn1"),  # mainnet's tag on a regtest chain
    op_return(version=1),
    op_return()[:-1],  # 72 bytes
    op_return() + b"\x00",  # 74 bytes
    b"\x6a\x4c\x47" + op_return()[2:],  # the same payload behind PUSHDATA1
])
def test_look_alike_op_returns_do_not_match(op: bytes) -> None:
    core = Core()
    assert core.mine(200, [stake_tx(1, 50_000, 200, op=op)]) == []
    assert core.positions == {}


def test_nothing_before_the_first_version_and_nothing_on_idle_regtest() -> None:
    assert Core().mine(199, [stake_tx(1, 50_000, 200)]) == []
    idle = Core(adapter=BabylonAdapter.from_params("regtest", None))
    assert idle.mine(200, [stake_tx(1, 50_000, 200)]) == []


def test_needles_find_stakes_and_babylon_spends() -> None:
    needles = _adapter().needles({})
    assert InOpReturn(b"\x6a\x47" + TAG + b"\x00") in needles
    assert b"\xc0" + NUMS_X in needles and NUMS_X not in needles
    assert min(k[1:] for k in COVENANTS) in needles
    stake = parse_tx(stake_tx(1, 50_000, 200).serialize())
    unbond = parse_tx(unbonding_tx(stake_tx(1, 50_000, 200), _scripts(200), 48_000)
                      .serialize())
    assert any(tx_holds(stake, n) for n in needles)
    assert not tx_holds(unbond, needles[0])
    assert any(tx_holds(unbond, n) for n in needles[1:])


# ---------------------------------------------------------------- spends


def test_withdrawals_from_stake_and_from_unbonding_output() -> None:
    core = Core()
    s = _scripts(200)
    a, b = stake_tx(1, 50_000, 200), stake_tx(2, 60_000, 200)
    core.mine(200, [a, b])
    unbond = unbonding_tx(b, s, 58_000)
    core.mine(201, [unbond])
    withdraw_a = Transaction(inputs=[spend_input(a, s, "timelock", sequence=T)],
                             outputs=[TxOutput(49_000, b"\x51\x20" + bytes(32))])
    ub_tl = timelock_leaf(STAKER, 50)  # the unbonding output's timelock leaf
    ub_root_path = s.slashing_hash
    _, parity = output_key(tapbranch(tapleaf_hash(ub_tl), s.slashing_hash))
    withdraw_b = Transaction(inputs=[TxInput(unbond.txid(), 0, sequence=50, witness=[
        SIG, ub_tl, bytes([0xC0 | parity]) + NUMS_X + ub_root_path])],
        outputs=[TxOutput(57_000, b"\x51\x20" + bytes(32))])
    recs = core.mine(400, [withdraw_a, withdraw_b])
    events = _of(recs, Event)
    assert [(e.kind, e.amount_sat, e.data["from"]) for e in events] == [
        ("withdraw", 50_000, "staking"), ("withdraw", 58_000, "unbonding")]
    assert core.positions == {}
    assert core.state["tvl_sat"] == 50_000  # withdrawals never lower the official TVL


def test_slashing_tracks_the_change_until_it_is_withdrawn() -> None:
    core = Core()
    s = _scripts(200)
    stake = stake_tx(1, 100_000, 200)
    core.mine(200, [stake])
    change_spk = slashing_change_script_pubkey(STAKER, 50)
    slash = Transaction(inputs=[spend_input(stake, s, "slashing")],
                        outputs=[TxOutput(10_000, bytes.fromhex("6a07626162796c6f6e")),
                                 TxOutput(89_000, change_spk)])
    recs = core.mine(201, [slash])
    ev = _of(recs, Event)
    assert [(e.kind, e.amount_sat, e.data["change_vout"], e.data["slashed_sat"])
            for e in ev] == [("slash", 100_000, 1, 10_000)]
    change = _of(recs, NewPosition)
    assert [(p.vout, p.value_sat, p.status) for p in change] == [(1, 89_000, "slashing_change")]
    leaf = timelock_leaf(STAKER, 50)
    _, parity = output_key(tapleaf_hash(leaf))
    out = Transaction(inputs=[TxInput(slash.txid(), 1, sequence=50,
                                      witness=[SIG, leaf, bytes([0xC0 | parity]) + NUMS_X])],
                      outputs=[TxOutput(88_000, b"\x51\x20" + bytes(32))])
    recs = core.mine(260, [out])
    assert [(e.kind, e.data["from"]) for e in _of(recs, Event)] == [
        ("withdraw", "slashing_change")]
    assert core.positions == {}


def test_stake_expansion_moves_the_stake() -> None:
    core = Core()
    s = _scripts(200)
    old = stake_tx(1, 100_000, 200)
    core.mine(200, [old])
    new_spk = _scripts(210).script_pubkey
    expand = Transaction(inputs=[spend_input(old, s, "unbonding"), _funding(9)],
                         outputs=[TxOutput(150_000, new_spk),
                                  TxOutput(4_000, b"\x00\x14" + bytes(20))])
    recs = core.mine(210, [expand])
    assert [(e.kind, e.amount_sat, e.data["new_vout"], e.data["new_value_sat"])
            for e in _of(recs, Event)] == [("expand", 100_000, 0, 150_000)]
    assert not _of(recs, Rejected)
    (new,) = _of(recs, NewPosition)
    assert new.status == "active" and new.value_sat == 150_000
    assert new.data["expanded_from"] == f"{old.txid()}:0"
    assert core.state["tvl_sat"] == 100_000  # moved, not released


def test_stake_expansion_to_a_new_staking_time_is_followed() -> None:
    # The new delegation picks its own time in [min, max] (here 333, neither the old 150
    # nor a bound); the new output must still be found and tracked.
    core = Core()
    old = stake_tx(1, 100_000, 200)
    core.mine(200, [old])
    expand = Transaction(inputs=[spend_input(old, _scripts(200), "unbonding"), _funding(9)],
                         outputs=[TxOutput(150_000, _scripts(210, t=333).script_pubkey)])
    recs = core.mine(210, [expand])
    (new,) = _of(recs, NewPosition)
    assert (new.vout, new.value_sat, new.data["staking_time"]) == (0, 150_000, 333)


def test_an_unbonding_leaf_spend_that_is_neither_is_rejected() -> None:
    core = Core()
    stake = stake_tx(1, 100_000, 200)
    core.mine(200, [stake])
    odd = Transaction(inputs=[_funding(9), spend_input(stake, _scripts(200), "unbonding")],
                      outputs=[TxOutput(90_000, b"\x51\x20" + bytes(32))])
    recs = core.mine(201, [odd])
    assert len(_of(recs, Rejected)) == 1 and "neither" in _of(recs, Rejected)[0].reason


# ---------------------------------------------------------------- phase 2: seen on spend


def test_phase2_stake_without_op_return_is_recorded_when_unbonded() -> None:
    core = Core()
    # A tagged stake to FP2 makes FP2 a known FP (it is in no registry).
    core.mine(200, [stake_tx(1, 50_000, 200, staker=STAKER2, fp=FP2)])
    hidden = stake_tx(2, 80_000, 200, fp=FP2, with_op_return=False)
    assert core.mine(201, [hidden]) == []  # nothing ties it to Babylon yet
    unbond = unbonding_tx(hidden, _scripts(200, fp=FP2), 78_000)
    recs = core.mine(202, [unbond])
    found = [p for p in _of(recs, NewPosition) if p.spent_by is not None]
    assert len(found) == 1
    st = found[0]
    assert (st.txid, st.vout, st.spent_by) == (hidden.txid(), 0, unbond.txid())
    assert st.created_height is None and st.value_sat == 0
    assert st.data["discovered_on_spend"] is True and st.data["amount_known"] is False
    assert st.data["staker_pk"] == STAKER.hex()
    assert st.data["staking_time"] == T  # recovered from the timelock-leaf hash
    assert st.data["finality_provider_pk"] == FP2.hex()  # recovered via the FPs seen
    assert st.data["script_pubkey"] == _scripts(200, fp=FP2).script_pubkey.hex()
    assert [e.kind for e in _of(recs, Event)] == ["unbond"]
    assert _of(recs, Event)[0].amount_sat is None
    ub = core.positions[(unbond.txid(), 0)]
    assert ub.status == "unbonding" and ub.value_sat == 78_000
    assert core.state["tvl_sat"] == 50_000


def test_unknown_fp_leaves_the_fp_open_but_still_records_the_stake() -> None:
    core = Core()
    hidden = stake_tx(2, 80_000, 200, fp=FP2, with_op_return=False)
    unbond = unbonding_tx(hidden, _scripts(200, fp=FP2), 78_000)
    recs = core.mine(202, [hidden, unbond])
    (st,) = [p for p in _of(recs, NewPosition) if p.spent_by is not None]
    assert st.data["finality_provider_pk"] is None and st.data["staking_time"] == T


def test_spends_of_other_taproot_scripts_are_ignored() -> None:
    core = Core()
    other_covenants = tuple(sorted(_key(2000 + i)[1:] for i in range(3)))
    s = build_staking(STAKER, (FP,), T, other_covenants, 2)
    fake = Transaction(inputs=[TxInput("ab" * 32, 0, witness=[
        SIG, b"", SIG, SIG, s.unbonding,
        bytes([0xC0 | s.parity]) + NUMS_X + s.timelock_hash + s.slashing_hash])],
        outputs=[TxOutput(1000, b"\x51\x20" + bytes(32))])
    assert core.mine(201, [fake]) == []


def test_locked_detail_breaks_the_total_down() -> None:
    core = Core()
    core.state["tvl_sat"] = 2_900_000
    stake = stake_tx(1, 200_000, 200)
    core.mine(200, [stake, stake_tx(2, 300_000, 200)])
    core.mine(201, [unbonding_tx(stake, _scripts(200), 198_000)])
    detail = core.adapter.locked_detail(list(core.positions.values()))
    # 2.9M < cap: the first stake is active (TVL 3.1M), the second overflows; the first
    # is then unbonded.
    assert detail == {"active_sat": 0, "overflow_sat": 300_000, "unbonding_sat": 198_000,
                      "slashing_change_sat": 0, "chain_proven_sat": 498_000,
                      "unknown_amount": 0}
    unknown = Position("cd" * 32, 0, 0, 202, "active", True,
                       {"amount_known": False, "discovered_on_spend": True})
    assert core.adapter.locked_detail([unknown])["unknown_amount"] == 1
