"""The Core DAO adapter end to end on transactions and blocks built in the test.

The design document's example transaction (9f5c66d5…3512) is not available as raw hex
here, so it is reconstructed from the two outputs the document gives in full: the P2WSH
staking output (its script hash) and the OP_RETURN output (byte for byte). Its value is not
in the document; 1,000,000 sats stands in for it. The txid therefore differs from the real
one; every decoded field is the document's.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from adapters.base import (
    Event,
    InOpReturn,
    NewPosition,
    ParamsError,
    Position,
    Rejected,
    ScanView,
)
from adapters.coredao import CoreDaoAdapter
from adapters.coredao.adapter import locked_by_delegator, locked_by_validator
from indexer.chain.block import Block, outline_block, parse_block, parse_tx, txid_from_hex
from regtest.build import REGTEST_GENESIS_HASH, Transaction, TxInput, TxOutput, create_block

DOC_OP_RETURN = bytes.fromhex(
    "6a4c505341542b01045bde60b7d0e6b758ca5dd8c61d377a2c5f1af51ec1a9e209f5ea0036c8c2f41078"
    "a3cebee57d8a47d501041f5e0e66b17576a914c4b8ae927ff2b9ce218e20bf06d425d6b68424fd88ac")
DOC_P2WSH = bytes.fromhex("00203dd731ae1c3ce32cfbec4ea82c855e027adf5fddca6d0118029b0ba15e44e0e9")
DOC_REDEEM_HEX = "041f5e0e66b17576a914c4b8ae927ff2b9ce218e20bf06d425d6b68424fd88ac"
DELEGATOR = "de60b7d0e6b758ca5dd8c61d377a2c5f1af51ec1"
VALIDATOR = "a9e209f5ea0036c8c2f41078a3cebee57d8a47d5"

PK1 = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
PKH1 = "751e76e8199196d454941c45d1b3a323f1433bd6"
LOCK_LE = "1f5e0e66"  # 1712217631
# `<1712217631> CLTV DROP DUP HASH160 <hash160(PK1)> EQUALVERIFY CHECKSIG`, by hand.
PKH1_REDEEM = bytes.fromhex("04" + LOCK_LE + "b17576a914" + PKH1 + "88ac")
SIG = b"\x30" * 71
COINBASE_SPK = bytes.fromhex("0014") + bytes(20)


def head(chain_hex: str = "045c", version: int = 1, fee: int = 0) -> bytes:
    return (b"SAT+" + bytes([version]) + bytes.fromhex(chain_hex)
            + bytes.fromhex(DELEGATOR + VALIDATOR) + bytes([fee]))


def op_return(payload: bytes) -> bytes:
    if len(payload) < 0x4C:
        return bytes([0x6A, len(payload)]) + payload
    return bytes([0x6A, 0x4C, len(payload)]) + payload


def p2wsh(script: bytes) -> bytes:
    return b"\x00\x20" + hashlib.sha256(script).digest()


def p2sh(script: bytes) -> bytes:
    h160 = hashlib.new("ripemd160", hashlib.sha256(script).digest()).digest()
    return b"\xa9\x14" + h160 + b"\x87"


def stake_tx(outputs: list[TxOutput], witness: list[bytes] | None = None,
             prev: str = "11" * 32) -> Transaction:
    return Transaction(inputs=[TxInput(prev, 0, witness=witness or [SIG, PK1])],
                       outputs=outputs)


def adapter(section: dict[str, Any] | None = None, chain: str = "main") -> CoreDaoAdapter:
    return CoreDaoAdapter.from_params(chain, section)


def analyse(tx: Transaction, section: dict[str, Any] | None = None) -> list[Any]:
    """Scan one transaction in a block of its own and return its records."""
    block = parse_block(create_block(REGTEST_GENESIS_HASH, 1, 1_700_000_000,
                                     [tx.serialize()], COINBASE_SPK))
    view = ScanView(chain="main", height=1, block_hash=block.hash, block_time=block.time)
    adapter(section).scan(block, view)
    return view.records


# ---------------------------------------------------------------- the worked example


def doc_tx() -> Transaction:
    return stake_tx([TxOutput(1_000_000, DOC_P2WSH), TxOutput(0, DOC_OP_RETURN)])


def test_inspect_decodes_the_worked_example_on_its_own_chain_id() -> None:
    found = adapter({"chain_id": 1115}).inspect(parse_tx(doc_tx().serialize()), "main")
    assert len(found) == 1
    f = found[0]
    assert f["protocol"] == "coredao" and f["kind"] == "stake"
    assert f["vout"] == 0 and f["amount_sat"] == 1_000_000
    assert f["output_type"] == "p2wsh"
    assert f["chain_id"] == 1115
    assert f["delegator"] == "0x" + DELEGATOR
    assert f["validator"] == "0x" + VALIDATOR
    assert f["fee"] == 1
    assert f["unlock_time"] == 1712217631 and f["locktime_type"] == "time"
    assert f["redeem_script"] == DOC_REDEEM_HEX
    assert f["script_kind"] == "pubkey_hash" and f["script_source"] == "payload"


def test_worked_example_is_rejected_on_mainnet_for_its_testnet_chain_id() -> None:
    found = adapter().inspect(parse_tx(doc_tx().serialize()), "main")
    assert [(f["kind"], f["reason"]) for f in found] == [
        ("rejected", "wrong chain id 1115 (expected 1116)")]
    # the rejection still shows what the document's payload says
    (f,) = found
    assert (f["delegator"], f["validator"], f["fee"]) == ("0x" + DELEGATOR, "0x" + VALIDATOR, 1)
    assert f["redeem_script"] == DOC_REDEEM_HEX and f["unlock_time"] == 1712217631
    assert f["vout"] == 0 and f["output_type"] == "p2wsh"
    records = analyse(doc_tx())
    assert [type(r) for r in records] == [Rejected]


# ---------------------------------------------------------------- stakes


def test_stake_with_script_in_the_payload_becomes_a_locked_position() -> None:
    tx = stake_tx([TxOutput(2_500, bytes.fromhex("0014") + bytes(20)),
                   TxOutput(50_000_000, p2wsh(PKH1_REDEEM)),
                   TxOutput(0, op_return(head() + PKH1_REDEEM))])
    pos, ev = analyse(tx)
    assert isinstance(pos, NewPosition) and isinstance(ev, Event)
    assert (pos.txid, pos.vout, pos.value_sat) == (tx.txid(), 1, 50_000_000)
    assert pos.status == "active" and pos.locked
    assert pos.data["delegator"] == "0x" + DELEGATOR
    assert pos.data["validator"] == "0x" + VALIDATOR
    assert pos.data["unlock_time"] == 1712217631
    assert pos.data["redeem_script"] == PKH1_REDEEM.hex()
    assert pos.data["chain_id"] == 1116
    assert pos.data["created_time"] == 1_700_000_000
    assert (ev.kind, ev.amount_sat, ev.data["vout"]) == ("stake", 50_000_000, 1)


def test_p2sh_stake_rebuilt_from_the_timelock_and_the_input_key() -> None:
    tx = stake_tx([TxOutput(0, op_return(head() + bytes.fromhex(LOCK_LE))),
                   TxOutput(300_000, p2sh(PKH1_REDEEM))])
    pos, ev = analyse(tx)
    assert isinstance(ev, Event) and ev.amount_sat == 300_000
    assert isinstance(pos, NewPosition)
    assert (pos.vout, pos.value_sat) == (1, 300_000)
    assert pos.data["output_type"] == "p2sh"
    assert pos.data["script_source"] == "rebuilt"
    assert pos.data["redeem_script"] == PKH1_REDEEM.hex()


def test_payload_with_script_and_trailing_timelock() -> None:
    # A 32-byte script plus a timelock would exceed 80 bytes, so use a short script.
    short = bytes.fromhex("04" + LOCK_LE + "b17551")  # <lock> CLTV DROP OP_TRUE
    tx = stake_tx([TxOutput(40_000, p2wsh(short)),
                   TxOutput(0, op_return(head() + short + bytes.fromhex(LOCK_LE)))])
    pos, _ = analyse(tx)
    assert isinstance(pos, NewPosition)
    assert pos.data["script_source"] == "payload_with_timelock"
    assert pos.data["script_kind"] == "other"


def test_core_counts_the_last_matching_output() -> None:
    tx = stake_tx([TxOutput(10_000, p2wsh(PKH1_REDEEM)), TxOutput(20_000, p2wsh(PKH1_REDEEM)),
                   TxOutput(0, op_return(head() + PKH1_REDEEM))])
    pos, _ = analyse(tx)
    assert (pos.vout, pos.value_sat) == (1, 20_000)


def test_version_2_lst_is_an_event_without_amount() -> None:
    payload = b"SAT+\x02\x04\x5c" + bytes.fromhex(DELEGATOR) + b"\x00"
    tx = stake_tx([TxOutput(70_000, bytes.fromhex("0014") + bytes(20)),
                   TxOutput(0, op_return(payload))])
    (ev,) = analyse(tx)
    assert isinstance(ev, Event)
    assert ev.kind == "stake" and ev.amount_sat is None
    assert ev.data["version"] == 2 and ev.data["lst"] is True
    assert ev.data["delegator"] == "0x" + DELEGATOR


# ---------------------------------------------------------------- rejections


def test_wrong_chain_id_is_rejected_with_the_reason() -> None:
    tx = stake_tx([TxOutput(50_000, p2wsh(PKH1_REDEEM)),
                   TxOutput(0, op_return(head("045a") + PKH1_REDEEM))])
    (rej,) = analyse(tx)
    assert isinstance(rej, Rejected)
    assert rej.reason == "wrong chain id 1114 (expected 1116)"
    # ...and accepted when the params name that chain.
    assert isinstance(analyse(tx, {"chain_id": 1114})[0], NewPosition)


def test_script_matching_no_output_is_rejected() -> None:
    tx = stake_tx([TxOutput(50_000, p2wsh(PKH1_REDEEM + b"\x00")),
                   TxOutput(0, op_return(head() + PKH1_REDEEM))])
    (rej,) = analyse(tx)
    assert isinstance(rej, Rejected)
    assert "no output pays to the P2SH/P2WSH hash" in rej.reason


def test_timelock_that_rebuilds_nothing_is_rejected() -> None:
    tx = stake_tx([TxOutput(50_000, p2wsh(PKH1_REDEEM)),
                   TxOutput(0, op_return(head() + bytes.fromhex(LOCK_LE)))],
                  witness=[b"\x01" * 64])  # taproot key spend: no key revealed
    (rej,) = analyse(tx)
    assert isinstance(rej, Rejected) and "no input reveals" in rej.reason


def test_payload_script_without_cltv_is_rejected_even_if_it_matches() -> None:
    plain = bytes.fromhex("76a914" + PKH1 + "88ac")
    tx = stake_tx([TxOutput(50_000, p2wsh(plain)), TxOutput(0, op_return(head() + plain))])
    (rej,) = analyse(tx)
    assert isinstance(rej, Rejected) and "does not start with" in rej.reason


@pytest.mark.parametrize(("payload", "reason"), [
    (head()[:30], "too short"),
    (b"SAT+\x07" + head()[5:] + bytes.fromhex(LOCK_LE), "unsupported SAT+ version 7"),
    (head() + PKH1_REDEEM + b"\x00", "exceeds 80"),
], ids=["short", "version-7", "too-long"])
def test_look_alikes_never_stake(payload: bytes, reason: str) -> None:
    tx = stake_tx([TxOutput(50_000, p2wsh(PKH1_REDEEM)), TxOutput(0, op_return(payload))])
    records = analyse(tx)
    assert [type(r) for r in records] == [Rejected]
    assert reason in records[0].reason


def test_unrelated_op_return_is_ignored() -> None:
    tx = stake_tx([TxOutput(50_000, p2wsh(PKH1_REDEEM)),
                   TxOutput(0, op_return(b"SAT-" + head()[4:] + PKH1_REDEEM))])
    assert analyse(tx) == []


# ---------------------------------------------------------------- scanning a chain


class MiniCore:
    """Plays the core's part between blocks: keeps unspent positions, marks spends."""

    def __init__(self) -> None:
        self.ad = adapter()
        self.positions: dict[tuple[bytes, int], Position] = {}
        self.prev = REGTEST_GENESIS_HASH
        self.height = 0

    def mine(self, txs: list[Transaction]) -> list[Any]:
        self.height += 1
        raw = create_block(self.prev, self.height, 1_712_000_000 + self.height * 600,
                           [t.serialize() for t in txs], COINBASE_SPK)
        block = parse_block(raw)
        outline = outline_block(raw)
        assert (all(outline.txs_containing(raw, n) for n in self.ad.needles({}))
                or not self._has_sat(block))
        view = ScanView(chain="main", height=self.height, block_hash=block.hash,
                        block_time=block.time, tracked=set(self.positions),
                        load_position=lambda t, v: self.positions.get((txid_from_hex(t), v)))
        self.ad.scan(block, view)
        for r in view.records:
            if isinstance(r, NewPosition):
                self.positions[(txid_from_hex(r.txid), r.vout)] = Position(
                    r.txid, r.vout, r.value_sat, self.height, r.status, r.locked, r.data)
        for tx in block.txs:
            for txin in tx.inputs:
                self.positions.pop(txin.prevout, None)
        self.prev = block.hash
        return view.records

    @staticmethod
    def _has_sat(block: Block) -> bool:
        return any(b"SAT+" in o.script_pubkey for tx in block.txs for o in tx.outputs)


