"""Scanning regtest blocks: peg-ins by sender and era rule, peg-outs, migrations to an
unlisted federation that is then followed and verified, and look-alikes that must not match.

Blocks come from `regtest.build.create_block`; signatures are placeholders of the right
shape (the adapter reads scripts, it does not verify signatures). A tiny in-memory core
applies the records between blocks as the real one does: positions, spends by outpoint,
state updates.
"""

from __future__ import annotations

import hashlib
from typing import Any

from coincurve import PrivateKey
from Crypto.Hash import keccak

from adapters.base import Event, NewPosition, Position, Rejected, ScanView, StateUpdate
from adapters.powpeg import PowpegAdapter
from adapters.powpeg.addresses import address_of, hash160
from adapters.powpeg.federation import erp_script, multisig_script, p2sh_spk
from indexer.chain.block import parse_block
from regtest.build import (
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    Transaction,
    TxInput,
    TxOutput,
    push_data,
)
from regtest.build import create_block as build_block


def key(label: str) -> bytes:
    return PrivateKey(hashlib.sha256(b"powpeg-test/" + label.encode()).digest()) \
        .public_key.format(compressed=True)


FED_KEYS = [key(f"fed-a/{i}") for i in range(5)]
NEXT_KEYS = [key(f"fed-b/{i}") for i in range(5)]
ERP_KEYS = [key(f"erp/{i}") for i in range(4)]
CSV = 500
FED_A = erp_script(FED_KEYS, ERP_KEYS, CSV)
FED_B = erp_script(NEXT_KEYS, ERP_KEYS, CSV)
SPK_A, SPK_B = p2sh_spk(FED_A), p2sh_spk(FED_B)
ADDR_A, ADDR_B = address_of(SPK_A, "regtest"), address_of(SPK_B, "regtest")
SIG = b"\x30" + b"\x44" * 69 + b"\x01"
MINER = b"\x51"

PARAMS = {"federations": [{"address": ADDR_A, "from_height": 0, "redeem_script": FED_A.hex()}],
          "min_pegin_sat": 500_000, "erp_keys": [k.hex() for k in ERP_KEYS], "erp_csv": CSV}


def rsk_of(pub: bytes) -> str:
    """The spec's derivation, written out independently of the adapter."""
    from coincurve import PublicKey

    raw = PublicKey(pub).format(compressed=False)[1:]
    return "0x" + keccak.new(digest_bits=256, data=raw).digest()[-20:].hex()


class Core:
    """Just enough of the indexer core: positions, spends, state, heights."""

    def __init__(self, section: dict[str, Any] | None = None) -> None:
        self.adapter = PowpegAdapter.from_params("regtest", section or PARAMS)
        self.positions: dict[tuple[str, int], Position] = {}
        self.state: dict[str, Any] = {}
        self.height = 0
        self.prev = REGTEST_GENESIS_HASH
        self.records: list[Any] = []

    def mine(self, *txs: Transaction) -> list[Any]:
        self.height += 1
        raw = build_block(self.prev, self.height, REGTEST_GENESIS_TIME + self.height,
                          [t.serialize() for t in txs], MINER)
        block = parse_block(raw)
        self.prev = block.hash
        tracked = {(bytes.fromhex(t)[::-1], v) for t, v in self.positions}
        view = ScanView(chain="regtest", height=self.height, block_hash=block.hash,
                        block_time=block.time, tracked=tracked,
                        load_position=lambda t, v: self.positions.get((t, v)),
                        state=self.state)
        self.adapter.scan(block, view)
        for tx in block.txs:
            for txin in tx.inputs:
                self.positions.pop((txin.prev_txid_hex, txin.prev_vout), None)
        for r in view.records:
            if isinstance(r, NewPosition) and r.spent_by is None:
                self.positions[(r.txid, r.vout)] = Position(
                    r.txid, r.vout, r.value_sat, self.height, r.status, r.locked, r.data)
            elif isinstance(r, StateUpdate):
                self.state[r.key] = r.value
        self.records = view.records
        return view.records

    def fed(self, address: str | None) -> dict[str, Any]:
        found: list[dict[str, Any]] = [f for f in self.state["federations"]
                                       if f["address"] == address]
        (e,) = found
        return e


