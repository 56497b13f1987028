"""The shared script and address primitives (`indexer.chain.script`) against published vectors.

Sources, named per block: Bitcoin Core's `src/test/data/script_tests.json` (the CScriptNum
"BN_bn2mpi" block: `["128", "0x02 0x8000 EQUAL"]` etc.), BIP62's minimal-push rules, BIP34
(block 227931's coinbase height), BIP173 (hash160 of the generator key), BIP341's
wallet-test-vectors (tapleaf hashes) and the Bitcoin Wiki's "Technical background of version 1
Bitcoin addresses" (public key -> hash160 -> Base58Check). Expected values are copied from the
sources, never from our own output.
"""

from __future__ import annotations

import pytest

from indexer.chain.script import (
    OP_0,
    OP_1NEGATE,
    OP_PUSHDATA1,
    OP_PUSHDATA2,
    OP_PUSHDATA4,
    Base58Error,
    ScriptError,
    b58check_decode,
    b58check_encode,
    compact_size,
    decode_script_num,
    hash160,
    push_data,
    push_int,
    script_num,
    sha256,
    tagged_hash,
    tokenize,
    var_bytes,
)

# Bitcoin Core script_tests.json: `<decimal>` must equal the push `0x<len> 0x<bytes>`.
CORE_SCRIPT_NUMS = [
    (1, "01"),
    (127, "7f"),
    (128, "8000"),  # "Leave room for the sign bit"
    (32767, "ff7f"),
    (32768, "008000"),
    (8388607, "ffff7f"),
    (8388608, "00008000"),
    (2147483647, "ffffff7f"),
    (2147483648, "0000008000"),
    (549755813887, "ffffffff7f"),
    (9223372036854775807, "ffffffffffffff7f"),
    (-1, "81"),  # "Numbers are little-endian with the MSB being a sign bit"
    (-127, "ff"),
    (-128, "8080"),
    (-32767, "ffff"),
    (-32768, "008080"),
    (-8388607, "ffffff"),
    (-8388608, "00008080"),
    (-2147483647, "ffffffff"),
    (-2147483648, "0000008080"),
    (-4294967295, "ffffffff80"),
    (-549755813887, "ffffffffff"),
]


@pytest.mark.parametrize(("n", "encoded"), CORE_SCRIPT_NUMS)
def test_script_num_matches_core_script_tests(n: int, encoded: str) -> None:
    assert script_num(n).hex() == encoded
    assert decode_script_num(bytes.fromhex(encoded)) == n


def test_script_num_zero_is_empty_and_decodes_non_minimal_forms() -> None:
    assert script_num(0) == b""
    assert decode_script_num(b"") == 0
    # Negative zero and padded forms are valid CScriptNums, just not minimal ones.
    assert decode_script_num(bytes.fromhex("80")) == 0
    assert decode_script_num(bytes.fromhex("0100")) == 1
    assert decode_script_num(bytes.fromhex("0180")) == -1


def test_push_int_small_numbers_use_opcodes() -> None:
    # BIP62 rule 3 / Core's CScript << int64: 0 -> OP_0, -1 -> OP_1NEGATE, 1..16 -> OP_n.
    assert push_int(0) == bytes([OP_0])
    assert push_int(-1) == bytes([OP_1NEGATE])
    assert [push_int(n)[0] for n in range(1, 17)] == list(range(0x51, 0x61))
    assert push_int(17) == bytes.fromhex("0111")
    assert push_int(-2) == bytes.fromhex("0182")
    # BIP34: block 227931 (the first to enforce it) starts its coinbase with 03 5b7a03.
    assert push_int(227931) == bytes.fromhex("035b7a03")


@pytest.mark.parametrize(("size", "prefix"), [
    (0, "00"),
    (1, "01"),
    (75, "4b"),
    (76, "4c4c"),
    (255, "4cff"),
    (256, "4d0001"),
    (520, "4d0802"),
    (65535, "4dffff"),
    (65536, "4e00000100"),
])
def test_push_data_is_minimal(size: int, prefix: str) -> None:
    # BIP62 rule 3: direct push up to 75 bytes, then PUSHDATA1 / PUSHDATA2 / PUSHDATA4.
    data = bytes(size)
    assert push_data(data) == bytes.fromhex(prefix) + data