def test_stake_then_redeem_in_a_later_block() -> None:
    core = MiniCore()
    stake = stake_tx([TxOutput(50_000_000, p2wsh(PKH1_REDEEM)),
                      TxOutput(0, op_return(head() + PKH1_REDEEM))])
    first = core.mine([stake])
    assert [type(r) for r in first] == [NewPosition, Event]
    assert sum(p.value_sat for p in core.positions.values() if p.locked) == 50_000_000

    assert core.mine([]) == []  # nothing happens while the coins sit

    redeem = Transaction(inputs=[TxInput(stake.txid(), 0, sequence=0xFFFFFFFE,
                                         witness=[SIG, PK1, PKH1_REDEEM])],
                         outputs=[TxOutput(49_990_000, bytes.fromhex("0014") + bytes(20))],
                         locktime=1712217631)
    third = core.mine([redeem])
    assert len(third) == 1
    ev = third[0]
    assert isinstance(ev, Event)
    assert (ev.kind, ev.txid, ev.amount_sat) == ("redeem", redeem.txid(), 50_000_000)
    assert (ev.data["staking_txid"], ev.data["vout"]) == (stake.txid(), 0)
    assert ev.data["validator"] == "0x" + VALIDATOR
    assert core.positions == {}


def test_stake_and_redeem_in_the_same_block() -> None:
    core = MiniCore()
    stake = stake_tx([TxOutput(80_000, p2wsh(PKH1_REDEEM)),
                      TxOutput(0, op_return(head() + PKH1_REDEEM))])
    redeem = Transaction(inputs=[TxInput(stake.txid(), 0, witness=[SIG, PK1, PKH1_REDEEM])],
                         outputs=[TxOutput(70_000, bytes.fromhex("0014") + bytes(20))])
    records = core.mine([stake, redeem])
    assert [(type(r).__name__, getattr(r, "kind", None)) for r in records] == [
        ("NewPosition", None), ("Event", "stake"), ("Event", "redeem")]
    assert core.positions == {}


