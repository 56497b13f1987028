"""Scanning regtest blocks: commits, STX ops, look-alikes, and the sBTC peg through sweeps.

Blocks come from `regtest.build.create_block`; inputs spend made-up outpoints (the adapter
reads one block at a time and never checks prevouts; signed, consensus-valid scenarios
are the harness's job). A tiny in-memory core below plays the indexer: it keeps the
adapter's unspent positions and state between blocks and marks spends from inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.base import Event, NewPosition, Position, Rejected, ScanView, StateUpdate
from adapters.stacks import StacksAdapter, pox
from adapters.stacks.addresses import bitcoin_address, classify_script
from adapters.stacks.sbtc import (
    NUMS_KEY,
    build_deposit_script,
    build_reclaim_script,
    deposit_taproot,
    peg_script_for_key,
    taproot_output_key,
)
from indexer.chain.block import OutPoint, parse_block, txid_from_hex
from regtest.build import (
    REGTEST_GENESIS_HASH,
    Transaction,
    TxInput,
    TxOutput,
    create_block,
    push_data,
)

MAGIC = b"T2"
FIRST, CYCLE, PREPARE = 100, 10, 3  # reward phase = offsets 1..7, prepare = 0 and 8..9
K1 = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
K2 = bytes.fromhex("c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
PEG1, PEG2 = peg_script_for_key(K1), peg_script_for_key(K2)
VRF_KEY = bytes.fromhex("a366b51292bef4edd64063d9145c617fec373bceb0758e98cd72becd84d54c7a")


def p2pkh(h: bytes) -> bytes:
    return b"\x76\xa9\x14" + h + b"\x88\xac"


BURN = p2pkh(b"\x00" * 20)
P2PKH, P2SH = p2pkh(b"\x01" * 20), b"\xa9\x14" + b"\x02" * 20 + b"\x87"
P2WPKH, P2WSH, P2TR = b"\x00\x14" + b"\x03" * 20, b"\x00\x20" + b"\x04" * 32, b"\x51\x20" + K1
MINER = p2pkh(b"\x0a" * 20)
PARAMS = {"magic": "T2", "first_burn_height": FIRST, "reward_cycle_length": CYCLE,
          "prepare_length": PREPARE,
          "sbtc_peg_addresses": [bitcoin_address(classify_script(PEG1), "regtest")]}  # type: ignore[arg-type]


def addr(spk: bytes) -> str:
    info = classify_script(spk)
    assert info is not None
    return bitcoin_address(info, "regtest")


def fake_in(n: int, vout: int = 0, witness: list[bytes] | None = None) -> TxInput:
    return TxInput(hashlib.sha256(bytes([n])).hexdigest(), vout, b"", 0xFFFFFFFF,
                   witness or [])


def op_return(data: bytes, value: int = 0) -> TxOutput:
    return TxOutput(value, b"\x6a" + push_data(data))


def commit_tx(inp: TxInput, outs: list[tuple[int, bytes]], parent: int = 101,
              key: int = 100, memo: int = 0x0B << 3) -> Transaction:
    payload = (b"\x22" * 32 + b"\x33" * 32 + parent.to_bytes(4, "big") + (1).to_bytes(2, "big")
               + key.to_bytes(4, "big") + (2).to_bytes(2, "big") + bytes([memo]))
    return Transaction([inp], [op_return(MAGIC + b"[" + payload)]
                       + [TxOutput(v, s) for v, s in outs])


@dataclass
class Core:
    """The indexer's part, in memory: positions, spends, state, per height."""

    adapter: StacksAdapter = field(default_factory=lambda: StacksAdapter.from_params(
        "regtest", PARAMS))
    unspent: dict[OutPoint, Position] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    records: list[Any] = field(default_factory=list)
    prev: str = REGTEST_GENESIS_HASH

    def block(self, height: int, txs: list[Transaction]) -> list[Any]:
        raw = create_block(self.prev, height, 1_700_000_000 + height,
                           [t.serialize() for t in txs], MINER)
        block = parse_block(raw)
        self.prev = block.hash
        view = ScanView(chain="regtest", height=height, block_hash=block.hash,
                        block_time=block.time, tracked=set(self.unspent),
                        load_position=lambda t, v: self.unspent.get((txid_from_hex(t), v)),
                        state=self.state)
        self.adapter.scan(block, view)
        for r in view.records:
            if isinstance(r, NewPosition):
                self.unspent[(txid_from_hex(r.txid), r.vout)] = Position(
                    r.txid, r.vout, r.value_sat, height, r.status, r.locked, r.data)
            elif isinstance(r, StateUpdate):
                self.state[r.key] = r.value
        for tx in block.txs:
            for txin in tx.inputs:
                self.unspent.pop(txin.prevout, None)
        self.records += view.records
        return view.records

    def locked(self) -> dict[str, Any]:
        return self.adapter.locked_detail([p for p in self.unspent.values() if p.locked])


