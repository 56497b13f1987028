"""The benchmark chain: mainnet-sized blocks with protocol transactions sprinkled in.

Every block at height h is: a fresh coinbase, the non-coinbase transactions of the
`babylon_lifecycle` scenario's block h (stakes, unbondings, withdrawals, ...: consensus-valid,
built by the harness), then filler: the transactions of mainnet block 864790 (1.66 MB, 5,043
txs) when the shared data is present, else synthetic P2WPKH payments of the same size mix.

NOTE: the blocks are NOT consensus-valid as a whole: the filler and the scenario's funding
transactions spend outputs this chain never created, and the same filler repeats in every
block. The test node checks headers, PoW, merkle roots, witness commitments and weight but
not scripts or UTXOs, and the indexer does not care; a real bitcoind would reject them.
The chain is written once as hex files under the cache directory and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from indexer.chain.block import hash256, merkle_root, parse_block
from regtest.backend import start_testnode
from regtest.build import (
    REGTEST_BITS,
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    block_subsidy,
    coinbase_tx,
    compact_size,
    grind,
    header_bytes,
    witness_commitment,
)

SCENARIO = "babylon_lifecycle"
MAINNET_BLOCK = Path(__file__).resolve().parents[2] / "shared" / "data" / "babylon" / \
    "block-864790" / "block.hex"
MINER = bytes.fromhex("0014") + b"\x42" * 20
MAX_WEIGHT = 4_000_000
VERSION = 2  # bump when the chain's recipe changes, to rebuild cached chains


@dataclass(frozen=True)
class Chain:
    """A built chain on disk: heights 1..len(files), plus what it was built from."""

    dir: Path
    files: list[Path]
    params: Path
    filler: str
    bytes: int

    @property
    def blocks(self) -> int:
        return len(self.files)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lockedbtc-bench"


def _synthetic_filler(n: int) -> list[bytes]:
    """`n` one-in two-out segwit payments (~222 bytes each), all distinct."""
    out = []
    for i in range(n):
        seed = hashlib.sha256(i.to_bytes(4, "little")).digest()
        tx = (struct.pack("<i", 2) + b"\x00\x01" + b"\x01" + seed + struct.pack("<I", i % 3)
              + b"\x00" + struct.pack("<I", 0xFFFFFFFD) + b"\x02"
              + struct.pack("<Q", 50_000 + i) + b"\x16\x00\x14" + seed[:20]
              + struct.pack("<Q", 1_000_000 + i) + b"\x16\x00\x14" + seed[12:32]
              + b"\x02" + b"\x47" + seed * 2 + b"\x30\x44\x02" + b"\x21\x02" + seed + b"\x01"
              + struct.pack("<I", 0))
        out.append(tx)
    return out


def filler_txs(limit: int | None) -> tuple[str, list[bytes]]:
    """(description, raw transactions) to fill each block with."""
    if MAINNET_BLOCK.exists():
        block = parse_block(bytes.fromhex(MAINNET_BLOCK.read_text().strip()))
        txs = [tx.raw for tx in block.txs[1:]]
        name = "mainnet block 864790"
    else:
        txs = _synthetic_filler(7_000)
        name = "synthetic segwit payments"
    if limit is not None:
        txs = txs[:limit]
    return f"{name} ({len(txs)} txs)", txs


def _scenario_blocks() -> tuple[dict[int, list[bytes]], dict[str, object]]:
    """The scenario's non-coinbase transactions by height, and its params."""
    from regtest.node import TestNode
    from regtest.scenario import load_scenario, replay

    scenario = load_scenario(SCENARIO)
    with TestNode(port=0) as node:
        result = replay(scenario, node.url)
        from indexer.chain.source import connect

        src = connect(node.url, retry_seconds=5)
        heights = list(range(1, result.tip_height + 1))
        raws = src.raw_blocks(src.block_hashes(heights))
        src.close()
    txs = {h: [tx.raw for tx in parse_block(raw).txs[1:]] for h, raw in zip(heights, raws,
                                                                           strict=True)}
    return {h: t for h, t in txs.items() if t}, dict(scenario.params)