def test_restake_spends_the_old_stake_and_locks_again() -> None:
    core = MiniCore()
    stake = stake_tx([TxOutput(90_000, p2wsh(PKH1_REDEEM)),
                      TxOutput(0, op_return(head() + PKH1_REDEEM))])
    core.mine([stake])
    new_lock_le = "00a24a68"  # 1749721600, later than the first lock
    new_redeem = bytes.fromhex("04" + new_lock_le + "b17576a914" + PKH1 + "88ac")
    restake = Transaction(
        inputs=[TxInput(stake.txid(), 0, witness=[SIG, PK1, PKH1_REDEEM])],
        outputs=[TxOutput(85_000, p2wsh(new_redeem)),
                 TxOutput(0, op_return(head() + bytes.fromhex(new_lock_le)))],
        locktime=1712217631)
    records = core.mine([restake])
    assert [getattr(r, "kind", "position") for r in records] == ["redeem", "position", "stake"]
    (pos,) = core.positions.values()
    assert pos.value_sat == 85_000 and pos.data["unlock_time"] == 1749721600


# ---------------------------------------------------------------- locked detail, params


def _pos(value: int, unlock: int, validator: str, delegator: str, height: int = 10,
         created: int = 1_700_000_000) -> Position:
    return Position("aa" * 32, 0, value, height, "active", True,
                    {"unlock_time": unlock, "validator": validator, "delegator": delegator,
                     "created_time": created})