def events(recs: list[Any], kind: str) -> list[Event]:
    return [r for r in recs if isinstance(r, Event) and r.kind == kind]


def rejected(recs: list[Any]) -> list[Rejected]:
    return [r for r in recs if isinstance(r, Rejected)]


# ---------------------------------------------------------------- commits


def test_reward_and_prepare_phase_commits_and_miner_chain() -> None:
    core = Core()
    a = commit_tx(fake_in(1), [(1000, P2PKH), (1000, P2SH), (50_000, MINER)])
    b = commit_tx(fake_in(2), [(700, P2WPKH), (700, P2TR), (9_000, MINER)])
    c = commit_tx(fake_in(3), [(400, P2WSH), (400, BURN), (9_000, MINER)])
    recs = core.block(101, [a, b, c])  # offset 1: first paying block of cycle 0
    got = events(recs, "block_commit")
    assert [e.txid for e in got] == [a.txid(), b.txid(), c.txid()]
    ea, eb, ec = (e.data for e in got)
    assert (ea["reward_cycle"], ea["phase"], ea["paid_sat"], ea["burned_sat"]) == (0, "reward",
                                                                                  2000, 0)
    assert [o["address"] for o in ea["commit_outputs"]] == [addr(P2PKH), addr(P2SH)]
    assert [o["script_type"] for o in eb["commit_outputs"]] == ["p2wpkh", "p2tr"]
    assert eb["burn_fee_sat"] == got[1].amount_sat == 1400
    assert (ec["paid_sat"], ec["burned_sat"]) == (400, 400)  # one slot exhausted: a burn
    assert ea["sender"] == addr(MINER) and ea["miner_chain"] == a.txid()
    # commits are flows: only unlocked change positions, nothing counted as locked
    changes = [r for r in recs if isinstance(r, NewPosition)]
    assert {(r.vout, r.status, r.locked) for r in changes} == {(3, "commit_change", False)}
    assert core.locked()["peg_utxo_sat"] == 0

    # offset 8 is the prepare phase: one burn output, change at vout 2; chained to `a`
    a2 = commit_tx(TxInput(a.txid(), 3), [(900, BURN), (48_000, MINER)], parent=101)
    bad = commit_tx(fake_in(4), [(900, P2PKH), (48_000, MINER)])
    recs = core.block(108, [a2, bad])
    (e,) = events(recs, "block_commit")
    assert (e.data["phase"], e.data["burned_sat"], e.data["paid_sat"]) == ("prepare", 900, 0)
    assert e.data["prev_commit_txid"] == a.txid() and e.data["miner_chain"] == a.txid()
    assert e.data["change_output"]["vout"] == 2
    (r,) = rejected(recs)
    assert r.txid == bad.txid() and "not a burn" in r.reason

    totals = pox.cycle_totals([{"kind": ev.kind, "data": ev.data}
                               for ev in events(core.records, "block_commit")])
    assert totals[0]["commits"] == 4
    assert totals[0]["paid_sat"] == 2000 + 1400 + 400
    assert totals[0]["burned_sat"] == 400 + 900
    assert totals[0]["by_address"][addr(P2PKH)] == 1000
    assert totals[0]["by_miner"][addr(MINER)] == 2000 + 1400 + 800 + 900


def test_unequal_reward_outputs_and_late_or_stale_commits() -> None:
    core = Core()
    uneven = commit_tx(fake_in(1), [(1000, P2PKH), (999, P2SH), (5, MINER)])
    old_marker = commit_tx(fake_in(2), [(10, P2PKH), (10, P2PKH)], memo=(0x05 << 3) | 4)
    recs = core.block(103, [uneven, old_marker])
    (r,) = rejected(recs)
    assert r.txid == uneven.txid() and "differ" in r.reason
    (e,) = events(recs, "block_commit")
    # marker 5 is below epoch 3.0's minimum 0x0b: still a parsed commit (the node counts
    # its BTC) but flagged; modulus 4 means intended for a height = 0 mod 5, 103 is late
    assert not e.data["valid"] and "epoch marker" in e.data["invalid_reasons"][0]
    assert e.data["change_output"] is None and e.data["on_time"] is False


# ---------------------------------------------------------------- other ops


