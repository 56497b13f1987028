"""The block and transaction parser on garbage: random bytes (hypothesis) and seeded
mutations of real transactions and of mainnet block 864790. It returns a parse or raises
`ParseError` (its one documented error), never anything else, and never hangs; whatever it
accepts can be fully walked (txid, inputs, outputs, witnesses) without another error."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.chain.block import Block, ParseError, Tx, parse_block, parse_tx
from tests.fuzz.corpus import mainnet_block, mutate, no_hang, vector_txs


def _walk_tx(tx: Tx) -> None:
    assert len(tx.txid) == 64 and len(tx.wtxid) == 64
    for i in tx.inputs:
        _ = (i.prev_txid_hex, i.prev_vout, i.script_sig, i.sequence, i.prevout)
    for o in tx.outputs:
        assert 0 <= o.value <= 21_000_000 * 100_000_000
        _ = o.script_pubkey
    for n in range(len(tx.inputs)):
        _ = tx.witness(n)


def _walk_block(block: Block) -> None:
    _ = (block.hash, block.prev_hash, block.time)
    for tx in block.txs:
        _walk_tx(tx)


def _parse_tx_or_error(raw: bytes) -> None:
    try:
        tx = parse_tx(raw)
    except ParseError:
        return
    _walk_tx(tx)


def _parse_block_or_error(raw: bytes) -> None:
    try:
        block = parse_block(raw)
    except ParseError:
        return
    _walk_block(block)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_as_tx(raw: bytes) -> None:
    with no_hang():
        _parse_tx_or_error(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=80, max_size=800))
def test_random_bytes_as_block(raw: bytes) -> None:
    with no_hang():
        _parse_block_or_error(raw)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_hypothesis_mutations_of_real_txs(data: st.DataObject) -> None:
    txs = vector_txs()
    if not txs:
        pytest.skip("no shared vectors")
    _, raw = data.draw(st.sampled_from(txs))
    seed = data.draw(st.integers(0, 2**32))
    with no_hang():
        _parse_tx_or_error(mutate(raw, random.Random(seed)))


def test_seeded_mutations_of_every_vector() -> None:
    txs = vector_txs()
    if not txs:
        pytest.skip("no shared vectors")
    rng = random.Random(1)
    n = 0
    with no_hang(60):
        for _name, raw in txs:
            assert parse_tx(raw)  # the unmutated vector parses
            for _ in range(500):
                _parse_tx_or_error(mutate(raw, rng))
                n += 1
    print(f"parse_tx: {n} mutated vectors")


def test_mutated_mainnet_block() -> None:
    raw = mainnet_block()
    if raw is None:
        pytest.skip("mainnet block 864790 not in ../shared/data")
    rng = random.Random(2)
    cuts = [rng.randrange(len(raw)) for _ in range(20)]
    with no_hang(120):
        for cut in cuts:  # truncated anywhere: always an error, never a shorter block
            with pytest.raises(ParseError):
                parse_block(raw[:cut])
        for _ in range(25):
            _parse_block_or_error(mutate(raw, rng))
    print(f"parse_block: {len(cuts)} truncations + 25 mutations of block 864790")