def test_compact_size_boundaries() -> None:
    assert compact_size(0).hex() == "00"
    assert compact_size(252).hex() == "fc"
    assert compact_size(253).hex() == "fdfd00"
    assert compact_size(65535).hex() == "fdffff"
    assert compact_size(65536).hex() == "fe00000100"
    assert compact_size(2**32 - 1).hex() == "feffffffff"
    assert compact_size(2**32).hex() == "ff0000000001000000"
    assert var_bytes(b"\xab") == b"\x01\xab"


def test_tokenize_reads_every_push_form() -> None:
    script = (bytes([OP_0]) + b"\x02\xaa\xbb" + bytes([OP_PUSHDATA1, 1, 0xCC])
              + bytes([OP_PUSHDATA2, 1, 0, 0xDD]) + bytes([OP_PUSHDATA4, 1, 0, 0, 0, 0xEE])
              + b"\xac")
    assert tokenize(script) == [
        (OP_0, b""), (2, b"\xaa\xbb"), (OP_PUSHDATA1, b"\xcc"), (OP_PUSHDATA2, b"\xdd"),
        (OP_PUSHDATA4, b"\xee"), (0xAC, None),
    ]
    assert tokenize(b"") == []


@pytest.mark.parametrize("script", ["02aa", "4c", "4c02aa", "4d01", "4e010000", "4e01000000"])
def test_tokenize_rejects_truncated_pushes(script: str) -> None:
    with pytest.raises(ScriptError):
        tokenize(bytes.fromhex(script))
    assert issubclass(ScriptError, ValueError)


def test_hashes() -> None:
    # BIP173: the compressed generator key hashes to 751e76e8...; FIPS 180-2 for SHA256("abc").
    g = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert hash160(g).hex() == "751e76e8199196d454941c45d1b3a323f1433bd6"
    assert sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


@pytest.mark.parametrize(("script", "leaf_hash"), [
    # BIP341 wallet-test-vectors, scriptPubKey[1] and scriptPubKey[2] (leafVersion 192).
    ("20d85a959b0290bf19bb89ed43c916be835475d013da4b362117393e25a48229b8ac",
     "5b75adecf53548f3ec6ad7d78383bf84cc57b55a3127c72b9a2481752dd88b21"),
    ("20b617298552a72ade070667e86ca63b8f5789a9fe8731ef91202a91c9f3459007ac",
     "c525714a7f49c28aedbbba78c005931a81c234b2f6c99a73e4d06082adc8bf2b"),
])
def test_tagged_hash_gives_bip341_leaf_hashes(script: str, leaf_hash: str) -> None:
    leaf = tagged_hash("TapLeaf", b"\xc0" + var_bytes(bytes.fromhex(script)))
    assert leaf.hex() == leaf_hash


def test_b58check_of_a_p2pkh_address() -> None:
    # Bitcoin Wiki, "Technical background of version 1 Bitcoin addresses".
    pubkey = bytes.fromhex("0250863ad64a87ae8a2fe83c1af1a8403cb53f53e486d8511dad8a04887e5b2352")
    h160 = hash160(pubkey)
    assert h160.hex() == "f54a5851e9372b87810a8e60cdd2e7cfd80b6e31"
    assert b58check_encode(b"\x00" + h160) == "1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs"
    assert b58check_decode("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs") == b"\x00" + h160


def test_b58check_keeps_leading_zero_bytes() -> None:
    # The well-known burn address (version 0, all-zero hash160): each of the 21 zero bytes is
    # a leading "1"; only the checksum gives the tail.
    assert b58check_encode(bytes(21)) == "1111111111111111111114oLvT2"
    assert b58check_decode("1111111111111111111114oLvT2") == bytes(21)


@pytest.mark.parametrize(("text", "why"), [
    ("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAt", "checksum"),  # last character changed
    ("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUA0", "bad character"),  # '0' is not base58
    ("", "checksum"),
])
def test_b58check_decode_rejects(text: str, why: str) -> None:
    with pytest.raises(Base58Error, match=why):
        b58check_decode(text)