def test_key_register_pre_stx_stack_and_transfer() -> None:
    core = Core()
    keyreg = Transaction([fake_in(1)], [op_return(MAGIC + b"^" + b"\x22" * 20 + VRF_KEY
                                                  + b"\x44" * 20), TxOutput(10_000, P2PKH)])
    pre = Transaction([fake_in(2)], [op_return(MAGIC + b"p"), TxOutput(5_000, P2PKH)])
    signer = bytes.fromhex("02" + K1.hex())
    stack = Transaction([TxInput(pre.txid(), 1)], [
        op_return(MAGIC + b"x" + (10**12).to_bytes(16, "big") + b"\x06" + signer),
        TxOutput(1_000, P2WPKH)])
    orphan = Transaction([fake_in(3, 1)], [
        op_return(MAGIC + b"x" + (10**12).to_bytes(16, "big") + b"\x06"), TxOutput(1, P2TR)])
    recs = core.block(102, [keyreg, pre, stack, orphan])
    (k,) = events(recs, "leader_key_register")
    assert k.data["vrf_public_key"] == VRF_KEY.hex()
    assert k.data["miner_pubkey_hash160"] == ("44" * 20)
    (p,) = events(recs, "pre_stx")
    sender = p.data["sender"]
    assert sender.startswith("ST")  # testnet p2pkh -> version 26
    (s,) = events(recs, "stack_stx")
    assert (s.data["sender"], s.data["ustx"], s.data["num_cycles"]) == (sender, 10**12, 6)
    assert s.data["signer_key"] == signer.hex()
    assert s.data["reward_address"]["address"] == addr(P2WPKH)
    (r,) = rejected(recs)
    assert r.txid == orphan.txid() and "pre-stx" in r.reason

    pre2 = Transaction([fake_in(4)], [op_return(MAGIC + b"p"), TxOutput(5_000, P2SH)])
    core.block(103, [pre2])
    xfer = Transaction([TxInput(pre2.txid(), 1)], [
        op_return(MAGIC + b"$" + (123).to_bytes(16, "big") + b"memo"), TxOutput(546, P2PKH)])
    deleg = Transaction([TxInput(pre.txid(), 1)], [  # pre's vout 1 was already spent
        op_return(MAGIC + b"#" + (5).to_bytes(16, "big") + b"\x00" * 6), TxOutput(1, P2PKH)])
    recs = core.block(104, [xfer, deleg])
    (t,) = events(recs, "transfer_stx")
    assert t.data["sender"].startswith("SN")  # testnet p2sh -> version 21
    assert (t.data["ustx"], t.data["memo"], t.data["recipient"]) == (123, b"memo".hex(), sender)
    assert [r.txid for r in rejected(recs)] == [deleg.txid()]


@pytest.mark.parametrize(("data", "where", "why"), [
    (MAGIC + b"+" + b"\x00" * 20, 0, "not implemented"),       # SIP-021 '+', never built
    (MAGIC + b"<" + b"\x00" * 20, 0, "2023 sBTC"),             # abandoned sBTC design
    (MAGIC + b"_" + b"\x00" * 20, 0, "disabled"),              # user burn support
    (b"X2[" + b"\x00" * 77, 0, None),                          # mainnet magic on regtest
    (MAGIC + b"[" + b"\x00" * 77, 1, None),                    # OP_RETURN not at vout 0
])
def test_lookalikes_do_not_match(data: bytes, where: int, why: str | None) -> None:
    core = Core()
    outs = [TxOutput(1000, P2PKH), TxOutput(1000, P2PKH)]
    outs.insert(where, op_return(data))
    recs = core.block(101, [Transaction([fake_in(9)], outs)])
    assert [r for r in recs if isinstance(r, Event | NewPosition)] == []
    if why is None:
        assert recs == []
    else:
        (r,) = rejected(recs)
        assert why in r.reason


def test_commit_with_non_standard_output_is_not_an_op() -> None:
    bare_multisig = b"\x51\x21" + b"\x02" * 33 + b"\x51\xae"
    tx = commit_tx(fake_in(1), [(10, P2PKH), (10, P2PKH), (5, bare_multisig)])
    (r,) = Core().block(101, [tx])
    assert isinstance(r, Rejected) and "vout 3 is not a standard address" in r.reason


# ---------------------------------------------------------------- sBTC


def deposit_spend(n: int, recipient: str, key: bytes, lock: int = 6) -> tuple[
        TxInput, bytes, bytes]:
    ds = build_deposit_script(80_000, recipient, key)
    rs = build_reclaim_script(lock, b"\x75\x20" + b"\x55" * 32 + b"\xac")
    t = deposit_taproot(ds, rs)
    _, parity = taproot_output_key(NUMS_KEY, t.merkle_root)
    cb = bytes([0xC0 | parity]) + NUMS_KEY + t.reclaim_leaf_hash
    return fake_in(n, 0, [b"\x01" * 64, ds, cb]), t.script_pubkey, rs