def events(records: list[Any], kind: str) -> list[Event]:
    return [r for r in records if isinstance(r, Event) and r.kind == kind]


def new_positions(records: list[Any]) -> list[NewPosition]:
    return [r for r in records if isinstance(r, NewPosition)]


def p2pkh_in(pub: bytes, n: int = 0) -> TxInput:
    return TxInput(f"{n + 1:02x}" * 32, 0, push_data(SIG) + push_data(pub))


def p2sh_p2wpkh_in(pub: bytes) -> TxInput:
    return TxInput("aa" * 32, 1, push_data(b"\x00\x14" + hash160(pub)), witness=[SIG, pub])


def p2wpkh_in(pub: bytes) -> TxInput:
    return TxInput("bb" * 32, 2, b"", witness=[SIG, pub])


def fed_in(txid: str, vout: int, redeem: bytes, m: int = 3) -> TxInput:
    """A federation spend as the Bridge signs it: OP_0, m sigs, OP_0 selector, redeem."""
    return TxInput(txid, vout, b"\x00" + push_data(SIG) * m + b"\x00" + push_data(redeem))


def rskt(dest: bytes, refund: bytes = b"") -> TxOutput:
    return TxOutput(0, b"\x6a" + push_data(b"RSKT\x01" + dest + refund))


USER = key("user")
DEST = bytes.fromhex("a0df67b9589bd0527af41f66294a846da513e1f9")


# ---------------------------------------------------------------- peg-ins


def test_p2pkh_pegin_without_rskt_is_credited_to_the_key_address() -> None:
    core = Core()
    tx = Transaction([p2pkh_in(USER)], [TxOutput(600_000, SPK_A), TxOutput(5_000, MINER)])
    recs = core.mine(tx)
    (pos,) = new_positions(recs)
    assert (pos.txid, pos.vout, pos.value_sat, pos.status) == (tx.txid(), 0, 600_000,
                                                               "credited")
    assert pos.locked and pos.data["federation"] == ADDR_A
    assert pos.data["rsk_destination"] == rsk_of(USER)
    (ev,) = events(recs, "pegin")
    assert ev.amount_sat == 600_000 and ev.data["credited"] and ev.data["protocol_version"] == 0
    assert not [r for r in recs if isinstance(r, Rejected)]


def test_below_minimum_output_is_uncredited() -> None:
    core = Core()
    tx = Transaction([p2pkh_in(USER)], [TxOutput(600_000, SPK_A), TxOutput(499_999, SPK_A)])
    recs = core.mine(tx)
    assert {p.status for p in new_positions(recs)} == {"uncredited"}
    assert {p.data["reason"] for p in new_positions(recs)} == {"below_minimum"}
    (rej,) = [r for r in recs if isinstance(r, Rejected)]
    assert rej.reason == "below_minimum"
    assert core.adapter.locked_detail(list(core.positions.values()))["uncredited_sat"] == \
        1_099_999


def test_native_segwit_sender_needs_rskt() -> None:
    core = Core()
    with_rskt = Transaction([p2wpkh_in(USER)], [TxOutput(500_000, SPK_A), rskt(DEST)])
    without = Transaction([p2wpkh_in(USER)], [TxOutput(500_000, SPK_A)])
    core.mine(with_rskt, without)
    by_tx = {p.txid: p for p in core.positions.values()}
    ok, bad = by_tx[with_rskt.txid()], by_tx[without.txid()]
    assert ok.status == "credited" and ok.data["rsk_destination"] == "0x" + DEST.hex()
    assert bad.status == "uncredited" and bad.data["reason"] == "unsupported_sender"
    assert bad.data["rsk_destination"] is None


def test_p2sh_p2wpkh_sender_is_credited_to_its_witness_key() -> None:
    core = Core()
    tx = Transaction([p2sh_p2wpkh_in(USER)], [TxOutput(700_000, SPK_A)])
    (pos,) = new_positions(core.mine(tx))
    assert pos.status == "credited" and pos.data["sender_type"] == "P2SH-P2WPKH"
    assert pos.data["rsk_destination"] == rsk_of(USER)


