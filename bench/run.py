"""`python -m bench.run`: lockedbtc's backfill against the node's raw-fetch limit and
against bitcoin-etl, on one mainnet-like chain, in one run, on the same test node.

Measures, over heights 1..N: raw fetch only over REST (repeated passes over the range for
at least `--min-seconds`, so that the rate is not a tenth of a second's sample) and over RPC
(batched `getblock 0`, on the first `--rpc-blocks` heights), with as many keep-alive
connections as backfill workers; `lockedbtc backfill` (the CLI, as a user runs it, process
start included, its peak RSS recorded) on SQLite and on PostgreSQL (a fresh schema); and
bitcoin-etl's `export_blocks_and_transactions` (see `bench.etl`) on the first blocks of the
range. Prints blocks/s, MB/s and the ratios, and writes the report as JSON.

`--quick` is a smoke run (small blocks, no bitcoin-etl install) that finishes in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import chain as chainmod
from bench import etl
from indexer.chain.block import native_walk

PG_URL = os.environ.get("LOCKEDBTC_BENCH_PG",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHUNK = 4


def _rate(blocks: int, nbytes: int, seconds: float) -> dict[str, Any]:
    return {"blocks": blocks, "seconds": round(seconds, 3),
            "blocks_per_s": round(blocks / seconds, 1) if seconds else None,
            "mb_per_s": round(nbytes / seconds / 1e6, 1) if seconds else None}


def fetch(url: str, blocks: int, *, rest: bool, conns: int,
          min_seconds: float = 0.0) -> dict[str, Any]:
    """Fetch heights 1..blocks raw, `conns` keep-alive connections in parallel; whole
    passes over the range are repeated until `min_seconds` have passed."""
    from indexer.chain.source import connect

    sources = [connect(url, use_rest=rest, retry_seconds=5) for _ in range(conns)]
    if rest and not sources[0].uses_rest:
        raise RuntimeError("the node does not answer REST")
    lock = threading.Lock()
    nxt = [1]
    got = [0, 0]  # bytes, blocks

    def worker(src: Any) -> None:
        while True:
            with lock:
                low = nxt[0]
                nxt[0] += CHUNK
            if low > blocks:
                return
            hs = list(range(low, min(blocks, low + CHUNK - 1) + 1))
            n = sum(len(r) for r in src.raw_blocks(src.block_hashes(hs)))
            with lock:
                got[0] += n
                got[1] += len(hs)

    passes = 0
    t0 = time.perf_counter()
    while True:
        nxt[0] = 1
        threads = [threading.Thread(target=worker, args=(s,)) for s in sources]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        passes += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            break
    for s in sources:
        s.close()
    out = _rate(got[1], got[0], dt)
    out["connections"] = conns
    out["passes"] = passes
    return out


def backfill(url: str, db: str, params: Path, blocks: int, workers: int,
             nbytes: int, adapters: list[str], *, pure_python: bool = False) -> dict[str, Any]:
    """`lockedbtc backfill --from 1 --to N` as a user runs it (process start included);
    `pure_python` as on a machine where the compiled walk could not be built."""
    env = dict(os.environ)
    env.pop("LOCKEDBTC_PURE_PYTHON", None)
    if pure_python:
        env["LOCKEDBTC_PURE_PYTHON"] = "1"
    cmd = [sys.executable, "-c", "import sys; from indexer.cli import main; main(sys.argv[1:])",
           "backfill", "--db", db, "--rpc", url,
           "--params", str(params), "--from", "1", "--to", str(blocks), "--quiet",
           "--workers", str(workers), *(f"--adapter={n}" for n in adapters)]
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        # wait4: this child's own peak RSS (getrusage would give the max over children).
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"backfill failed ({proc.returncode}): {log[-2000:]}")
    out = _rate(blocks, nbytes, dt)
    out["workers"] = workers
    out["max_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
    out["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    out["log"] = [line for line in log.splitlines() if "worker" in line][-1:]
    out["indexed"] = _indexed(db)
    return out


def _indexed(db: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from indexer.db import tables as t
    from indexer.db.engine import make_engine

    engine = make_engine(db)
    with engine.connect() as conn:
        counts = {tb.name: int(conn.execute(select(func.count()).select_from(tb)).scalar()
                               or 0) for tb in (t.blocks, t.positions, t.events, t.rejects)}
    engine.dispose()
    return counts


def pg_schema() -> tuple[str, Any] | None:
    """A fresh schema in the benchmark's PostgreSQL database: (url, drop()) or None."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"bench: no PostgreSQL at {PG_URL}: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return None

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", drop