def test_deposit_sweep_withdrawal_and_key_rotation() -> None:
    core = Core()
    donation = Transaction([fake_in(1)], [TxOutput(10 * 10**8, PEG1), TxOutput(5, P2PKH)])
    recs = core.block(101, [donation])
    (loose,) = [r for r in recs if isinstance(r, NewPosition)]
    assert (loose.status, loose.locked, loose.vout) == ("loose", True, 0)
    assert core.locked() == {"peg_utxo_sat": 0, "loose_sat": 10 * 10**8, "peg_utxos": 0,
                             "loose_payments": 1}

    dep_in, dep_spk, _ = deposit_spend(2, "SP000000000000000000002Q6VF78", K1)
    sweep = Transaction(
        [TxInput(donation.txid(), 0, b"", 0, [b"\x02" * 64]), dep_in],
        [TxOutput(10 * 10**8 + 10**8 - 5 * 10**7 - 2_000, PEG1),
         op_return(b"T3\x00" + (1).to_bytes(2, "big") + b"\x00" * 16),
         TxOutput(5 * 10**7, P2WPKH)])
    recs = core.block(102, [sweep])
    (sw,) = events(recs, "sbtc_sweep")
    assert sw.amount_sat == 10 * 10**8 + 10**8 - 5 * 10**7 - 2_000
    assert sw.data["linked"] and not sw.data["key_rotation"]
    assert sw.data["marker"]["num_deposits"] == 1
    # deposits - fee = new peg - old peg + withdrawals
    assert sw.data["deposits_minus_fee_sat"] == 10**8 - 2_000
    (dep,) = events(recs, "sbtc_deposit")
    assert dep.data["recipient"] == "SP000000000000000000002Q6VF78"
    assert dep.data["max_fee_sat"] == 80_000
    assert dep.data["deposit_address"] == addr(dep_spk)
    (wd,) = events(recs, "sbtc_withdrawal")
    assert (wd.amount_sat, wd.data["address"], wd.data["vout"]) == (5 * 10**7, addr(P2WPKH), 2)
    assert core.locked()["peg_utxo_sat"] == sw.amount_sat and core.locked()["loose_sat"] == 0

    # DKG rotation: the next sweep pays output 0 to the new key's address
    rotate = Transaction([TxInput(sweep.txid(), 0, b"", 0, [b"\x03" * 64])],
                         [TxOutput(sw.amount_sat - 1_333, PEG2), op_return(b"T3\x01"),
                          TxOutput(333, PEG1)])  # back to the old address: loose, no payout
    recs = core.block(103, [rotate])
    assert events(recs, "sbtc_withdrawal") == []
    (rot,) = events(recs, "sbtc_sweep")
    assert rot.data["key_rotation"] and rot.data["marker"]["version"] == 1
    assert [r for r in recs if isinstance(r, StateUpdate)] == [
        StateUpdate("sbtc_peg_scripts", [PEG2.hex()])]
    assert PEG2 in core.adapter.needles(core.state)
    assert core.locked()["peg_utxo_sat"] == sw.amount_sat - 1_333

    # a later plain payment to the learned address is locked too; then a reclaim
    rec_in, _, rs = deposit_spend(5, "SP000000000000000000002Q6VF78", K2, lock=12)
    reclaim_in = TxInput(rec_in.prev_txid, 0, b"", 12,
                         [b"\x04" * 64, rs, rec_in.witness[2][:33]
                          + deposit_taproot(rec_in.witness[1], rs).deposit_leaf_hash])
    recs = core.block(104, [Transaction([fake_in(3)], [TxOutput(777, PEG2)]),
                            Transaction([reclaim_in], [TxOutput(99_000, P2PKH)])])
    assert core.locked()["loose_sat"] == 333 + 777
    (rc,) = events(recs, "sbtc_reclaim")
    assert (rc.data["lock_time"], rc.data["deposit_txid"]) == (12, rec_in.prev_txid)


def test_unlinked_sweep_is_discovered_by_fingerprint() -> None:
    """A sweep of a peg the params do not list is still seen (deposit-leaf fingerprint)."""
    core = Core(StacksAdapter.from_params("regtest", {**PARAMS, "sbtc_peg_addresses": []}))
    dep_in, _, _ = deposit_spend(2, "SP000000000000000000002Q6VF78", K2)
    sweep = Transaction([fake_in(1, 0, [b"\x02" * 64]), dep_in],
                        [TxOutput(5 * 10**8, PEG2), op_return(b"T3\x01")])
    recs = core.block(101, [sweep])
    (sw,) = events(recs, "sbtc_sweep")
    assert not sw.data["linked"] and sw.data["deposits_minus_fee_sat"] is None
    assert core.state["sbtc_peg_scripts"] == [PEG2.hex()]
    assert core.locked()["peg_utxo_sat"] == 5 * 10**8