def _weight(tx: bytes) -> int:
    from indexer.chain.block import parse_tx

    t = parse_tx(tx)
    return len(t.stripped()) * 3 + t.size


def _assemble(prev: str, height: int, txs: list[bytes], txids: list[bytes],
              wtxids: list[bytes]) -> bytes:
    commitment = hash256(merkle_root([b"\x00" * 32, *wtxids]) + b"\x00" * 32)
    cb = coinbase_tx(height, MINER, block_subsidy(height), commitment).serialize()
    cb_id = hash256(coinbase_tx(height, MINER, block_subsidy(height), commitment)
                    .serialize(with_witness=False))
    merkle = merkle_root([cb_id, *txids])
    partial = header_bytes(0x20000000, prev, merkle, REGTEST_GENESIS_TIME + 600 * height,
                           REGTEST_BITS, 0)[:76]
    nonce = grind(partial, REGTEST_BITS)
    return (partial + struct.pack("<I", nonce) + compact_size(len(txs) + 1) + cb
            + b"".join(txs))


def build(blocks: int, cache: Path, filler_limit: int | None = None) -> Chain:
    """Build (or reuse from `cache`) a chain of `blocks` heights above regtest genesis."""
    desc, filler = filler_txs(filler_limit)
    key = hashlib.sha256(json.dumps([VERSION, blocks, desc, SCENARIO]).encode()).hexdigest()
    out = cache / f"chain-{blocks}-{key[:12]}"
    files = [out / f"{h:06d}.hex" for h in range(1, blocks + 1)]
    params = out / "params.json"
    done = out / "done.json"
    if done.exists():
        meta = json.loads(done.read_text())
        return Chain(out, files, params, meta["filler"], meta["bytes"])
    out.mkdir(parents=True, exist_ok=True)
    print(f"bench: building {blocks} blocks ({desc} each) in {out} ...", file=sys.stderr)
    protocol, scenario_params = _scenario_blocks()
    params.write_text(json.dumps(scenario_params, indent=2, sort_keys=True))
    from indexer.chain.block import parse_tx

    views = [parse_tx(t) for t in filler]
    f_ids = [v.txid_bytes for v in views]
    f_wids = [v.wtxid_bytes for v in views]
    f_weights = [len(v.stripped()) * 3 + v.size for v in views]
    prev = REGTEST_GENESIS_HASH
    total = 0
    for h, path in zip(range(1, blocks + 1), files, strict=True):
        extra = protocol.get(h, [])
        ev = [parse_tx(t) for t in extra]
        room = MAX_WEIGHT - 4_000 - sum(_weight(t) for t in extra)
        n, used = 0, 0
        while n < len(filler) and used + f_weights[n] <= room:
            used += f_weights[n]
            n += 1
        txs = extra + filler[:n]
        raw = _assemble(prev, h, txs, [v.txid_bytes for v in ev] + f_ids[:n],
                        [v.wtxid_bytes for v in ev] + f_wids[:n])
        prev = hash256(raw[:80])[::-1].hex()
        path.write_text(raw.hex())
        total += len(raw)
    done.write_text(json.dumps({"filler": desc, "bytes": total, "blocks": blocks}))
    return Chain(out, files, params, desc, total)


@contextmanager
def serve(chain: Chain) -> Iterator[str]:
    """Run `python -m regtest serve` over the chain in its own process; yields the RPC URL.

    A separate process, so the node's CPU is not charged to (or GIL-shared with) the
    measured client, as with a real bitcoind on the same machine.
    """
    node = start_testnode(extra_args=["--start-height", "1", "--rpcuser", "bench",
                                      "--rpcpassword", "bench", "--blocks",
                                      *(str(f) for f in chain.files)])
    try:
        yield node.url
    finally:
        node.stop()


__all__ = ["Chain", "build", "default_cache", "serve", "witness_commitment"]
