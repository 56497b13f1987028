"""Measure the compiled prototype (walk.c) against the Python outline walk and merkle check
on mainnet block 864790: `python -m bench.proto.run`. Compiles with the machine's gcc and
OpenSSL into a temporary folder; prints ms per block for each and the speed-up."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from indexer.chain.block import outline_block, txid_to_hex

BLOCK = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "babylon" / \
    "block-864790" / "block.hex"


def _best(fn: object, runs: int = 15) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> int:
    if not BLOCK.exists():
        print(f"needs {BLOCK}")
        return 2
    raw = bytes.fromhex(BLOCK.read_text().strip())
    with tempfile.TemporaryDirectory() as tmp:
        so = Path(tmp) / "walk.so"
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(so),
                        str(Path(__file__).with_name("walk.c")), "-lcrypto",
                        "-Wno-deprecated-declarations"], check=True)
        lib = ctypes.CDLL(str(so))
        max_tx, max_in = 20_000, 60_000
        tx_starts = (ctypes.c_uint32 * (max_tx + 1))()
        wit_starts = (ctypes.c_uint32 * max_tx)()
        outpoints = ctypes.create_string_buffer(36 * max_in)
        txids = ctypes.create_string_buffer(32 * (max_tx + 1))
        root = ctypes.create_string_buffer(32)
        n_in = ctypes.c_size_t()
        lib.walk.restype = ctypes.c_long

        def c_walk() -> int:
            return int(lib.walk(raw, len(raw), tx_starts, wit_starts, outpoints, max_in,
                                txids, max_tx, root, ctypes.byref(n_in)))

        ntx = c_walk()
        outline = outline_block(raw)
        assert ntx == outline.tx_count
        assert txid_to_hex(root.raw) == outline.header.merkle_root
        assert outpoints.raw[:36 * n_in.value] == outline.spent
        c_ms = _best(c_walk)
    py_walk = _best(lambda: outline_block(raw))
    py_merkle = _best(lambda: outline.merkle_root(raw))
    print(f"block 864790: {ntx} txs, {len(raw) / 1e6:.2f} MB")
    print(f"python outline walk   {py_walk:7.2f} ms")
    print(f"python merkle check   {py_merkle:7.2f} ms")
    print(f"C walk + merkle check {c_ms:7.2f} ms  ({(py_walk + py_merkle) / c_ms:.0f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