def run_etl(url: str, cache: Path, blocks: int, quick: bool, tmp: Path) -> dict[str, Any]:
    exe, how = etl.install(cache, allow_install=not quick)
    if exe is None:
        return {"skipped": how}
    from indexer.chain.source import connect

    src = connect(url, retry_seconds=5)
    hs = list(range(1, blocks + 1))
    raws = src.raw_blocks(src.block_hashes(hs))
    src.close()
    verbose = etl.VerboseCache()
    for h, raw in zip(hs, raws, strict=True):
        verbose.add(raw, h)
    server, proxy = etl.start_proxy(url, verbose)
    try:
        t0 = time.perf_counter()
        etl.export(exe, proxy, 1, blocks, tmp / "etl")
        dt = time.perf_counter() - t0
    finally:
        server.shutdown()
    out = _rate(blocks, sum(len(r) for r in raws), dt)
    out["version"] = etl.version(exe)
    out["install"] = how
    out["note"] = ("getblock verbosity 2 served from pre-rendered JSON by bench.etl's proxy "
                   "(the test node serves verbosity 0/1 only): bitcoin-etl's client-side "
                   "rate, an upper bound of its rate against bitcoind")
    return out


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or not a.get("blocks_per_s") or not b.get("blocks_per_s"):
        return None
    return round(float(a["blocks_per_s"]) / float(b["blocks_per_s"]), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--blocks", type=int, default=None, help="heights 1..N [default: 1000]")
    p.add_argument("--rpc-blocks", type=int, default=300,
                   help="the RPC fetch runs over the first N heights [default: 300]")
    p.add_argument("--min-seconds", type=float, default=2.0,
                   help="repeat the REST fetch over the range for at least this long")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="lockedbtc backfill --workers, and fetch connections")
    p.add_argument("--etl-blocks", type=int, default=None,
                   help="bitcoin-etl runs over the first N heights [default: 20]")
    p.add_argument("--cache", type=Path, default=chainmod.default_cache())
    p.add_argument("--out", type=Path, default=Path("bench-report.json"))
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 70 small blocks, bitcoin-etl only if already installed")
    p.add_argument("--adapter", action="append", default=[],
                   help="only this adapter in the backfills (repeatable) [default: all]")
    p.add_argument("--no-etl", action="store_true")
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--pure-python", action="store_true",
                   help="also backfill on SQLite with the pure-Python walk (worker "
                        "processes), as a machine without a C compiler at install runs it")
    a = p.parse_args(argv)
    blocks = a.blocks or (70 if a.quick else 1000)
    etl_blocks = min(blocks, a.etl_blocks or (3 if a.quick else 20))
    c = chainmod.build(blocks, a.cache, 150 if a.quick else None)
    report: dict[str, Any] = {
        "command": "python -m bench.run " + " ".join(argv if argv is not None
                                                     else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "block_walk": native_walk()},
        "chain": {"blocks": c.blocks, "bytes": c.bytes,
                  "mb_per_block": round(c.bytes / c.blocks / 1e6, 3), "filler": c.filler,
                  "protocol": f"{chainmod.SCENARIO} scenario transactions at their heights",
                  "note": "not consensus-valid: filler repeats and spends unknown outputs; "
                          "the test node does not check scripts or UTXOs"},
        "results": {}}
    res: dict[str, Any] = report["results"]
    with tempfile.TemporaryDirectory() as tmpdir, chainmod.serve(c) as url:
        tmp = Path(tmpdir)
        fetch(url, min(blocks, 20), rest=True, conns=1)  # warm the node's caches
        res["rest_fetch"] = fetch(url, blocks, rest=True, conns=a.workers,
                                  min_seconds=0.0 if a.quick else a.min_seconds)
        res["rpc_fetch"] = fetch(url, min(blocks, a.rpc_blocks), rest=False,
                                 conns=a.workers)
        res["lockedbtc_sqlite"] = backfill(url, f"sqlite:///{tmp / 'bench.sqlite3'}",
                                           c.params, blocks, a.workers, c.bytes, a.adapter)
        if a.pure_python:
            res["lockedbtc_sqlite_pure_python"] = backfill(
                url, f"sqlite:///{tmp / 'pure.sqlite3'}", c.params, blocks, a.workers,
                c.bytes, a.adapter, pure_python=True)
        pg = None if a.no_pg else pg_schema()
        if pg is None:
            res["lockedbtc_postgresql"] = {"skipped": "no PostgreSQL server" if not a.no_pg
                                           else "--no-pg"}
        else:
            try:
                res["lockedbtc_postgresql"] = backfill(url, pg[0], c.params, blocks,
                                                       a.workers, c.bytes, a.adapter)
            finally:
                pg[1]()
        res["bitcoin_etl"] = ({"skipped": "--no-etl"} if a.no_etl
                              else run_etl(url, a.cache, etl_blocks, a.quick, tmp))
    pgr = res.get("lockedbtc_postgresql")
    report["ratios"] = {
        "postgresql_vs_bitcoin_etl": _ratio(pgr, res.get("bitcoin_etl")),
        "postgresql_vs_rest_fetch": _ratio(pgr, res["rest_fetch"]),
        "sqlite_vs_bitcoin_etl": _ratio(res["lockedbtc_sqlite"], res.get("bitcoin_etl")),
        "sqlite_vs_rest_fetch": _ratio(res["lockedbtc_sqlite"], res["rest_fetch"]),
        "rest_vs_rpc_fetch": _ratio(res["rest_fetch"], res["rpc_fetch"]),
    }
    r = report["ratios"]
    report["targets"] = {
        "postgresql_20x_bitcoin_etl": None if r["postgresql_vs_bitcoin_etl"] is None
        else r["postgresql_vs_bitcoin_etl"] >= 20,
        "postgresql_0.15x_rest_fetch": None if r["postgresql_vs_rest_fetch"] is None
        else r["postgresql_vs_rest_fetch"] >= 0.15,
    }
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"report written to {a.out}")
    return 0


def _print(report: dict[str, Any]) -> None:
    ch = report["chain"]
    print(f"chain: {ch['blocks']} blocks, {ch['mb_per_block']} MB each ({ch['filler']}); "
          f"block walk: {report['machine']['block_walk']}")
    for name, r in report["results"].items():
        if "skipped" in r:
            print(f"  {name:22s} skipped: {r['skipped']}")
        else:
            rss = f", peak RSS {r['max_rss_mb']} MB" if "max_rss_mb" in r else ""
            print(f"  {name:22s} {r['blocks_per_s']:8.1f} blocks/s {r['mb_per_s']:8.1f} MB/s"
                  f"  ({r['blocks']} blocks in {r['seconds']} s{rss})")
    for k, v in report["ratios"].items():
        print(f"  {k:28s} {v}")
    for k, v in report["targets"].items():
        print(f"  target {k:21s} {'met' if v else 'NOT met' if v is False else 'n/a'}")


if __name__ == "__main__":
    sys.exit(main())
