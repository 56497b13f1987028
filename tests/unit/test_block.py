"""The lean parser on every real transaction in ../shared/data and on mainnet block 864790."""

from __future__ import annotations

import json

import pytest

from indexer.chain.block import ParseError, parse_block, parse_tx
from tests.conftest import SHARED_DATA, shared_path


def _vector_files() -> list[str]:
    if not SHARED_DATA.exists():
        return []
    return sorted(str(p.relative_to(SHARED_DATA)) for p in SHARED_DATA.glob("*/vectors/*.json")
                  if p.name != "INDEX.json")


@pytest.fixture(scope="module")
def block_raw() -> bytes:
    return bytes.fromhex(shared_path("babylon", "block-864790", "block.hex").read_text().strip())


@pytest.mark.parametrize("rel", _vector_files() or ["(shared data absent)"])
def test_txid_of_every_vector_matches(rel: str) -> None:
    path = shared_path(*rel.split("/"))
    vec = json.loads(path.read_text())
    tx = parse_tx(bytes.fromhex(vec["hex"]))
    assert tx.txid == vec["txid"]
    if "wtxid" in vec:
        assert tx.wtxid == vec["wtxid"]
    # the stripped serialisation round-trips: re-parsing it gives the same txid, no witness
    again = parse_tx(tx.stripped())
    assert again.txid == vec["txid"] and not again.has_witness


def test_mainnet_block_merkle_root_witness_commitment_and_pow(block_raw: bytes) -> None:
    block = parse_block(block_raw)
    assert block.hash == "00000000000000000002ed810ff436d5c72dec82602487b7512af5b5d6d23da6"
    assert block.prev_hash == "00000000000000000001e3a337e519d544825ace80457c2b10f487cec4cd0b73"
    assert len(block.txs) == 5043
    assert block.compute_merkle_root() == block.header.merkle_root
    assert block.witness_commitment() == block.compute_witness_commitment()
    assert block.bip34_height() == 864790
    assert block.header.check_pow()
    assert block.txs[0].is_coinbase and not block.txs[1].is_coinbase
    assert sum(tx.size for tx in block.txs) + 80 + 3 == len(block_raw)  # 3-byte tx count


def test_witness_items_are_read_only_when_asked(block_raw: bytes) -> None:
    block = parse_block(block_raw)
    seg = next(tx for tx in block.txs[1:] if tx.has_witness)
    assert len(seg.witnesses) == len(seg.inputs)
    assert any(seg.witness(i) for i in range(len(seg.inputs)))
    legacy = next((tx for tx in block.txs[1:] if not tx.has_witness), None)
    if legacy is not None:
        assert legacy.witnesses == [[] for _ in legacy.inputs]
        assert legacy.wtxid == legacy.txid


def test_every_truncation_of_a_tx_is_a_parse_error_with_an_offset() -> None:
    vec = json.loads(shared_path("babylon", "vectors", "mainnet-staking-00489855.json")
                     .read_text())
    raw = bytes.fromhex(vec["hex"])
    for cut in range(len(raw)):
        with pytest.raises(ParseError) as info:
            parse_tx(raw[:cut])
        assert 0 <= info.value.offset <= cut


def test_trailing_bytes_and_bad_flags_are_rejected() -> None:
    vec = json.loads(shared_path("babylon", "vectors", "mainnet-staking-00489855.json")
                     .read_text())
    raw = bytes.fromhex(vec["hex"])
    with pytest.raises(ParseError, match="trailing"):
        parse_tx(raw + b"\x00")
    assert raw[4:6] == b"\x00\x01"
    with pytest.raises(ParseError, match="optional data"):
        parse_tx(raw[:5] + b"\x02" + raw[6:])


def test_non_canonical_compact_size_is_rejected() -> None:
    # version, then input count 1 written as 0xfd 0x01 0x00 (must be a single byte)
    raw = bytes.fromhex("01000000") + b"\xfd\x01\x00" + b"\x00" * 50
    with pytest.raises(ParseError, match="non-canonical") as info:
        parse_tx(raw)
    assert info.value.offset == 4


