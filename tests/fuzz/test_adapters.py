"""Every adapter on garbage: its decoders, `inspect` and `scan`.

- Decoders raise only their documented errors (coredao `DecodeError`, powpeg `RsktError`,
  stacks `OpRejected`; babylon's return None) on random and mutated input.
- `inspect` returns a list for any transaction that parses, never raises.
- `scan` never raises on garbage transactions inside a valid block (random ones built by
  hypothesis around each protocol's magic bytes, and seeded mutations of the shared real
  vectors and of mainnet block 864790's transactions), with mainnet's built-in params and
  with the regtest scenario params.
- Garbage is never accepted as a protocol event: mutations of transactions that are no
  protocol's produce no event and no position.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.babylon.decode import find_candidate, parse_v0_payload
from adapters.base import Adapter, Event, NewPosition, Record, ScanView
from adapters.coredao.decode import DecodeError, decode_payload, extract_payload
from adapters.powpeg.decode import RsktError, find_rskt, parse_rskt_payload, sender
from adapters.stacks.ops import OpRejected, read_frame
from indexer.chain.block import Block, ParseError, Tx, parse_block, parse_tx
from indexer.config import build_adapters
from regtest.build import (
    REGTEST_GENESIS_HASH,
    Transaction,
    TxInput,
    TxOutput,
    create_block,
    var_bytes,
)
from regtest.demo import merge_params
from regtest.scenario import SCENARIO_DIR, load_scenario
from tests.fuzz.corpus import BLOCK_HEIGHT, mainnet_block, mutate, no_hang, vector_txs

MINER = bytes.fromhex("0014") + b"\x22" * 20


@cache
def adapter_sets() -> tuple[tuple[str, int, tuple[Adapter, ...]], ...]:
    """(chain, a height where every adapter is active, adapters) for mainnet's built-in
    params and for the regtest scenarios' params."""
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))
    params, _ = merge_params([load_scenario(n) for n in names])
    return (("main", BLOCK_HEIGHT, tuple(build_adapters("main", {}))),
            ("regtest", 140, tuple(build_adapters("regtest", params))))


def _block(txs: Sequence[bytes], height: int) -> Block:
    raw = create_block(REGTEST_GENESIS_HASH, height, 1_700_000_000, list(txs), MINER)
    return parse_block(raw)


def scan_all(block: Block, chain: str, height: int,
             adapters: Sequence[Adapter]) -> dict[str, list[Record]]:
    """Every adapter's records for `block` from an empty state (a fresh index)."""
    out = {}
    for a in adapters:
        view = ScanView(chain=chain, height=height, block_hash=block.hash,
                        block_time=block.time, tracked=set(), load_position=lambda t, v: None,
                        state={})
        a.scan(block, view)
        out[a.name] = list(view.records)
    return out


def _accepted(records: dict[str, list[Record]]) -> list[tuple[str, Record]]:
    return [(n, r) for n, recs in records.items() for r in recs
            if isinstance(r, Event | NewPosition)]


def _inspect_all(tx: Tx) -> None:
    for chain, _, adapters in adapter_sets():
        for a in adapters:
            found = a.inspect(tx, chain)
            assert isinstance(found, list)
            assert all("protocol" in f and "kind" in f for f in found)


def _decoders(tx: Tx) -> None:
    """The per-protocol decoders on one parsed transaction: documented errors only."""
    for out in tx.outputs:
        s = out.script_pubkey
        parse_v0_payload(s)
        with contextlib.suppress(DecodeError):
            decode_payload(extract_payload(s))
    for tag in (b"bbn1", b"bbt4", b"bbrt"):
        find_candidate(tx.outputs, tag)
    with contextlib.suppress(RsktError):
        find_rskt(tx)
    if tx.inputs:
        sender(tx, "main")
    with contextlib.suppress(OpRejected):
        read_frame(tx, (b"X2", b"T2", b"id"))


# ---------------------------------------------------------------------------- raw decoders


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_payload_decoders_on_random_bytes(data: bytes) -> None:
    for payload in (data, b"SAT+" + data, b"RSKT" + data):
        with contextlib.suppress(DecodeError):
            decode_payload(payload)
        with contextlib.suppress(RsktError):
            parse_rskt_payload(payload)
    for script in (data, b"\x6a" + var_bytes(b"SAT+" + data), b"\x6a\x47bbn1\x00" + data):
        parse_v0_payload(script)
        with contextlib.suppress(DecodeError):
            extract_payload(script)


