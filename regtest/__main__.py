"""`python -m regtest serve ...`: run the test node until SIGINT/SIGTERM (or RPC `stop`).

The first line of stdout is `rpc=http://USER:PASS@127.0.0.1:PORT`, flushed at once, so a
parent process can read it and connect. Operator errors are one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from regtest.node.params import CHAINS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m regtest")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve a chain over Bitcoin Core's RPC and REST")
    s.add_argument("--chain", default="regtest", choices=sorted(CHAINS))
    s.add_argument("--port", type=int, default=None,
                   help="RPC port (0: any free port; default: the chain's Core port)")
    s.add_argument("--start-height", type=int, default=0,
                   help="height of the first block given with --blocks")
    s.add_argument("--blocks", nargs="+", type=Path, metavar="FILE",
                   help="files of block hex, served as heights N, N+1, ...")
    s.add_argument("--rpcuser", default=None)
    s.add_argument("--rpcpassword", default=None)
    s.add_argument("--datadir", type=Path, default=None,
                   help="write Core's .cookie here (unless --rpcpassword is given)")
    s.add_argument("--no-rest", action="store_true", help="behave like a node without rest=1")
    s.add_argument("--warmup", type=float, default=0.0, metavar="SECONDS",
                   help="answer every call with Core's warm-up error (-28) for this long")
    s.add_argument("--txindex", action="store_true",
                   help="keep a transaction index, like bitcoind -txindex")
    s.add_argument("--prune-below", type=int, default=None, metavar="H",
                   help="blocks below height H answer as pruned")
    return p


_HEX = re.compile(r"[0-9a-fA-F]+")


def _read_block(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(f"error: cannot read block file {path}: {e}") from None
    # NOTE: a regex, not a per-character loop: a mainnet-size block is 3.3 M characters.
    if not text or len(text) % 2 or _HEX.fullmatch(text) is None:
        raise SystemExit(f"error: {path} does not hold one block as hex")
    return bytes.fromhex(text)


def serve(args: argparse.Namespace) -> int:
    from indexer.chain.block import ParseError
    from regtest.node.server import TestNode

    blocks = [_read_block(p) for p in args.blocks] if args.blocks else None
    port = CHAINS[args.chain].rpc_port if args.port is None else args.port
    try:
        node = TestNode(args.chain, port, blocks=blocks, start_height=args.start_height,
                        rpcuser=args.rpcuser, rpcpassword=args.rpcpassword,
                        datadir=args.datadir, rest=not args.no_rest, warmup=args.warmup,
                        prune_below=args.prune_below, txindex=args.txindex)
    except (ValueError, ParseError) as e:
        raise SystemExit(f"error: {e}") from None
    try:
        node.start()
    except OSError as e:
        node.stop()
        raise SystemExit(f"error: cannot listen on 127.0.0.1:{port}: {e.strerror} "
                         "(choose another --port, or 0 for any free one)") from None
    print(f"rpc={node.url}", flush=True)

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # NOTE: short waits keep the main thread responsive to signals on every platform.
    while not done.is_set() and not node.stopped.is_set():
        done.wait(0.2)
    node.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
