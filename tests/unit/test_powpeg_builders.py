"""The Powpeg scenario builders make consensus-valid transactions of the spec's shapes.

`regtest.verify` checks the sender inputs (P2PKH, P2SH-P2WPKH, P2WPKH) and plain P2SH
multisig federation inputs, but not ERP redeem scripts. For those, `run_p2sh` below
executes the scriptSig and redeem script the way Bitcoin Core's interpreter does for the
opcodes a federation script uses (pushes, OP_NOTIF/ELSE/ENDIF, OP_CSV, OP_DROP,
OP_CHECKMULTISIG with NULLDUMMY), checking each signature with coincurve against the legacy
sighash. The adapter then reads every built transaction back as the intended kind.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.powpeg.decode import find_rskt, sender
from adapters.powpeg.federation import erp_script, multisig_script, read_spend
from indexer.chain.block import parse_tx
from regtest.build import Transaction, TxOutput
from regtest.keys import Key, hash160, is_low_s, verify_ecdsa
from regtest.protocols import ProtocolContext
from regtest.protocols.powpeg import (
    BUILDERS,
    PowpegBuildError,
    federation_keys,
    rsk_address,
)
from regtest.scripts import p2pkh, p2sh_p2wpkh, p2wpkh, tokenize
from regtest.sighash import legacy_sighash
from regtest.sign import Prevout
from regtest.verify import verify_tx
from regtest.wallet import Wallet

ERP_KEYS = [Key.from_label(f"powpeg/erp/{i}").pubkey for i in range(4)]
CSV = 500
PARAMS: dict[str, Any] = {"powpeg": {"erp_keys": [k.hex() for k in ERP_KEYS], "erp_csv": CSV,
                                     "min_pegin_sat": 500_000}}
FED_A = {"label": "fed-a"}
FED_B = {"label": "fed-b"}
FED_M = {"label": "fed-m", "template": "multisig"}
A_KEYS = federation_keys("fed-a", 5)
REDEEM_A = erp_script([k.pubkey for k in A_KEYS], ERP_KEYS, CSV)
REDEEM_B = erp_script([k.pubkey for k in federation_keys("fed-b", 5)], ERP_KEYS, CSV)
REDEEM_M = multisig_script([k.pubkey for k in federation_keys("fed-m", 5)])


def p2sh_of(redeem: bytes) -> bytes:
    return b"\xa9\x14" + hash160(redeem) + b"\x87"


# ----------------------------------------------------------------- a small interpreter

OP_NOTIF, OP_ELSE, OP_ENDIF, OP_DROP, OP_CSV, OP_CHECKMULTISIG = (
    0x64, 0x67, 0x68, 0x75, 0xB2, 0xAE)


def _num(item: bytes) -> int:
    if not item:
        return 0
    v = int.from_bytes(item, "little")
    if item[-1] & 0x80:
        v = -(v & ~(0x80 << (8 * (len(item) - 1))))
    return v


def run_p2sh(tx: Transaction, index: int, spent_spk: bytes) -> int:
    """Execute input `index` against a P2SH federation output; the signatures checked."""
    ops = tokenize(tx.inputs[index].script_sig)
    assert all(d is not None for _, d in ops), "a P2SH scriptSig is push-only"
    pushes = [d or b"" for _, d in ops]
    redeem = pushes[-1]
    assert p2sh_of(redeem) == spent_spk, "redeem script does not hash to the output"
    stack = pushes[:-1]
    executing: list[bool] = []
    checked = 0
    for op, data in tokenize(redeem):
        live = all(executing)
        if op in (OP_NOTIF,):
            executing.append(live and not any(stack.pop()))
        elif op == OP_ELSE:
            executing[-1] = not executing[-1]
        elif op == OP_ENDIF:
            executing.pop()
        elif not live:
            continue
        elif data is not None:
            stack.append(data)
        elif 0x51 <= op <= 0x60:
            stack.append(bytes([op - 0x50]))
        elif op == OP_CSV:
            # BIP112: only the emergency branch has it; its input must wait `csv` blocks.
            assert tx.version >= 2 and tx.inputs[index].sequence & 0xFFFF >= _num(stack[-1])
        elif op == OP_DROP:
            stack.pop()
        elif op == OP_CHECKMULTISIG:
            n = _num(stack.pop())
            keys = [stack.pop() for _ in range(n)][::-1]
            m = _num(stack.pop())
            sigs = [stack.pop() for _ in range(m)][::-1]
            assert stack.pop() == b"", "NULLDUMMY: the extra item must be empty"
            k = 0
            for sig in sigs:  # CHECKMULTISIG walks keys forward only
                assert is_low_s(sig[:-1]) and sig[-1] == 0x01
                digest = legacy_sighash(tx, index, redeem, sig[-1])
                while k < n and not verify_ecdsa(keys[k], sig[:-1], digest):
                    k += 1
                assert k < n, "signature matches no remaining key"
                k += 1
                checked += 1
            stack.append(b"\x01")
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    assert not executing and stack == [b"\x01"], "script must end with exactly true"
    return checked


# ----------------------------------------------------------------- context


class Ctx:
    """A wallet with funded sender coins and a table of named outputs."""

    def __init__(self) -> None:
        self.wallet = Wallet()
        self.named: dict[str, Prevout] = {}
        for n, (label, spk_of) in enumerate([("alice", p2pkh), ("bob", p2sh_p2wpkh),
                                             ("carol", p2wpkh)]):
            key = Key.from_label(label)
            self.wallet.add_key(key)
            self.named[label] = Prevout(f"{n + 1:02x}" * 32, 0, 3_000_000, spk_of(key.pubkey))
        for n, (name, redeem) in enumerate([("a1", REDEEM_A), ("a2", REDEEM_A),
                                            ("m1", REDEEM_M), ("m2", REDEEM_M)]):
            self.named[name] = Prevout(f"{n + 0x10:02x}" * 32, 1, 1_000_000 * (n + 1),
                                       p2sh_of(redeem))

    def context(self) -> ProtocolContext:
        return ProtocolContext(self.wallet, PARAMS, 200, self.named.__getitem__)

    def build(self, builder: str, args: dict[str, Any]) -> Any:
        return BUILDERS[builder](self.context(), args)

    def spent(self, tx: Transaction) -> list[TxOutput]:
        by_op = {p.outpoint: p for p in self.named.values()}
        return [by_op[(i.prev_txid, i.prev_vout)].output for i in tx.inputs]


# ----------------------------------------------------------------- peg-ins


@pytest.mark.parametrize(("coin", "kind", "adapter_type"), [
    ("alice", "p2pkh", "P2PKH"), ("bob", "p2sh-p2wpkh", "P2SH-P2WPKH"),
    ("carol", "p2wpkh", "UNKNOWN")])
def test_pegin_from_each_sender_type_is_signed_and_shaped(coin: str, kind: str,
                                                          adapter_type: str) -> None:
    c = Ctx()
    built = c.build("pegin", {"outputs": [coin], "federation": FED_A, "sender": kind,
                              "amounts": [700_000, 600_000], "fee": 1_500})
    tx = built.tx
    verify_tx(tx, c.spent(tx))
    assert [o.value for o in tx.outputs] == [700_000, 600_000, 3_000_000 - 1_301_500]
    assert tx.outputs[0].script_pubkey == tx.outputs[1].script_pubkey == p2sh_of(REDEEM_A)
    assert tx.outputs[2].script_pubkey == c.named[coin].script_pubkey  # change to sender
    assert dict(built.outputs) == {"fed0": 0, "fed1": 1, "federation": 0, "change": 2}
    assert sender(parse_tx(tx.serialize()), "regtest").type == adapter_type


def test_pegin_rskt_payloads() -> None:
    c = Ctx()
    dest = "0xa0df67b9589bd0527af41f66294a846da513e1f9"
    refund_key = Key.from_label("frank")
    built = c.build("pegin", {"outputs": ["carol"], "federation": FED_A, "amount": 500_000,
                              "rskt": {"destination": dest,
                                       "refund": {"type": "p2pkh", "key": "frank"}}})
    rskt_out = built.tx.outputs[built.outputs["rskt"]]
    payload = b"RSKT\x01" + bytes.fromhex(dest[2:]) + b"\x01" + hash160(refund_key.pubkey)
    assert rskt_out.value == 0 and rskt_out.script_pubkey == b"\x6a\x2e" + payload
    found = find_rskt(parse_tx(built.tx.serialize()))
    assert found is not None and found.destination == dest and found.refund_type == "P2PKH"

    built = c.build("pegin", {"outputs": ["alice"], "federation": FED_A, "amount": 500_000,
                              "rskt": {"destination_key": "erin-rsk",
                                       "refund": {"type": "p2sh-p2wpkh", "key": "bob"}}})
    found = find_rskt(parse_tx(built.tx.serialize()))
    assert found is not None and found.refund_type == "P2SH"
    assert found.refund_hash == hash160(p2wpkh(Key.from_label("bob").pubkey))
    assert found.destination == rsk_address(Key.from_label("erin-rsk").pubkey)
    assert built.info["rskt_destination"] == found.destination


def test_rsk_address_matches_a_known_derivation() -> None:
    # The secp256k1 generator (private key 1) has the well-known Ethereum/RSK address.
    assert rsk_address(Key(1).pubkey) == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"


def test_pegin_checks_its_sender_type() -> None:
    with pytest.raises(PowpegBuildError, match="p2wpkh"):
        Ctx().build("pegin", {"outputs": ["carol"], "federation": FED_A, "sender": "p2pkh",
                              "amount": 500_000})


# ----------------------------------------------------------------- federation spends


def test_erp_pegout_signatures_verify_and_adapter_reads_it() -> None:
    c = Ctx()
    built = c.build("pegout", {"outputs": ["a1", "a2"], "federation": FED_A, "fee": 2_000,
                               "to": [{"key": "u1", "value": 1_000_000},
                                      {"key": "u2", "value": 500_000}]})
    tx = built.tx
    assert tx.version == 2
    assert [o.value for o in tx.outputs] == [1_000_000, 500_000, 3_000_000 - 1_502_000]
    assert tx.outputs[0].script_pubkey == p2pkh(Key.from_label("u1").pubkey)
    assert tx.outputs[2].script_pubkey == p2sh_of(REDEEM_A)  # change to itself, last
    for i in range(2):
        assert run_p2sh(tx, i, p2sh_of(REDEEM_A)) == 3
        pushes = [d for _, d in tokenize(tx.inputs[i].script_sig)]
        assert pushes[0] == b"" and pushes[-2] == b"" and pushes[-1] == REDEEM_A
    parsed = parse_tx(tx.serialize())
    spend = read_spend(parsed, 0)
    assert spend is not None and spend.redeem.template == "erp" and spend.signatures == 3


def test_erp_signatures_commit_to_the_transaction() -> None:
    c = Ctx()
    tx = c.build("pegout", {"outputs": ["a1"], "federation": FED_A,
                            "to": [{"key": "u1", "value": 600_000}]}).tx
    tx.outputs[0].value -= 1
    with pytest.raises(AssertionError, match="no remaining key"):
        run_p2sh(tx, 0, p2sh_of(REDEEM_A))


def test_chosen_signers_and_a_multisig_pegout() -> None:
    c = Ctx()
    tx = c.build("pegout", {"outputs": ["a1"], "federation": FED_A, "signers": [4, 1, 2],
                            "to": [{"key": "u1", "value": 600_000}]}).tx
    assert run_p2sh(tx, 0, p2sh_of(REDEEM_A)) == 3
    tx = c.build("pegout", {"outputs": ["m1", "m2"], "federation": FED_M,
                            "to": [{"key": "u1", "value": 6_998_000}]}).tx
    assert len(tx.outputs) == 1  # nothing left for change
    verify_tx(tx, c.spent(tx))  # regtest.verify knows plain P2SH multisig
    for i in range(2):
        assert run_p2sh(tx, i, p2sh_of(REDEEM_M)) == 3
        pushes = [d for _, d in tokenize(tx.inputs[i].script_sig)]
        assert len(pushes) == 5 and pushes[0] == b""  # dummy, 3 sigs, redeem; no selector


def test_migration_pays_everything_to_the_new_federation() -> None:
    c = Ctx()
    built = c.build("migrate", {"outputs": ["a1", "a2"], "federation": FED_A, "to": FED_B,
                                "fee": 3_000})
    tx = built.tx
    assert [(o.value, o.script_pubkey) for o in tx.outputs] == [(2_997_000, p2sh_of(REDEEM_B))]
    assert tx.version == 2 and built.info["to_redeem_script"] == REDEEM_B.hex()
    for i in range(2):
        assert run_p2sh(tx, i, p2sh_of(REDEEM_A)) == 3


def test_federation_spends_refuse_foreign_inputs_and_bad_signers() -> None:
    c = Ctx()
    with pytest.raises(PowpegBuildError, match="does not pay"):
        c.build("pegout", {"outputs": ["m1"], "federation": FED_A,
                           "to": [{"key": "u1", "value": 1}]})
    with pytest.raises(PowpegBuildError, match="distinct signers"):
        c.build("pegout", {"outputs": ["a1"], "federation": FED_A, "signers": [0, 0, 1],
                           "to": [{"key": "u1", "value": 1}]})


def test_listed_federation_must_match_its_builder_arguments() -> None:
    c = Ctx()
    params = {"powpeg": {**PARAMS["powpeg"], "federations": [
        {"address": "2MxY6UgAJX6iPupfc4AfDmQHJ2FY6xzLZ3f", "redeem_script": REDEEM_B.hex()}]}}
    ctx = ProtocolContext(c.wallet, params, 200, c.named.__getitem__)
    with pytest.raises(PowpegBuildError, match="another script"):
        BUILDERS["pegout"](ctx, {"outputs": ["a1"], "federation": FED_A,
                                 "to": [{"key": "u1", "value": 1}]})