# ---------------------------------------------------------------------------- whole transactions

_MAGICS = [b"X2", b"T2", b"id", b"SAT+", b"RSKT", b"bbn1\x00", b"bbrt\x00", b"bbt4\x00"]


def _script() -> st.SearchStrategy[bytes]:
    push = st.builds(lambda m, d: b"\x6a" + var_bytes(m + d), st.sampled_from(_MAGICS),
                     st.binary(max_size=90))
    raw_op_return = st.builds(lambda m, d: b"\x6a" + m + d, st.sampled_from(
        [b"\x4c", b"\x4d", b"\x47", b"\x4e", b""]), st.binary(max_size=90))
    templates = st.builds(lambda p, d: p + d, st.sampled_from(
        [b"\x00\x14", b"\x00\x20", b"\x51\x20", b"\xa9\x14", b"\x76\xa9\x14"]),
        st.binary(min_size=20, max_size=32))
    return st.one_of(push, raw_op_return, templates, st.binary(max_size=100))


def _tx() -> st.SearchStrategy[bytes]:
    txin = st.builds(TxInput, st.binary(min_size=32, max_size=32).map(bytes.hex),
                     st.integers(0, 2**32 - 1), st.binary(max_size=120),
                     st.integers(0, 2**32 - 1),
                     st.lists(st.binary(max_size=120), max_size=4))
    txout = st.builds(TxOutput, st.integers(0, 21_000_000 * 100_000_000), _script())
    return st.builds(lambda i, o, v, lt: Transaction(i, o, v, lt).serialize(),
                     st.lists(txin, min_size=1, max_size=3),
                     st.lists(txout, min_size=1, max_size=5),
                     st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_tx(), min_size=1, max_size=6))
def test_random_transactions_in_a_valid_block(txs: list[bytes]) -> None:
    with no_hang():
        for raw in txs:
            tx = parse_tx(raw)
            _decoders(tx)
            _inspect_all(tx)
        for chain, height, adapters in adapter_sets():
            scan_all(_block(txs, height), chain, height, adapters)


# ---------------------------------------------------------------------------- mutated real txs


def _field_mutant(raw: bytes, rng: random.Random) -> bytes:
    """`raw` with one field mutated in place (a script, a witness item, a value, an
    outpoint, an input or output dropped or duplicated): always a parseable transaction,
    so the adapters see far more near-miss inputs than byte-level mutants give them."""
    tx = parse_tx(raw)
    ins = [TxInput(i.prev_txid_hex, i.prev_vout, i.script_sig, i.sequence,
                   list(tx.witness(n)) if tx.has_witness else [])
           for n, i in enumerate(tx.inputs)]
    outs = [TxOutput(o.value, o.script_pubkey) for o in tx.outputs]
    for _ in range(rng.randint(1, 3)):
        what = rng.randrange(8)
        if what in (0, 1):
            o = rng.choice(outs)
            o.script_pubkey = mutate(o.script_pubkey, rng)
        elif what == 2:
            rng.choice(outs).value = rng.choice((0, 1, 546, rng.randrange(2**40),
                                                 21_000_000 * 100_000_000))
        elif what == 3:
            i = rng.choice(ins)
            i.script_sig = mutate(i.script_sig, rng)
        elif what == 4:
            i = rng.choice(ins)
            if i.witness:
                k = rng.randrange(len(i.witness))
                i.witness[k] = mutate(i.witness[k], rng)
            else:
                i.witness = [rng.randbytes(rng.randint(0, 80))]
        elif what == 5:
            i = rng.choice(ins)
            i.prev_txid, i.prev_vout = rng.randbytes(32).hex(), rng.randrange(4)
        elif what == 6 and len(outs) > 1:
            del outs[rng.randrange(len(outs))]
        else:
            o = rng.choice(outs)
            outs.insert(rng.randrange(len(outs) + 1), TxOutput(o.value, o.script_pubkey))
    return Transaction(ins, outs, tx.version, tx.locktime).serialize()