def test_rskt_refund_address_and_malformed_rskt() -> None:
    core = Core()
    refund = hash160(USER)
    good = Transaction([p2pkh_in(USER)], [rskt(DEST, b"\x01" + refund),
                                          TxOutput(900_000, SPK_A)])
    bad = Transaction([p2pkh_in(USER, 1)], [TxOutput(900_000, SPK_A),
                                            TxOutput(0, b"\x6a" + push_data(b"RSKT\x02" + DEST))])
    recs = core.mine(good, bad)
    pegins = {e.txid: e for e in events(recs, "pegin")}
    g = pegins[good.txid()].data
    assert g["credited"] and g["rsk_destination"] == "0x" + DEST.hex()
    assert g["btc_refund_address"] == address_of(b"\x76\xa9\x14" + refund + b"\x88\xac",
                                                 "regtest")
    b = pegins[bad.txid()].data
    assert not b["credited"] and b["reason"] == "malformed_rskt"
    # The Bridge refunds it to the sender derived from input 0.
    assert b["btc_refund_address"] == g["btc_refund_address"]


def test_lookalikes_do_not_match() -> None:
    core = Core()
    stranger = p2sh_spk(multisig_script(NEXT_KEYS))  # a P2SH multisig nobody listed
    plain = Transaction([p2pkh_in(USER)], [TxOutput(5_000_000, stranger)])
    # An RSKT payload with no federation output is not a peg-in either.
    rskt_only = Transaction([p2pkh_in(USER, 1)], [rskt(DEST), TxOutput(1_000_000, MINER)])
    assert core.mine(plain, rskt_only) == []
    assert core.positions == {}


# ---------------------------------------------------------------- spends


def test_pegout_spends_credit_and_keeps_change() -> None:
    core = Core()
    pegin = Transaction([p2pkh_in(USER)], [TxOutput(3_000_000, SPK_A)])
    core.mine(pegin)
    out_user = b"\x76\xa9\x14" + hash160(key("payee")) + b"\x88\xac"
    pegout = Transaction([fed_in(pegin.txid(), 0, FED_A)],
                         [TxOutput(1_000_000, out_user), TxOutput(1_990_000, SPK_A)])
    recs = core.mine(pegout)
    (ev,) = events(recs, "pegout")
    assert ev.amount_sat == 1_000_000
    assert ev.data["user_outputs"] == [{"vout": 0, "address": address_of(out_user, "regtest"),
                                        "value_sat": 1_000_000}]
    assert not events(recs, "pegin")  # spending a federation UTXO is never a peg-in
    (change,) = core.positions.values()
    assert (change.txid, change.vout, change.status) == (pegout.txid(), 1, "change")
    detail = core.adapter.locked_detail(list(core.positions.values()))
    assert detail["credited_sat"] == 1_990_000 and detail["uncredited_sat"] == 0
    assert detail["federations"][0]["address"] == ADDR_A


