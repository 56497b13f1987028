"""RSKT payloads and peg-in senders, byte for byte per rootstock.md §2.2."""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak

from adapters.powpeg.decode import RsktError, find_rskt, parse_rskt_payload, rsk_address, sender
from indexer.chain.block import parse_tx
from regtest.build import Transaction, TxInput, TxOutput, push_data
from tests.conftest import load_json

DEST = bytes(range(1, 21))


def _tx(outputs: list[TxOutput], script_sig: bytes = b"\x00", witness: list[bytes] | None = None
        ) -> bytes:
    return Transaction([TxInput("11" * 32, 0, script_sig, witness=witness or [])],
                       outputs).serialize()


def _op_return(payload: bytes) -> TxOutput:
    return TxOutput(0, b"\x6a" + push_data(payload))


def test_rskt_25_and_46_byte_payloads() -> None:
    short = parse_rskt_payload(b"RSKT\x01" + DEST)
    assert short.destination == "0x" + DEST.hex() and short.refund_hash is None
    h160 = b"\xaa" * 20
    long = parse_rskt_payload(b"RSKT\x01" + DEST + b"\x02" + h160)
    assert long.refund_type == "P2SH" and long.refund_hash == h160
    assert (long.refund_address("main") or "").startswith("3")


@pytest.mark.parametrize("payload", [
    b"RSKT",  # no version
    b"RSKT\x02" + DEST,  # version 2
    b"RSKT\x01" + DEST[:19],  # 24 bytes
    b"RSKT\x01" + DEST + b"\x01",  # 26 bytes
    b"RSKT\x01" + DEST + b"\x03" + b"\xaa" * 20,  # refund type 3
    b"RSKT\x01" + DEST + b"\x01" + b"\xaa" * 21,  # 47 bytes
])
def test_malformed_rskt_payloads_are_rejected(payload: bytes) -> None:
    with pytest.raises(RsktError):
        find_rskt(parse_tx(_tx([_op_return(payload)])))


def test_two_rskt_outputs_are_malformed_and_other_op_returns_ignored() -> None:
    good = _op_return(b"RSKT\x01" + DEST)
    with pytest.raises(RsktError):
        find_rskt(parse_tx(_tx([good, good])))
    other = _op_return(b"XXXX\x01" + DEST)
    found = find_rskt(parse_tx(_tx([other, TxOutput(1, b"\x51"), good])))
    assert found is not None and found.vout == 2
    assert find_rskt(parse_tx(_tx([other]))) is None


def test_rsk_address_from_vector_keys() -> None:
    for name in ("mainnet-pegin-v0-p2pkh-529682fd067b.json",
                 "mainnet-pegin-v0-segwit-serialized-124f95f3c6f1.json",
                 "testnet-pegin-flyover-d3356587d46c.json"):
        s = load_json("rootstock", "vectors", name)["expected"]["sender"]
        assert rsk_address(bytes.fromhex(s["pubkey"])) == s["derived_rsk_address"]


def _key() -> bytes:
    from coincurve import PrivateKey

    return PrivateKey(b"\x07" * 32).public_key.format(compressed=True)


def _expected_rsk(pub: bytes) -> str:
    from coincurve import PublicKey

    raw = PublicKey(pub).format(compressed=False)[1:]
    return "0x" + keccak.new(digest_bits=256, data=raw).digest()[-20:].hex()


def test_sender_types_from_input_zero() -> None:
    pub = _key()
    sig = b"\x30" + b"\x01" * 70
    p2pkh = sender(parse_tx(_tx([TxOutput(1, b"\x51")], push_data(sig) + push_data(pub))), "main")
    assert p2pkh.type == "P2PKH" and p2pkh.rsk_address == _expected_rsk(pub)
    assert (p2pkh.btc_address or "").startswith("1")
    from adapters.powpeg.addresses import hash160

    nested = parse_tx(_tx([TxOutput(1, b"\x51")], push_data(b"\x00\x14" + hash160(pub)),
                          [sig, pub]))
    s = sender(nested, "main")
    assert s.type == "P2SH-P2WPKH" and s.rsk_address == _expected_rsk(pub)
    native = parse_tx(_tx([TxOutput(1, b"\x51")], b"", [sig, pub]))
    assert sender(native, "main").type == "UNKNOWN"
    # Two pushes whose second is not a point on the curve: not P2PKH.
    junk = parse_tx(_tx([TxOutput(1, b"\x51")], push_data(sig) + push_data(b"\x02" + b"\x05" * 32)))
    assert sender(junk, "main").type == "UNKNOWN"
