"""Core DAO `SAT+` payload decoding, against the design document's worked example.

Expected values come from coredao-org/CoreDAO-Docs docs/stake-and-delegate/btc-staking/
design.md ("OP_RETURN output" of tx 9f5c66d5…3512) and Core's verifier (BitcoinStake.sol,
BitcoinLSTStake.sol, BitcoinHelper.opReturnPayload).
"""

from __future__ import annotations

import re

import pytest

from adapters.coredao.decode import (
    DecodeError,
    LstStake,
    Stake,
    decode_payload,
    extract_payload,
    is_sat_plus,
)

# The full OP_RETURN output of the design document's example, byte for byte.
DOC_OP_RETURN = bytes.fromhex(
    "6a4c505341542b01045bde60b7d0e6b758ca5dd8c61d377a2c5f1af51ec1a9e209f5ea0036c8c2f41078"
    "a3cebee57d8a47d501041f5e0e66b17576a914c4b8ae927ff2b9ce218e20bf06d425d6b68424fd88ac")
DOC_REDEEM = bytes.fromhex("041f5e0e66b17576a914c4b8ae927ff2b9ce218e20bf06d425d6b68424fd88ac")
DELEGATOR = bytes.fromhex("de60b7d0e6b758ca5dd8c61d377a2c5f1af51ec1")
VALIDATOR = bytes.fromhex("a9e209f5ea0036c8c2f41078a3cebee57d8a47d5")

HEAD_1116 = b"SAT+" + bytes([1]) + bytes.fromhex("045c") + DELEGATOR + VALIDATOR + bytes([0])


def op_return(payload: bytes) -> bytes:
    if len(payload) < 0x4C:
        return bytes([0x6A, len(payload)]) + payload
    return bytes([0x6A, 0x4C, len(payload)]) + payload


def test_worked_example_decodes_field_by_field() -> None:
    payload = extract_payload(DOC_OP_RETURN)
    assert len(payload) == 0x50  # the doc's `4c50`
    st = decode_payload(payload)
    assert isinstance(st, Stake)
    assert st.version == 1
    assert st.chain_id == 1115  # `045b`, Core Testnet in the doc
    assert st.delegator == DELEGATOR
    assert st.validator == VALIDATOR
    assert st.fee == 1
    assert st.redeem_script == DOC_REDEEM
    assert st.timelock is None


def test_timelock_only_payload_is_little_endian() -> None:
    # 1712217631 = 0x660e5e1f, stored little endian as 1f5e0e66 (design.md).
    st = decode_payload(HEAD_1116 + bytes.fromhex("1f5e0e66"))
    assert isinstance(st, Stake)
    assert st.chain_id == 1116
    assert st.timelock == 1712217631
    assert st.redeem_script is None


def test_version_2_lst_payload() -> None:
    payload = b"SAT+" + bytes([2]) + bytes.fromhex("045c") + DELEGATOR + bytes([3])
    st = decode_payload(payload)
    assert isinstance(st, LstStake)
    assert (st.version, st.chain_id, st.delegator, st.fee) == (2, 1116, DELEGATOR, 3)


@pytest.mark.parametrize(("payload", "reason"), [
    (HEAD_1116[:40], "too short"),                               # v1 below 48 bytes
    (HEAD_1116, "neither a redeem script nor a timelock"),       # exactly 48 bytes
    (b"SAT+" + bytes([2]) + b"\x04\x5c" + DELEGATOR[:10], "too short"),   # v2 below 28
    (b"SAT+" + bytes([3]) + HEAD_1116[5:] + DOC_REDEEM[:4], "unsupported SAT+ version 3"),
    (b"SAT+" + bytes([0]) + HEAD_1116[5:] + DOC_REDEEM[:4], "unsupported SAT+ version 0"),
], ids=["v1-short", "v1-empty-tail", "v2-short", "version-3", "version-0"])
def test_malformed_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(reason)):
        decode_payload(payload)


def test_carrier_rules_follow_cores_helper() -> None:
    good = HEAD_1116 + DOC_REDEEM  # 80 bytes: the largest payload Core reads
    assert extract_payload(op_return(good)) == good
    # 81 bytes: larger than any OP_RETURN Core's verifier accepts.
    with pytest.raises(DecodeError, match="exceeds 80"):
        extract_payload(op_return(good + b"\x00"))
    # Non-minimal push of a 48+4 byte payload (OP_PUSHDATA1 where a direct push fits).
    short = HEAD_1116 + bytes.fromhex("1f5e0e66")
    with pytest.raises(DecodeError, match="not pushed minimally"):
        extract_payload(bytes([0x6A, 0x4C, len(short)]) + short)
    # The fields split over several pushes: Core reads only a single push.
    with pytest.raises(DecodeError, match="more than the one"):
        extract_payload(bytes([0x6A, 4]) + b"SAT+" + op_return(short[4:])[1:])
    # A push that claims more bytes than the script has.
    with pytest.raises(DecodeError, match="past the end"):
        extract_payload(bytes([0x6A, 0x4C, 80]) + good[:60])


@pytest.mark.parametrize("script", [
    op_return(b"SAT-" + HEAD_1116[4:] + DOC_REDEEM),     # wrong magic
    op_return(b"xSAT+" + HEAD_1116[4:]),                  # magic not at the start
    bytes.fromhex("0014") + bytes(20),                    # not an OP_RETURN at all
    b"\x6a",                                              # bare OP_RETURN
    bytes([0x6A, 0x51]) + b"SAT+",                        # OP_1, then loose bytes
], ids=["wrong-magic", "magic-later", "p2wpkh", "bare-op-return", "op1-then-bytes"])
def test_non_sat_outputs_are_not_candidates(script: bytes) -> None:
    assert not is_sat_plus(script)


def test_sat_outputs_are_candidates() -> None:
    assert is_sat_plus(DOC_OP_RETURN)
    assert is_sat_plus(op_return(HEAD_1116[:10]))  # too short, but still a SAT+ look-alike