def test_migration_to_unlisted_federation_is_followed_and_verified() -> None:
    core = Core()
    pegin = Transaction([p2pkh_in(USER)], [TxOutput(2_000_000, SPK_A)])
    core.mine(pegin)
    assert SPK_B not in core.adapter.needles(core.state)

    migration = Transaction([fed_in(pegin.txid(), 0, FED_A)], [TxOutput(1_999_000, SPK_B)],
                            version=1)
    recs = core.mine(migration)
    mig_height = core.height
    (ev,) = events(recs, "migration")
    assert ev.amount_sat == 1_999_000
    assert ev.data["migration_from"] == ADDR_A and ev.data["migration_to"] == ADDR_B
    assert ev.data["new_federation"] is True
    b = core.fed(ADDR_B)
    assert b["source"] == "migration" and b["verified"] is False
    assert b["from_height"] == mig_height
    (moved,) = core.positions.values()
    assert moved.status == "migrated" and moved.data["federation"] == ADDR_B
    assert moved.data["federation_verified"] is False
    assert SPK_B in core.adapter.needles(core.state)

    # The learned federation now receives peg-ins ...
    pegin_b = Transaction([p2pkh_in(USER, 3)], [TxOutput(800_000, SPK_B)])
    (pos,) = new_positions(core.mine(pegin_b))
    assert pos.status == "credited" and pos.data["federation"] == ADDR_B
    # ... and its first spend reveals the ERP redeem script: verified from then on.
    payee = b"\x76\xa9\x14" + hash160(key("payee")) + b"\x88\xac"
    pegout = Transaction([fed_in(migration.txid(), 0, FED_B)],
                         [TxOutput(600_000, payee), TxOutput(1_398_000, SPK_B)])
    recs = core.mine(pegout)
    assert events(recs, "pegout")[0].data["spending_federations"] == [ADDR_B]
    b = core.fed(ADDR_B)
    assert b["verified"] is True and b["redeem_script"] == FED_B.hex()
    change = core.positions[(pegout.txid(), 1)]
    assert change.status == "change" and change.data["federation_verified"] is True

    # The per-federation line says verified whatever order the positions come in (the
    # peg-in to B was recorded before the verification, the change after).
    at_b = [p for p in core.positions.values() if p.data["federation"] == ADDR_B]
    assert {p.data["federation_verified"] for p in at_b} == {False, True}
    for order in (at_b, at_b[::-1]):
        (row,) = core.adapter.locked_detail(order)["federations"]
        assert row["verified"] is True and row["positions"] == 2

    # Once the migration window is over, a deposit to the old federation is not credited.
    core.height = mig_height + 531
    late = Transaction([p2pkh_in(USER, 5)], [TxOutput(900_000, SPK_A)])
    (pos,) = new_positions(core.mine(late))
    assert pos.status == "uncredited" and pos.data["reason"] == "retired_federation"


def test_revealed_script_without_emergency_keys_leaves_federation_unverified() -> None:
    """A migration target whose spend shows a script lacking the ERP keys stays unverified."""
    core = Core()
    pegin = Transaction([p2pkh_in(USER)], [TxOutput(2_000_000, SPK_A)])
    core.mine(pegin)
    rogue = erp_script(NEXT_KEYS, [key(f"other/{i}") for i in range(4)], CSV)
    spk_rogue = p2sh_spk(rogue)
    mig = Transaction([fed_in(pegin.txid(), 0, FED_A)], [TxOutput(1_999_000, spk_rogue)])
    core.mine(mig)
    spend = Transaction([fed_in(mig.txid(), 0, rogue)], [TxOutput(1_998_000, MINER)])
    core.mine(spend)
    entry = core.fed(address_of(spk_rogue, "regtest"))
    assert entry["verified"] is False and entry["verification"].startswith("mismatch")


def test_state_update_is_emitted_in_the_block_that_learns() -> None:
    core = Core()
    pegin = Transaction([p2pkh_in(USER)], [TxOutput(2_000_000, SPK_A)])
    core.mine(pegin)
    mig = Transaction([fed_in(pegin.txid(), 0, FED_A)], [TxOutput(1_999_000, SPK_B)])
    # A peg-in to the new federation in the same block, after the migration, is seen.
    pegin_b = Transaction([p2pkh_in(USER, 2)], [TxOutput(700_000, SPK_B)])
    recs = core.mine(mig, pegin_b)
    assert [r.key for r in recs if isinstance(r, StateUpdate)] == ["federations"]
    assert core.positions[(pegin_b.txid(), 0)].status == "credited"


def test_refund_of_an_uncredited_pegin_is_a_pegout_refund() -> None:
    core = Core()
    deposit = Transaction([p2wpkh_in(USER)], [TxOutput(600_000, SPK_A)])  # no RSKT
    core.mine(deposit)
    back = b"\x76\xa9\x14" + hash160(USER) + b"\x88\xac"
    refund = Transaction([fed_in(deposit.txid(), 0, FED_A)], [TxOutput(590_000, back)])
    (ev,) = events(core.mine(refund), "pegout")
    assert ev.data["refund"] is True and ev.amount_sat == 590_000
    assert core.positions == {}