def test_locked_detail_reports_expired_but_unspent_stakes() -> None:
    positions = [
        _pos(100, 1_712_217_631, "0xv1", "0xd1"),          # time lock, passed by 1.75e9
        _pos(200, 1_800_000_000, "0xv1", "0xd2"),          # time lock, still running
        _pos(400, 840_000, "0xv2", "0xd1"),                # height lock, passed at 850000
    ]
    d = adapter().locked_detail(positions, now_height=850_000, now_time=1_750_000_000)
    assert d["expired_sat"] == 500
    assert d["validators"] == {"0xv2": 400, "0xv1": 300}
    assert locked_by_delegator(positions) == {"0xd1": 500, "0xd2": 200}
    assert locked_by_validator(positions) == d["validators"]
    # Without a "now", the newest point the positions show is used: nothing passed yet.
    assert adapter().locked_detail(positions)["expired_sat"] == 0
    # The core's hook gives the line's height and median time past: exact, not a bound.
    at = adapter().locked_detail_at(positions, height=850_000, median_time=1_750_000_000)
    assert at["expired_sat"] == 500
    assert at["expiry_as_of"] == {"height": 850_000, "time": 1_750_000_000}


def test_params_defaults_and_overrides() -> None:
    main = adapter()
    assert main.params.chain_id == 1116 and main.start_height() == 830_000
    assert adapter({"chain_id": 1115}).params.chain_id == 1115
    assert adapter(chain="regtest").params.chain_id == 1116
    assert adapter(chain="regtest").start_height() == 0
    assert adapter().needles({}) == (InOpReturn(b"SAT+"),)
    with pytest.raises(ParamsError, match="chain_id"):
        adapter({"chain_id": "1116"})
    with pytest.raises(ParamsError, match="chain_id"):
        adapter({"chain_id": 70000})
    with pytest.raises(ParamsError, match="chainid"):
        adapter({"chainid": 1116})