def test_huge_counts_fail_fast_instead_of_allocating() -> None:
    raw = bytes.fromhex("01000000") + b"\xff" + (2**40).to_bytes(8, "little")
    with pytest.raises(ParseError, match="exceeds the remaining"):
        parse_tx(raw)


def test_block_with_garbage_after_the_header_names_the_offset(block_raw: bytes) -> None:
    broken = block_raw[:80] + b"\x02" + block_raw[81:200]
    with pytest.raises(ParseError) as info:
        parse_block(broken)
    assert info.value.offset > 80


def test_outline_lists_every_input_like_the_full_parse(block_raw: bytes) -> None:
    from indexer.chain.block import outline_block, outpoint_key

    outline = outline_block(block_raw)
    block = parse_block(block_raw)
    assert outline.tx_count == len(block.txs)
    assert outline.header.hash == block.hash
    assert outline.spent == b"".join(outpoint_key(i.prevout) for tx in block.txs
                                     for i in tx.inputs)
    spent = outpoint_key(block.txs[-1].inputs[0].prevout)
    last = len(block.txs) - 1
    assert outline.txs_spending({spent}) == {last}
    assert outline.txs_spending({spent} | {bytes([i]) * 36 for i in range(20)}) == {last}
    assert not outline.txs_spending({b"\x07" * 36})
    # A key straddling two inputs is not a spend.
    assert not outline.txs_spending({outline.spent[18:54]})


@pytest.mark.parametrize("cut", [81, 1000, -1])
def test_outline_rejects_what_the_full_parse_rejects(block_raw: bytes, cut: int) -> None:
    from indexer.chain.block import outline_block

    bad = block_raw[:cut]
    with pytest.raises(ParseError) as full:
        parse_block(bad)
    with pytest.raises(ParseError) as fast:
        outline_block(bad)
    assert str(fast.value) == str(full.value)


def test_outline_cuts_out_single_transactions_like_the_full_parse(block_raw: bytes) -> None:
    """A partial block's views equal the full parse's: same bytes, txid, index, inputs."""
    from indexer.chain.block import outline_block

    outline = outline_block(block_raw)
    block = parse_block(block_raw)
    assert len(outline.tx_starts) == len(outline.in_starts) == len(block.txs) + 1
    assert outline.tx_starts[-1] == len(block_raw)
    picked = [0, 1, 2500, len(block.txs) - 1]
    part = outline.partial_block(block_raw, reversed(picked))
    assert part.partial and part.raw is block_raw and part.hash == block.hash
    assert [tx.index for tx in part.txs] == picked  # block order, real indexes
    for tx in part.txs:
        ref = block.txs[tx.index]
        assert (tx.txid, tx.wtxid, tx.raw) == (ref.txid, ref.wtxid, ref.raw)
        assert (tx.start, tx.end) == (ref.start, ref.end)
        assert tx.inputs == ref.inputs and tx.witnesses == ref.witnesses
    # Whole-block checks refuse a partial block rather than answer wrongly.
    with pytest.raises(ValueError, match="partial"):
        part.compute_merkle_root()


def test_outline_finds_the_transactions_holding_a_needle_or_a_spend(block_raw: bytes
                                                                    ) -> None:
    from indexer.chain.block import outline_block, outpoint_key

    outline = outline_block(block_raw)
    block = parse_block(block_raw)
    needle = block.txs[1234].raw[-40:-8]  # 32 bytes of one transaction's tail
    assert outline.txs_containing(block_raw, needle) == {
        tx.index for tx in block.txs if needle in tx.raw}
    assert outline.txs_containing(block_raw, block_raw[:80]) == set()  # header only
    key = outpoint_key(block.txs[3000].inputs[-1].prevout)
    assert outline.txs_spending({key}) == {3000}
    assert outline.txs_spending(set()) == set()
    # Children: every tx spending an output of tx i, found from the input outpoints.
    spent_txids = {i.prev_txid for t in block.txs for i in t.inputs}
    parents = [tx for tx in block.txs[1:] if tx.txid_bytes in spent_txids][:3]
    assert parents, "block 864790 has in-block spends"
    want = {t.index for t in block.txs for i in t.inputs
            if i.prev_txid in {p.txid_bytes for p in parents}}
    assert outline.txs_spending_from(p.txid_bytes for p in parents) == want