def test_flyover_deposit_surfaces_when_spent() -> None:
    from adapters.powpeg.federation import flyover_script

    core = Core()
    derivation = hashlib.sha256(b"quote").digest()
    flyover = flyover_script(derivation, FED_A)
    deposit = Transaction([p2pkh_in(USER)], [TxOutput(555_555, p2sh_spk(flyover))])
    assert core.mine(deposit) == []  # a per-quote address: invisible at deposit time
    pegin = Transaction([p2pkh_in(USER, 1)], [TxOutput(1_000_000, SPK_A)])
    core.mine(pegin)
    sweep = Transaction([fed_in(pegin.txid(), 0, FED_A), fed_in(deposit.txid(), 0, flyover)],
                        [TxOutput(1_550_000, SPK_B)])
    recs = core.mine(sweep)
    (mig,) = events(recs, "migration")
    assert mig.data["migration_to"] == ADDR_B
    (fly,) = events(recs, "pegin")
    assert fly.data["flyover"] is True and fly.data["derivation_hash"] == derivation.hex()
    assert (fly.data["deposit_txid"], fly.data["deposit_vout"]) == (deposit.txid(), 0)
    assert fly.data["federation"] == ADDR_A


def test_svp_fund_and_spend() -> None:
    """RSKIP419: two 800,000-sat outputs to the proposed federation, returned later."""
    core = Core()
    pegin = Transaction([p2pkh_in(USER)], [TxOutput(5_000_000, SPK_A)])
    core.mine(pegin)
    proposed = p2sh_spk(erp_script([key(f"prop/{i}") for i in range(5)], ERP_KEYS, CSV))
    proposed_fly = p2sh_spk(b"\x20" + b"\x00" * 31 + b"\x01\x75" + bytes(proposed))
    fund = Transaction([fed_in(pegin.txid(), 0, FED_A)],
                       [TxOutput(800_000, proposed), TxOutput(800_000, proposed_fly),
                        TxOutput(3_390_000, SPK_A)])
    (ev,) = events(core.mine(fund), "migration")
    assert ev.data["phase"] == "svp_fund" and ev.amount_sat == 1_600_000
    assert sorted(p.status for p in core.positions.values()) == ["change", "svp", "svp"]


# ---------------------------------------------------------------- mainnet era rules


def _vector_tx(name: str) -> Any:
    from indexer.chain.block import parse_tx
    from tests.conftest import load_json

    return parse_tx(bytes.fromhex(load_json("rootstock", "vectors", name)["hex"]))


def test_mainnet_minimum_and_retirement_by_height() -> None:
    from adapters.powpeg.book import FedBook
    from adapters.powpeg.classify import classify_pegin
    from adapters.powpeg.params import load

    book = FedBook.seeded(load("main", None))
    small = _vector_tx("mainnet-pegin-v0-p2pkh-529682fd067b.json")  # 500,005 sat
    # Jan 2023 (its locktime 773,553): Hop rules, 500,000 per output -> credited.
    r = classify_pegin(small, book, 773_553)
    assert r is not None and r.credited
    # Before Iris the minimum was 1,000,000 on the total.
    r = classify_pegin(small, book, 690_000)
    assert r is not None and r.reason == "below_minimum"
    # Long after 35iEoWHf retired (Aug 2023), a deposit to it is not credited.
    r = classify_pegin(small, book, 900_000)
    assert r is not None and r.reason == "retired_federation"
    segwit = _vector_tx("mainnet-pegin-v0-segwit-serialized-124f95f3c6f1.json")
    # Registered at RSK #3,231,219 (pre-Iris, post-Papyrus): 1,000,001 >= 1,000,000.
    r = classify_pegin(segwit, book, 676_000)
    assert r is not None and r.credited and r.credited_sat == 1_000_001
    # Before Papyrus a segwit-serialised peg-in could not be proven.
    r = classify_pegin(segwit, book, 620_000)
    assert r is not None and r.reason == "segwit_before_papyrus"
