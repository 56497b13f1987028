"""Mainnet block 864790 (the first cap-2 block, §3.5) scanned with built-in mainnet params.

The spec deliberately gives no counts for this block, so the test checks the rules each
record must obey, independently of the adapter's own code path where it can.
"""

from __future__ import annotations

from functools import cache

from adapters.babylon import BabylonAdapter
from adapters.babylon.params import builtin_params
from adapters.babylon.scripts import build_staking
from adapters.base import Event, NewPosition, Rejected, ScanView, StateUpdate
from indexer.chain.block import Block, parse_block
from tests.conftest import SHARED_DATA, load_json, shared_path

HEIGHT = 864790
BLOCK_HASH = "00000000000000000002ed810ff436d5c72dec82602487b7512af5b5d6d23da6"
TAGGED = bytes.fromhex("6a4762626e3100")
TVL_BEFORE = 100_000_000_000  # cap-1 filled; cap-2 is by height, so it must not matter


@cache
def _block() -> Block:
    return parse_block(bytes.fromhex(shared_path("babylon", "block-864790",
                                                 "block.hex").read_text().strip()))


@cache
def _scan() -> ScanView:
    block = _block()
    view = ScanView(chain="main", height=HEIGHT, block_hash=block.hash, block_time=block.time,
                    state={"tvl_sat": TVL_BEFORE})
    BabylonAdapter.from_params("main", None).scan(block, view)
    return view


def test_block_is_the_one_the_spec_describes() -> None:
    block = _block()
    assert block.hash == BLOCK_HASH
    assert block.time == 1728409555


def test_every_stake_obeys_the_cap2_rules() -> None:
    v1 = builtin_params("main").by_version(1)
    assert v1 is not None and v1.cap_height is not None
    block = _block()
    stakes = [r for r in _scan().records
              if isinstance(r, NewPosition) and r.data.get("kind") == "staking"]
    assert stakes
    for pos in stakes:
        tx = block.txs[pos.tx_index]
        assert tx.txid == pos.txid
        d = pos.data
        # The OP_RETURN the record names carries exactly these fields (big-endian time).
        op = tx.outputs[d["op_return_vout"]].script_pubkey
        assert op[:7] == TAGGED and len(op) == 73
        assert d["staker_pk"] == op[7:39].hex()
        assert d["finality_provider_pk"] == op[39:71].hex()
        assert d["staking_time"] == int.from_bytes(op[71:73], "big")
        assert sum(1 for o in tx.outputs if o.script_pubkey[:7] == TAGGED) == 1
        # Exactly one output pays the rebuilt script, and it is the position.
        spk = build_staking(op[7:39], (op[39:71],), d["staking_time"], v1.covenant_pks,
                            v1.covenant_quorum).script_pubkey
        assert [i for i, o in enumerate(tx.outputs) if o.script_pubkey == spk] == [pos.vout]
        assert pos.value_sat == tx.outputs[pos.vout].value
        assert v1.min_staking_amount <= pos.value_sat <= v1.max_staking_amount
        assert v1.min_staking_time <= d["staking_time"] <= v1.max_staking_time
        # Height 864790 is inside [activation, cap_height]: every valid stake is active.
        assert d["params_version"] == 1
        assert pos.status == d["status"] == "active" and pos.locked


def test_no_tagged_tx_is_silently_dropped() -> None:
    """Each tx with a bbn1 OP_RETURN gives a stake or a rejection, never nothing."""
    block = _block()
    tagged = {tx.txid for tx in block.txs
              if any(o.script_pubkey[:7] == TAGGED for o in tx.outputs)}
    view = _scan()
    staked = {r.txid for r in view.records if isinstance(r, Event) and r.kind == "stake"}
    rejected = {r.txid for r in view.records if isinstance(r, Rejected)}
    assert tagged == staked | rejected
    assert not staked & rejected
    for r in view.records:
        if isinstance(r, Rejected):
            assert r.reason


def test_events_and_state_follow_the_stakes() -> None:
    view = _scan()
    stakes = {(r.txid, r.vout): r for r in view.records
              if isinstance(r, NewPosition) and r.data.get("kind") == "staking"}
    events = [r for r in view.records if isinstance(r, Event) and r.kind == "stake"]
    assert len(events) == len(stakes)
    for ev in events:
        pos = stakes[(ev.txid, ev.data["staking_vout"])]
        assert ev.amount_sat == pos.value_sat
    # Confirmed TVL rises by every active stake; the FP set grows by every FP seen.
    updates = {r.key: r.value for r in view.records if isinstance(r, StateUpdate)}
    assert updates["tvl_sat"] == TVL_BEFORE + sum(p.value_sat for p in stakes.values())
    assert {p.data["finality_provider_pk"] for p in stakes.values()} <= set(updates["fps_seen"])


def test_block_stakes_match_the_vectors_taken_from_it() -> None:
    stakes = {r.txid: r for r in _scan().records
              if isinstance(r, NewPosition) and r.data.get("kind") == "staking"}
    vectors_dir = SHARED_DATA / "babylon" / "vectors"
    checked = 0
    for path in sorted(vectors_dir.glob("mainnet-staking-*.json")):
        e = load_json("babylon", "vectors", path.name)["expected"]
        if e.get("block_hash") != BLOCK_HASH:
            continue
        pos = stakes[e["txid"]]
        assert pos.vout == e["staking_output_index"]
        assert pos.value_sat == e["staking_value"]
        assert pos.data["staker_pk"] == e["staker_pk"]
        assert pos.data["finality_provider_pk"] == e["finality_provider_pk"]
        assert pos.data["params_version"] == e["params_version"]
        assert (pos.status == "overflow") is e["is_overflow"]
        checked += 1
    assert checked == 8


def test_spends_found_in_the_block_are_proven_babylon_spends() -> None:
    """Outputs discovered on spend are spent in this block, by a Babylon-leaf witness."""
    block = _block()
    by_txid = {tx.txid: tx for tx in block.txs}
    view = _scan()
    for r in view.records:
        if isinstance(r, NewPosition) and r.spent_by is not None:
            assert r.data["discovered_on_spend"] is True
            assert r.value_sat == 0 and r.data["amount_known"] is False
            spender = by_txid[r.spent_by]
            assert (r.txid, r.vout) in {(i.prev_txid_hex, i.prev_vout) for i in spender.inputs}
            events = [e for e in view.records if isinstance(e, Event)
                      and e.txid == r.spent_by]
            assert [e.kind for e in events] and events[0].data["spent_txid"] == r.txid