def _mutants(seeds: Sequence[bytes], rounds: int, rng: random.Random) -> list[bytes]:
    """Byte-level mutations of `seeds` that still parse, and field-level ones."""
    out = []
    for _ in range(rounds):
        for raw in seeds:
            m = mutate(raw, rng)
            try:
                parse_tx(m)
            except ParseError:
                m = _field_mutant(raw, rng)
            out.append(m)
    return out


def test_mutated_protocol_vectors() -> None:
    seeds = [raw for _, raw in vector_txs()]
    if not seeds:
        pytest.skip("no shared vectors")
    mutants = _mutants(seeds, 40, random.Random(5))
    with no_hang(120):
        for raw in mutants:
            tx = parse_tx(raw)
            _decoders(tx)
            _inspect_all(tx)
        for chain, height, adapters in adapter_sets():
            for i in range(0, len(mutants), 50):
                scan_all(_block(mutants[i:i + 50], height), chain, height, adapters)
    print(f"adapters: {len(mutants)} parseable mutants of {len(seeds)} vectors, "
          "decoded, inspected and scanned on main and regtest")


def _plain_txs(limit: int) -> list[bytes]:
    """Transactions of block 864790 that no adapter makes anything of (scanned alone)."""
    raw = mainnet_block()
    assert raw is not None
    txs = [tx.raw for tx in parse_block(raw).txs[1:]]
    out = []
    for chain, height, adapters in adapter_sets():
        busy: set[int] = set()
        for i in range(0, len(txs), 500):
            block = _block(txs[i:i + 500], height)
            for recs in scan_all(block, chain, height, adapters).values():
                busy |= {i + r.tx_index - 1 for r in recs if hasattr(r, "tx_index")}
        txs = [t for n, t in enumerate(txs) if n not in busy]
        out = txs
    return out[:limit]


def test_mutated_plain_txs_never_become_events() -> None:
    if mainnet_block() is None:
        pytest.skip("mainnet block 864790 not in ../shared/data")
    seeds = _plain_txs(800)
    assert len(seeds) >= 400
    mutants = _mutants(seeds, 3, random.Random(6))
    accepted: list[Any] = []
    with no_hang(300):
        for chain, height, adapters in adapter_sets():
            for i in range(0, len(mutants), 400):
                block = _block(mutants[i:i + 400], height)
                accepted += _accepted(scan_all(block, chain, height, adapters))
        for raw in mutants[:600]:
            _inspect_all(parse_tx(raw))
    assert not accepted, f"garbage accepted as protocol records: {accepted[:3]}"
    print(f"adapters: {len(mutants)} mutants of {len(seeds)} plain mainnet txs scanned on "
          "main and regtest, none accepted")


# ---------------------------------------------------------------------------- known bugs


def _sweep_with_invalid_signers_key() -> bytes:
    """The mainnet sBTC sweep vector with the signers key of its deposit leaf replaced by
    32 bytes that are not an x coordinate on secp256k1 (x >= p)."""
    raw = next((r for n, r in vector_txs() if n == "sbtc_sweep_mainnet_v0_opreturn.json"),
               None)
    if raw is None:
        pytest.skip("sBTC sweep vector not in ../shared/data")
    tx = parse_tx(raw)
    ins = []
    for n, i in enumerate(tx.inputs):
        wit = list(tx.witness(n))
        if n >= 1 and len(wit) >= 2 and len(wit[-2]) > 35 and wit[-2][-1] == 0xAC:
            script = wit[-2]
            wit[-2] = script[:-33] + b"\xff" * 32 + script[-1:]
        ins.append(TxInput(i.prev_txid_hex, i.prev_vout, i.script_sig, i.sequence, wit))
    outs = [TxOutput(o.value, o.script_pubkey) for o in tx.outputs]
    return Transaction(ins, outs, tx.version, tx.locktime).serialize()


def test_stacks_sweep_with_invalid_signers_key_is_not_a_crash() -> None:
    raw = _sweep_with_invalid_signers_key()
    tx = parse_tx(raw)
    for chain, height, adapters in adapter_sets():
        stacks = [a for a in adapters if a.name == "stacks"]
        for a in stacks:
            a.inspect(tx, chain)
            view = ScanView(chain=chain, height=height, block_hash="00" * 32, block_time=0,
                            tracked=set(), load_position=lambda t, v: None, state={})
            a.scan(_block([raw], height), view)
