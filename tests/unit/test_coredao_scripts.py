"""Core DAO redeem-script shapes, hashing to outputs, and rebuilding from a timelock.

Shapes are written out by hand from design.md ("Redeem Script"); hash vectors are the
design document's P2WSH hash and BIP173's hash160 of the secp256k1 generator key.
"""

from __future__ import annotations

import hashlib

import pytest

from adapters.coredao.scripts import (
    hash160,
    match_outputs,
    multisig_script,
    p2sh_script_pubkey,
    p2wsh_script_pubkey,
    parse_cltv_script,
    pubkey_hash_script,
    pubkey_script,
    rebuild_candidates,
)
from indexer.chain.block import TxOut, parse_tx
from regtest.build import Transaction, TxInput, TxOutput

DOC_REDEEM = bytes.fromhex("041f5e0e66b17576a914c4b8ae927ff2b9ce218e20bf06d425d6b68424fd88ac")
DOC_P2WSH_HASH = "3dd731ae1c3ce32cfbec4ea82c855e027adf5fddca6d0118029b0ba15e44e0e9"
LOCK = 1712217631  # 0x660e5e1f
LOCK_LE = "1f5e0e66"

# Public keys of private keys 1, 2 and 3 (G, 2G, 3G), compressed.
PK1 = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
PK2 = bytes.fromhex("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
PK3 = bytes.fromhex("02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9")
PKH1 = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")  # BIP173 example

CLTV = "04" + LOCK_LE + "b175"
PUBKEY_FORM = bytes.fromhex(CLTV + "21" + PK1.hex() + "ac")
PKH_FORM = bytes.fromhex(CLTV + "76a914" + PKH1.hex() + "88ac")
MULTI_TAIL = "52" + "21" + PK1.hex() + "21" + PK2.hex() + "21" + PK3.hex() + "53ae"
MULTISIG_FORM = bytes.fromhex(CLTV + MULTI_TAIL)


def test_doc_script_is_a_pubkey_hash_lock() -> None:
    s = parse_cltv_script(DOC_REDEEM)
    assert s is not None
    assert s.kind == "pubkey_hash"
    assert s.locktime == 1712217631
    assert s.locktime_type == "time"
    assert s.pubkey_hash == bytes.fromhex("c4b8ae927ff2b9ce218e20bf06d425d6b68424fd")
    assert s.core_format
    assert hashlib.sha256(DOC_REDEEM).hexdigest() == DOC_P2WSH_HASH


def test_pubkey_form() -> None:
    s = parse_cltv_script(PUBKEY_FORM)
    assert s is not None and s.kind == "pubkey" and s.pubkeys == (PK1,)
    assert pubkey_script(LOCK, PK1) == PUBKEY_FORM


def test_pubkey_hash_form() -> None:
    assert hash160(PK1) == PKH1
    s = parse_cltv_script(PKH_FORM)
    assert s is not None and s.kind == "pubkey_hash" and s.pubkey_hash == PKH1
    assert pubkey_hash_script(LOCK, PKH1) == PKH_FORM


def test_multisig_form() -> None:
    s = parse_cltv_script(MULTISIG_FORM)
    assert s is not None
    assert (s.kind, s.m, s.pubkeys) == ("multisig", 2, (PK1, PK2, PK3))
    assert multisig_script(LOCK, 2, [PK1, PK2, PK3]) == MULTISIG_FORM


def test_height_lock_is_read_but_not_core_format() -> None:
    # 840000 = 0x0cd140: a 3-byte push. Bitcoin enforces it; Core's verifier wants 4 bytes.
    script = bytes.fromhex("0340d10cb175" + "76a914" + PKH1.hex() + "88ac")
    s = parse_cltv_script(script)
    assert s is not None
    assert (s.locktime, s.locktime_type, s.core_format) == (840000, "height", False)
    assert pubkey_hash_script(840000, PKH1) == script


def test_unknown_tail_still_counts_as_a_cltv_lock() -> None:
    s = parse_cltv_script(bytes.fromhex(CLTV + "51"))  # <lock> CLTV DROP OP_TRUE
    assert s is not None and s.kind == "other"


@pytest.mark.parametrize("script", [
    bytes.fromhex("76a914" + PKH1.hex() + "88ac"),            # plain P2PKH, no lock
    bytes.fromhex("04" + LOCK_LE + "b275" + "21" + PK1.hex() + "ac"),   # CSV, not CLTV
    bytes.fromhex("04" + LOCK_LE + "b1" + "21" + PK1.hex() + "ac"),     # no OP_DROP
    bytes.fromhex("04ffffff80b17551"),                        # negative lock: never spendable
    bytes.fromhex("06" + "00" * 6 + "b17551"),                # 6-byte number: CLTV refuses
    bytes.fromhex("4c10" + "00" * 4),                         # truncated push
], ids=["p2pkh", "csv", "no-drop", "negative", "oversized-number", "truncated"])
def test_not_cltv_locks(script: bytes) -> None:
    assert parse_cltv_script(script) is None


def test_output_matching_p2sh_and_p2wsh() -> None:
    p2wsh = bytes.fromhex("0020" + DOC_P2WSH_HASH)
    assert p2wsh_script_pubkey(DOC_REDEEM) == p2wsh
    p2sh = p2sh_script_pubkey(PKH_FORM)
    assert p2sh[:2] == bytes.fromhex("a914") and p2sh[-1:] == b"\x87"
    outs = [TxOut(1000, bytes.fromhex("0014") + PKH1), TxOut(5000, p2wsh), TxOut(7000, p2sh)]
    assert match_outputs(DOC_REDEEM, outs) == [(1, "p2wsh")]
    assert match_outputs(PKH_FORM, outs) == [(2, "p2sh")]
    assert match_outputs(PUBKEY_FORM, outs) == []


def _tx(inp: TxInput) -> Transaction:
    return Transaction(inputs=[inp], outputs=[TxOutput(1000, b"\x6a")])


def test_rebuild_from_a_p2wpkh_input_gives_the_pubkey_hash_form() -> None:
    raw = _tx(TxInput("11" * 32, 0, witness=[b"\x30" * 71, PK1])).serialize()
    cands = rebuild_candidates(LOCK, parse_tx(raw))
    assert PKH_FORM in cands and PUBKEY_FORM in cands


def test_rebuild_from_a_p2pkh_input() -> None:
    sig = b"\x30" * 71
    script_sig = bytes([len(sig)]) + sig + bytes([33]) + PK1
    cands = rebuild_candidates(LOCK, parse_tx(_tx(TxInput("11" * 32, 0, script_sig)).serialize()))
    assert PKH_FORM in cands


def test_rebuild_from_a_multisig_input() -> None:
    ms = bytes.fromhex(MULTI_TAIL)
    raw = _tx(TxInput("11" * 32, 0, witness=[b"", b"\x30" * 71, b"\x30" * 71, ms])).serialize()
    assert MULTISIG_FORM in rebuild_candidates(LOCK, parse_tx(raw))


def test_rebuild_from_a_restake_keeps_the_old_tail_under_the_new_lock() -> None:
    old = bytes.fromhex("04" + "00000000" + "b175" + "21" + PK2.hex() + "ac")  # locktime 0
    raw = _tx(TxInput("11" * 32, 0, witness=[b"\x30" * 71, old])).serialize()
    assert bytes.fromhex(CLTV + "21" + PK2.hex() + "ac") in rebuild_candidates(LOCK, parse_tx(raw))


def test_rebuild_from_a_taproot_key_spend_finds_nothing() -> None:
    raw = _tx(TxInput("11" * 32, 0, witness=[b"\x01" * 64])).serialize()
    assert rebuild_candidates(LOCK, parse_tx(raw)) == []
