"""`python -m bench.walk`: where a backfill's time goes per block, stage by stage.

On mainnet block 864790 (1.66 MB, 5,043 txs, 7,231 inputs, 3,868 OP_RETURNs) from
`../shared/data`, best of several runs of each stage:

- the outline walk and merkle check, pure Python and compiled (SHA-NI and portable);
- the needle search of the adapters' needles as a mainnet backfill has them;
- the tracked-spend check (does an input spend a tracked output?) for 10 and 100,000
  tracked outpoints, Python set against the compiled `OutpointSet`;
- a full `parse_block` with every txid (what a scan of a whole block would cost);
- shipping the raw block from one process to another through a pipe (what a worker
  process pays per block that a pool thread does not);
- fetching the block over REST from the project's test node (the node's cost included).

Prints milliseconds per block and writes them as JSON (`--out`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer.chain import block as blockmod
from indexer.chain.block import InOpReturn, OutpointKeys, outline_block, parse_block

BLOCK = Path(__file__).resolve().parents[2] / "shared" / "data" / "babylon" / \
    "block-864790" / "block.hex"
# The needles the four adapters search on mainnet (tags in OP_RETURNs, keys anywhere).
NUMS = bytes.fromhex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")
NEEDLES = [InOpReturn(b"X2"), InOpReturn(b"SAT+"), InOpReturn(b"\x6a\x47bbn1\x00"),
           b"\xc0" + NUMS, b"\xc1" + NUMS, os.urandom(32), os.urandom(33), os.urandom(23)]


def best_ms(fn: Callable[[], object], runs: int = 15) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best * 1e3, 3)


def _python(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        saved = blockmod._native
        blockmod._native = None
        try:
            return fn()
        finally:
            blockmod._native = saved
    return run


def _sender_cpu(conn: Any, raw: bytes, n: int) -> None:
    conn.send(None)  # started
    c0 = time.process_time()
    for _ in range(n):
        conn.send((0, "hash", raw))
    conn.send(time.process_time() - c0)
    conn.close()


def pipe_ms(raw: bytes, n: int = 100) -> dict[str, float]:
    """Per block: wall, and the sender's and receiver's CPU, to send `raw` (as a worker
    process's result) from a spawned process through a pipe."""
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_sender_cpu, args=(send, raw, n))
    proc.start()
    recv.recv()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        recv.recv()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sender = float(recv.recv())
    proc.join()
    return {"wall": round(wall / n * 1e3, 3), "receiver_cpu": round(cpu / n * 1e3, 3),
            "sender_cpu": round(sender / n * 1e3, 3)}


def rest_ms(raw: bytes, n: int = 100) -> float | None:
    """Per block: GET /rest/block/<hash>.bin from the test node, one keep-alive client."""
    from indexer.chain.source import connect
    from regtest.backend import start_testnode

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-walk-{os.getpid()}.hex"
    path.write_text(raw.hex())
    node = start_testnode("main", ["--start-height", "864790", "--blocks", str(path)])
    try:
        src = connect(node.url, retry_seconds=5)
        want = src.block_hashes([864790])
        src.raw_blocks(want)
        t0 = time.perf_counter()
        for _ in range(n):
            src.raw_blocks(want)
        dt = time.perf_counter() - t0
        src.close()
    finally:
        node.stop()
        path.unlink()
    return round(dt / n * 1e3, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.walk", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("bench-walk.json"))
    p.add_argument("--no-node", action="store_true", help="skip the REST fetch timing")
    a = p.parse_args(argv)
    if not BLOCK.exists():
        print(f"bench.walk needs {BLOCK} (../shared/data)", file=sys.stderr)
        return 2
    raw = bytes.fromhex(BLOCK.read_text().strip())
    native = blockmod._native
    ms: dict[str, Any] = {}
    ms["python_walk"] = best_ms(_python(lambda: outline_block(raw)))
    py = _python(lambda: outline_block(raw))()
    assert isinstance(py, blockmod.BlockOutline)
    ms["python_merkle"] = best_ms(lambda: py.merkle_root(raw))
    ms["parse_block_all_txids"] = best_ms(
        lambda: [tx.txid_bytes for tx in parse_block(raw).txs], runs=5)
    ms["python_needles"] = best_ms(_python(lambda: py.find_needles(raw, NEEDLES)))
    rng = random.Random(1)
    records = [py.spent[i:i + 36] for i in range(0, len(py.spent), 36)]
    few = {rng.randbytes(36) for _ in range(10)}
    many = {rng.randbytes(36) for _ in range(100_000)} | set(rng.sample(records, 3))
    ms["python_tracked_10"] = best_ms(lambda: py.txs_spending(few))
    ms["python_tracked_100k"] = best_ms(lambda: py.txs_spending(many))
    if native is not None:
        out = outline_block(raw)
        ms["compiled_walk_only"] = best_ms(lambda: native.walk(raw, False))
        ms["compiled_walk_merkle_" + native.sha256_impl()] = best_ms(lambda: outline_block(raw))
        native.force_portable_sha256(True)
        ms["compiled_walk_merkle_portable"] = best_ms(lambda: outline_block(raw))
        native.force_portable_sha256(False)
        ms["compiled_needles"] = best_ms(lambda: out.find_needles(raw, NEEDLES))
        k_few, k_many = OutpointKeys(few), OutpointKeys(many)
        ms["compiled_tracked_10"] = best_ms(lambda: out.txs_spending(k_few))
        ms["compiled_tracked_100k"] = best_ms(lambda: out.txs_spending(k_many))
    ms["pipe_between_processes"] = pipe_ms(raw)
    if not a.no_node:
        ms["rest_fetch_one_client"] = rest_ms(raw)
    report = {"block": "mainnet 864790", "bytes": len(raw), "walk": blockmod.native_walk(),
              "ms_per_block": ms}
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"mainnet block 864790, {len(raw):,} bytes; block walk here: {report['walk']}")
    for k, v in ms.items():
        print(f"  {k:34s} {v}")
    print(f"report written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
