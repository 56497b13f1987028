"""Seeds and mutators of the fuzz tests: the real transactions of ../shared/data (every
protocol's vectors) and mainnet block 864790, and seeded byte-level mutations of them."""

from __future__ import annotations

import contextlib
import json
import random
import signal
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import FrameType

from tests.conftest import SHARED_DATA

BLOCK_FILE = SHARED_DATA / "babylon" / "block-864790" / "block.hex"
BLOCK_HEIGHT = 864790


@cache
def vector_txs() -> tuple[tuple[str, bytes], ...]:
    """(file name, raw tx) of every shared vector with a transaction hex."""
    out = []
    for path in sorted(SHARED_DATA.glob("*/vectors/*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("hex"), str):
            out.append((path.name, bytes.fromhex(data["hex"])))
    return tuple(out)


@cache
def mainnet_block() -> bytes | None:
    return bytes.fromhex(BLOCK_FILE.read_text().strip()) if BLOCK_FILE.exists() else None


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: bit flips, byte changes, inserts, deletes, duplicated or
    truncated spans, and compact sizes set to extreme values."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            buf.extend(rng.randbytes(rng.randint(1, 8)))
            continue
        i = rng.randrange(len(buf))
        op = rng.randrange(7)
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.randrange(256)
        elif op == 2:
            buf[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 3:
            del buf[i:i + rng.randint(1, 16)]
        elif op == 4:
            j = rng.randrange(len(buf))
            buf[i:i] = buf[j:j + rng.randint(1, 64)]
        elif op == 5:
            del buf[rng.randrange(len(buf)):]
        else:
            buf[i] = rng.choice((0x00, 0x4b, 0x4c, 0x4d, 0x4e, 0xfc, 0xfd, 0xfe, 0xff))
    return bytes(buf)


class Hung(AssertionError):
    """A parser or decoder did not return within the guard time."""


@contextlib.contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail instead of hanging forever (a guard against infinite loops, not a timing
    assertion: the bound is orders of magnitude above a normal run)."""

    def alarm(_signum: int, _frame: FrameType | None) -> None:
        raise Hung(f"no result after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def shared_data_present() -> bool:
    return Path(SHARED_DATA).is_dir() and bool(vector_txs())
